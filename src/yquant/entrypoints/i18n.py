"""User-facing words in English and Korean. Code and logs stay in English."""

from __future__ import annotations

from collections.abc import Mapping

from yquant.domain.model import Action, OrderStatus, Side, SignalStatus
from yquant.domain.reasons import ReasonCode

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "yQuant dashboard",
        "health": "Health",
        "ready": "ready",
        "not_ready": "not ready",
        "signals": "Latest signals",
        "orders": "Latest orders",
        "fills": "Latest fills",
        "time": "Time",
        "status": "Status",
        "reason": "Reason",
        "source": "Source",
        "strategy": "Strategy",
        "ticker": "Ticker",
        "name": "Name",
        "action": "Action",
        "account": "Account",
        "side": "Side",
        "quantity": "Qty",
        "filled": "Filled",
        "avg_price": "Avg price",
        "price": "Price",
        "commission": "Commission",
        "currency": "Currency",
        "order": "Order",
        "updated": "Updated",
        "none": "Nothing yet",
        "unreachable": "dashboard cannot reach its data",
        "banner_ready": "yQuant is running",
        "banner_webhook": "Webhook URL",
        "banner_dashboard": "Dashboard",
        "banner_secret": "Webhook secret",
        "banner_secret_hidden": "not shown (the output is not a terminal); it is in {where}",
        "banner_secret_from": "from {where}",
        "progress_migrate": "migrating the database…",
        "progress_schema": "checking the database schema…",
        "progress_valkey": "starting valkey (port {port})…",
        "progress_roles": "starting the roles ({roles}); the first start also loads the catalog…",
        "banner_try": "Send a sample alert",
        "banner_stop": "Press Ctrl-C to stop.",
        "role_active": "active worker",
        "role_none": "no active worker recorded",
        "control": "Kill switch",
        "control_scope": "scope",
        "control_global": "all accounts",
        "control_halt": "Halt",
        "control_reduce_only": "Reduce only",
        "control_resume": "Resume",
        "control_reason": "Why? (recorded in the audit log)",
        "control_by": "by",
        "control_failed": "the kill switch was not changed",
        "state_active": "active",
        "state_reduce_only": "reduce only",
        "state_halted": "halted",
        "sim_alert": "Alert",
        "sim_instrument": "Instrument",
        "sim_market": "Market",
        "sim_open": "open",
        "sim_break": "lunch break",
        "sim_closed": "closed",
        "sim_next_open": "next open",
        "sim_order": "order",
        "sim_queued": "queued for the next open",
        "sim_rejected": "rejected",
        "sim_invalid": "invalid alert",
        "sim_no_trade": "Simulation only: nothing was recorded or sent.",
        "deposit": "Deposit",
        "positions": "Positions",
        "price_needs_kis": "no account to ask for a price; configure one or use --account",
        "no_price": "no price",
        "broker_reachable": "reachable",
        "broker_unreachable": "UNREACHABLE",
        "app_key": "key",
        "token": "token",
        "depth": "depth",
        "order_pending": "order {order} sent, outcome pending: do not retry, check `yquant orders`",
    },
    "ko": {
        "title": "yQuant 대시보드",
        "health": "상태",
        "ready": "정상",
        "not_ready": "비정상",
        "signals": "최근 신호",
        "orders": "최근 주문",
        "fills": "최근 체결",
        "time": "시각",
        "status": "상태",
        "reason": "사유",
        "source": "출처",
        "strategy": "전략",
        "ticker": "종목",
        "name": "종목명",
        "action": "동작",
        "account": "계좌",
        "side": "매매",
        "quantity": "수량",
        "filled": "체결수량",
        "avg_price": "평균단가",
        "price": "가격",
        "commission": "수수료",
        "currency": "통화",
        "order": "주문",
        "updated": "갱신",
        "none": "아직 없음",
        "unreachable": "대시보드가 데이터를 가져오지 못했습니다",
        "banner_ready": "yQuant 실행 중",
        "banner_webhook": "웹훅 URL",
        "banner_dashboard": "대시보드",
        "banner_secret": "웹훅 시크릿",
        "banner_secret_hidden": "표시하지 않음(터미널 출력이 아님). 보관 위치: {where}",
        "banner_secret_from": "출처: {where}",
        "progress_migrate": "데이터베이스 마이그레이션 중…",
        "progress_schema": "데이터베이스 스키마 확인 중…",
        "progress_valkey": "valkey 시작 중 (포트 {port})…",
        "progress_roles": "역할 시작 중 ({roles}); 첫 시작에는 종목 카탈로그도 불러옵니다…",
        "banner_try": "예시 알림 보내기",
        "banner_stop": "종료하려면 Ctrl-C 를 누르세요.",
        "role_active": "활성 워커",
        "role_none": "기록된 활성 워커 없음",
        "control": "킬 스위치",
        "control_scope": "범위",
        "control_global": "전체 계좌",
        "control_halt": "정지",
        "control_reduce_only": "축소만 허용",
        "control_resume": "재개",
        "control_reason": "사유 (감사 기록에 남습니다)",
        "control_by": "변경자",
        "control_failed": "킬 스위치를 바꾸지 못했습니다",
        "state_active": "정상",
        "state_reduce_only": "축소만 허용",
        "state_halted": "정지",
        "sim_alert": "알림",
        "sim_instrument": "종목",
        "sim_market": "시장",
        "sim_open": "개장 중",
        "sim_break": "점심 휴장",
        "sim_closed": "휴장",
        "sim_next_open": "다음 개장",
        "sim_order": "주문",
        "sim_queued": "다음 개장 때 주문 예정",
        "sim_rejected": "거부",
        "sim_invalid": "잘못된 알림",
        "sim_no_trade": "시뮬레이션입니다: 아무것도 기록하거나 보내지 않았습니다.",
        "deposit": "예수금",
        "positions": "보유 종목",
        "price_needs_kis": (
            "시세를 조회할 계좌가 없습니다. 계좌를 설정하거나 --account 로 지정하세요"
        ),
        "no_price": "시세 없음",
        "broker_reachable": "연결됨",
        "broker_unreachable": "연결 안 됨",
        "app_key": "앱키",
        "token": "토큰",
        "depth": "대기",
        "order_pending": (
            "주문 {order} 전송됨, 결과 대기 중: 다시 보내지 말고 `yquant orders` 로 확인하세요"
        ),
    },
}

