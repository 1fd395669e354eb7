"""Running the KIS simulator: in a background thread (tests, benchmarks) or as a process.

    python -m yquant.adapters.brokers.kis_sim --port 18443 --environment real \\
        --app-key SIMKEY... --app-secret ... --account 12345678-01

Plain HTTP on loopback; the adapter is pointed at it with ``kis.base_url`` (broker
``kis-sim``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import Any

import httpx
import uvicorn

from yquant.adapters.brokers.kis_sim.app import KisSimulator, SimConfig, build_app
from yquant.adapters.threaded_server import ThreadedServer
from yquant.processes import free_port

logger = logging.getLogger(__name__)


class SimServer(ThreadedServer):
    """A `KisSimulator` served by uvicorn on ``127.0.0.1:port`` in a daemon thread."""

    def __init__(self, sim: KisSimulator | None = None, port: int | None = None) -> None:
        self.sim = sim or KisSimulator()
        port = port or free_port()
        config = server_config(build_app(self.sim), port, access_log=False)
        super().__init__(config, port, "KIS simulator")

    # ---- control over HTTP (what `yquant up --broker kis-sim` and scripts use) --------------

    def control(self, what: str, **body: Any) -> dict[str, Any]:
        return control(self.url, what, **body)


def control(url: str, what: str, **body: Any) -> dict[str, Any]:
    """Call a ``/_sim/`` control endpoint of a running simulator."""
    response = httpx.post(f"{url}/_sim/{what}", json=body, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def server_config(app: Any, port: int, **extra: Any) -> uvicorn.Config:
    """uvicorn as KIS looks on the wire: the h11 writer, which writes header names as the app
    spells them (httptools lowercases them), and no ``date``/``server`` of its own (the app
    sends ``Date`` as KIS does)."""
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http="h11",
        date_header=False,
        server_header=False,
        log_level="warning",
        lifespan="off",
        **extra,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kis-sim", description="KIS Open API simulator")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--environment", choices=["real", "paper"], default="real")
    p.add_argument("--app-key", required=True)
    p.add_argument("--app-secret", required=True)
    p.add_argument("--account", required=True, help="12345678-01")
    p.add_argument("--cash-krw", type=Decimal, default=Decimal(100_000_000))
    p.add_argument("--cash-usd", type=Decimal, default=Decimal(100_000))
    p.add_argument("--rate-limit", type=int, default=None)
    p.add_argument("--token-min-interval-s", type=float, default=60.0)
    p.add_argument("--partial-steps", type=int, default=1)
    p.add_argument("--fill-interval-s", type=float, default=None)
    p.add_argument("--hts-id", default=None, help="tr_key of the execution notices")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s kis-sim %(message)s")
    rate = args.rate_limit or (18 if args.environment == "real" else 1)
    sim = KisSimulator(
        SimConfig(
            environment=args.environment,
            rate_limit_per_s=rate,
            token_min_interval_s=args.token_min_interval_s,
        )
    )
    cano, _, product = args.account.partition("-")
    sim.add_app(
        args.app_key,
        args.app_secret,
        cano,
        product or "01",
        cash_krw=args.cash_krw,
        cash_usd=args.cash_usd,
        hts_id=args.hts_id,
    )
    sim.exchange.partial_steps = max(args.partial_steps, 1)
    sim.exchange.fill_interval_s = args.fill_interval_s
    config = server_config(build_app(sim), args.port)
    logger.info("KIS simulator (%s) on http://127.0.0.1:%d", args.environment, args.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(uvicorn.Server(config).serve())
    return 0
