"""What each model is sent, built from what storage holds (SPEC §3): for a new round, for a
thread turn, and for either again when an answer is regenerated."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.chat.context import (
    ContextWindow,
    authored,
    build_round_context,
    build_thread_context,
    compose_system_prompt,
)
from bot.chat.history import RoundRecord, context_round, thread_turn
from bot.chat.messages import MessageWithdrawn, ModelRequest, PendingRequest
from storage.channels import ChannelStore
from storage.conversations import ConversationStore
from storage.reply_threads import StartedTurn, ThreadHistory

SETTLED_POLL_SECONDS = 0.25
SETTLED_WAIT_SECONDS = 600.0


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

    async def for_stored_round(
        self, channel_id: str, chat_id: int, round_id: int, author: str, text: str
    ) -> ModelRequest:
        """The same for a round already recorded (its answer is regenerated)."""
        history = await self._store.round_records(
            chat_id, before_round_id=round_id, limit=self._window.max_rounds
        )
        return self.for_round(await self._channels.prompt(channel_id), history, author, text)

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

    async def for_stored_thread_turn(
        self, reply_thread_id: int, turn_id: int, author: str, text: str
    ) -> ModelRequest:
        """The same for a turn already recorded (its reply is regenerated), once the answers
        before it are settled."""
        history = await self._once_settled(reply_thread_id, turn_id)
        return self.for_thread_turn(history, author, text)

    def for_started_turn(
        self, started: StartedTurn, author: str, text: str
    ) -> ModelRequest | PendingRequest:
        """What the thread's model is sent for a turn just started: at once when the answers
        before it (the one the thread hangs under, the replies to earlier turns) are settled;
        otherwise once they are, as the message then reads: a message written while they
        stream is about all of them, so its model is sent all of them."""
        if started.history.settled:
            return self.for_thread_turn(started.history, author, text)

        async def once_settled() -> ModelRequest:
            history = await self._once_settled(
                started.reply_thread_id, started.turn_id, started.history
            )
            said = await self._store.turn_text(started.turn_id)
            if said is None:
                raise MessageWithdrawn()
            return self.for_thread_turn(history, author, said)

        return once_settled

    async def _once_settled(
        self, reply_thread_id: int, turn_id: int, history: ThreadHistory | None = None
    ) -> ThreadHistory:
        """The thread's history before the turn once it is settled (`history`: as read last).
        A bounded wait, as recovery settles an answer whose replica died."""
        if history is None:
            history = await self._thread_history(reply_thread_id, turn_id)
        waited = 0.0
        while not history.settled and waited < SETTLED_WAIT_SECONDS:
            await asyncio.sleep(SETTLED_POLL_SECONDS)
            waited += SETTLED_POLL_SECONDS
            history = await self._thread_history(reply_thread_id, turn_id)
        return history

    async def _thread_history(self, reply_thread_id: int, turn_id: int) -> ThreadHistory:
        return await self._store.thread_history(
            reply_thread_id, before_turn_id=turn_id, limit=self._window.max_rounds
        )

    def _system(self, channel_prompt: str | None) -> str:
        return compose_system_prompt(self._system_prompt, channel_prompt)