# ---- codes: statuses, sides, reasons and health checks ---------------------------------------
# English shows a code as it is: the code is its own English label (operators search the logs
# and the JSON output by it). Korean has a word for every one; `label` falls back to the code.

STATUS_LABELS: dict[str, str] = {
    # signals (SignalStatus), orders (OrderStatus) and the order queue's states
    SignalStatus.ACCEPTED: "접수됨",
    SignalStatus.ORDERED: "주문됨",
    SignalStatus.REJECTED: "거부됨",
    OrderStatus.NEW: "신규",
    OrderStatus.SUBMITTED: "전송됨",
    OrderStatus.PARTIALLY_FILLED: "일부 체결",
    OrderStatus.FILLED: "체결 완료",
    OrderStatus.CANCELLED: "취소됨",
    OrderStatus.EXPIRED: "만료됨",
    OrderStatus.UNKNOWN: "결과 확인 중",
    "queued": "다음 개장 때 주문 예정",
    "releasing": "주문 전환 중",
    "released": "주문 전환됨",
}

SIDE_LABELS: dict[str, str] = {
    Side.BUY: "매수",
    Side.SELL: "매도",
    Action.EXIT: "청산",
}

REASON_LABELS: dict[ReasonCode, str] = {
    # the webhook: the request itself
    ReasonCode.BAD_SECRET: "시크릿 불일치",
    ReasonCode.SOURCE_NOT_ALLOWED: "허용되지 않은 발신 주소",
    ReasonCode.NOT_FOUND: "찾을 수 없음",
    ReasonCode.METHOD_NOT_ALLOWED: "허용되지 않은 요청 방식",
    ReasonCode.UNSUPPORTED_MEDIA_TYPE: "지원하지 않는 본문 형식",
    ReasonCode.BODY_TOO_LARGE: "요청 본문이 너무 큼",
    ReasonCode.THROTTLED: "요청 과다",
    ReasonCode.CLIENT_DISCONNECTED: "연결 끊김",
    ReasonCode.NOT_RECORDED: "기록 실패",
    # the alert's body
    ReasonCode.MALFORMED_JSON: "잘못된 JSON",
    ReasonCode.NOT_AN_OBJECT: "JSON 객체가 아님",
    ReasonCode.MISSING_FIELD: "필수 항목 누락",
    ReasonCode.BAD_FIELD: "잘못된 항목",
    ReasonCode.BAD_ACTION: "잘못된 매매 동작",
    ReasonCode.BAD_QUANTITY: "잘못된 수량",
    ReasonCode.BAD_PRICE: "잘못된 가격",
    ReasonCode.UNKNOWN_EXCHANGE: "알 수 없는 거래소",
    ReasonCode.UNRESOLVED_PLACEHOLDER: "치환되지 않은 자리표시자",
    ReasonCode.STALE: "오래된 알림",
    ReasonCode.CURRENCY_MISMATCH: "통화 불일치",
    ReasonCode.DUPLICATE: "중복 알림",
    ReasonCode.NOT_REBUILDABLE: "저장된 신호 복원 불가",
    # the catalog
    ReasonCode.UNKNOWN_TICKER: "알 수 없는 종목",
    ReasonCode.AMBIGUOUS_TICKER: "종목 모호",
    ReasonCode.NOT_TRADABLE: "거래 불가 종목",
    # the engine, the market and the order queue
    ReasonCode.STALE_SIGNAL: "오래된 신호",
    ReasonCode.NO_ACCOUNTS: "대상 계좌 없음",
    ReasonCode.MARKET_CLOSED: "휴장",
    ReasonCode.PRICE_OUT_OF_BAND: "가격제한폭 밖",
    ReasonCode.QUEUED: "다음 개장 때 주문 예정",
    ReasonCode.QUEUE_EXPIRED: "대기 주문 만료",
    ReasonCode.UNKNOWN_ACCOUNT: "알 수 없는 계좌",
    ReasonCode.REJECTED: "거부됨",
    ReasonCode.GATEWAY_NOT_RUNNING: "게이트웨이 미실행",
    # risk limits and the kill switch
    ReasonCode.HALTED: "거래 정지",
    ReasonCode.REDUCE_ONLY: "축소만 허용",
    ReasonCode.SAME_DIRECTION: "같은 방향 중복",
    ReasonCode.ORDER_WORKING: "미체결 주문 있음",
    ReasonCode.ORDER_RATE_LIMIT: "주문 빈도 제한",
    ReasonCode.DAILY_LOSS_LIMIT: "일일 손실 한도",
    ReasonCode.MAX_OPEN_POSITIONS: "최대 보유 종목 수",
    ReasonCode.MAX_ORDER_NOTIONAL: "주문 금액 한도",
    ReasonCode.MAX_POSITION_SHARE: "종목 비중 한도",
    # sizing
    ReasonCode.NO_QUANTITY: "수량 없음",
    ReasonCode.NO_POSITION: "보유 없음",
    ReasonCode.NO_PRICE: "시세 없음",
    ReasonCode.NO_AMOUNT: "금액 없음",
    ReasonCode.NO_TARGET: "목표 포지션 없음",
    ReasonCode.AT_TARGET: "이미 목표 포지션",
    ReasonCode.INSUFFICIENT_CASH: "현금 부족",
    ReasonCode.BELOW_MINIMUM: "최소 수량 미만",
    ReasonCode.CAPPED_BY_CASH: "현금 한도로 축소",
    ReasonCode.CAPPED_BY_HOLDINGS: "보유 수량으로 축소",
    # the gateway and the brokers
    ReasonCode.STALE_ORDER: "오래된 주문",
    ReasonCode.NOT_PLACED: "주문 미전송",
    ReasonCode.BROKER_UNAVAILABLE: "브로커 연결 불가",
    ReasonCode.INSUFFICIENT_POSITION: "보유 수량 부족",
    ReasonCode.BROKER_HALTED: "브로커 주문 정지",
    ReasonCode.BROKER_REJECTED: "브로커 거부",
    ReasonCode.UNSUPPORTED_ORDER: "지원하지 않는 주문",
    # the kill-switch control (the API answers the code and an English message)
    ReasonCode.UNKNOWN_SCOPE: "알 수 없는 계좌입니다",
    ReasonCode.REASON_REQUIRED: "사유를 입력해야 합니다",
    ReasonCode.REASON_TOO_LONG: "사유가 너무 깁니다",
    ReasonCode.JSON_REQUIRED: "JSON 요청만 받습니다",
    ReasonCode.CROSS_ORIGIN: "다른 출처의 요청은 거부됩니다",
    ReasonCode.BAD_REQUEST: "범위, 상태(active|reduce_only|halted), 사유를 주세요",
    ReasonCode.DATABASE_UNAVAILABLE: "데이터베이스에 연결할 수 없습니다",
}

