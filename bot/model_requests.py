"""What each model is sent, built from what storage holds (SPEC §3): for a new round, for a
thread turn, and for either again when an answer is regenerated."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bot.chat.context import (
    ContextWindow,
    authored,
    build_round_context,
    build_thread_context,
    compose_system_prompt,
)
from bot.chat.history import RoundRecord, context_round, in_chat_settled, thread_turn
from bot.chat.messages import MessageWithdrawn, ModelRequest, PendingRequest
from storage.channels import ChannelStore
from storage.conversations import ConversationStore
from storage.database import read_through_outages
from storage.reply_threads import StartedTurn, ThreadHistory
from storage.rounds import StartedRound

log = logging.getLogger(__name__)

SETTLED_POLL_SECONDS = 0.25
SETTLED_WAIT_SECONDS = 600.0

History = TypeVar("History")
T = TypeVar("T")


class ModelRequests:
    """Builds model requests: the system prompt (the workspace's, then the channel's), the
    history within the context window, then the new message."""

    def __init__(
        self,
        store: ConversationStore,
        channels: ChannelStore,
        *,
        system_prompt: str,
        window: ContextWindow,
    ) -> None:
        self._store = store
        self._channels = channels
        self._system_prompt = system_prompt
        self._window = window

    def for_round(
        self, channel_prompt: str | None, history: Sequence[RoundRecord], author: str, text: str
    ) -> ModelRequest:
        """What every model answering a new round is sent."""
        return build_round_context(
            self._system(channel_prompt),
            [context_round(record) for record in history],
            authored(author, text),
            self._window,
        )

    def for_started_round(
        self, started: StartedRound, author: str, text: str
    ) -> ModelRequest | PendingRequest:
        """What every model is sent for a round just started: at once when the In Chat answers
        of the rounds before it are settled; otherwise once they are, as the message then
        reads. A message sent while the In Chat answer before it streams is sent that answer
        once it is whole: only a failed one leaves its round without an assistant turn."""
        if all(in_chat_settled(record) for record in started.history):
            return self.for_round(started.channel_prompt, started.history, author, text)
        return _built_once_settled(
            lambda deadline: self._once_settled_rounds(
                started.chat_id, started.round_id, deadline, started.history
            ),
            lambda: self._store.round_text(started.round_id),
            lambda history, said: self.for_round(started.channel_prompt, history, author, said),
        )

    def for_stored_round(
        self, channel_id: str, chat_id: int, round_id: int, author: str
    ) -> PendingRequest:
        """The same for a round already recorded (its answer is regenerated), once the In
        Chat answers before it are settled, as the message and the channel's prompt then
        read."""

        async def settled_with_prompt(
            deadline: float,
        ) -> tuple[Sequence[RoundRecord], str | None]:
            history = await self._once_settled_rounds(chat_id, round_id, deadline)
            prompt = await _read(lambda: self._channels.prompt(channel_id), deadline)
            return history, prompt

        return _built_once_settled(
            settled_with_prompt,
            lambda: self._store.round_text(round_id),
            lambda settled, said: self.for_round(settled[1], settled[0], author, said),
        )

    def for_thread_turn(self, history: ThreadHistory, author: str, text: str) -> ModelRequest:
        """What the thread's model answering a turn is sent."""
        return build_thread_context(
            self._system(history.channel_prompt),
            history.snapshot,
            history.anchor_message,
            history.anchor_answer,
            [thread_turn(record) for record in history.turns],
            authored(author, text),
            self._window,
        )

    def for_stored_thread_turn(
        self, reply_thread_id: int, turn_id: int, author: str, history: ThreadHistory | None = None
    ) -> PendingRequest:
        """The same for a turn already recorded (its reply is regenerated; `history`: as read
        last), once the answers before it are settled, as its message then reads."""
        return _built_once_settled(
            lambda deadline: self._once_settled(reply_thread_id, turn_id, deadline, history),
            lambda: self._store.turn_text(turn_id),
            lambda settled, said: self.for_thread_turn(settled, author, said),
        )

    def for_started_turn(
        self, started: StartedTurn, author: str, text: str
    ) -> ModelRequest | PendingRequest:
        """What the thread's model is sent for a turn just started: at once when the answers
        before it (the one the thread hangs under, the replies to earlier turns) are settled;
        otherwise once they are, as the message then reads: a message written while they
        stream is about all of them, so its model is sent all of them."""
        if started.history.settled:
            return self.for_thread_turn(started.history, author, text)
        return self.for_stored_thread_turn(
            started.reply_thread_id, started.turn_id, author, started.history
        )

    async def _once_settled(
        self,
        reply_thread_id: int,
        turn_id: int,
        deadline: float,
        history: ThreadHistory | None = None,
    ) -> ThreadHistory:
        """The thread's history before the turn once it is settled (`history`: as read last)."""

        def read() -> Awaitable[ThreadHistory]:
            return self._store.thread_history(
                reply_thread_id, before_turn_id=turn_id, limit=self._window.max_rounds
            )

        return await _once_settled(read, lambda history: history.settled, deadline, history)

    async def _once_settled_rounds(
        self,
        chat_id: int,
        round_id: int,
        deadline: float,
        history: Sequence[RoundRecord] | None = None,
    ) -> Sequence[RoundRecord]:
        """The chat's rounds before the round once their In Chat answers are settled."""

        def read() -> Awaitable[Sequence[RoundRecord]]:
            return self._store.round_records(
                chat_id, before_round_id=round_id, limit=self._window.max_rounds
            )

        def settled(records: Sequence[RoundRecord]) -> bool:
            return all(in_chat_settled(record) for record in records)

        return await _once_settled(read, settled, deadline, history)

    def _system(self, channel_prompt: str | None) -> str:
        return compose_system_prompt(self._system_prompt, channel_prompt)


def _built_once_settled(
    settled_history: Callable[[float], Awaitable[History]],
    said_now: Callable[[], Awaitable[str | None]],
    build: Callable[[History, str], ModelRequest],
) -> PendingRequest:
    """A request built once the history before the message is settled (`settled_history`
    within the deadline it is given), from the message as it then reads; a message deleted
    meanwhile is never sent."""

    async def once_settled() -> ModelRequest:
        deadline = time.monotonic() + SETTLED_WAIT_SECONDS  # reads count too: a slow database
        history = await settled_history(deadline)
        said = await _read(said_now, deadline)
        if said is None:
            raise MessageWithdrawn()
        return build(history, said)

    return once_settled


async def _once_settled(
    read: Callable[[], Awaitable[History]],
    settled: Callable[[History], bool],
    deadline: float,
    history: History | None = None,
) -> History:
    """`read()` again until what it reads is `settled` (`history`: as read last), until
    `deadline`: a bounded wait, as recovery settles an answer whose replica died."""
    if history is None:
        history = await _read(read, deadline)
    while not settled(history) and time.monotonic() < deadline:
        await asyncio.sleep(SETTLED_POLL_SECONDS)
        history = await _read(read, deadline)
    return history


async def _read(read: Callable[[], Awaitable[T]], deadline: float) -> T:
    """`read()`; the database out of reach meanwhile (a restart, a failover) is waited out
    until `deadline`, as the answers are."""
    return await read_through_outages(
        read,
        until=deadline,
        warning="what a message's answers are sent could not be read; waiting on",
        logger=log,
        pause=SETTLED_POLL_SECONDS,
    )
