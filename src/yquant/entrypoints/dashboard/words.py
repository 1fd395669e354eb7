"""The dashboard's own words, in English and Korean (codes keep theirs in `i18n`).

`word(language, key)` looks here first, then in `i18n.MESSAGES`; a test checks that both
languages hold the same keys and that the Korean ones are Korean.
"""

from __future__ import annotations

from yquant.entrypoints import i18n

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "nav_overview": "Overview",
        "nav_positions": "Positions",
        "nav_orders": "Orders",
        "nav_signals": "Signals",
        "nav_trade": "Trade",
        "nav_schedules": "Schedules",
        "nav_liquidate": "Liquidate",
        "nav_performance": "Performance",
        "nav_system": "System",
        "language": "Language",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "user_name": "Name",
        "password": "Password",
        "signed_in_as": "Signed in as",
        "no_users": (
            "No user can sign in yet. On this machine, run: yquant users add NAME --password-stdin"
        ),
        "locked_until_at": "Locked until {at}.",
        "tailscale_only": (
            "This dashboard is opened through `tailscale serve` by an allowed login only."
        ),
        "offline_since": "Offline since {at}: the dashboard cannot be reached",
        "offline": "offline",
        "session_ended": "Your session has ended:",
        "live": "live",
        "banner_halted": "Trading halted",
        "banner_reduce_only": "Reduce only: only orders that shrink positions",
        "banner_by": "{scope} · {reason} · by {actor}, {at}",
        "worker_active": "active",
        "worker_standby": "standby",
        "worker_unassigned": "no active worker recorded",
        "this_worker_is": "This worker ({name}) is",
        "active_worker": "Active worker",
        "epoch": "epoch",
        "equity": "Equity",
        "cash": "Cash",
        "holdings_value": "Holdings",
        "at_cost": "at cost",
        "some_at_cost": "some holdings at cost (no price seen)",
        "open_orders": "Working orders",
        "total_krw": "Total in KRW",
        "fx_missing": "needs a USD/KRW rate: none is configured yet",
        "accounts": "Accounts",
        "synced_at": "synced {at}",
        "not_synced": "not synced yet",
        "baseline_chart": "Daily baseline: cash plus holdings at cost at each day's first decision",
        "no_baselines": (
            "No daily baselines yet: one is recorded at an account's first decision of a "
            "trading day."
        ),
        "last_price": "Last price",
        "age_ago": "{age} ago",
        "value": "Value",
        "broker_holdings": "Holdings as the broker reports them (account sync)",
        "working_orders": "Working orders",
        "queued_orders": "Queued for the next open",
        "order_history": "Order history",
        "date_from": "From",
        "date_to": "To",
        "any": "any",
        "apply": "Apply",
        "reset": "Reset",
        "export_csv": "Export CSV",
        "newest": "newest {n}",
        "dates_in": "dates in {zone}",
        "signal_log": "Signal log",
        "flow": "Flow",
        "signal_title": "Signal",
        "hop_alert": "Alert received",
        "hop_decision": "Decision",
        "hop_queued": "Queued",
        "hop_order": "Order",
        "hop_event": "Order status",
        "hop_fill": "Fill",
        "after": "after",
        "payload": "Alert fields",
        "not_decided": "not decided yet",
        "no_signal": "No such signal.",
        "roles": "Roles and heartbeats",
        "role": "Role",
        "heartbeat": "Heartbeat",
        "streams": "Streams",
        "stream": "Stream",
        "group": "Group",
        "pending": "Pending",
        "lag": "Lag",
        "dead_letters": "Dead letters",
        "tokens": "Broker tokens",
        "key_id": "Key",
        "expires": "Expires",
        "no_tokens": "No KIS account is configured: paper accounts need no token.",
        "catalog": "Catalog",
        "version": "Version",
        "rows": "Rows",
        "build": "Build",
        "audit": "Audit log",
        "target": "Target",
        "services": "Services",
        "release_after": "Release after",
        "expires_at": "Expires",
        "control_done": "{scope}: {state}",
        "pending_trade": (
            "Manual orders from the dashboard arrive with the order form. Meanwhile: "
            "yquant buy|sell ACCOUNT TICKER QUANTITY."
        ),
        "pending_schedules": (
            "Scheduled orders arrive with the scheduler: nothing is scheduled from here yet."
        ),
        "pending_liquidate": (
            "Liquidation by account or strategy arrives with the liquidation feature."
        ),
        "pending_performance": (
            "Reports (daily snapshots, metrics per strategy) arrive with the reports feature."
        ),
        "not_yet": "Not yet available",
        "unavailable": "unavailable",
        "database_down": "The database does not answer: figures below may be missing.",
        "confirm": "Confirm",
        "order_market": "market",
        "order_limit": "limit",
    },
    "ko": {
        "nav_overview": "개요",
        "nav_positions": "보유 종목",
        "nav_orders": "주문",
        "nav_signals": "신호",
        "nav_trade": "매매",
        "nav_schedules": "예약 주문",
        "nav_liquidate": "청산",
        "nav_performance": "성과",
        "nav_system": "시스템",
        "language": "언어",
        "sign_in": "로그인",
        "sign_out": "로그아웃",
        "user_name": "이름",
        "password": "비밀번호",
        "signed_in_as": "로그인 사용자",
        "no_users": (
            "아직 로그인할 수 있는 사용자가 없습니다. 이 서버에서 실행하세요: "
            "yquant users add 이름 --password-stdin"
        ),
        "locked_until_at": "{at} 까지 잠겨 있습니다.",
        "tailscale_only": (
            "이 대시보드는 허용된 로그인으로 `tailscale serve` 를 통해서만 열 수 있습니다."
        ),
        "offline_since": "{at} 부터 연결 끊김: 대시보드에 연결할 수 없습니다",
        "offline": "연결 끊김",
        "session_ended": "세션이 끝났습니다:",
        "live": "실시간",
        "banner_halted": "거래 정지",
        "banner_reduce_only": "축소만 허용: 보유를 줄이는 주문만 나갑니다",
        "banner_by": "{scope} · {reason} · {actor}, {at}",
        "worker_active": "활성",
        "worker_standby": "대기",
        "worker_unassigned": "기록된 활성 워커 없음",
        "this_worker_is": "이 워커({name}) 상태:",
        "active_worker": "활성 워커",
        "epoch": "에포크",
        "equity": "총자산",
        "cash": "예수금",
        "holdings_value": "보유 평가액",
        "at_cost": "매입가 기준",
        "some_at_cost": "일부 종목은 시세가 없어 매입가 기준",
        "open_orders": "미체결 주문",
        "total_krw": "원화 합계",
        "fx_missing": "달러/원 환율이 필요하지만 아직 설정된 환율이 없습니다",
        "accounts": "계좌",
        "synced_at": "{at} 동기화",
        "not_synced": "아직 동기화 안 됨",
        "baseline_chart": "일별 기준 자산: 그날 첫 결정 시점의 예수금 + 매입가 기준 보유액",
        "no_baselines": "아직 일별 기준 자산이 없습니다: 계좌의 그날 첫 결정 때 기록됩니다.",
        "last_price": "현재가",
        "age_ago": "{age} 전",
        "value": "평가액",
        "broker_holdings": "브로커가 알려준 보유 현황 (계좌 동기화)",
        "working_orders": "미체결 주문",
        "queued_orders": "다음 개장 대기 주문",
        "order_history": "주문 내역",
        "date_from": "시작일",
        "date_to": "종료일",
        "any": "전체",
        "apply": "적용",
        "reset": "초기화",
        "export_csv": "CSV 내보내기",
        "newest": "최근 {n}건",
        "dates_in": "날짜 기준 시간대 {zone}",
        "signal_log": "신호 기록",
        "flow": "흐름",
        "signal_title": "신호",
        "hop_alert": "알림 수신",
        "hop_decision": "결정",
        "hop_queued": "대기열 등록",
        "hop_order": "주문",
        "hop_event": "주문 상태",
        "hop_fill": "체결",
        "after": "경과",
        "payload": "알림 내용",
        "not_decided": "아직 결정 전",
        "no_signal": "그런 신호가 없습니다.",
        "roles": "역할과 하트비트",
        "role": "역할",
        "heartbeat": "하트비트",
        "streams": "스트림",
        "stream": "스트림",
        "group": "그룹",
        "pending": "처리 중",
        "lag": "지연",
        "dead_letters": "실패 메시지",
        "tokens": "브로커 토큰",
        "key_id": "키",
        "expires": "만료",
        "no_tokens": "KIS 계좌가 설정되지 않았습니다: 모의(paper) 계좌는 토큰이 필요 없습니다.",
        "catalog": "종목 카탈로그",
        "version": "버전",
        "rows": "종목 수",
        "build": "빌드",
        "audit": "감사 기록",
        "target": "대상",
        "services": "서비스",
        "release_after": "주문 전환 시각",
        "expires_at": "만료",
        "control_done": "{scope}: {state}",
        "pending_trade": (
            "대시보드의 수동 주문은 주문 양식 기능과 함께 제공됩니다. 그 전에는: "
            "yquant buy|sell 계좌 종목 수량"
        ),
        "pending_schedules": (
            "예약 주문은 스케줄러 기능과 함께 제공됩니다: 아직 예약된 것이 없습니다."
        ),
        "pending_liquidate": "계좌·전략별 청산은 청산 기능과 함께 제공됩니다.",
        "pending_performance": (
            "성과 보고(일별 스냅샷, 전략별 지표)는 보고서 기능과 함께 제공됩니다."
        ),
        "not_yet": "아직 제공되지 않음",
        "unavailable": "사용할 수 없음",
        "database_down": "데이터베이스가 응답하지 않습니다: 아래 수치가 빠질 수 있습니다.",
        "confirm": "확인",
        "order_market": "시장가",
        "order_limit": "지정가",
    },
}


def word(language: str, key: str) -> str:
    """The dashboard's word for ``key`` in ``language`` (then the CLI's, then English)."""
    own = WORDS.get(language, WORDS["en"])
    if key in own:
        return own[key]
    shared = i18n.messages(language)
    if key in shared:
        return shared[key]
    return WORDS["en"].get(key) or i18n.MESSAGES["en"][key]
