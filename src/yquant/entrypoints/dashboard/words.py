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
        "exec_page": "Execution quality",
        "exec_explain": (
            "Per strategy, market and broker: how long each hop took from TradingView's timenow"
            " to the last fill (seconds), and the fill against the alert's price (basis points;"
            " positive is worse for the trader). Orders decided in the period."
        ),
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
        "banner_broker_halted": "Broker halted orders",
        "banner_broker_why": "{account} · {why} · tried again by the next order after a while",
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
        "fx_rate": "USD/KRW {rate} · {source} · {at}",
        "fx_none": "No USD/KRW rate: set fx.usdkrw, or a KIS account's sync brings one",
        "fx_left_out": "{currencies} not counted: no rate",
        "fx_source_kis": "KIS balance",
        "fx_title": "Exchange rate",
        "fx_source_config": "configured (fx.usdkrw)",
        "pnl_today": "Today's P&L",
        "pnl_today_krw": "Today's P&L in KRW",
        "pnl_today_unknown": "some rows have no price before today: incomplete",
        "pnl_today_help": (
            "Today's P&L is the change since each market's day began (midnight in Seoul for"
            " KR, in New York for US): the P&L realised today plus the change of the"
            " unrealised P&L, i.e. (price now - price before today) x shares held all day,"
            " (price now - cost) x shares bought today, and what today's sales realised, net"
            " of fees. The price before today is the last price seen before the day, else the"
            " catalog's base price (KRX: the previous close). Totals in KRW use the rate shown."
        ),
        "how_computed": "How it is computed",
        "price_before_today": "Before today",
        "price_chart": "Price",
        "price_chart_empty": (
            "No price history yet: prices seen (alerts, fills) are kept every 15 minutes."
        ),
        "ticker_detail": "Instrument",
        "quick_buy": "Buy",
        "quick_sell": "Sell",
        "quick_exit": "Exit",
        "quick_exit_title": "Sell the whole position: preview first",
        "quick_liquidate_title": (
            "Sell this strategy's position on the liquidation page: what would be sold, then"
            " a confirmation; the sale is booked to the strategy"
        ),
        "chart_of": "Chart and orders",
        "lookup_hint": "type a code or a name (Korean or English)",
        "lookup_none": "no instrument matches",
        "fills_of": "Fills",
        "accounts": "Accounts",
        "synced_at": "synced {at}",
        "not_synced": "not synced yet",
        "baseline_chart": "Daily equity: the account snapshot of each day",
        "no_baselines": (
            "No daily snapshots yet: the active worker takes one after each market's close"
            " (or run yquant snapshot)."
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
        "notifications": "Notifications",
        "notify_counts": "Pending {pending} · sent {sent} · given up {dead}",
        "notify_dead": "Messages given up",
        "notify_none_dead": "No message was given up.",
        "channel": "Channel",
        "notice": "Notice",
        "attempts": "Attempts",
        "last_error": "Last error",
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
        "pending_schedules": (
            "Scheduled orders arrive with the scheduler: nothing is scheduled from here yet."
        ),
        "liq_intro": (
            "Sells every position of the book that matches (each strategy's own shares, at"
            " market), after cancelling the working orders that match. The plan is shown first;"
            " nothing is sent before you confirm it."
        ),
        "liq_plan_title": "Plan: nothing has been sent",
        "liq_show_plan": "Show the plan",
        "liq_confirm_button": "Sell {count} position(s), cancel {cancels} order(s)",
        "liq_result_title": "Liquidation",
        "liq_history": "Latest liquidations",
        "liq_at_open_label": "A closed market: sell at its next open",
        "not_yet": "Not yet available",
        "unavailable": "unavailable",
        "database_down": "The database does not answer: figures below may be missing.",
        "confirm": "Confirm",
        "order_market": "market",
        "cancel": "Cancel",
        "order_type": "Order type",
        "limit_price": "Limit price",
        "amount_hint": "or an amount: the quantity it buys at the price",
        "preview": "Preview",
        "preview_title": "Preview: nothing has been sent",
        "confirm_send": "Confirm and send the order",
        "order_result": "Result",
        "order_link": "the signal's path",
        "resized": "{asked} asked, {sent} possible: confirming sends {sent}",
        "cancel_all": "Cancel every working order that matches",
        "cancel_confirm_title": "Cancel these {count} working orders?",
        "cancel_confirm_button": "Cancel {count} orders",
        "cancel_one": "Cancel order {order}?",
        "back": "Back",
        "cancelled_n": "{n} cancelled",
        "pending_n": "{n} sent, outcome pending (the gateway keeps following)",
        "refused_n": "{n} not cancelled",
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
        "exec_page": "체결 품질",
        "exec_explain": (
            "전략·시장·브로커별로 TradingView timenow 부터 마지막 체결까지"
            " 각 구간에 걸린 시간(초)과 알림 가격 대비 체결 가격(bp, +는 트레이더에게 불리)."
            " 기간 안에 결정된 주문 기준."
        ),
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
        "banner_broker_halted": "브로커 주문 정지",
        "banner_broker_why": "{account} · {why} · 잠시 후 다음 주문에서 다시 시도합니다",
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
        "fx_rate": "달러/원 {rate} · {source} · {at}",
        "fx_none": "달러/원 환율 없음: fx.usdkrw 를 설정하거나 KIS 계좌 동기화로 받아옵니다",
        "fx_left_out": "{currencies} 제외: 환율 없음",
        "fx_source_kis": "KIS 잔고 조회",
        "fx_title": "환율",
        "fx_source_config": "설정값 (fx.usdkrw)",
        "pnl_today": "오늘 손익",
        "pnl_today_krw": "오늘 손익 (원화)",
        "pnl_today_unknown": "오늘 이전 가격이 없는 종목이 있어 불완전합니다",
        "pnl_today_help": (
            "오늘 손익은 각 시장의 하루가 시작된 뒤(한국은 서울 자정, 미국은 뉴욕 자정)의"
            " 변화입니다: 오늘 실현 손익 + 평가 손익의 변화, 즉 하루 종일 보유한 주식은"
            " (현재가 - 오늘 이전 가격) x 수량, 오늘 산 주식은 (현재가 - 매입가) x 수량,"
            " 그리고 오늘 매도로 실현한 손익(수수료·세금 차감)입니다. 오늘 이전 가격은 오늘"
            " 전에 마지막으로 본 가격, 없으면 카탈로그 기준가(KRX: 전일 종가)입니다."
            " 원화 합계는 표시된 환율을 씁니다."
        ),
        "how_computed": "계산 방법",
        "price_before_today": "오늘 이전 가격",
        "price_chart": "가격",
        "price_chart_empty": "아직 가격 기록이 없습니다: 본 가격(알림, 체결)을 15분마다 남깁니다.",
        "ticker_detail": "종목",
        "quick_buy": "매수",
        "quick_sell": "매도",
        "quick_exit": "전량 매도",
        "quick_exit_title": "보유 전량 매도: 먼저 미리 보기",
        "quick_liquidate_title": (
            "이 전략의 보유를 청산 화면에서 매도합니다: 팔 내역을 보여 준 뒤 확인을 받고,"
            " 매도는 그 전략의 것으로 기록됩니다"
        ),
        "chart_of": "차트와 주문",
        "lookup_hint": "종목코드나 이름(한글 또는 영문)을 입력하세요",
        "lookup_none": "맞는 종목이 없습니다",
        "fills_of": "체결",
        "accounts": "계좌",
        "synced_at": "{at} 동기화",
        "not_synced": "아직 동기화 안 됨",
        "baseline_chart": "일별 자산: 날마다의 계좌 스냅숏",
        "no_baselines": (
            "아직 일별 스냅숏이 없습니다: 활성 워커가 각 시장 마감 후 기록합니다"
            " (또는 yquant snapshot 실행)."
        ),
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
        "notifications": "알림",
        "notify_counts": "대기 {pending} · 전송 {sent} · 포기 {dead}",
        "notify_dead": "전송을 포기한 메시지",
        "notify_none_dead": "전송을 포기한 메시지가 없습니다.",
        "channel": "채널",
        "notice": "알림",
        "attempts": "시도",
        "last_error": "마지막 오류",
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
        "pending_schedules": (
            "예약 주문은 스케줄러 기능과 함께 제공됩니다: 아직 예약된 것이 없습니다."
        ),
        "liq_intro": (
            "조건에 맞는 장부의 포지션(전략별 보유분)을 모두 시장가로 매도합니다. 그 전에 조건에"
            " 맞는 미체결 주문을 취소합니다. 계획을 먼저 보여 주며, 확인하기 전에는 아무것도"
            " 전송하지 않습니다."
        ),
        "liq_plan_title": "계획: 아직 아무것도 전송하지 않았습니다",
        "liq_show_plan": "계획 보기",
        "liq_confirm_button": "포지션 {count}개 매도, 주문 {cancels}건 취소",
        "liq_result_title": "청산 결과",
        "liq_history": "최근 청산",
        "liq_at_open_label": "장이 닫혀 있으면 다음 개장 때 매도",
        "not_yet": "아직 제공되지 않음",
        "unavailable": "사용할 수 없음",
        "database_down": "데이터베이스가 응답하지 않습니다: 아래 수치가 빠질 수 있습니다.",
        "confirm": "확인",
        "order_market": "시장가",
        "cancel": "취소",
        "order_type": "주문 유형",
        "limit_price": "지정가격",
        "amount_hint": "또는 금액: 그 가격으로 살 수 있는 수량",
        "preview": "미리 보기",
        "preview_title": "미리 보기: 아직 아무것도 보내지 않았습니다",
        "confirm_send": "확인하고 주문 보내기",
        "order_result": "결과",
        "order_link": "신호의 흐름",
        "resized": "요청 {asked}, 가능 {sent}: 확인하면 {sent} 을(를) 보냅니다",
        "cancel_all": "조건에 맞는 미체결 주문 모두 취소",
        "cancel_confirm_title": "이 미체결 주문 {count}건을 취소할까요?",
        "cancel_confirm_button": "{count}건 취소",
        "cancel_one": "주문 {order} 을(를) 취소할까요?",
        "back": "돌아가기",
        "cancelled_n": "{n}건 취소됨",
        "pending_n": "{n}건 전송됨, 결과 확인 중 (게이트웨이가 계속 확인합니다)",
        "refused_n": "{n}건 취소 안 됨",
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
    return WORDS["en"].get(key) or i18n.MESSAGES["en"].get(key, key)