HEALTH_LABELS: dict[str, str] = {
    "up": "정상",
    "down": "중단",
    "database": "데이터베이스",
    "valkey": "메시지 버스(Valkey)",
    "journal": "저널",
    "webhook": "웹훅",
    "engine": "엔진",
    "gateway": "게이트웨이",
    "dashboard": "대시보드",
}


def _merged(*tables: Mapping[str, str] | Mapping[ReasonCode, str]) -> dict[str, str]:
    """One table of words by code; a code in two tables (``rejected`` is a status and a reason,
    ``queued`` a queue state and a reason) has one word in both."""
    merged: dict[str, str] = {}
    for table in tables:
        for code, word in table.items():
            if merged.setdefault(str(code), word) != word:
                raise ValueError(f"two words for the code {code!r}")
    return merged


CODES: dict[str, dict[str, str]] = {
    "en": {},
    "ko": _merged(STATUS_LABELS, SIDE_LABELS, REASON_LABELS, HEALTH_LABELS),
}


def messages(language: str) -> dict[str, str]:
    return MESSAGES.get(language, MESSAGES["en"])


def t(language: str, key: str) -> str:
    return messages(language).get(key, MESSAGES["en"][key])


def label(language: str, code: str) -> str:
    """The word for a code in ``language``; the code itself where there is none."""
    return CODES.get(language, {}).get(code, code)
