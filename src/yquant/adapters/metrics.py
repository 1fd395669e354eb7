"""The `Metrics` port on prometheus_client, one registry per process, and its `/metrics` text.

Counters and histograms are fed by the services through the port. The gauges are read when
scraped: the journal's depth and the broker tokens' time left from the objects themselves, the
streams' pending entries and lag from the last sample (`sample_streams`, every few seconds, so
a scrape never waits on Valkey). Labels are reason codes, operations, streams and account
names; a token or an app key never appears.

The webhook and the dashboard answer `GET /metrics` on their own port; the engine and the
gateway, which serve no HTTP, get a small server of their own (`serve`, loopback by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
SAMPLE_EVERY_S = 5.0

# Seconds: a decision or a send that takes longer than 10 s is an incident of its own.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StreamInfo(Protocol):
    """What the sampler asks the bus: the consumer groups of a stream."""

    async def stream_groups(self, stream: str) -> list[dict[str, Any]]: ...


class PrometheusMetrics:
    """The `Metrics` port for one process (``role``) of one worker."""

    def __init__(self, role: str, worker: str) -> None:
        self.role = role
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        info = Gauge(
            "yquant_process", "This process's role and worker", ["role", "worker"], registry=r
        )
        info.labels(role=role, worker=worker).set(1)
        self._received = Counter(
            "yquant_alerts_received", "Requests that reached the webhook", registry=r
        )
        self._accepted = Counter("yquant_alerts_accepted", "Alerts accepted", registry=r)
        self._rejected = Counter(
            "yquant_alerts_rejected",
            "Requests refused or repeated, by reason",
            ["reason"],
            registry=r,
        )
        self._decision = Histogram(
            "yquant_decision_seconds",
            "From taking a signal to its recorded decision",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._send = Histogram(
            "yquant_send_seconds",
            "From sending an order to the broker's answer",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._broker_calls = Counter(
            "yquant_broker_calls", "Broker API calls", ["broker", "operation"], registry=r
        )
        self._broker_errors = Counter(
            "yquant_broker_errors", "Failed broker calls, by code", ["broker", "code"], registry=r
        )
        self._unattributed = Gauge(
            "yquant_book_unattributed",
            "Instruments whose broker holdings the book does not explain, at the last sync",
            ["account"],
            registry=r,
        )
        self._sampled = _Sampled()
        r.register(self._sampled)

    # ---- the port ---------------------------------------------------------------------------

    def alert_received(self) -> None:
        self._received.inc()

    def alert_accepted(self) -> None:
        self._accepted.inc()

    def alert_rejected(self, reason: str) -> None:
        self._rejected.labels(reason=str(reason)).inc()

    def decision_seconds(self, seconds: float, outcome: str) -> None:
        self._decision.labels(outcome=outcome).observe(seconds)

    def send_seconds(self, seconds: float) -> None:
        self._send.observe(seconds)

    def broker_call(self, broker: str, operation: str) -> None:
        self._broker_calls.labels(broker=broker, operation=operation).inc()

    def broker_error(self, broker: str, code: str) -> None:
        self._broker_errors.labels(broker=broker, code=code or "unknown").inc()

    def book_unattributed(self, account: str, instruments: int) -> None:
        self._unattributed.labels(account=account).set(instruments)

    # ---- what is read when scraped ----------------------------------------------------------

    def watch_journal(self, depth: Callable[[], int]) -> None:
        self._sampled.journal = depth

    def watch_token(self, account: str, expires_at: Callable[[], datetime | None]) -> None:
        """``account``'s broker token: seconds until ``expires_at()`` (absent while none)."""
        self._sampled.tokens[account] = expires_at

    async def sample_streams(
        self, bus: StreamInfo, streams: Iterable[str], stop: asyncio.Event
    ) -> None:
        """Every few seconds until ``stop``: each consumer group's pending entries and lag."""
        streams = tuple(streams)
        while not stop.is_set():
            sample: dict[tuple[str, str], tuple[float, float | None]] = {}
            try:
                for stream in streams:
                    for group in await bus.stream_groups(stream):
                        lag = group.get("lag")
                        sample[(stream, str(group["name"]))] = (
                            float(group.get("pending") or 0),
                            None if lag is None else float(lag),
                        )
            except Exception as exc:  # noqa: BLE001 - a bus away shows as no sample, never a crash
                logger.debug("stream sample failed: %s", type(exc).__name__)
                sample = {}
            self._sampled.streams = sample
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=SAMPLE_EVERY_S)

    # ---- the endpoint -----------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Callable[[], None] | None:
        """`GET /metrics` on ``host:port`` in a thread; the function that stops it, or None
        (logged) when the port cannot be had: metrics never stop a role."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            logger.warning(
                "metrics not served role=%s address=%s:%d reason=%s", self.role, host, port, exc
            )
            return None
        logger.info("metrics served role=%s address=%s:%d", self.role, host, port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=2)

        return stop


class _Sampled(Collector):
    """The gauges computed when scraped."""

    def __init__(self) -> None:
        self.journal: Callable[[], int] | None = None
        self.tokens: dict[str, Callable[[], datetime | None]] = {}
        self.streams: dict[tuple[str, str], tuple[float, float | None]] = {}
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Any]:
        return iter(())  # computed at scrape time: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        with self._lock:
            depth = GaugeMetricFamily(
                "yquant_journal_depth", "Writes waiting in this process's local journal"
            )
            if self.journal is not None:
                depth.add_metric([], float(self.journal()))
            yield depth
            pending = GaugeMetricFamily(
                "yquant_stream_pending",
                "Entries delivered to a consumer group and not yet acknowledged",
                labels=["stream", "group"],
            )
            lag = GaugeMetricFamily(
                "yquant_stream_lag",
                "Entries of a stream a consumer group has not read yet",
                labels=["stream", "group"],
            )
            for (stream, group), (p, behind) in sorted(self.streams.items()):
                pending.add_metric([stream, group], p)
                if behind is not None:
                    lag.add_metric([stream, group], behind)
            yield pending
            yield lag
            expiry = GaugeMetricFamily(
                "yquant_broker_token_expiry_seconds",
                "Seconds until the account's broker access token expires",
                labels=["account"],
            )
            now = datetime.now(UTC)
            for account, expires_at in sorted(self.tokens.items()):
                at = expires_at()
                if at is not None:
                    expiry.add_metric([account], (at - now).total_seconds())
            yield expiry
