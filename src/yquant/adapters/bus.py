"""Messaging between a worker's processes on its local Valkey.

Streams with consumer groups carry everything on the order path (at-least-once: an entry stays
pending until its handler finished and it is acknowledged; a restarted consumer first re-reads its
own pending entries, and entries left by a consumer that is gone are claimed after an idle time).
Pub/Sub carries only what may be missed: live-view events. Heartbeats are keys with a TTL.

The client library's errors stop here: a caller sees BusUnavailableError (see BUS_ERRORS).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import valkey.asyncio as valkey
from valkey.commands.core import AsyncScript
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import NoScriptError, ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from yquant.adapters import messages
from yquant.batching import Batcher, settle
from yquant.domain import notices
from yquant.domain.events import CancelAnswered, LiveEvent
from yquant.domain.notices import Notice
from yquant.errors import BusUnavailableError, RetryableError
from yquant.ports import CANCELS, EXECUTIONS, NOTICES, ORDERS, SIGNALS, Entry, Handler, Message

__all__ = [
    "BUS_ERRORS",
    "CANCELS",
    "DEAD",
    "EVENTS",
    "EXECUTIONS",
    "NOTICES",
    "ORDERS",
    "SIGNALS",
    "Bus",
    "Entry",
]

logger = logging.getLogger(__name__)

DEAD = "yq:dead"
EVENTS = "yq:events"
STREAM_MAXLEN = 100_000
HEARTBEAT_TTL_S = 15

Lane = Callable[[Message], str]  # the lane of a message (`Bus.consume`)

# KEYS[1]: the stream; ARGV: maxlen, the events channel, the event ("" for none), the entries.
_APPEND_MANY = """
for i = 4, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'data', ARGV[i])
end
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return #ARGV - 3
"""

# Valkey away, or up and refusing the command (out of memory, a read-only replica, persistence
# failing: MISCONF): either way the caller waits and tries again, nothing crashes.
BUS_ERRORS = (ValkeyConnectionError, ValkeyTimeoutError, ResponseError, ConnectionError, OSError)


class Bus:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client: valkey.Valkey | None = None
        self._append_many: AsyncScript | None = None
        self._acks: dict[tuple[str, str], _Acks] = {}
        self._commands: _Commands | None = None

    @property
    def client(self) -> valkey.Valkey:
        if self._client is None:
            self._client = valkey.from_url(
                self._url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2
            )
        return self._client

    async def close(self) -> None:
        acks, self._acks = list(self._acks.values()), {}
        for batcher in acks:
            await batcher.close(timeout_s=1.0)  # an ack left undone: the entry is read again
        if self._commands is not None:
            commands, self._commands = self._commands, None
            await commands.close(timeout_s=1.0)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._append_many = None

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def publish(self, stream: str, data: dict[str, Any]) -> None:
        """Append one entry (see publish_many); raises BusUnavailableError when Valkey is away."""
        await self.publish_many(stream, [data])

    async def publish_many(
        self, stream: str, messages: list[dict[str, Any]], *, event: dict[str, Any] | None = None
    ) -> None:
        """Append several entries in order with one command (and, with ``event``, announce them
        once); raises BusUnavailableError when Valkey is away.

        One script call instead of a pipeline of XADDs: the client then encodes one command and
        reads one reply per batch, not one per entry (most of the cost of a burst of alerts).
        """
        if not messages:
            return
        if self._append_many is None:
            self._append_many = self.client.register_script(_APPEND_MANY)
        entries = [orjson.dumps(data) for data in messages]
        announcement = orjson.dumps(event) if event is not None else b""
        args: list[bytes | str | int] = [STREAM_MAXLEN, EVENTS, announcement, *entries]
        try:
            # Through the shared pipeline: appends made side by side (a burst's orders and
            # fills) go to Valkey together.
            try:
                await self._command("EVALSHA", self._append_many.sha, 1, stream, *args)
            except NoScriptError:  # a Valkey that restarted, or first use: load it, once more
                await self._append_many(keys=[stream], args=args)
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def send(self, message: Message) -> None:
        """Append ``message`` to its stream; raises BusUnavailableError when Valkey is away."""
        await self.publish(messages.stream_of(message), messages.encode(message))

    async def send_many(self, batch: Sequence[Message], *, event: LiveEvent | None = None) -> None:
        """Append messages of one stream in order with one command (see publish_many), and
        with ``event``, announce them once."""
        if not batch:
            return
        stream = messages.stream_of(batch[0])
        if any(messages.stream_of(m) != stream for m in batch):
            raise ValueError("send_many takes the messages of one stream")
        await self.publish_many(
            stream,
            [messages.encode(m) for m in batch],
            event=None if event is None else messages.encode_event(event),
        )

    async def announce(self, event: LiveEvent) -> None:
        """Best-effort live event for dashboards; losing one is harmless."""
        data = messages.encode_event(event)
        with contextlib.suppress(*BUS_ERRORS):
            await self._command("PUBLISH", EVENTS, json.dumps(data, separators=(",", ":")))

    async def _command(self, *args: Any) -> Any:
        """Run one command; those that come while a batch is under way go together as one
        pipeline (one write, one round trip). Its own reply, or its own error."""
        if self._commands is None:
            self._commands = _Commands(self)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._commands.put((args, reply))
        return await reply

    async def notify(self, notice: Notice) -> None:
        """Hand ``notice`` to the notifier (the notices stream). Never raises: with Valkey away
        the notice is logged and dropped (trading never waits for a message), and a stream
        entry is one command, no wait for any channel."""
        try:
            await self.publish(NOTICES, notices.to_dict(notice))
        except BusUnavailableError as exc:
            logger.warning("notice dropped id=%s: %s", notice.id, exc)

    async def heartbeat(self, role: str, info: dict[str, Any]) -> None:
        payload = json.dumps({**info, "at": time.time()})
        try:
            await self.client.set(f"yq:hb:{role}", payload, ex=HEARTBEAT_TTL_S)
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def heartbeat_stopped(self, role: str, pid: int) -> None:
        """Take back the heartbeat of a role that stops cleanly, if it is still this process's:
        a restarted role is not taken for up on the word of its previous life."""
        key = f"yq:hb:{role}"
        try:
            value = await self.client.get(key)
            if value is not None and json.loads(value).get("pid") == pid:
                await self.client.delete(key)
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def heartbeats(self, roles: list[str]) -> dict[str, dict[str, Any] | None]:
        try:
            values = await self.client.mget([f"yq:hb:{r}" for r in roles])
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc
        return {r: (json.loads(v) if v else None) for r, v in zip(roles, values, strict=True)}

    async def claim_send(self, key: str, owner: str, ttl_s: int) -> bool:
        """Take ``key`` for ``owner`` for ``ttl_s`` unless it is taken: True if taken now."""
        try:
            return bool(await self._command("SET", key, owner, "NX", "EX", ttl_s))
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def remember(self, key: str, value: str, ttl_s: int) -> str:
        """Keep ``value`` under ``key`` for ``ttl_s`` unless one is kept; the value kept."""
        try:
            earlier = await self.client.set(key, value, nx=True, ex=ttl_s, get=True)
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc
        return value if earlier is None else str(earlier)

    async def answer(self, answer: CancelAnswered, ttl_s: int) -> None:
        """Leave ``answer`` under its request id; the first answer to a request stands."""
        payload = json.dumps(messages.answer_to_message(answer), separators=(",", ":"))
        try:
            await self.client.set(_answer_key(answer.request_id), payload, ex=ttl_s, nx=True)
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def answered(self, request_id: str) -> CancelAnswered | None:
        try:
            payload = await self.client.get(_answer_key(request_id))
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc
        return None if payload is None else messages.answer_from_message(json.loads(payload))

    async def claimed(self, key: str) -> str | None:
        """Who took ``key`` (`claim_send`), or None when nobody holds it."""
        try:
            owner = await self.client.get(key)
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc
        return None if owner is None else str(_text(owner))

    async def stream_groups(self, stream: str) -> list[dict[str, Any]]:
        """The consumer groups of ``stream`` (name, pending, lag, ...); none if it does not
        exist yet."""
        try:
            groups = await self.client.xinfo_groups(stream)
        except ResponseError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise BusUnavailableError(f"valkey: {exc}") from exc
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc
        return [{_text(k): _text(v) for k, v in g.items()} for g in groups]

    async def stream_length(self, stream: str) -> int:
        """Entries in ``stream`` (0 when it does not exist): the dead letters' count."""
        try:
            return int(await self.client.xlen(stream))
        except BUS_ERRORS as exc:
            raise BusUnavailableError(f"valkey: {exc}") from exc

    async def ensure_group(self, stream: str, group: str) -> None:
        try:
            await self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def consume(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        stop: asyncio.Event,
        *,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        batch: int = 50,
        lane: Lane | None = None,
        concurrency: int = 1,
    ) -> None:
        """Run ``handler`` for every entry of ``stream`` for this group until ``stop`` is set.

        Order of work: our own pending entries first (left by our previous life), then entries
        other consumers left idle for ``claim_idle_ms``, then new entries. An entry is
        acknowledged only after its handler returned; a retryable failure leaves it pending and
        is retried with backoff; any other failure moves it to the dead-letter stream.

        With ``lane`` (a key per message, e.g. its account), entries of different lanes are
        handled side by side: a handler that waits (a broker that does not answer, retried)
        holds up its own lane only. In each lane (one lane without ``lane``), up to
        ``concurrency`` entries are handled side by side, each started in stream order (the
        handler orders the steps that must stay in order; their database writes share
        commits); with ``concurrency`` 1, one after the other.
        """
        # A stop ends a blocked XREADGROUP at once rather than after ``block_ms``.
        stopped = asyncio.ensure_future(stop.wait())
        lanes = None
        if lane is not None or concurrency > 1:
            lanes = _Lanes(self, stream, group, handler, stop, lane, concurrency)
        try:
            await self._consume(
                stream,
                group,
                consumer,
                handler,
                stop,
                stopped,
                claim_idle_ms,
                block_ms,
                batch,
                lanes,
            )
        finally:
            stopped.cancel()
            if lanes is not None:
                await lanes.close()

    async def _consume(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        stop: asyncio.Event,
        stopped: asyncio.Future[Any],
        claim_idle_ms: int,
        block_ms: int,
        batch: int,
        lanes: _Lanes | None,
    ) -> None:
        backoff = 0.2
        recovered = False
        last_claim = 0.0
        while not stop.is_set():
            try:
                if not recovered:
                    # Once per start and after each failure (a group removed meanwhile reads
                    # as NOGROUP, a failure): not a command per read.
                    await self.ensure_group(stream, group)
                    await self._drain_pending(stream, group, consumer, handler, stop, lanes)
                    recovered = True
                now = time.monotonic()
                if now - last_claim > claim_idle_ms / 1000 / 2:
                    last_claim = now
                    await self._claim_idle(
                        stream, group, consumer, handler, stop, claim_idle_ms, lanes
                    )
                read = asyncio.ensure_future(
                    self.client.xreadgroup(
                        group, consumer, {stream: ">"}, count=batch, block=block_ms
                    )
                )
                await asyncio.wait((read, stopped), return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    # Entries the server handed to the cancelled read stay pending for this
                    # consumer: the next start reads them first (at-least-once holds).
                    read.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *BUS_ERRORS):
                        await read
                    return
                reply = read.result()
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        if lanes is not None:
                            await lanes.put(entry_id, fields, redelivered=False)
                        else:
                            await self._handle(
                                stream, group, entry_id, fields, False, handler, stop
                            )
                backoff = 0.2
            except BUS_ERRORS as exc:
                logger.warning("bus unavailable stream=%s error=%s", stream, exc)
                recovered = False
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _drain_pending(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        stop: asyncio.Event,
        lanes: _Lanes | None = None,
    ) -> None:
        start = "0"
        while not stop.is_set():
            reply = await self.client.xreadgroup(group, consumer, {stream: start}, count=100)
            entries = reply[0][1] if reply else []
            if not entries:
                return
            for entry_id, fields in entries:
                if lanes is not None:
                    await lanes.put(entry_id, fields, redelivered=True)
                else:
                    await self._handle(stream, group, entry_id, fields, True, handler, stop)
                start = entry_id

    async def _claim_idle(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        stop: asyncio.Event,
        idle_ms: int,
        lanes: _Lanes | None = None,
    ) -> None:
        cursor = "0-0"
        while not stop.is_set():
            reply = await self.client.xautoclaim(
                stream, group, consumer, min_idle_time=idle_ms, start_id=cursor, count=100
            )
            cursor, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if fields is None:
                    continue
                if lanes is not None:
                    await lanes.put(entry_id, fields, redelivered=True)
                else:
                    await self._handle(stream, group, entry_id, fields, True, handler, stop)
            if cursor == "0-0":
                return

    async def _handle(
        self,
        stream: str,
        group: str,
        entry_id: str,
        fields: dict[str, str] | None,
        redelivered: bool,
        handler: Handler,
        stop: asyncio.Event,
    ) -> None:
        entry = self._decoded(stream, entry_id, fields, redelivered)
        if isinstance(entry, str):
            await self._dead_letter(stream, group, entry_id, fields, entry)
            return
        await self._run(entry, group, fields, handler, stop)

    def _decoded(
        self, stream: str, entry_id: str, fields: dict[str, str] | None, redelivered: bool
    ) -> Entry | str:
        """The entry, or why it cannot be decoded."""
        try:
            data = json.loads((fields or {}).get("data", "null"))
            if not isinstance(data, dict):
                # Caught below with json's own ValueError: both are an undecodable entry.
                raise ValueError("entry has no JSON object in field 'data'")  # noqa: TRY004
            message = messages.decode(stream, data)
        except ValueError as exc:  # UndecodableMessageError is one
            return f"undecodable: {exc}"
        return Entry(stream, entry_id, data, redelivered, message)

    async def _run(
        self,
        entry: Entry,
        group: str,
        fields: dict[str, str] | None,
        handler: Handler,
        stop: asyncio.Event,
    ) -> None:
        stream, entry_id = entry.stream, entry.entry_id
        backoff = 0.2
        while True:
            try:
                await handler(entry)
                break
            except RetryableError as exc:
                if stop.is_set():
                    return  # stays pending; handled after restart
                logger.warning("handler will retry stream=%s id=%s error=%s", stream, entry_id, exc)
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:
                logger.exception("handler failed stream=%s id=%s", stream, entry_id)
                await self._dead_letter(stream, group, entry_id, fields, repr(exc)[:300])
                return
        await self._ack(stream, group, entry_id)

    async def _ack(self, stream: str, group: str, entry_id: str) -> None:
        """Acknowledge ``entry_id``; the acks that come while one is under way go together."""
        acks = self._acks.get((stream, group))
        if acks is None:
            acks = self._acks[(stream, group)] = _Acks(self, stream, group)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acks.put((entry_id, done))
        await done

    async def _dead_letter(
        self, stream: str, group: str, entry_id: str, fields: dict[str, str] | None, error: str
    ) -> None:
        await self.client.xadd(
            DEAD,
            {"stream": stream, "id": entry_id, "error": error, **(fields or {})},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )
        await self.client.xack(stream, group, entry_id)


