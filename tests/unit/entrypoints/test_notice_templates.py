"""Every notice in both languages: each kind has its words, and nothing secret is ever in a
message, whatever a producer put in the notice (the channels' own layouts included)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from yquant.adapters.notify.channels import embed, telegram_html
from yquant.domain.notices import Level, NoticeKind, notice
from yquant.entrypoints import i18n
from yquant.entrypoints.notices import FIELDS, LANGUAGES, TITLES, WORDS, render

AT = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)
WEBHOOK_SECRET = "whsec-Zq8L2mXv4Rt9Kp1N"
PATH_TOKEN = "pt-9fKq2LxW7vB3nM0c"
APP_KEY = "PSappkeyAbCdEf0123456789"
APP_SECRET = "appsecret/Xy12+Zw34=Qr56"
ACCOUNT = "12345678-01"
ACCOUNT_PLAIN = "8765432102"
PASSWORD = "correct horse battery"
BOT_TOKEN = "7100200300:AAE-bot-token-secret"
HOOK_TOKEN = "hooktokenQWERTY0987"
SECRETS = (
    WEBHOOK_SECRET,
    PATH_TOKEN,
    APP_KEY,
    APP_SECRET,
    ACCOUNT,
    "12345678",
    ACCOUNT_PLAIN,
    PASSWORD,
    BOT_TOKEN,
    HOOK_TOKEN,
)


def _secret_bearing(kind: NoticeKind) -> list[object]:
    """Notices of ``kind`` whose every field a careless producer could have filled with a
    secret: under secret-sounding keys, and account numbers inside ordinary values."""
    loaded = {
        "secret": WEBHOOK_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "path_token": PATH_TOKEN,
        "app_key": APP_KEY,
        "appkey": APP_KEY,
        "app_secret": APP_SECRET,
        "password": PASSWORD,
        "bot_token": BOT_TOKEN,
        "url": f"https://discord.com/api/webhooks/1/{HOOK_TOKEN}",
        "account_number": ACCOUNT,
        "detail": f"KIS refused account {ACCOUNT} and {ACCOUNT_PLAIN}",
        "error": f"EGW00123 for {ACCOUNT}",
        "reason": "broker_rejected",
        "ticker": "005930",
        "side": "buy",
        "quantity": "10",
        "price": "70000",
        "state": "halted",
        "pnl.trend": "+12,000 KRW",
        # a scheduled order's run, a liquidation
        "schedule": f"buy-{ACCOUNT_PLAIN}",
        "date": "2026-12-04",
        "action": "liquidate",
        "status": "done",
        "liquidation": "0a1b2c3d4e5f",
        "scope": f"account={ACCOUNT} strategy=trend",
        "sold": f"trend 005930 ×10 of {ACCOUNT}",
        "not_sold": f"trend 000660 ×5 of {ACCOUNT_PLAIN}",
        "cancelled": "yqfedcba9876543210fedcba",
        "signal_key": PATH_TOKEN,
        "source": f"schedule:{ACCOUNT_PLAIN}",
    }
    return [
        notice(kind, "k1", AT, account="main", strategy="trend", **loaded),
        notice(kind, "k2", AT, level=Level.ERROR, account=None, strategy=None, detail=ACCOUNT),
    ]


def test_every_kind_has_a_title_in_both_languages() -> None:
    for language in LANGUAGES:
        assert set(TITLES[language]) == set(NoticeKind)
        assert set(FIELDS[language]) == set(FIELDS["en"])
        assert set(WORDS[language]) == set(WORDS["en"])
    assert TITLES["ko"][NoticeKind.ORDER_FILLED] == "체결 완료"


def test_no_template_shows_a_secret_in_any_language_or_layout() -> None:
    rendered = 0
    for kind in NoticeKind:
        for made in _secret_bearing(kind):
            for language in LANGUAGES:
                message = render(made, language)  # type: ignore[arg-type]
                outputs = [
                    *message.texts(),
                    json.dumps(embed(message), ensure_ascii=False),
                    telegram_html(message),
                ]
                for text in outputs:
                    for secret in SECRETS:
                        assert secret not in text, (kind, language, secret, text)
                assert "****-01" in telegram_html(message)  # masked, not dropped
                rendered += 1
    assert rendered == len(NoticeKind) * 2 * len(LANGUAGES)


def test_a_fill_reads_in_the_operators_words() -> None:
    filled = notice(
        NoticeKind.ORDER_FILLED,
        "f",
        AT,
        account="main",
        strategy="trend",
        ticker="005930",
        side="buy",
        quantity="10",
        price="70000",
        reason="insufficient_cash",
    )
    ko = render(filled, "ko")
    assert ko.title == "체결 완료"
    assert ("구분", i18n.label("ko", "buy")) in ko.fields
    assert ("사유", i18n.label("ko", "insufficient_cash")) in ko.fields
    assert ("계좌", "main") in ko.fields and ("전략", "trend") in ko.fields
    en = render(filled, "en")
    assert en.title == "Order filled" and ("Side", "Buy") in en.fields
    assert render(filled, "fr").title == "Order filled"  # any other language reads as English
    html = telegram_html(ko)
    assert html.startswith("ℹ️ <b>체결 완료</b>")
    assert "<b>종목</b>: 005930" in html


def test_text_is_escaped_for_telegram_and_cut_to_the_limits() -> None:
    long = notice(NoticeKind.ALERT_REJECTED, "a", AT, detail="<b>&" + "x" * 5000)
    message = render(long, "en")
    html = telegram_html(message)
    assert "&lt;b&gt;&amp;" in html and len(html) <= 4096
    layout = embed(message)
    assert all(len(f["value"]) <= 1024 for f in layout["fields"])  # type: ignore[index, union-attr]
    assert len(json.dumps(layout)) < 6000


def test_schedule_runs_and_liquidations_read_in_both_languages() -> None:
    failed = notice(
        NoticeKind.SCHEDULE_FAILED,
        "7:2026-12-04",
        AT,
        account="main",
        schedule="aapl-ten",
        date="2026-12-04",
        reason="no_price",
        amount="1000",
        status="failed",
    )
    en, ko = render(failed, "en"), render(failed, "ko")
    assert en.title == "Scheduled order failed" and ko.title == "예약 주문 실패"
    assert en.lines == ("aapl-ten failed on 2026-12-04: " + i18n.label("en", "no_price") + ".",)
    assert ko.lines == (
        "예약 aapl-ten: 2026-12-04 실패했습니다. 사유: " + i18n.label("ko", "no_price") + ".",
    )
    assert ("Amount", "1000") in en.fields and ("금액", "1000") in ko.fields
    assert ("상태", i18n.label("ko", "failed")) in ko.fields
    liquidated = notice(
        NoticeKind.LIQUIDATION_DONE,
        "abc",
        AT,
        strategy="trend",
        liquidation="abc",
        scope="strategy=trend",
        status="partial",
        sold="trend 005930 ×10",
        not_sold="trend 000660 ×5",
        cancelled="yq1",
    )
    en, ko = render(liquidated, "en"), render(liquidated, "ko")
    assert en.lines == ("Liquidation abc (strategy=trend): Partly done.",)
    assert ko.lines == ("청산 abc (strategy=trend): 일부 완료.",)
    assert [f for f in en.fields if f[0] in ("Sold", "Not sold", "Cancelled")] == [
        ("Sold", "trend 005930 ×10"),
        ("Not sold", "trend 000660 ×5"),
        ("Cancelled", "yq1"),
    ]
    assert ("매도", "trend 005930 ×10") in ko.fields and ("취소된 주문", "yq1") in ko.fields
    # A liquidation schedule's run points to the liquidation's own notice.
    fired = notice(NoticeKind.SCHEDULE_FIRED, "8:2026-12-04", AT, schedule="close",
                   date="2026-12-04", action="liquidate")  # fmt: skip
    assert render(fired, "ko").lines[1].startswith("청산 예약입니다")
