"""What a crash or a lost replica left unfinished: answers cut short are finalised with a clear
note, final edits Slack never took are shown, events never handled are handled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError

from bot.answering import INTERRUPTED, final_edit_refused
from bot.chat.catalog import ModelCatalog
from bot.in_chat_marks import InChatMarks, settled_messages
from bot.slack.answer_message import model_identity, show_final
from bot.slack.event_intake import EventIntake
from bot.slack.web import MessageTag, SlackWeb
from storage.answers import AnswerStore
from storage.database import Database
from storage.inbox import EventInbox
from storage.liveness import PreviousLife
from storage.rows import InterruptedWork, SettledAnswer

log = logging.getLogger(__name__)

_SHOWN_AT_ONCE = 8  # final edits recovery makes concurrently
# A live process sends heartbeats for its work every quarter of the stale time: waiting one
# and a half of those intervals from this start lets a live twin's heartbeats show, with half
# an interval to spare for a slow database or a busy event loop.
_TWIN_HEARTBEATS_WAITED = 1.5 / 4
# Slack retries an event within minutes; a handled event's id is kept a day, then deleted.
HANDLED_EVENT_MEMORY_SECONDS = 24 * 3600


class Recovery:
    """Takes over, once, what a dead process (this replica's previous life, or a replica that
    stopped sending heartbeats) left unfinished."""

    def __init__(
        self,
        database: Database,
        answers: AnswerStore,
        inbox: EventInbox,
        intake: EventIntake,
        web: SlackWeb,
        catalog: ModelCatalog,
        marks: InChatMarks,
        *,
        replica_id: str,
        stale_seconds: float,
    ) -> None:
        self._database = database  # its clock: heartbeats are judged by the server's time
        self._answers = answers
        self._inbox = inbox
        self._intake = intake
        self._web = web
        self._catalog = catalog
        self._marks = marks
        self._replica_id = replica_id
        self._stale_seconds = stale_seconds
        self._started_at = database.now()
        # One pass at a time (the sweeper's, start-up's): each takes over and shows whole
        # what it finds, and says so in one line.
        self._one_pass = asyncio.Lock()
        self._stopping = asyncio.Event()

    async def start_up(self, *, previous_life: bool) -> None:
        """What replicas whose heartbeats stopped left, at once; then, with `previous_life`
        (false when another copy of the bot on this host surely shares this replica id), what
        this replica's previous life left (`recover_previous_life`)."""
        await self.recover(at_start_up=False)
        if previous_life:
            await self.recover_previous_life()

    async def recover_previous_life(self) -> None:
        """Take over what this replica's previous life left: the unfinished work of this
        replica id with heartbeats from before this process started. A live process under the
        same id (a twin) sends heartbeats for all it has in hand every quarter of the stale
        time: waiting an interval and a half from this start (by the database's clock), its
        work has a heartbeat since, and is left to it. Returns at once when the id holds no
        unfinished work (none was left, none is a twin's from before this start), or when
        `stop_taking_over()` is called meanwhile (a shutdown: nothing taken over)."""
        held = await self._answers.any_unshown() or await self._inbox.any_unfinished(
            self._replica_id
        )
        if not held:
            return
        ready_at = self._started_at + _TWIN_HEARTBEATS_WAITED * self._stale_seconds
        try:
            async with asyncio.timeout(ready_at - self._database.now()):
                await self._stopping.wait()
        except TimeoutError:
            await self.recover(at_start_up=True)

    def stop_taking_over(self) -> None:
        """Shutting down: what `recover_previous_life` would take over is left to the next start
        (a pass already begun is let finish)."""
        self._stopping.set()

    async def recover(self, *, at_start_up: bool) -> None:
        """Finalise interrupted answers, show owed final edits, resume unhandled events; at
        start-up (from `recover_previous_life`) also what this replica's previous life left."""
        async with self._one_pass:
            await self._recover(at_start_up=at_start_up)

    async def _recover(self, *, at_start_up: bool) -> None:
        stale_before = self._database.now() - self._stale_seconds
        previous_life: PreviousLife | None = (
            (self._replica_id, self._started_at) if at_start_up else None
        )
        if previous_life is not None:
            await self._warn_of_a_twin(previous_life)
        interrupted = await self._answers.take_over_interrupted(
            stale_before=stale_before, error=INTERRUPTED, previous_life=previous_life
        )
        if interrupted:
            log.warning(
                "marked interrupted the unfinished answers of %d round(s) and %d thread turn(s)"
                ": %s",
                len(interrupted.rounds),
                len(interrupted.thread_turns),
                _named_work(interrupted),
            )
        if previous_life is None and self._web.token_rejected:
            owed = []  # Slack would refuse them alike: they are shown at the next start
        else:
            owed = await self._answers.take_over_unshown(
                stale_before=stale_before, previous_life=previous_life
            )
        if owed:
            log.warning(
                "showing %d answer(s) whose final edit was still owed: %s",
                len(owed),
                _named("answer", [answer.answer_id for answer in owed]),
            )
            slots = asyncio.Semaphore(_SHOWN_AT_ONCE)
            # All are in hand from now on, not from when each gets a slot: an answer waiting
            # its turn longer than the heartbeats last would be taken over and shown twice.
            with self._answers.in_hand(answer.answer_id for answer in owed):
                await asyncio.gather(
                    *(self._show_in_order(place, slots) for place in _by_place(owed))
                )
        events = await self._inbox.take_over_unfinished(
            owner=self._replica_id,
            stale_before=stale_before,
            previous_life=previous_life,
            in_hand=self._intake.in_hand,
        )
        for event in events:
            self._intake.resume(event.event_id, event.payload)

    async def _warn_of_a_twin(self, previous_life: PreviousLife) -> None:
        """Another live process under this replica id writes answers it started before this
        process did: theirs is left to it, but the replicas' ids must differ."""
        twins_answers = await self._answers.written_by_a_twin(previous_life)
        if twins_answers:
            log.error(
                "another live process runs under this replica id (%s): it is still writing %s"
                ", started before this process; they are left to it. Give each replica its "
                "own CHORUS_REPLICA_ID: a process starting under the id of one still running "
                "waits for its heartbeats before taking over what the id's previous life left",
                self._replica_id,
                _named("answer", twins_answers),
            )

    async def heartbeat_forever(self) -> None:
        """Keep the heartbeats of this replica's work fresh (in a loop of its own, so a slow
        recovery pass never lets them lapse), by the server's clock, measured again each time."""
        while True:
            await asyncio.sleep(self._stale_seconds / 4)
            try:
                await self._database.agree_on_time()
                await self._answers.heartbeat()
                await self._inbox.heartbeat(self._replica_id, self._intake.in_hand)
                await self._intake.finish_owed()
            except Exception:
                log.exception("sending heartbeats failed")

    async def sweep_forever(self) -> None:
        """Take over the work of replicas whose heartbeats stopped, and forget events handled
        long enough ago that Slack will not send them again."""
        while True:
            await asyncio.sleep(self._stale_seconds / 4)
            try:
                await self.recover(at_start_up=False)
                await self._inbox.forget_handled(
                    before=self._database.now() - HANDLED_EVENT_MEMORY_SECONDS
                )
            except Exception:
                log.exception("recovering interrupted work failed")

    async def _show_in_order(self, answers: list[SettledAnswer], slots: asyncio.Semaphore) -> None:
        for answer in answers:
            await self._show(answer, slots)

    async def _show(self, answer: SettledAnswer, slots: asyncio.Semaphore) -> None:
        async with slots:
            try:
                spec = self._catalog.get(answer.model)
                messages = settled_messages(spec.display_name, answer)
                ts = answer.slack_ts
                if ts is None:  # the placeholder may or may not have made it to Slack
                    ts = await self._web.post(
                        answer.channel_id,
                        messages[0],
                        tag=MessageTag(answer.answer_id),
                        thread_ts=answer.post_thread_ts,
                        identity=model_identity(spec),
                        maybe_posted_since=answer.started_at,
                    )
                    await self._answers.posted(answer.answer_id, ts)
                continuations = await show_final(
                    self._web,
                    answer_id=answer.answer_id,
                    channel=answer.channel_id,
                    ts=ts,
                    continuation_thread=answer.post_thread_ts or ts,
                    identity=model_identity(spec),
                    messages=messages,
                    maybe_posted_since=answer.started_at,
                )
            except SlackApiError as error:
                await final_edit_refused(self._marks, answer.answer_id, answer.channel_id, error)
                return
            except Exception:
                # A fault of the bot's own (its rendering, say) costs this answer's showing,
                # which stays owed: not the rest of the pass, the other answers and the
                # events a dead replica left, which one answer failing every time would hold
                # up for good.
                log.exception("showing answer %s failed; it stays owed", answer.answer_id)
                return
        await self._marks.answer_shown(answer.answer_id, continuations)


def _named(kind: str, ids: Sequence[int], most: int = 10) -> str:
    """`answer 3, 7, 9` for the log: which ones, the first `most` of many."""
    named = ", ".join(str(id_) for id_ in sorted(ids)[:most])
    more = f" and {len(ids) - most} more" if len(ids) > most else ""
    return f"{kind} {named}{more}"


def _named_work(work: InterruptedWork) -> str:
    """`round 3, 4; thread turn 7` for the log."""
    named = (("round", work.rounds), ("thread turn", work.thread_turns))
    return "; ".join(_named(kind, ids) for kind, ids in named if ids)


def _by_place(answers: list[SettledAnswer]) -> list[list[SettledAnswer]]:
    """The answers of each channel (or thread), oldest first: a placeholder never posted is
    posted in its round's model order (answers are recorded in that order), after those of
    earlier rounds, as they would have been."""
    places: dict[tuple[str, str | None], list[SettledAnswer]] = {}
    for answer in sorted(answers, key=lambda answer: answer.answer_id):
        places.setdefault((answer.channel_id, answer.post_thread_ts), []).append(answer)
    return list(places.values())