class _Acks(Batcher[tuple[str, "asyncio.Future[None]"]]):
    """The XACKs of one stream and group: those that come while one is under way go as one
    command (a burst of entries handled side by side costs one round trip per batch). Each
    caller hears its own outcome; an ack that fails leaves its entry pending (read again)."""

    def __init__(self, bus: Bus, stream: str, group: str) -> None:
        super().__init__(512, f"xack:{stream}:{group}")
        self._bus, self._stream, self._group = bus, stream, group

    async def handle(self, batch: list[tuple[str, asyncio.Future[None]]]) -> None:
        try:
            await self._bus.client.xack(self._stream, self._group, *(i for i, _ in batch))
        except Exception as exc:  # noqa: BLE001 - handed to each caller, raised there
            settle((done for _, done in batch), exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)


class _Commands(Batcher[tuple[tuple[Any, ...], "asyncio.Future[Any]"]]):
    """Single commands (a send claim, a live event) that come while a batch is under way go
    as the next batch, in one pipeline without a transaction: each its own reply or error."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(256, "valkey-commands")
        self._bus = bus

    async def handle(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            async with self._bus.client.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - handed to each caller, raised there
            settle((reply for _, reply in batch), exc)
            return
        for (_, reply), value in zip(batch, replies, strict=True):
            if reply.done():
                continue
            if isinstance(value, Exception):
                reply.set_exception(value)
            else:
                reply.set_result(value)


class _Lanes:
    """A consumer's entries handed to one dispatcher per lane (`Bus.consume`'s ``lane``; one
    lane without), which starts each entry's task in stream order, at most ``concurrency`` of
    the lane at a time; the lanes side by side. At most ``MAX_IN_FLIGHT`` entries wait in the
    lanes; reading waits for room. An entry already taken is not taken twice when it is
    claimed or read back from the pending list meanwhile."""

    MAX_IN_FLIGHT = 1000

    def __init__(
        self,
        bus: Bus,
        stream: str,
        group: str,
        handler: Handler,
        stop: asyncio.Event,
        key: Lane | None,
        concurrency: int = 1,
    ) -> None:
        self._bus, self._stream, self._group = bus, stream, group
        self._handler, self._stop, self._key = handler, stop, key
        self._queues: dict[str, asyncio.Queue[tuple[Entry, dict[str, str] | None] | None]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()
        self._concurrency = concurrency
        self._room = asyncio.Semaphore(self.MAX_IN_FLIGHT)

    async def put(self, entry_id: str, fields: dict[str, str] | None, *, redelivered: bool) -> None:
        if entry_id in self._in_flight:
            return
        entry = self._bus._decoded(self._stream, entry_id, fields, redelivered)  # noqa: SLF001
        if isinstance(entry, str):
            await self._bus._dead_letter(self._stream, self._group, entry_id, fields, entry)  # noqa: SLF001
            return
        await self._room.acquire()
        self._in_flight.add(entry_id)
        name = ""
        if self._key is not None and entry.message is not None:
            name = self._key(entry.message)
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = asyncio.Queue()
            self._workers.append(asyncio.create_task(self._work(queue)))
        queue.put_nowait((entry, fields))

    async def _work(self, queue: asyncio.Queue[tuple[Entry, dict[str, str] | None] | None]) -> None:
        lane = asyncio.Semaphore(self._concurrency)
        while True:
            item = await queue.get()
            if item is None or self._stop.is_set():
                return  # what is left stays pending: read back after a restart
            await lane.acquire()
            if self._stop.is_set():
                lane.release()
                return
            task = asyncio.create_task(self._one(*item, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(
        self, entry: Entry, fields: dict[str, str] | None, lane: asyncio.Semaphore
    ) -> None:
        try:
            await self._bus._run(entry, self._group, fields, self._handler, self._stop)  # noqa: SLF001
        except BUS_ERRORS as exc:  # not acknowledged: stays pending, claimed again later
            logger.warning(
                "bus unavailable stream=%s id=%s error=%s", self._stream, entry.entry_id, exc
            )
        finally:
            self._in_flight.discard(entry.entry_id)
            self._room.release()
            lane.release()

    async def close(self) -> None:
        """Let each lane's entries in hand finish, and stop."""
        for queue in self._queues.values():
            queue.put_nowait(None)
        await asyncio.gather(*self._workers, return_exceptions=True)
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _answer_key(request_id: str) -> str:
    return f"yq:answer:{request_id}"
