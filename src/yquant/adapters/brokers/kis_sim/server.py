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
import socket
import threading
import time
from decimal import Decimal
from typing import Any, Self

import httpx
import uvicorn

from yquant.adapters.brokers.kis_sim.app import KisSimulator, SimConfig, build_app

logger = logging.getLogger(__name__)


class SimServer:
    """A `KisSimulator` served by uvicorn on ``127.0.0.1:port`` in a daemon thread."""

    def __init__(self, sim: KisSimulator | None = None, port: int | None = None) -> None:
        self.sim = sim or KisSimulator()
        self.port = port or _free_port()
        self._server = uvicorn.Server(
            server_config(build_app(self.sim), self.port, access_log=False)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Self:
        self._thread = threading.Thread(target=self._server.run, name="kis-sim", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("KIS simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
