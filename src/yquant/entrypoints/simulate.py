"""`yquant simulate`: the engine's decision on an alert at this moment, without trading.

The same `Decider.decide` the running engine uses, over the same parts (catalog, broker figures,
kill switch, calendars, settings); nothing is recorded, queued or published.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from yquant.bootstrap import build, build_broker, open_engine
from yquant.domain import alerts, market_rules
from yquant.domain.decision import Verdict
from yquant.entrypoints import formatting as fmt
from yquant.errors import SignalRejectedError
from yquant.services.decisions import Decision
from yquant.settings import Settings


async def simulate(settings: Settings, body: bytes, now: datetime) -> dict[str, Any]:
    """The decision as plain data: market state, sizing inputs, orders or rejections."""

    try:
        fields = alerts.decode_body(body)
        alert = alerts.parse_alert(fields, now)
    except SignalRejectedError as exc:
        return {"verdict": "invalid", "reason": exc.reason, "detail": exc.detail, "traded": False}
    runtime = build(settings, "cli")
    broker = build_broker(settings, runtime)
    try:
        await broker.connect()
        engine, _ = await open_engine(settings, runtime, broker, operator=True)
        decision = await engine.decider.decide(alert, now)
        return report(decision, now)
    finally:
        await broker.close()
        await runtime.close()


def report(decision: Decision, now: datetime) -> dict[str, Any]:
    alert = decision.alert
    out: dict[str, Any] = {
        "alert": {
            "strategy": alert.strategy,
            "symbol": f"{alert.exchange}:{alert.ticker}",
            "action": alert.action.value,
            "quantity": _text(alert.quantity),
            "price": _text(alert.price),
            "order_type": alert.order_type.value,
            "limit_price": _text(alert.limit_price),
            "position_size": _text(alert.position_size),
            "market_position": alert.market_position,
            "prev_market_position": alert.prev_market_position,
            "strength": _text(alert.strength),
        },
        "traded": False,
    }
    if decision.instrument is not None:
        i = decision.instrument
        price = alert.limit_price or alert.price
        out["instrument"] = {
            "market": i.market.value,
            "exchange": i.exchange,
            "ticker": i.ticker,
            "name": i.name_ko or i.name_en,
            "currency": i.currency,
            "security_type": i.security_type,
            "tick_size": _text(
                market_rules.tick_size(i.market.value, price, i.security_type) if price else None
            ),
        }
    if decision.state is not None:
        s = decision.state
        out["market"] = {
            "exchange": s.venue.exchange,
            "calendar": s.venue.calendar,
            "phase": s.phase.value,
            "now": s.local(now),
            "next_open": s.local(s.next_open_at) or None,
            "closes_at": s.local(s.closes_at) or None,
        }
    status, reason, detail = decision.summary()
    verdicts = {o.verdict for o in decision.outcomes}
    if decision.orders:
        verdict = Verdict.ORDER.value
    elif Verdict.QUEUED in verdicts:
        verdict = Verdict.QUEUED.value
    else:
        verdict = Verdict.REJECTED.value
    out.update({"verdict": verdict, "status": status.value, "reason": reason, "detail": detail})
    out["accounts"] = [
        {
            "account": o.account,
            "verdict": o.verdict.value,
            "reason": o.reason,
            "detail": o.detail or None,
            "inputs": dict(o.inputs),
            "order": None
            if o.order is None
            else {
                "client_order_id": o.order.client_order_id,
                "side": o.order.side.value,
                "quantity": _text(o.order.quantity),
                "order_type": o.order.order_type.value,
                "limit_price": _text(o.order.limit_price),
                "exchange": o.order.exchange,
            },
        }
        for o in decision.outcomes
    ]
    return out


def render(r: dict[str, Any], m: dict[str, str]) -> str:
    """The report for a terminal: times in the market's zone, amounts with their currency."""
    if r.get("verdict") == "invalid":
        return f"{m.get('sim_invalid', 'invalid alert')}: {r['reason']} ({r['detail']})"

    def head(label: str) -> str:
        return fmt.pad(label, 12)

    lines = []
    a = r["alert"]
    lines.append(
        f"{head(m.get('sim_alert', 'Alert'))} {a['strategy']}  {a['action']} {a['symbol']}"
        f"  qty {a['quantity'] or '-'}  price {a['price'] or '-'}  {a['order_type']}"
    )
    market = fmt.market_of(str(a.get("symbol") or ""))
    currency = fmt.currency_of(market)
    if "instrument" in r:
        i = r["instrument"]
        currency = i["currency"] or currency
        tick = fmt.money(i["tick_size"], currency) if i["tick_size"] else "-"
        lines.append(
            f"{head(m.get('sim_instrument', 'Instrument'))} {i['exchange']}:{i['ticker']}"
            f"  {i['name'] or ''}  {i['security_type'] or ''}  {i['currency']}"
            f"  tick {tick}"
        )
    if "market" in r:
        k = r["market"]
        market = fmt.market_of(k["exchange"]) or market
        next_open = fmt.local_time(k["next_open"], market)
        nxt = f"  {m.get('sim_next_open', 'next open')} {next_open}" if k["next_open"] else ""
        lines.append(
            f"{head(m.get('sim_market', 'Market'))} {k['exchange']} ({k['calendar']})"
            f"  {m.get('sim_' + k['phase'], k['phase'])}  {fmt.local_time(k['now'], market)}{nxt}"
        )
    for acc in r["accounts"]:
        inputs = acc["inputs"]
        figures = "  ".join(f"{k} {v}" for k, v in inputs.items() if v != "")
        if acc["order"]:
            o = acc["order"]
            what = f"{o['side']} {fmt.quantity(o['quantity'])} {o['order_type']}"
            if o["limit_price"]:
                what += f" @ {fmt.money(o['limit_price'], currency)}"
        else:
            what = f"{acc['reason']} {acc['detail'] or ''}".strip()
        verdict = m.get(f"sim_{acc['verdict']}", acc["verdict"])
        lines.append(f"{head(acc['account'])} {verdict}: {what}")
        lines.append(f"{head('')} {figures}")
    if not r["accounts"]:
        lines.append(f"{m.get('sim_rejected', 'rejected')}: {r['reason']} {r['detail']}".strip())
    lines.append(m.get("sim_no_trade", "Simulation only: nothing was sent."))
    return "\n".join(lines)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
