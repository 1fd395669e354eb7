"""Approvals on Telegram: each order awaiting approval is asked about once, with Approve / Reject
buttons; a press by a configured user decides it (through `Approvals`, so the dashboard, the
command line and the timeout race it fairly: one decision wins); the message is then edited to
show the outcome, whoever decided it.

Runs on the active worker only (its notifier). Which orders were asked about is kept in the
worker's Valkey (a restart asks no order twice; a prompt of an order decided while the bot was
down keeps its buttons, and a press on it is answered "already decided"). A user not on
``approvals.telegram_user_ids`` is refused in the callback answer and nothing is decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from yquant.domain.model import Order, OrderStatus
from yquant.domain.reasons import ReasonCode
from yquant.errors import RejectedError, RetryableError
from yquant.ports import ApprovalChannel, Bus, Press, Prompt
from yquant.services.approvals import (
    RECHECK_REASONS,
    ApprovalOutcome,
    Approvals,
    Via,
    plain,
)
from yquant.services.worker_state import ActiveRole

logger = logging.getLogger(__name__)

APPROVE, REJECT = "ap", "rj"
PROMPT_TTL_S = 7 * 24 * 3600
POLL_S = 10  # getUpdates long polling: a press is answered as it arrives, within this wait


def prompt_key(client_order_id: str) -> str:
    return f"yq:approval-prompt:{client_order_id}"


@dataclass(frozen=True, slots=True)
class Words:
    """The operator's words in the bot's language: ``say(key)`` for sentences (MESSAGES keys),
    ``label(code)`` for statuses, sides and reason codes."""

    say: Callable[[str], str]
    label: Callable[[str], str]


class ApprovalBot:
    def __init__(
        self,
        *,
        approvals: Approvals,
        channel: ApprovalChannel,
        bus: Bus,
        role: ActiveRole,
        words: Words,
        interval_s: float = 1.0,
        poll_s: int = POLL_S,
    ) -> None:
        self._approvals = approvals
        self._channel = channel
        self._bus = bus
        self._role = role
        self._words = words
        self._interval_s = interval_s
        self._poll_s = poll_s
        self._open: dict[str, tuple[Order, list[Prompt]]] = {}  # asked, not yet shown decided

    # ---- asking --------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Ask about orders newly awaiting approval; show the outcome of those decided since
        (elsewhere, or by the timeout)."""
        awaiting = {o.client_order_id: o for o in await self._approvals.awaiting()}
        for cid, order in awaiting.items():
            if cid not in self._open:
                await self._ask(order)
        for cid in [c for c in self._open if c not in awaiting]:
            asked = self._open.pop(cid, None)  # a press may have settled it meanwhile
            if asked is None:
                continue
            order, prompts = asked
            current = await self._approvals.order(cid)
            await self._show(prompts, order, self._outcome_line(current, None))

    async def _ask(self, order: Order) -> None:
        cid = order.client_order_id
        kept = await self._bus.claimed(prompt_key(cid))
        if kept is not None:
            self._open[cid] = (order, _prompts(kept))
            return
        say = self._words.say
        try:
            prompts = await self._channel.ask(
                self.question(order),
                [(say("approve"), f"{APPROVE}:{cid}"), (say("reject"), f"{REJECT}:{cid}")],
            )
        except RejectedError as exc:
            # Refused for good (a chat not found, a bot removed): not asked again every
            # sweep; the dashboard and the command line still decide it.
            logger.error("approval not asked on telegram cid=%s: %s", cid, exc)
            self._open[cid] = (order, [])
            return
        await self._bus.remember(prompt_key(cid), _kept(prompts), PROMPT_TTL_S)
        self._open[cid] = (order, prompts)
        logger.info("approval asked on telegram cid=%s chats=%d", cid, len(prompts))

    def question(self, order: Order) -> str:
        say, label = self._words.say, self._words.label
        strategy = self._approvals.strategy(order.strategy)
        price = order.limit_price or order.reference_price
        lines = [
            say("approval_needed"),
            f"{label(order.side.value)} {plain(order.quantity)} {order.ticker} ({order.exchange})"
            + (f" @ {plain(price)} {order.currency}" if price is not None else ""),
            f"{say('strategy')}: {order.strategy} · {say('account')}: {order.account}",
            say("approval_deadline").format(
                seconds=int(strategy.approval_timeout_s),
                then=say("approve" if strategy.on_timeout == "approve" else "reject"),
            ),
            f"#{order.client_order_id}",
        ]
        return "\n".join(lines)

    # ---- presses -------------------------------------------------------------------------

    async def handle(self, press: Press) -> ApprovalOutcome | None:
        """One button press: refused for a user not on the list, else decided."""
        say = self._words.say
        kind, _, cid = press.data.partition(":")
        if kind not in (APPROVE, REJECT) or not cid:
            await self._answer(press, say("approval_unknown_button"))
            return None
        if not self._approvals.may_decide_on_telegram(press.user_id):
            logger.warning(
                "approval refused: telegram user %d is not allowed cid=%s", press.user_id, cid
            )
            await self._answer(press, self._words.label(ReasonCode.NOT_ALLOWED_TO_APPROVE))
            return None
        outcome = await self._approvals.decide(
            cid, approve=kind == APPROVE, actor=f"telegram:{press.user_id}", via=Via.TELEGRAM
        )
        line = self._outcome_line(outcome.order, outcome)
        await self._answer(press, line)
        asked = self._open.pop(cid, None)
        prompts = asked[1] if asked is not None else []
        if press.prompt is not None and press.prompt not in prompts:
            prompts.append(press.prompt)
        if outcome.order is not None and outcome.order.status is not OrderStatus.AWAITING_APPROVAL:
            await self._show(prompts, outcome.order, line)
        return outcome

    def _outcome_line(self, order: Order | None, outcome: ApprovalOutcome | None) -> str:
        """What became of the order, for the edited prompt and the press's answer."""
        say, label = self._words.say, self._words.label
        if order is None:
            return label(ReasonCode.NOT_FOUND)
        if outcome is not None and not outcome.decided:
            return f"{label(ReasonCode.NOT_AWAITING_APPROVAL)}: {label(order.status.value)}"
        if order.reason == ReasonCode.APPROVED or order.status not in (
            OrderStatus.REJECTED,
            OrderStatus.AWAITING_APPROVAL,
        ):
            return f"✅ {say('approved_sent')}"
        reason = order.reason or ReasonCode.REJECTED
        if reason in RECHECK_REASONS:
            return f"⚠️ {say('approved_refused')}: {label(reason)}"
        return f"❌ {label(reason)}"

    async def _show(self, prompts: list[Prompt], order: Order, line: str) -> None:
        text = f"{self.question(order)}\n\n{line}"
        for prompt in prompts:
            try:
                await self._channel.settle(prompt, text)
            except (RejectedError, RetryableError) as exc:
                logger.warning(
                    "approval prompt not edited cid=%s chat=%s: %s",
                    order.client_order_id,
                    prompt.chat_id,
                    exc,
                )

    async def _answer(self, press: Press, text: str) -> None:
        try:
            await self._channel.answer(press, text)
        except (RejectedError, RetryableError) as exc:
            logger.warning("button press not answered: %s", exc)

    # ---- the loops -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Ask and show outcomes every ``interval_s``, and read presses, on the active worker."""
        await asyncio.gather(self._sweeping(stop), self._polling(stop))

    async def _sweeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self._role.epoch() is not None:
                    await self.sweep()
            except RetryableError as exc:
                logger.warning("approval prompts not sent: %s", exc)
            except Exception:
                logger.exception("approval prompts failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)

    async def _polling(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self._role.epoch() is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
                    continue
                poll = asyncio.ensure_future(self._channel.presses(self._poll_s))
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if not poll.done():
                    poll.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await poll
                    return
                for press in poll.result():
                    await self.handle(press)
            except RetryableError as exc:
                logger.warning("telegram presses not read: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
            except Exception:
                logger.exception("telegram presses failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._interval_s)


def _kept(prompts: list[Prompt]) -> str:
    return json.dumps([[p.chat_id, p.message_id] for p in prompts])


def _prompts(kept: str) -> list[Prompt]:
    with contextlib.suppress(ValueError, TypeError):
        return [Prompt(str(chat), int(message)) for chat, message in json.loads(kept)]
    return []
