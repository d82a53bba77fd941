"""From a person's message to answers: route it, claim it, build each model's context, answer.

Data flows one way: Slack edge → chat core (who answers, what each model is sent) →
providers (stream) → Slack edge (post, stream, finalise), with storage recording each step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.answering import INTERNAL_ERROR, AnswerJob, AnswerRunner
from bot.chat.attachments import unread_files_notice
from bot.chat.catalog import ModelCatalog, ModelSpec
from bot.chat.commands import help_text
from bot.chat.context import (
    ContextWindow,
    authored,
    build_round_context,
    build_thread_context,
    compose_system_prompt,
)
from bot.chat.history import RoundRecord, context_round, thread_turn
from bot.chat.in_chat import AnswerStatus
from bot.chat.messages import ModelRequest
from bot.chat.model_choice import (
    ModelPicks,
    UnknownModels,
    models_for_round,
    resolve_picks,
    split_model_picks,
    thread_handed_to,
    thread_switched,
)
from bot.chat.routing import ContinueThread, Ignore, IncomingMessage, StartRound, route_message
from bot.slack.answer_message import AnswerMessage
from bot.slack.inbound import FileSource, ReadableMessage, readable_message
from bot.slack.pacing import UpdateBudget
from bot.slack.rendering import PROVIDER_ICONS
from bot.slack.web import Identity, SlackUnreachable, SlackWeb, slack_error_code
from storage.answers import AnswerStore, FinishedAnswer
from storage.channels import ChannelStore
from storage.conversations import ConversationStore
from storage.regeneration import RegenerationRefused, RegenerationStore, RoundSource
from storage.reply_threads import ParentAnswer, StartedTurn, ThreadHistory
from storage.rows import MessageClaim, NewAnswer

log = logging.getLogger(__name__)


# Slack refusals a person can do something about, and what.
SLACK_ERROR_ADVICE = {
    "not_in_channel": "I can't post here because I'm not in this channel: invite me with "
    "`/invite @Chorus` and ask again.",
    "channel_not_found": "I can't see this channel: invite me with `/invite @Chorus` and ask "
    "again.",
    "is_archived": "This channel is archived, so I can't answer in it.",
    "restricted_action": "This workspace's settings don't let me post in this channel; ask a "
    "Slack admin.",
    "missing_scope": "I'm missing a Slack permission to post here; ask an admin to reinstall "
    "the app from its manifest.",
    "ratelimited": "Slack kept rate-limiting my posts here, so some answers could not be "
    "shown; ask again in a minute.",
}
ADVISED = SLACK_ERROR_ADVICE.keys()
SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on my side while handling your message (it is in my logs). "
    "Please send it again."
)
SLACK_UNREACHABLE = "Slack could not be reached to post this answer; ask again to retry."
ANCHOR_POLL_SECONDS = 0.25
ANCHOR_WAIT_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    system_prompt: str
    window: ContextWindow
    update_interval: float
    replica_id: str
    update_budget: UpdateBudget | None = None


class Conversations:
    """Handles people's messages: each addressed message gets one answer per chosen model."""

    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        store: ConversationStore,
        answers: AnswerStore,
        runner: AnswerRunner,
        web: SlackWeb,
        settings: ConversationSettings,
        bot_user_id: str,
        regenerations: RegenerationStore,
        channels: ChannelStore,
        files: FileSource,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._answers = answers
        self._runner = runner
        self._web = web
        self._settings = settings
        self.bot_user_id = bot_user_id
        self._regenerations = regenerations
        self._channels = channels
        self._files = files

    async def handle(self, message: IncomingMessage) -> None:
        parent = None
        if not message.is_top_level:
            parent = await self._store.parent_answer(message.channel_id, message.thread_ts or "")
        route = route_message(message, parent.answer_id if parent else None)
        if isinstance(route, Ignore):
            log.debug("ignoring %s in %s: %s", message.ts, message.channel_id, route.reason.value)
            return
        claim = MessageClaim(message.team_id, message.channel_id, message.ts)
        readable = await self._readable(message)
        picks = split_model_picks(readable.text)
        try:
            if isinstance(route, ContinueThread):
                assert parent is not None
                await self._thread_message(claim, message, parent, picks, readable.unread_files)
            elif picks.text:
                await self._start_round(claim, message, route, picks, readable.unread_files)
            else:
                resolve_picks(self._catalog, picks.words)  # an unknown `+alias` is explained
                await self._reply_once(claim, message, self._help())
        except UnknownModels as unknown:
            await self._reply_once(claim, message, str(unknown))

    async def choose_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None:
        """A person marked an answer (with the In Chat reaction) as the one later rounds see."""
        parent = await self._store.parent_answer(channel_id, answer_ts)
        if parent is None:
            return
        choice = await self._store.choose_in_chat(parent)
        name = self._catalog.get(parent.model).display_name
        log.info("in-chat choice of answer %s by %s: %s", parent.answer_id, user_id, choice.name)
        await self._tell_quietly(channel_id, user_id, f"{name}'s answer {choice.value}")

    async def regenerate(
        self, channel_id: str, answer_ts: str, user_id: str, *, thread_ts: str | None = None
    ) -> None:
        """A person pressed Regenerate on the answer `answer_ts` (in thread `thread_ts`): it
        is written again, in its own message, from the context it was first given."""
        restarted = await self._regenerations.restart(
            channel_id,
            answer_ts,
            owner=self._settings.replica_id,
            models=[spec.name for spec in self._catalog],
        )
        if isinstance(restarted, RegenerationRefused):
            await self._tell_quietly(channel_id, user_id, restarted.value, thread_ts=thread_ts)
            return
        log.info("answer %s regenerated for %s", restarted.answer_id, user_id)
        source = restarted.source
        spec = self._catalog.get(restarted.model)
        message = self._answer_message(
            restarted.answer_id, spec, channel_id, restarted.post_thread_ts, restarted.slack_ts
        )
        with self._answers.in_hand([restarted.answer_id]):
            try:
                if isinstance(source, RoundSource):
                    request = await self._round_request(
                        channel_id, source.chat_id, source.round_id, source.author, source.text
                    )
                else:
                    request = await self._thread_request(
                        source.reply_thread_id, source.turn_id, source.author, source.text
                    )
                await message.start_again(restarted.old_continuations)
            except Exception:
                # Never leave the answer pending: it fails with a line saying so (shown later by
                # recovery if Slack is the trouble).
                failed = FinishedAnswer(AnswerStatus.FAILED, text="", error=INTERNAL_ERROR)
                await self._answers.finish(restarted.answer_id, failed)
                raise
            stream = self._runner.start(spec, request)
            await self._runner.run(AnswerJob(restarted.answer_id, spec, stream, message))

    async def apologise(self, message: IncomingMessage) -> None:
        """Handling `message` failed on our side (logged): the person is told."""
        await self._tell(message, SOMETHING_WENT_WRONG)

    async def revise(self, message: IncomingMessage) -> None:
        """A person edited a message: later rounds and thread turns are sent the new text
        (what was answered already stays as it is). An edit asks nothing by itself."""
        said = split_model_picks((await self._readable(message)).text).text
        if said and await self._store.revise_message(message.channel_id, message.ts, said):
            log.info(
                "message %s in %s was edited: later context has the new text",
                message.ts,
                message.channel_id,
            )

    async def forget(self, team_id: str, channel_id: str, message_ts: str) -> None:
        """A message was deleted: it no longer reaches any model."""
        await self._store.forget_message(MessageClaim(team_id, channel_id, message_ts))
        log.info("message %s in %s was deleted: it leaves the context", message_ts, channel_id)

    async def _readable(self, message: IncomingMessage) -> ReadableMessage:
        return await readable_message(
            message,
            bot_user_id=self.bot_user_id,
            user_name=self._web.user_name,
            files=self._files,
        )

    async def _start_round(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        route: StartRound,
        picks: ModelPicks,
        unread_files: Sequence[str],
    ) -> None:
        author = await self._web.user_name(message.user_id)
        text = picks.text

        def choose_models(channel_models: Sequence[str] | None) -> list[str]:
            chosen = models_for_round(self._catalog, picks, channel_models)
            return [spec.name for spec in chosen]

        started = await self._store.start_round(
            claim,
            route.chat,
            user_id=message.user_id,
            author=author,
            text=text,
            models=choose_models,
            post_thread_ts=route.reply_in_thread,
            owner=self._settings.replica_id,
            history_limit=self._settings.window.max_rounds,
        )
        if started is None:
            log.info(
                "message %s in %s already answered (or deleted)", message.ts, message.channel_id
            )
            return
        log.info(
            "round %s in %s for %s: %s",
            started.round_id,
            message.channel_id,
            message.user_id,
            ", ".join(answer.model for answer in started.answers),
        )
        system = self._system_prompt(started.channel_prompt)
        request = self._round_context(system, started.history, author, text)
        await self._answer(
            message,
            started.answers,
            request,
            message.channel_id,
            route.reply_in_thread,
            notice=unread_files_notice(unread_files),
        )

    async def _thread_message(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        parent: ParentAnswer,
        picks: ModelPicks,
        unread_files: Sequence[str],
    ) -> None:
        """A thread turn; a leading `+alias` hands the thread to that model first, and an alias
        alone only does that."""
        switch = thread_handed_to(self._catalog, picks)
        if picks.text:
            await self._continue_thread(claim, message, parent, picks.text, switch, unread_files)
        elif switch is None:
            await self._reply_once(claim, message, self._help())
        elif await self._store.switch_thread(
            claim, parent, switch.name, history_limit=self._settings.window.max_rounds
        ):
            await self._tell(message, thread_switched(switch.display_name))

    async def _continue_thread(
        self,
        claim: MessageClaim,
        message: IncomingMessage,
        parent: ParentAnswer,
        text: str,
        switch_to: ModelSpec | None,
        unread_files: Sequence[str],
    ) -> None:
        author = await self._web.user_name(message.user_id)
        started = await self._store.start_thread_turn(
            claim,
            parent,
            user_id=message.user_id,
            author=author,
            text=text,
            switch_to_model=switch_to.name if switch_to else None,
            owner=self._settings.replica_id,
            history_limit=self._settings.window.max_rounds,
        )
        if started is None:
            log.info(
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
            started.answer.model,
        )
        with self._answers.in_hand([started.answer.answer_id]):
            history = await self._once_anchor_settled(started)
            request = self._thread_context(history, author, text)
            await self._answer(
                message,
                [started.answer],
                request,
                message.channel_id,
                parent.slack_ts,
                notice=unread_files_notice(unread_files),
            )

    async def _once_anchor_settled(self, started: StartedTurn) -> ThreadHistory:
        """The thread's history once the answer it hangs under has finished streaming (a reply
        written meanwhile is about that answer, so its model is sent all of it); a bounded
        wait, as recovery settles an answer whose replica died."""
        history = started.history
        waited = 0.0
        while not history.anchor_settled and waited < ANCHOR_WAIT_SECONDS:
            await asyncio.sleep(ANCHOR_POLL_SECONDS)
            waited += ANCHOR_POLL_SECONDS
            history = await self._store.thread_history(
                started.reply_thread_id,
                before_turn_id=started.turn_id,
                limit=self._settings.window.max_rounds,
            )
        return history

    def _system_prompt(self, channel_prompt: str | None) -> str:
        """The workspace prompt, then the channel's own prompt when it has one."""
        return compose_system_prompt(self._settings.system_prompt, channel_prompt)

    async def _round_request(
        self, channel_id: str, chat_id: int, round_id: int, author: str, text: str
    ) -> ModelRequest:
        """What every model answering this round is sent (SPEC §3)."""
        history = await self._store.round_records(
            chat_id, before_round_id=round_id, limit=self._settings.window.max_rounds
        )
        system = self._system_prompt(await self._channels.prompt(channel_id))
        return self._round_context(system, history, author, text)

    def _round_context(
        self, system: str, history: Sequence[RoundRecord], author: str, text: str
    ) -> ModelRequest:
        return build_round_context(
            system,
            [context_round(record) for record in history],
            authored(author, text),
            self._settings.window,
        )

    async def _thread_request(
        self, reply_thread_id: int, turn_id: int, author: str, text: str
    ) -> ModelRequest:
        """What the thread's model answering this turn is sent (SPEC §3)."""
        history = await self._store.thread_history(
            reply_thread_id, before_turn_id=turn_id, limit=self._settings.window.max_rounds
        )
        return self._thread_context(history, author, text)

    def _thread_context(self, history: ThreadHistory, author: str, text: str) -> ModelRequest:
        return build_thread_context(
            self._system_prompt(history.channel_prompt),
            history.snapshot,
            history.anchor_message,
            history.anchor_answer,
            [thread_turn(record) for record in history.turns],
            authored(author, text),
            self._settings.window,
        )

    async def _answer(
        self,
        message: IncomingMessage,
        answers: Sequence[NewAnswer],
        request: ModelRequest,
        channel_id: str,
        thread_ts: str | None,
        *,
        notice: str | None = None,
    ) -> None:
        """Every model is asked at once. While they think, the placeholders go out in model
        order, and each answer streams into its message as soon as that is posted. An answer
        Slack refuses a message for is recorded as failed (its model is not waited for), and
        the person is told what to do about it when they can do something. A `notice` for
        the person goes out beside the answers, so a slow Slack never holds them up."""
        streams = {
            answer.answer_id: self._runner.start(self._catalog.get(answer.model), request)
            for answer in answers
        }
        runs: list[asyncio.Task[AnswerStatus]] = []
        refusals: set[str] = set()
        told = asyncio.create_task(self._tell(message, notice)) if notice else None
        with self._answers.in_hand(answer.answer_id for answer in answers):
            try:
                for answer in answers:
                    spec = self._catalog.get(answer.model)
                    slack_message = self._answer_message(
                        answer.answer_id, spec, channel_id, thread_ts
                    )
                    try:
                        await slack_message.post_placeholder()
                    except SlackApiError as error:
                        await streams.pop(answer.answer_id).close()
                        refused = await self._not_posted(answer.answer_id, spec, channel_id, error)
                        if refused is not None:
                            refusals.add(refused)
                        continue
                    stream = streams.pop(answer.answer_id)
                    job = AnswerJob(answer.answer_id, spec, stream, slack_message)
                    runs.append(asyncio.create_task(self._runner.run(job)))
                advice = [SLACK_ERROR_ADVICE[code] for code in sorted(refusals & ADVISED)]
                if advice:
                    await self._tell(message, " ".join(advice))
                await asyncio.gather(*runs)
            except BaseException as error:
                # No answer is left streaming unwatched; when the bot is stopping, those
                # already streaming are finalised as interrupted.
                if isinstance(error, asyncio.CancelledError):
                    for task in [*runs, *filter(None, [told])]:
                        task.cancel()
                await asyncio.gather(*runs, return_exceptions=True)
                raise
            finally:
                await asyncio.gather(*(stream.close() for stream in streams.values()))
                if told is not None:
                    await asyncio.gather(told, return_exceptions=True)

    async def _not_posted(
        self,
        answer_id: int,
        spec: ModelSpec,
        channel_id: str,
        error: SlackApiError,
    ) -> str | None:
        """The answer's placeholder is not in Slack: the answer is recorded as failed. Returns
        Slack's refusal code; None when Slack could not be reached (the placeholder may be
        there after all, so the failure line stays owed for recovery to show)."""
        code = slack_error_code(error)
        log.error("could not post %s's answer in %s: %s", spec.name, channel_id, code)
        unreachable = isinstance(error, SlackUnreachable)
        shown_error = SLACK_UNREACHABLE if unreachable else code
        await self._answers.finish(answer_id, FinishedAnswer(AnswerStatus.FAILED, "", shown_error))
        if unreachable:
            return None
        await self._answers.shown(answer_id)  # nowhere to show it: nothing owed
        return code

    def _answer_message(
        self,
        answer_id: int,
        spec: ModelSpec,
        channel_id: str,
        thread_ts: str | None,
        ts: str | None = None,
    ) -> AnswerMessage:
        """The Slack message of an answer: to be posted, or already at `ts`."""
        return AnswerMessage(
            self._web,
            answer_id=answer_id,
            channel=channel_id,
            thread_ts=thread_ts,
            display_name=spec.display_name,
            identity=identity_for(spec),
            update_interval=self._settings.update_interval,
            budget=self._settings.update_budget,
            ts=ts,
        )

    def _help(self) -> str:
        return help_text(tuple(self._catalog.aliases))

    async def _reply_once(self, claim: MessageClaim, message: IncomingMessage, text: str) -> None:
        """A notice to the person (help, a bad `+alias`), sent once however often Slack retries."""
        if await self._store.claim(claim):
            await self._tell(message, text)

    async def _tell(self, message: IncomingMessage, text: str) -> None:
        await self._tell_quietly(
            message.channel_id, message.user_id, text, thread_ts=message.thread_ts
        )

    async def _tell_quietly(
        self, channel_id: str, user_id: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        """A notice only `user_id` sees; if Slack refuses it, that is only logged."""
        try:
            await self._web.tell(channel_id, user_id, text, thread_ts=thread_ts)
        except SlackApiError as error:
            log.warning("could not tell %s: %s", user_id, slack_error_code(error))


def identity_for(spec: ModelSpec) -> Identity:
    return Identity(spec.display_name, PROVIDER_ICONS.get(spec.provider, ":robot_face:"))
