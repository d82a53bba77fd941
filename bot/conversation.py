"""From a person's message to answers: route it, claim it, then have every chosen model
answer (a new round) or the thread's model (a thread turn).

Data flows one way: Slack edge → chat core (who answers, what each model is sent) →
providers (stream) → Slack edge (post, stream, finalise), with storage recording each step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from bot.chat.catalog import ModelCatalog
from bot.chat.commands import asks_for_help, help_text
from bot.chat.in_chat import IN_CHAT_REACTION, InChatChoice
from bot.chat.model_choice import (
    ModelPicks,
    ThreadHandover,
    UnknownModels,
    models_for_round,
    picks_without_question,
    resolve_picks,
    split_model_picks,
    thread_handed_to,
)
from bot.chat.routing import (
    ContinueThread,
    Ignore,
    IncomingMessage,
    Route,
    StartRound,
    route_message,
)
from bot.fan_out import FanOut
from bot.in_chat_marks import InChatMarks
from bot.model_requests import ModelRequests
from bot.slack.inbound import FileSource, ReadableMessage, readable_message
from bot.slack.notices import Notices, something_went_wrong
from bot.slack.web import SlackWeb
from storage.conversations import (
    ConversationStore,
    EarlierMessageUnrecorded,
    Revision,
    Unpinned,
)
from storage.reply_threads import ParentAnswer, ThreadReply
from storage.rows import MessageClaim, NewAnswer, SaidAt

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a message waits for the ones said before it to be recorded (their author's name
# and files are read first; a replica that died holding one leaves it to recovery).
EARLIER_MESSAGES_WAIT_SECONDS = 15.0
EARLIER_MESSAGES_POLL_SECONDS = 0.1

EDITS_ASK_NOTHING = "I answer new messages, not edits: send it again as a new message to ask."


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    replica_id: str
    history_limit: int  # earlier rounds (or thread turns) read for a context at most


class Conversations:
    """Handles people's messages: each addressed message gets one answer per chosen model."""

    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        store: ConversationStore,
        fan_out: FanOut,
        requests: ModelRequests,
        web: SlackWeb,
        notices: Notices,
        settings: ConversationSettings,
        bot_user_id: str,
        files: FileSource,
        marks: InChatMarks,
    ) -> None:
        self._catalog = catalog
        self._marks = marks
        self._store = store
        self._fan_out = fan_out
        self._requests = requests
        self._web = web
        self._notices = notices
        self._settings = settings
        self.bot_user_id = bot_user_id
        self._files = files

    async def handle(self, message: IncomingMessage, *, resumed: bool = False) -> None:
        """Answer a person's message, or tell them why not. `resumed`: its event was left
        unfinished by a stopped replica, which may have answered it already."""
        route, parent = await self._route(message)
        if isinstance(route, Ignore):
            log.debug("ignoring %s in %s: %s", message.ts, message.channel_id, route.reason.value)
            return
        claim = MessageClaim(message.team_id, message.channel_id, message.ts)
        readable = await self._readable(message)
        picks = split_model_picks(readable.text)
        try:
            if isinstance(route, ContinueThread):
                assert parent is not None
                await self._thread_message(
                    claim, message, parent, picks, readable.files_notice, resumed=resumed
                )
            elif picks.words and not picks.text:
                chosen = resolve_picks(self._catalog, picks.words)
                await self._reply_once(
                    claim, message, picks_without_question(self._catalog, chosen)
                )
            elif not picks.text or _asks_for_help(picks):
                await self._reply_once(claim, message, self._help(message))
            else:
                await self._start_round(
                    claim, message, route, picks, readable.files_notice, resumed=resumed
                )
        except UnknownModels as unknown:
            await self._reply_once(claim, message, unknown.in_a_message())

    async def choose_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None:
        """A person marked an answer (with the In Chat reaction) as the one later rounds see;
        a bot's reaction picks nothing. A reply in a reply thread, or a continuation of a long
        answer, can't be picked: the person is told why."""
        answer = await self._answer_at(channel_id, answer_ts)
        continued_at = None
        if answer is None:
            continued_at = await self._store.answer_continued_at(channel_id, answer_ts)
            if continued_at is not None:
                answer = await self._answer_at(channel_id, continued_at)
        if answer is None:
            return
        if await self._web.is_bot(user_id):
            log.info("in-chat reaction on %s by bot %s ignored", answer_ts, user_id)
            return
        if isinstance(answer, ThreadReply):
            choice, thread_ts = InChatChoice.IN_A_REPLY_THREAD, answer.thread_ts
        elif continued_at is not None:  # the continuations are in the answer's thread
            choice, thread_ts = (
                InChatChoice.ON_A_CONTINUATION,
                answer.post_thread_ts or continued_at,
            )
        else:
            choice, owed_marks = await self._store.choose_in_chat(answer)
            thread_ts = answer.post_thread_ts
            await self._marks.show(owed_marks)
        log.info(
            "in-chat choice of answer %s by %s: %s",
            answer_ts,
            user_id,
            choice.name.lower().replace("_", " "),
        )
        name = self._catalog.get(answer.model).display_name
        await self._notices.tell(
            channel_id, user_id, f"{name}'s answer {choice.value}", thread_ts=thread_ts
        )

    async def _answer_at(self, channel_id: str, slack_ts: str) -> ParentAnswer | ThreadReply | None:
        parent = await self._store.parent_answer(channel_id, slack_ts)
        return parent or await self._store.thread_reply_at(channel_id, slack_ts)

    async def unpin_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None:
        """A person took their In Chat reaction off an answer: if it was the pick for the
        latest round and no one else's is left on it, the pick is undone and they are told
        which answer later rounds see now."""
        parent = await self._store.parent_answer(channel_id, answer_ts)
        if parent is None or await self._web.is_bot(user_id):
            return
        pinned_by = await self._web.reacted_with(channel_id, answer_ts, IN_CHAT_REACTION)
        if pinned_by is None:
            return  # Slack would not say who pins it still: the pick stays (logged)
        others = [user for user in pinned_by if user not in (user_id, self.bot_user_id)]
        someone_else = any([not await self._web.is_bot(user) for user in others])
        unpinned, owed_marks = await self._store.unpin_in_chat(
            parent, pinned_by_someone_else=someone_else
        )
        await self._marks.show(owed_marks)
        if unpinned is None:
            return
        log.info("in-chat choice of answer %s undone by %s", parent.answer_id, user_id)
        await self._notices.tell(
            channel_id,
            user_id,
            self._unpinned_note(parent, unpinned),
            thread_ts=parent.post_thread_ts,
        )

    def _unpinned_note(self, parent: ParentAnswer, unpinned: Unpinned) -> str:
        """What the person who undid a pick is told: which answer later rounds see now."""
        name = self._catalog.get(parent.model).display_name
        now = unpinned.now_in_chat
        once = ", once it is written" if unpinned.being_written else ""
        if now == parent.model:  # a round has one answer per model: the usual choice is this one
            return (
                f"{name}'s answer stays In Chat without the pushpin: it would be chosen "
                f"anyway, so later messages in this chat will see it{once}."
            )
        instead = f"{self._catalog.get(now).display_name}'s answer" if now else "no answer"
        return (
            f"{name}'s answer is no longer In Chat: later messages in this chat will see "
            f"{instead} instead{once}."
        )

    async def apologise(self, message: IncomingMessage) -> None:
        """Handling `message` failed on our side (logged): the person is told."""
        await self._notices.tell_author(message, something_went_wrong("with this message"))

    async def revise(
        self, message: IncomingMessage, *, rewritten: bool, before: IncomingMessage | None
    ) -> None:
        """A person edited a message: later rounds and thread turns are sent the new text
        (what was answered already stays as it is); a message not recorded yet is recorded
        as edited. An edit asks nothing by itself; the author of a message for the bot that
        it will never answer, `rewritten` (a mention added, a `+alias` mended), is told so."""
        said = split_model_picks((await self._readable(message)).text).text
        edited = MessageClaim(message.team_id, message.channel_id, message.ts)
        addressed_now = await self._addresses_bot(message)
        addressed_before = before is not None and await self._addresses_bot(before)
        # Only a message for the bot is kept: chatter's edits leave nothing behind.
        keep = addressed_now or addressed_before
        revision = await self._store.revise_message(edited, said, keep_if_unrecorded=keep)
        if revision is not Revision.NOT_ASKED:
            log.info(
                "message %s in %s was edited: %s",
                message.ts,
                message.channel_id,
                "later context has the new text"
                if revision is Revision.REVISED
                else "kept until the message is recorded",
            )
        # A message for the bot that it will not answer: one it answered with a notice, or,
        # when Slack says how it read, one it ignored before the edit.
        in_vain = revision is Revision.NOT_ASKED or (
            revision is Revision.KEPT and before is not None and not addressed_before
        )
        if rewritten and addressed_now and in_vain:
            await self._notices.tell_author(message, EDITS_ASK_NOTHING)

    async def _addresses_bot(self, message: IncomingMessage) -> bool:
        return not isinstance((await self._route(message))[0], Ignore)

    async def forget(self, team_id: str, channel_id: str, message_ts: str) -> None:
        """A message was deleted: it no longer reaches any model."""
        owed_marks = await self._store.forget_message(MessageClaim(team_id, channel_id, message_ts))
        log.info("message %s in %s was deleted: it leaves the context", message_ts, channel_id)
        await self._marks.show(owed_marks)

    async def _route(self, message: IncomingMessage) -> tuple[Route, ParentAnswer | None]:
        """What the message asks for, and the answer it is a reply under, if any."""
        parent = None
        if not message.is_top_level:
            parent = await self._store.parent_answer(message.channel_id, message.thread_ts or "")
        return route_message(message, parent.answer_id if parent else None), parent

    async def _readable(self, message: IncomingMessage) -> ReadableMessage:
        return await readable_message(
            message,
            bot_user_id=self.bot_user_id,
            names=self._web,
            files=self._files,
        )

    async def _start_round(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        route: StartRound,
        picks: ModelPicks,
        files_notice: str | None,
        *,
        resumed: bool,
    ) -> None:
        author = await self._web.user_name(message.user_id, known_as=message.profile_name)
        text = picks.text

        def choose_models(channel_models: Sequence[str] | None) -> list[str]:
            chosen = models_for_round(self._catalog, picks, channel_models)
            return [spec.name for spec in chosen]

        started = await self._after_earlier_messages(
            message,
            partial(
                self._store.start_round,
                claim,
                route.chat,
                user_id=message.user_id,
                author=author,
                text=text,
                models=choose_models,
                post_thread_ts=route.reply_in_thread,
                owner=self._settings.replica_id,
                history_limit=self._settings.history_limit,
            ),
        )
        if started is None:
            log.log(
                _claim_lost_level(resumed),
                "message %s in %s already answered (or deleted)",
                message.ts,
                message.channel_id,
            )
            return
        log.info(
            "round %s in %s for %s: %s",
            started.round_id,
            message.channel_id,
            message.user_id,
            ", ".join(map(_with_id, started.answers)),
        )
        request = self._requests.for_started_round(started, author, started.text)
        await self._fan_out.answer(
            message,
            started.answers,
            request,
            route.reply_in_thread,
            notice=files_notice,
        )

    async def _thread_message(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        parent: ParentAnswer,
        picks: ModelPicks,
        files_notice: str | None,
        *,
        resumed: bool,
    ) -> None:
        """A thread turn; a leading `+alias` hands the thread to that model first, and an alias
        alone only does that. `@Chorus help` asks the bot, not the thread's model."""
        handover = thread_handed_to(self._catalog, picks)
        if picks.text and not (message.mentions_bot and _asks_for_help(picks)):
            await self._continue_thread(
                claim, message, parent, picks.text, handover, files_notice, resumed=resumed
            )
        elif handover is None:
            await self._reply_once(claim, message, self._help(message))
        else:
            await self._hand_thread_over(claim, message, parent, handover)

    async def _hand_thread_over(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        parent: ParentAnswer,
        handover: ThreadHandover,
    ) -> None:
        switch = partial(
            self._store.switch_thread,
            claim,
            parent,
            handover.model.name,
            history_limit=self._settings.history_limit,
        )
        had = await self._after_earlier_messages(message, switch)
        if had is not None:
            await self._notices.tell_author(message, handover.note(had=had))

    async def _continue_thread(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        parent: ParentAnswer,
        text: str,
        handover: ThreadHandover | None,
        files_notice: str | None,
        *,
        resumed: bool,
    ) -> None:
        author = await self._web.user_name(message.user_id, known_as=message.profile_name)
        started = await self._after_earlier_messages(
            message,
            partial(
                self._store.start_thread_turn,
                claim,
                parent,
                user_id=message.user_id,
                author=author,
                text=text,
                switch_to_model=handover.model.name if handover else None,
                owner=self._settings.replica_id,
                history_limit=self._settings.history_limit,
            ),
        )
        if started is None:
            log.log(
                _claim_lost_level(resumed),
                "thread message %s in %s already answered (or deleted)",
                message.ts,
                message.channel_id,
            )
            return
        log.info(
            "thread turn %s under %s in %s for %s: %s",
            started.turn_id,
            parent.slack_ts,
            message.channel_id,
            message.user_id,
            _with_id(started.answer),
        )
        notices = [
            handover.note() if handover is not None and handover.not_asked else None,
            files_notice,
        ]
        await self._fan_out.answer(
            message,
            [started.answer],
            self._requests.for_started_turn(started, author, started.text),
            parent.slack_ts,
            notice="\n".join(filter(None, notices)) or None,
        )

    async def _after_earlier_messages(
        self, message: IncomingMessage, record: Callable[..., Awaitable[T]]
    ) -> T:
        """`record(after=…)` the message once the messages said before it where it was said,
        that the bot has received, are recorded (or after `EARLIER_MESSAGES_WAIT_SECONDS`
        without them): their rounds or turns come before its own, though their author's name
        or files took longer to read, or another replica records them at the same moment."""
        said = SaidAt(message.channel_id, message.said_in_thread, message.ts)
        waited = 0.0
        while waited < EARLIER_MESSAGES_WAIT_SECONDS:
            try:
                return await record(after=said)
            except EarlierMessageUnrecorded:
                await asyncio.sleep(EARLIER_MESSAGES_POLL_SECONDS)
                waited += EARLIER_MESSAGES_POLL_SECONDS
        log.warning(
            "message %s in %s: a message said before it is still not recorded after %.0f s; "
            "it goes on without it",
            message.ts,
            message.channel_id,
            waited,
        )
        return await record(after=None)

    def _help(self, message: IncomingMessage) -> str:
        return help_text(tuple(self._catalog.aliases), message.place)

    async def _reply_once(self, claim: MessageClaim, message: IncomingMessage, text: str) -> None:
        """A notice to the person (help, a bad `+alias`), sent once however often Slack retries."""
        if await self._store.claim(claim):
            await self._notices.tell_author(message, text)


def _asks_for_help(picks: ModelPicks) -> bool:
    return not picks.words and asks_for_help(picks.text)


def _claim_lost_level(resumed: bool) -> int:
    """How loudly to log that a message was claimed already. Mostly its other event (Slack
    sends `app_mention` and `message`) or another replica got there first: routine, several
    times a minute with several replicas. A deletion is logged where it is handled. A resumed
    event's line says what became of the message its warning named."""
    return logging.INFO if resumed else logging.DEBUG


def _with_id(answer: NewAnswer) -> str:
    """A model with its answer's id, which that answer's own log line names."""
    return f"{answer.model} (answer {answer.answer_id})"
