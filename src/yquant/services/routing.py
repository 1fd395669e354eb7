"""From settings to the engine's rules: which accounts a strategy trades, and how on each.

Sizing: the strategy's policy when it sets one, else the account's, else ``alert_quantity``
(the alert's own quantity, falling back to the strategy's ``quantity``); an operator's order
(strategy ``manual``) always has exactly the quantity asked, acts on the account's holdings and
never cancel-replaces; so does an account's scheduled order (strategy ``schedule:<name>``).
Limits: the account's and the strategy's, the stricter of each, except the daily loss (the
account's limits the account's loss, the strategy's its own). Position scope: the strategy's
``position_scope``, by default ``strategy`` (``account`` for ``manual``). Sessions: accounts
follow the exchange calendar except paper accounts, which trade at any hour unless told
``sessions = "exchange"`` (so the embedded default answers a sample alert at night as well).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from decimal import Decimal

from yquant.domain import market_rules, sizing
from yquant.domain.book import MANUAL
from yquant.domain.decision import AccountRules, OutOfSession
from yquant.domain.positions import PositionScope
from yquant.domain.risk import LimitSettings
from yquant.domain.schedules import is_schedule_strategy
from yquant.settings import RiskSettings, Settings, SizingSettings


def policy_choice(
    settings: Settings, strategy: str, account: str
) -> tuple[str, sizing.SizingParams]:
    """(policy name, parameters) for ``strategy`` on ``account``."""
    if is_operator(strategy):
        # The operator names the quantity: no configured policy resizes it (the risk limits,
        # the cash and the holdings still cap it).
        return sizing.DEFAULT_POLICY, sizing.SizingParams()
    chosen = settings.strategy(strategy)
    account_settings = settings.accounts[account]
    configured: SizingSettings | None = chosen.sizing or account_settings.sizing
    if configured is None:
        return sizing.DEFAULT_POLICY, sizing.SizingParams(quantity=chosen.quantity)
    return configured.policy, _params(configured, fallback=chosen.quantity)


def is_operator(strategy: str) -> bool:
    """An order whose quantity a person named: ``manual``, or an account's schedule."""
    return strategy == MANUAL or is_schedule_strategy(strategy)


def _params(s: SizingSettings, fallback: Decimal | None = None) -> sizing.SizingParams:
    return sizing.SizingParams(
        quantity=s.quantity if s.quantity is not None else fallback,
        amount=dict(s.amount),
        percent_of_equity=s.percent_of_equity,
        risk_percent=s.risk_percent,
        stop_percent=s.stop_percent,
        max_allocation_percent=s.max_allocation_percent,
        min_order_amount=dict(s.min_order_amount),
        options=dict(s.options),
    )


def _limits(r: RiskSettings) -> LimitSettings:
    return LimitSettings(
        max_order_notional=dict(r.max_order_notional),
        max_position_percent=r.max_position_percent,
        max_open_positions=r.max_open_positions,
        max_orders_per_minute=r.max_orders_per_minute,
        max_daily_loss=dict(r.max_daily_loss),
        same_direction_guard=r.same_direction_guard,
    )


def follows_sessions(settings: Settings, account: str) -> bool:
    """Whether ``account`` trades only in its exchange's sessions (paper accounts trade at any
    hour unless told ``sessions = "exchange"``)."""
    chosen = settings.accounts[account]
    return (chosen.sessions or ("always" if chosen.broker == "paper" else "exchange")) == "exchange"


def validate_sizing(settings: Settings) -> dict[str, sizing.Policy]:
    """Every policy the settings name, loaded; ConfigurationError naming any that is not."""
    configured: list[tuple[str, str, sizing.SizingParams]] = [
        ("(default)", sizing.DEFAULT_POLICY, sizing.SizingParams())
    ]
    for name, s in settings.strategies.items():
        if s.sizing is not None:
            configured.append((f"strategies.{name}.sizing", s.sizing.policy, _params(s.sizing)))
    for name, a in settings.accounts.items():
        if a.sizing is not None:
            configured.append((f"accounts.{name}.sizing", a.sizing.policy, _params(a.sizing)))
    return sizing.validate(configured)


def rules_for(
    settings: Settings,
    strategy: str,
    account: str,
    currency: str,
    policies: dict[str, sizing.Policy],
) -> AccountRules:
    name, params = policy_choice(settings, strategy, account)
    policy = policies.get(name) or sizing.load_policy(name)
    chosen = settings.strategy(strategy)
    account_settings = settings.accounts[account]
    account_limits = _limits(account_settings.risk).for_currency(currency)
    strategy_limits = _limits(chosen.risk).for_currency(currency)
    limits = replace(
        account_limits.stricter(strategy_limits),
        max_daily_loss=account_limits.max_daily_loss,
        max_strategy_daily_loss=strategy_limits.max_daily_loss,
    )
    commission = account_settings.commission_rate
    if commission is None:
        paper = account_settings.broker == "paper"
        commission = settings.paper.commission_rate if paper else Decimal(0)
    margin = account_settings.market_buy_margin_pct or Decimal(0)
    kis = account_settings.kis
    if kis is not None and currency == "USD":
        # KIS has no US market order: it sends a limit us_market_band_pct above the last price
        # and holds that amount, so a market buy is capped at that price at least.
        margin = max(margin, kis.us_market_band_pct)
    scope = chosen.position_scope or ("account" if is_operator(strategy) else "strategy")
    return AccountRules(
        policy=policy,
        params=params,
        limits=limits,
        out_of_session=OutOfSession(chosen.out_of_session),
        follow_sessions=follows_sessions(settings, account),
        commission_rate=commission,
        market_buy_margin=margin / 100,
        market_buy_at_upper_limit=kis is not None,
        position_scope=PositionScope(scope),
        replace_working=not is_operator(strategy),
    )


def liquidation_rules(rules: AccountRules, policies: dict[str, sizing.Policy]) -> AccountRules:
    """A liquidation's sell (`yquant.domain.liquidation`): exactly the quantity the plan names
    (the alert's), capped by the position of the strategy's scope and what the broker holds,
    whatever the strategy's sizing; never a cancel-replace (the liquidation cancels the working
    orders first); and a closed market queues it (the liquidation refuses beforehand unless
    it was asked to wait for the open)."""
    policy = policies.get(sizing.DEFAULT_POLICY) or sizing.load_policy(sizing.DEFAULT_POLICY)
    return replace(
        rules,
        policy=policy,
        params=sizing.SizingParams(),
        out_of_session=OutOfSession.QUEUE,
        replace_working=False,
    )


def calendar_overrides(settings: Settings) -> dict[str, market_rules.CalendarOverrides]:
    out: dict[str, market_rules.CalendarOverrides] = {}
    for market, m in settings.engine.markets.items():
        special: dict[date, tuple[time, time]] = {}
        for day, hours in m.special_sessions.items():
            opens, _, closes = hours.partition("-")
            special[day] = (time.fromisoformat(opens.strip()), time.fromisoformat(closes.strip()))
        out[market] = market_rules.CalendarOverrides(frozenset(m.extra_holidays), special)
    return out
