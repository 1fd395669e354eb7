"""Notices in words, in Korean and English: one template per kind of notice.

A template reads only the notice's own fields (kind, account and strategy names, ``data``) and
the words here; codes (reasons, sides, statuses) are shown with the operator's words of
`i18n.label`. Whatever a producer put in ``data``, an account number written in it is masked
(``****-01``) on the way out, and keys that name a secret are never shown.
"""

from __future__ import annotations

from collections.abc import Callable

from yquant.domain.notices import Notice, NoticeKind, Rendered, mask_account_numbers
from yquant.entrypoints import i18n

LANGUAGES = ("en", "ko")

TITLES: dict[str, dict[NoticeKind, str]] = {
    "en": {
        NoticeKind.ALERT_REJECTED: "Alert rejected",
        NoticeKind.ORDER_SENT: "Order sent",
        NoticeKind.ORDER_FILLED: "Order filled",
        NoticeKind.ORDER_PARTIALLY_FILLED: "Order partially filled",
        NoticeKind.ORDER_REJECTED: "Order rejected",
        NoticeKind.ORDER_CANCELLED: "Order cancelled",
        NoticeKind.SCHEDULE_FIRED: "Scheduled order placed",
        NoticeKind.SCHEDULE_MISSED: "Scheduled order missed",
        NoticeKind.SCHEDULE_FAILED: "Scheduled order failed",
        NoticeKind.LIQUIDATION_DONE: "Liquidation done",
        NoticeKind.KILL_SWITCH_CHANGED: "Kill switch changed",
        NoticeKind.ACTIVE_WORKER_SWITCHED: "Active worker switched",
        NoticeKind.DATABASE_AWAY: "Database unreachable",
        NoticeKind.DATABASE_BACK: "Database back",
        NoticeKind.BROKER_TOKEN_FAILED: "Broker token not issued",
        NoticeKind.ACCOUNT_UNREACHABLE: "Account unreachable",
        NoticeKind.CATALOG_SYNCED: "Catalog sync",
        NoticeKind.DAILY_SUMMARY: "Daily summary",
        NoticeKind.STRATEGY_QUIET: "Strategy quiet",
        NoticeKind.TEST: "Test message",
    },
    "ko": {
        NoticeKind.ALERT_REJECTED: "알림 거부",
        NoticeKind.ORDER_SENT: "주문 전송",
        NoticeKind.ORDER_FILLED: "체결 완료",
        NoticeKind.ORDER_PARTIALLY_FILLED: "부분 체결",
        NoticeKind.ORDER_REJECTED: "주문 거부",
        NoticeKind.ORDER_CANCELLED: "주문 취소",
        NoticeKind.SCHEDULE_FIRED: "예약 주문 실행",
        NoticeKind.SCHEDULE_MISSED: "예약 주문 누락",
        NoticeKind.SCHEDULE_FAILED: "예약 주문 실패",
        NoticeKind.LIQUIDATION_DONE: "청산 완료",
        NoticeKind.KILL_SWITCH_CHANGED: "킬 스위치 변경",
        NoticeKind.ACTIVE_WORKER_SWITCHED: "활성 워커 전환",
        NoticeKind.DATABASE_AWAY: "데이터베이스 연결 끊김",
        NoticeKind.DATABASE_BACK: "데이터베이스 복구",
        NoticeKind.BROKER_TOKEN_FAILED: "증권사 토큰 발급 실패",
        NoticeKind.ACCOUNT_UNREACHABLE: "계좌 조회 불가",
        NoticeKind.CATALOG_SYNCED: "종목 정보 동기화",
        NoticeKind.DAILY_SUMMARY: "일일 요약",
        NoticeKind.STRATEGY_QUIET: "전략 알림 없음",
        NoticeKind.TEST: "테스트 메시지",
    },
}

