"""From settings to a strategy's rules on an account: position scope, the market buy's hold, and
the daily loss limits kept apart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from yquant.domain.positions import PositionScope
from yquant.services import routing
from yquant.settings import Settings

KIS: dict[str, Any] = {
    "broker": "kis",
    "kis": {
        "environment": "paper",
        "app_key": "k" * 36,
        "app_secret": "s" * 180,
        "account_number": "12345678-01",
    },
}


def rules(settings: Settings, strategy: str, account: str, currency: str = "KRW") -> Any:
    return routing.rules_for(
        settings, strategy, account, currency, routing.validate_sizing(settings)
    )


def test_strategies_act_on_their_own_position_unless_told_and_operators_on_the_account() -> None:
    settings = Settings(strategies={"solo": {"accounts": ["paper"], "position_scope": "account"}})
    default = rules(settings, "default", "paper")
    assert (default.position_scope, default.replace_working) == (PositionScope.STRATEGY, True)
    assert rules(settings, "solo", "paper").position_scope is PositionScope.ACCOUNT
    manual = rules(settings, "manual", "paper")
    assert (manual.position_scope, manual.replace_working) == (PositionScope.ACCOUNT, False)


def test_the_market_buy_buffer_is_configurable_and_never_below_kis_us_band() -> None:
    settings = Settings(
        accounts={
            "paper": {"broker": "paper", "market_buy_margin_pct": "1"},
            "kis": KIS,
            "kis5": {**KIS, "market_buy_margin_pct": "5"},
        }
    )
    assert rules(settings, "default", "paper", "USD").market_buy_margin == Decimal("0.01")
    assert rules(settings, "default", "kis", "USD").market_buy_margin == Decimal("0.03")
    assert rules(settings, "default", "kis5", "USD").market_buy_margin == Decimal("0.05")
    # KIS holds a KRX market buy at the day's upper limit; the paper broker does not.
    assert rules(settings, "default", "kis", "KRW").market_buy_at_upper_limit is True
    assert rules(settings, "default", "paper", "KRW").market_buy_at_upper_limit is False


def test_the_daily_loss_limits_of_account_and_strategy_stay_apart() -> None:
    settings = Settings(
        accounts={"paper": {"broker": "paper", "risk": {"max_daily_loss": {"KRW": "500000"}}}},
        strategies={
            "s": {
                "accounts": ["paper"],
                "risk": {"max_daily_loss": {"KRW": "100000"}, "max_order_notional": {"KRW": "9"}},
            }
        },
    )
    limits = rules(settings, "s", "paper").limits
    assert (limits.max_daily_loss, limits.max_strategy_daily_loss) == (500_000, 100_000)
    assert limits.max_order_notional == 9  # the other limits combine to the stricter
    other = rules(settings, "default", "paper").limits
    assert (other.max_daily_loss, other.max_strategy_daily_loss) == (500_000, None)
