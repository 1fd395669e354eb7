"""A local KIS Open API simulator that speaks the real protocol (paths, headers, TR ids, field
names, error envelopes, token throttling and expiry, per-second limits, paging, partial fills,
market-closed refusals), for tests, benchmarks and ``yquant up --broker kis-sim`` demos.

    exchange.py  the simulated venue: accounts, prices, orders, fills
    app.py       the HTTP protocol: tokens, authentication, limits, TR routing, control
    views.py     order TRs and paging: KIS-shaped requests and responses
    balances.py  balance and quote TRs
    server.py    running it in a thread or as a process
"""

from __future__ import annotations

from yquant.adapters.brokers.kis_sim.app import KisSimulator, SimConfig, key_label
from yquant.adapters.brokers.kis_sim.server import SimServer, control

__all__ = ["KisSimulator", "SimConfig", "SimServer", "control", "key_label"]