# The names of ``data`` fields as shown, in the order they are shown.
FIELDS: dict[str, dict[str, str]] = {
    "en": {
        "ticker": "Ticker",
        "name": "Name",
        "side": "Side",
        "quantity": "Quantity",
        "price": "Price",
        "filled": "Filled",
        "ordered": "Ordered",
        "currency": "Currency",
        "commission": "Commission",
        "status": "Status",
        "reason": "Reason",
        "detail": "Detail",
        "scope": "Scope",
        "state": "State",
        "was": "Was",
        "actor": "By",
        "worker": "Worker",
        "epoch": "Epoch",
        "before": "Before",
        "journal": "Writes waiting in the journal",
        "away_s": "Away (s)",
        "error": "Error",
        "market": "Market",
        "date": "Date",
        "trades": "Trades",
        "pnl": "P&L",
        "equity": "Equity",
        "since": "Last alert",
        "expected_h": "Expected every (h)",
        "schedule": "Schedule",
        "due": "Due",
        "amount": "Amount",
        "signal": "Signal",
        "liquidation": "Liquidation",
        "sold": "Sold",
        "not_sold": "Not sold",
        "cancelled": "Cancelled",
        "not_cancelled": "Not cancelled",
        "source": "Source",
        "rows": "Rows",
        "version": "Version",
        "orders": "Orders",
        "order": "Order",
        "channel": "Channel",
    },
    "ko": {
        "ticker": "종목",
        "name": "종목명",
        "side": "구분",
        "quantity": "수량",
        "price": "가격",
        "filled": "체결 수량",
        "ordered": "주문 수량",
        "currency": "통화",
        "commission": "수수료",
        "status": "상태",
        "reason": "사유",
        "detail": "상세",
        "scope": "범위",
        "state": "상태",
        "was": "이전",
        "actor": "변경자",
        "worker": "워커",
        "epoch": "에포크",
        "before": "이전 워커",
        "journal": "저널 대기 건수",
        "away_s": "끊긴 시간(초)",
        "error": "오류",
        "market": "시장",
        "date": "날짜",
        "trades": "체결 건수",
        "pnl": "손익",
        "equity": "평가금액",
        "since": "마지막 알림",
        "expected_h": "예상 주기(시간)",
        "schedule": "예약",
        "due": "예정 시각",
        "amount": "금액",
        "signal": "신호",
        "liquidation": "청산 번호",
        "sold": "매도",
        "not_sold": "매도 안 됨",
        "cancelled": "취소된 주문",
        "not_cancelled": "취소 안 된 주문",
        "source": "요청 경로",
        "rows": "종목 수",
        "version": "버전",
        "orders": "주문",
        "order": "주문 번호",
        "channel": "채널",
    },
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "account": "Account",
        "strategy": "Strategy",
        "test_body": "yQuant can reach this channel.",
        "summary_line": "{strategy}: {pnl}",
        "quiet_body": "No alert from {strategy} since {since}.",
        "worker_footer": "yQuant",
        "schedule_fired": "{schedule} fired for {date}.",
        "schedule_missed": "{schedule} did not fire on {date}: nothing was sent.",
        "schedule_failed": "{schedule} failed on {date}: {reason}.",
        "schedule_liquidates": "This schedule liquidates (see the liquidation's own notice).",
        "liquidation_body": "Liquidation {liquidation} ({scope}): {status}.",
    },
    "ko": {
        "account": "계좌",
        "strategy": "전략",
        "test_body": "yQuant가 이 채널로 메시지를 보낼 수 있습니다.",
        "summary_line": "{strategy}: {pnl}",
        "quiet_body": "{since} 이후 {strategy} 전략의 알림이 없습니다.",
        "worker_footer": "yQuant",
        "schedule_fired": "예약 {schedule}: {date} 실행되었습니다.",
        "schedule_missed": "예약 {schedule}: {date} 실행되지 않았습니다. 주문을 보내지 않았습니다.",
        "schedule_failed": "예약 {schedule}: {date} 실패했습니다. 사유: {reason}.",
        "schedule_liquidates": "청산 예약입니다 (청산 결과는 별도 알림으로 보냅니다).",
        "liquidation_body": "청산 {liquidation} ({scope}): {status}.",
    },
}

# Values that are codes shown with the operator's words.
CODED = frozenset({"side", "status", "reason", "state", "was"})
# Keys never shown, whatever a producer put under them.
NEVER = ("secret", "token", "password", "app_key", "appkey", "key", "url", "number")
# The per-strategy lines of a daily summary: ``pnl.<strategy>`` keys.
PNL_PREFIX = "pnl."


def render(notice: Notice, language: str) -> Rendered:
    """``notice`` in ``language`` (``en`` or ``ko``; anything else reads as English)."""
    lang = language if language in LANGUAGES else "en"
    words, names = WORDS[lang], FIELDS[lang]
    lines = list(BODIES.get(notice.kind, _no_body)(notice, lang))
    fields: list[tuple[str, str]] = []
    if notice.account:
        fields.append((words["account"], notice.account))
    if notice.strategy:
        fields.append((words["strategy"], notice.strategy))
    shown = {k: v for k, v in notice.data.items() if not _hidden(k)}
    for key in names:
        if key in shown:
            value = shown[key]
            fields.append((names[key], i18n.label(lang, value) if key in CODED else value))
    for key, value in sorted(shown.items()):
        if key.startswith(PNL_PREFIX):
            fields.append((key[len(PNL_PREFIX) :], value))
    return Rendered(
        title=_clean(TITLES[lang][notice.kind]),
        lines=tuple(_clean(line) for line in lines),
        fields=tuple((_clean(k), _clean(v)) for k, v in fields),
        level=notice.level,
        footer=_clean(f"{words['worker_footer']} · {notice.at.isoformat(timespec='seconds')}"),
        at=notice.at,
    )


def _hidden(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in NEVER) and not lowered.startswith(PNL_PREFIX)


def _clean(text: str) -> str:
    return mask_account_numbers(text)


def _no_body(notice: Notice, lang: str) -> list[str]:
    return []


def _test(notice: Notice, lang: str) -> list[str]:
    return [WORDS[lang]["test_body"]]


def _quiet(notice: Notice, lang: str) -> list[str]:
    return [
        WORDS[lang]["quiet_body"].format(
            strategy=notice.strategy or "-", since=notice.data.get("since", "-")
        )
    ]


def _schedule(notice: Notice, lang: str) -> list[str]:
    """A scheduled order's run: which schedule, which session date, and (failed) why."""
    words, data = WORDS[lang], notice.data
    line = words[notice.kind.value].format(
        schedule=data.get("schedule", "-"),
        date=data.get("date", "-"),
        reason=i18n.label(lang, data.get("reason", "-")),
    )
    lines = [line]
    if data.get("action") == "liquidate":
        lines.append(words["schedule_liquidates"])
    return lines


def _liquidation(notice: Notice, lang: str) -> list[str]:
    data = notice.data
    return [
        WORDS[lang]["liquidation_body"].format(
            liquidation=data.get("liquidation", "-"),
            scope=data.get("scope", "-"),
            status=i18n.label(lang, data.get("status", "-")),
        )
    ]


BODIES: dict[NoticeKind, Callable[[Notice, str], list[str]]] = {
    NoticeKind.TEST: _test,
    NoticeKind.STRATEGY_QUIET: _quiet,
    NoticeKind.SCHEDULE_FIRED: _schedule,
    NoticeKind.SCHEDULE_MISSED: _schedule,
    NoticeKind.SCHEDULE_FAILED: _schedule,
    NoticeKind.LIQUIDATION_DONE: _liquidation,
}
