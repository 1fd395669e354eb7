"""User-facing words in English and Korean. Code and logs stay in English."""

from __future__ import annotations

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
        "strategy": "Strategy",
        "ticker": "Ticker",
        "action": "Action",
        "account": "Account",
        "side": "Side",
        "quantity": "Qty",
        "filled": "Filled",
        "avg_price": "Avg price",
        "price": "Price",
        "commission": "Commission",
        "order": "Order",
        "updated": "Updated",
        "none": "Nothing yet",
        "unreachable": "dashboard cannot reach its data",
        "banner_ready": "yQuant is running",
        "banner_webhook": "Webhook URL",
        "banner_dashboard": "Dashboard",
        "banner_secret": "Webhook secret",
        "banner_try": "Send a sample alert",
        "banner_stop": "Press Ctrl-C to stop.",
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
        "strategy": "전략",
        "ticker": "종목",
        "action": "동작",
        "account": "계좌",
        "side": "매매",
        "quantity": "수량",
        "filled": "체결수량",
        "avg_price": "평균단가",
        "price": "가격",
        "commission": "수수료",
        "order": "주문",
        "updated": "갱신",
        "none": "아직 없음",
        "unreachable": "대시보드가 데이터를 가져오지 못했습니다",
        "banner_ready": "yQuant 실행 중",
        "banner_webhook": "웹훅 URL",
        "banner_dashboard": "대시보드",
        "banner_secret": "웹훅 시크릿",
        "banner_try": "예시 알림 보내기",
        "banner_stop": "종료하려면 Ctrl-C 를 누르세요.",
    },
}


def messages(language: str) -> dict[str, str]:
    return MESSAGES.get(language, MESSAGES["en"])


def t(language: str, key: str) -> str:
    return messages(language).get(key, MESSAGES["en"][key])
