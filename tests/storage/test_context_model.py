"""SPEC §3 against a reference model: random sequences of what people do (mentions with and
without `+alias`, some said earlier than their event comes, thread turns and handovers, answers
failing, stopped, cut off or still streaming, pushpins, Regenerate, edits, deletions, `/chorus
new`, model list and prompt changes) are played on the real stores and request building, and on
a small model of the rules written from SPEC §3 and the README. Each model must be sent exactly
what the model says, at once, or, when answers before its message still stream, once they have
finished. Seeded: the same sequences every run."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from bot import model_requests
from bot.chat.catalog import ModelCatalog, parse_model_list
from bot.chat.context import ContextWindow
from bot.chat.in_chat import AnswerStatus, InChatChoice
from bot.chat.messages import MessageWithdrawn, ModelRequest, PendingRequest
from bot.chat.model_choice import (
    UnknownModels,
    models_for_round,
    split_model_picks,
    thread_handed_to,
)
from bot.chat.routing import ChatKey
from bot.model_requests import ModelRequests
from storage.answers import FinishedAnswer
from storage.database import connect
from storage.regeneration import Regeneration, RoundSource
from storage.rows import MessageClaim
from tests.storage.test_conversation_store import Stores, stores_over

SEEDS = range(12)
STEPS = 60
MAX_ROUNDS, MAX_TOKENS = 4, 400
SYSTEM = "SYS"
ALL_MODELS = ("anthropic:claude-sonnet-4-5", "openai:gpt-5.1", "google:gemini-2.5-pro")
ALIASES = {"claude": ALL_MODELS[0], "gpt": ALL_MODELS[1], "gemini": ALL_MODELS[2]}
CHANNEL = ChatKey("T1", "C1")
THREAD_CHAT = ChatKey("T1", "C1", "0999.000000")  # a Slack thread made a chat (SPEC §4.4)
WORDS = ["why", "how", "bakery", "name", "slogan", "shorter", "longer", "again"]
WORDS += ["french", "cake", "bread", "oven"]

DONE, FAILED, CUT_OFF = AnswerStatus.DONE, AnswerStatus.FAILED, AnswerStatus.CUT_OFF
STOPPED, INTERRUPTED = AnswerStatus.STOPPED, AnswerStatus.INTERRUPTED
PENDING = AnswerStatus.PENDING
Turns = list[tuple[str, str]]


# ---- the reference model: SPEC §3 and the README, on plain objects ----------------------


@dataclass(eq=False)
class RefAnswer:
    model: str
    status: AnswerStatus
    text: str
    slack_ts: str
    answer_id: int
    deleted: bool = False

    def has_text(self) -> bool:
        return not self.deleted and self.status.keeps_text and bool(self.text.strip())

    @property
    def settled(self) -> bool:
        return self.status is not PENDING


@dataclass(eq=False)
class RefRound:
    chat: ChatKey
    generation: int
    ts: str
    author: str
    text: str
    answers: list[RefAnswer]
    round_id: int
    chosen: RefAnswer | None = None
    deleted: bool = False

    def user(self) -> str:
        return f"{self.author}: {self.text or '(no text)'}"


@dataclass(eq=False)
class RefTurn:
    ts: str
    author: str
    text: str
    reply: RefAnswer
    deleted: bool = False


@dataclass(eq=False)
class SnapshotEntry:
    round: RefRound
    user: str  # as the message read when the thread started
    answer: RefAnswer | None
    answer_text: str | None
    settled: bool = True  # False while the round's In Chat answer was undecided


@dataclass(eq=False)
class RefThread:
    anchor: RefAnswer
    round: RefRound
    model: str
    snapshot: list[SnapshotEntry]
    turns: list[RefTurn] = field(default_factory=list)


UNDECIDED = object()


def in_chat_or_undecided(round_: RefRound) -> RefAnswer | object | None:
    """SPEC §1 and the README: the pick while it has text (undecided while it is written);
    else the first model's answer that succeeded (undecided while an answer before it is
    written); when none did, the first with text (cut off, stopped). Deleted answers count
    as failed."""
    chosen = round_.chosen
    if chosen is not None and chosen.has_text():
        return chosen
    if chosen is not None and not chosen.deleted and not chosen.settled:
        return UNDECIDED
    for answer in round_.answers:
        if answer.deleted:
            continue
        if answer.status is DONE:
            return answer
        if not answer.settled:
            return UNDECIDED
    return next((a for a in round_.answers if a.has_text()), None)


def in_chat(round_: RefRound) -> RefAnswer | None:
    decided = in_chat_or_undecided(round_)
    assert decided is None or isinstance(decided, RefAnswer)
    return decided


def settle_entry(entry: SnapshotEntry) -> None:
    """A snapshot round read again: its In Chat answer as it stands, once decided."""
    if entry.settled:
        return
    if entry.round.deleted:
        entry.settled = True
        return
    decided = in_chat_or_undecided(entry.round)
    if decided is not UNDECIDED:
        assert decided is None or isinstance(decided, RefAnswer)
        entry.answer, entry.answer_text = decided, decided.text if decided else None
        entry.settled = True


def exchange(user: str, answer: str | None) -> Turns:
    turns = [("user", user)]
    if answer is not None and answer.strip():
        turns.append(("assistant", answer))
    return turns


def tokens(turns: Turns) -> int:
    return sum(len(text) // 4 + 4 for _, text in turns)


def fit(groups: list[Turns], reserved: int) -> list[Turns]:
    """The newest groups within the round limit and the token budget, oldest first."""
    budget, kept = MAX_TOKENS - reserved, []
    for group in reversed(groups):
        if len(kept) >= MAX_ROUNDS or tokens(group) > budget:
            break
        budget -= tokens(group)
        kept.append(group)
    return kept[::-1]


@dataclass
class Reference:
    configured: list[str] = field(default_factory=lambda: list(ALL_MODELS))
    channel_models: list[str] | None = None
    channel_prompt: str | None = None
    generations: dict[ChatKey, int] = field(default_factory=dict)
    rounds: list[RefRound] = field(default_factory=list)
    threads: dict[int, RefThread] = field(default_factory=dict)  # by anchor answer id

    def system(self) -> str:
        return SYSTEM if not self.channel_prompt else f"{SYSTEM}\n\n{self.channel_prompt}"

    def chat_rounds(self, chat: ChatKey, generation: int) -> list[RefRound]:
        return sorted(
            (r for r in self.rounds if r.chat == chat and r.generation == generation),
            key=lambda r: r.ts,
        )

    def earlier_rounds(self, round_: RefRound) -> list[RefRound]:
        return [
            r
            for r in self.chat_rounds(round_.chat, round_.generation)
            if not r.deleted and r.ts < round_.ts
        ]

    def round_request(self, round_: RefRound, system: str | None = None) -> tuple[str, Turns]:
        """`system`: the prompt as read before (a new round waiting is sent the channel's
        prompt as it was when the round started; a thread turn and a Regenerate, as it is
        when their model is asked: an inconsistency the README leaves open)."""
        system = system or self.system()
        new = [("user", round_.user())]
        groups = []
        for r in self.earlier_rounds(round_)[-MAX_ROUNDS:]:
            answer = in_chat(r)
            groups.append(exchange(r.user(), answer.text if answer else None))
        kept = fit(groups, tokens([*new, ("user", system)]))
        return system, [turn for group in kept for turn in group] + new

    def round_ready(self, round_: RefRound) -> bool:
        """README: a new message waits for the In Chat answers of the rounds before it (those
        its context window reads)."""
        earlier = self.earlier_rounds(round_)[-MAX_ROUNDS:]
        return all(in_chat_or_undecided(r) is not UNDECIDED for r in earlier)

    def start_thread(self, anchor: RefAnswer, round_: RefRound) -> RefThread:
        snapshot = []
        for r in self.earlier_rounds(round_)[-MAX_ROUNDS:]:
            entry = SnapshotEntry(r, r.user(), None, None, settled=False)
            settle_entry(entry)
            snapshot.append(entry)
        return RefThread(anchor, round_, anchor.model, snapshot)

    def thread_ready(self, thread: RefThread, turn: RefTurn) -> bool:
        """README: a thread turn waits for the answer it hangs under, the replies to earlier
        turns and the snapshot's In Chat answers still being written when it started."""
        snapshot = all(
            entry.settled
            or entry.round.deleted
            or in_chat_or_undecided(entry.round) is not UNDECIDED
            for entry in thread.snapshot
        )
        replies = all(
            t.reply.settled or t.reply.deleted
            for t in thread.turns
            if not t.deleted and t.ts < turn.ts
        )
        return snapshot and replies and thread.anchor.settled

    def turn_request(self, thread: RefThread, turn: RefTurn) -> tuple[str, Turns]:
        for entry in thread.snapshot:  # what the bot reads it from is read again
            settle_entry(entry)
        question = thread.round
        anchor_user = f"{question.author}: " + (
            "(message deleted)" if question.deleted else question.text or "(no text)"
        )
        anchor_answer = thread.anchor
        anchor = exchange(anchor_user, None if anchor_answer.deleted else anchor_answer.text)
        new = [("user", f"{turn.author}: {turn.text or '(no text)'}")]
        snapshot_groups = [
            exchange(
                entry.user,
                None if entry.answer is None or entry.answer.deleted else entry.answer_text,
            )
            for entry in thread.snapshot
            if not entry.round.deleted
        ]
        turn_groups = [
            exchange(
                f"{t.author}: {t.text or '(no text)'}",
                t.reply.text if t.reply.has_text() else None,
            )
            for t in sorted(thread.turns, key=lambda t: t.ts)
            if not t.deleted and t.ts < turn.ts
        ]
        kept = fit(snapshot_groups + turn_groups, tokens([*anchor, *new, ("user", self.system())]))
        turns_kept = min(len(turn_groups), len(kept))
        flat = [m for g in kept[: len(kept) - turns_kept] for m in g]
        flat += anchor + [m for g in kept[len(kept) - turns_kept :] for m in g]
        return self.system(), flat + new

    def is_latest(self, round_: RefRound) -> bool:
        if self.generations.get(round_.chat, 0) != round_.generation:
            return False
        live = [r for r in self.chat_rounds(round_.chat, round_.generation) if not r.deleted]
        return bool(live) and live[-1] is round_

    def choose(self, round_: RefRound, answer: RefAnswer) -> InChatChoice:
        """README: a pushpin on an answer of the latest round makes it In Chat."""
        if round_.deleted:
            return InChatChoice.QUESTION_DELETED
        if self.generations.get(round_.chat, 0) != round_.generation:
            return InChatChoice.CHAT_CLOSED
        if not self.is_latest(round_):
            return InChatChoice.NOT_LATEST_ROUND
        if answer.deleted:
            return InChatChoice.NOT_USABLE
        if not answer.settled:
            round_.chosen = answer
            return InChatChoice.CHOSEN_ONCE_FINISHED
        if not answer.has_text():
            return InChatChoice.NOT_USABLE
        if in_chat_or_undecided(round_) is answer:
            return InChatChoice.ALREADY
        round_.chosen = answer
        return InChatChoice.CHOSEN

    def may_regenerate(self, answer: RefAnswer) -> bool:
        """README: an answer to the latest message of its chat (or thread), still there, with
        no replies in its thread, in a chat `/chorus new` has not closed."""
        if answer.deleted or not answer.settled:
            return False
        for round_ in self.rounds:
            if answer in round_.answers:
                thread = self.threads.get(answer.answer_id)
                has_turns = thread is not None and any(not t.deleted for t in thread.turns)
                return not round_.deleted and self.is_latest(round_) and not has_turns
        for thread in self.threads.values():
            for turn in thread.turns:
                if turn.reply is answer:
                    live = sorted((t for t in thread.turns if not t.deleted), key=lambda t: t.ts)
                    return not turn.deleted and live[-1] is turn
        raise AssertionError("no such answer")


# ---- the bot's side: the stores and request building, as bot.conversation drives them ----


class Mismatch(AssertionError):
    pass


class Run:
    def __init__(self, stores: Stores, rng: random.Random) -> None:
        self.stores = stores
        self.rng = rng
        self.ref = Reference()
        self.requests = ModelRequests(
            stores.conversations,
            stores.channels,
            system_prompt=SYSTEM,
            window=ContextWindow(max_rounds=MAX_ROUNDS, max_tokens=MAX_TOKENS),
        )
        self.clock = 1000
        self.log: list[str] = []
        self.streaming: list[RefAnswer] = []  # asked, still being written
        self.waiting: list[Waiting] = []  # not asked yet: the answers before them stream

    def ts(self) -> str:
        self.clock += 1
        return f"{self.clock}.000000"

    def said_earlier(self) -> str:
        """A message said a while ago whose event comes only now: it takes its place among
        the rounds by when it was said."""
        self.clock += 1
        return f"{self.rng.randint(1001, self.clock)}.{self.rng.randint(1, 999_999):06d}"

    def say(self) -> str:
        words = self.rng.choices(WORDS, k=self.rng.choice([1, 2, 3, 3, 5, 40]))
        return " ".join(words)

    def outcome(self, model: str) -> tuple[AnswerStatus, str]:
        status = self.rng.choice([DONE] * 5 + [FAILED, CUT_OFF, STOPPED, INTERRUPTED])
        if status is FAILED or (status in (STOPPED, INTERRUPTED) and self.rng.random() < 0.5):
            return status, ""
        return status, f"{model.split(':')[1][:6]} says {self.say()}"

    async def finish(self, answer: RefAnswer, withdrawn: bool = False) -> None:
        status, text = (FAILED, "") if withdrawn else self.outcome(answer.model)
        await self.stores.answers.finish(answer.answer_id, FinishedAnswer(status, text))
        await self.stores.answers.shown(answer.answer_id)
        self.log.append(f"  {answer.model} at {answer.slack_ts}: {status.value} {text[:20]!r}")
        answer.status, answer.text = status, text

    async def asked(self, answers: list[RefAnswer], withdrawn: bool) -> None:
        """The models were sent their request: each answers at once, or streams a while."""
        for answer in answers:
            if not withdrawn and self.rng.random() < 0.25:
                self.streaming.append(answer)
                self.log.append(f"  {answer.model} at {answer.slack_ts}: streams")
            else:
                await self.finish(answer, withdrawn)

    def check(self, what: str, expected: tuple[str, Turns] | None, got: ModelRequest | None):
        actual = got and (got.system, [(m.role, m.content) for m in got.messages])
        if actual != expected:
            raise Mismatch(
                f"{what}\n  expected: {expected}\n  bot sent: {actual}\n  after: "
                + "\n    ".join(self.log)
            )

    async def expect(self, waiting: Waiting, request: ModelRequest | PendingRequest) -> None:
        """The bot's request must be built at once when the reference has everything it
        needs, and wait otherwise."""
        if not waiting.ready():
            if isinstance(request, ModelRequest):
                raise Mismatch(f"{waiting.what}: not waited for\n  " + "\n    ".join(self.log))
            self.log.append(f"  {waiting.what} waits")
            self.waiting.append(replace(waiting, request=request))
            return
        await self.resolve(replace(waiting, request=request))

    async def resolve(self, waiting: Waiting) -> None:
        request = waiting.request
        got: ModelRequest | None
        if isinstance(request, ModelRequest):
            got = request
        else:
            try:
                got = await asyncio.wait_for(request(), timeout=5)
            except MessageWithdrawn:
                got = None
            except TimeoutError:
                still = f"{waiting.what}: still waits\n  " + "\n    ".join(self.log)
                raise Mismatch(still) from None
        self.check(waiting.what, waiting.expected(), got)
        await self.asked(waiting.answers, withdrawn=got is None)

    async def settle(self) -> None:
        if not self.streaming:
            return
        answer = self.streaming.pop(self.rng.randrange(len(self.streaming)))
        await self.finish(answer)
        while ready := next((w for w in self.waiting if w.ready()), None):
            self.waiting.remove(ready)
            self.log.append(f"  {ready.what} asked")
            await self.resolve(ready)

    # -- operations ---------------------------------------------------------------------

    async def mention(self) -> None:
        chat = CHANNEL if self.rng.random() < 0.8 else THREAD_CHAT
        picks_words = self.rng.choice([[], [], [], ["claude"], ["gpt", "claude"], ["nope"]])
        text = self.say() if self.rng.random() < 0.95 else ""
        said = " ".join([*(f"+{w}" for w in picks_words), text])
        ts = self.ts() if self.rng.random() < 0.85 else self.said_earlier()
        self.log.append(f"{ts} mention in {chat.thread_ts or 'channel'}: {said!r}")
        picks = split_model_picks(said)
        catalog = ModelCatalog(parse_model_list(",".join(self.ref.configured)))
        if not picks.text:
            return  # help, or a note about picks without a question: no round
        try:
            models_for_round(catalog, picks, self.ref.channel_models)
        except UnknownModels:
            return  # a note listing the valid aliases: no round
        started = await self.stores.conversations.start_round(
            MessageClaim("T1", "C1", ts),
            chat,
            user_id="U1",
            author="Alice",
            text=picks.text,
            models=lambda own: [s.name for s in models_for_round(catalog, picks, own)],
            post_thread_ts=chat.thread_ts or None,
            owner="replica-a",
            history_limit=MAX_ROUNDS,
        )
        assert started is not None
        expected_models = self.reference_models(picks)
        if [a.model for a in started.answers] != expected_models:
            raise Mismatch(f"models {started.answers} != {expected_models}")
        round_ = RefRound(
            chat, self.ref.generations.get(chat, 0), ts, "Alice", picks.text, [], started.round_id
        )
        for answer in started.answers:
            slack_ts = f"{ts}-{answer.answer_id}"
            await self.stores.answers.posted(answer.answer_id, slack_ts)
            round_.answers.append(RefAnswer(answer.model, PENDING, "", slack_ts, answer.answer_id))
        self.ref.rounds.append(round_)
        system = self.ref.system()
        waiting = Waiting(
            f"round {ts}",
            lambda: self.ref.round_ready(round_),
            lambda: None if round_.deleted else self.ref.round_request(round_, system),
            round_.answers,
        )
        await self.expect(waiting, self.requests.for_started_round(started, "Alice", started.text))

    def reference_models(self, picks) -> list[str]:
        if picks.words:
            return list(dict.fromkeys(ALIASES[w] for w in picks.words))
        own = [m for m in self.ref.channel_models or () if m in self.ref.configured]
        return own or list(self.ref.configured)

    def pick_answer(self, chat: str | None = None) -> tuple[RefRound, RefAnswer] | None:
        """A random answer of `chat`'s rounds (of any chat's when None)."""
        candidates = [(r, a) for r in self.ref.rounds if chat in (None, r.chat) for a in r.answers]
        return self.rng.choice(candidates) if candidates else None

    async def thread_message(self) -> None:
        found = self.pick_answer(CHANNEL)
        if found is None:
            return
        round_, anchor = found
        handover = self.rng.choice([None, None, None, "claude", "gpt", "gemini"])
        text = self.say() if handover is None or self.rng.random() < 0.6 else ""
        said = " ".join(filter(None, [f"+{handover}" if handover else "", text]))
        ts = self.ts()
        self.log.append(f"{ts} in the thread under {anchor.slack_ts}: {said!r}")
        catalog = ModelCatalog(parse_model_list(",".join(self.ref.configured)))
        picks = split_model_picks(said)
        try:
            handed = thread_handed_to(catalog, picks)
        except UnknownModels:
            return
        parent = await self.stores.conversations.parent_answer("C1", anchor.slack_ts)
        assert parent is not None
        thread = self.ref.threads.get(anchor.answer_id)
        if thread is None:
            thread = self.ref.threads[anchor.answer_id] = self.ref.start_thread(anchor, round_)
        if handed is not None:
            thread.model = handed.model.name
        if not picks.text:
            assert handed is not None
            await self.stores.conversations.switch_thread(
                MessageClaim("T1", "C1", ts), parent, handed.model.name, history_limit=MAX_ROUNDS
            )
            return
        started = await self.stores.conversations.start_thread_turn(
            MessageClaim("T1", "C1", ts),
            parent,
            user_id="U2",
            author="Bob",
            text=picks.text,
            switch_to_model=handed.model.name if handed else None,
            owner="replica-a",
            history_limit=MAX_ROUNDS,
        )
        assert started is not None
        if started.answer.model != thread.model:
            raise Mismatch(f"thread model {started.answer.model} != {thread.model}")
        for entry in thread.snapshot:  # the turn read the thread's history
            settle_entry(entry)
        reply_ts = f"{ts}-r{started.answer.answer_id}"
        await self.stores.answers.posted(started.answer.answer_id, reply_ts)
        reply = RefAnswer(started.answer.model, PENDING, "", reply_ts, started.answer.answer_id)
        turn = RefTurn(ts, "Bob", picks.text, reply)
        thread.turns.append(turn)
        waiting = Waiting(
            f"thread turn {ts}",
            lambda: self.ref.thread_ready(thread, turn),
            lambda: None if turn.deleted else self.ref.turn_request(thread, turn),
            [reply],
        )
        await self.expect(waiting, self.requests.for_started_turn(started, "Bob", started.text))

    async def pin(self) -> None:
        found = self.pick_answer(CHANNEL) if self.rng.random() < 0.8 else self.pick_answer()
        if found is None:
            return
        round_, answer = found
        self.log.append(f"pin {answer.slack_ts}")
        parent = await self.stores.conversations.parent_answer("C1", answer.slack_ts)
        assert parent is not None
        choice, _ = await self.stores.conversations.choose_in_chat(parent)
        expected = self.ref.choose(round_, answer)
        if choice is not expected:
            raise Mismatch(f"pin {answer.slack_ts}: {choice} != {expected}\n" + "\n".join(self.log))

    async def unpin(self) -> None:
        found = self.pick_answer()
        if found is None:
            return
        round_, answer = found
        self.log.append(f"unpin {answer.slack_ts}")
        parent = await self.stores.conversations.parent_answer("C1", answer.slack_ts)
        assert parent is not None
        await self.stores.conversations.unpin_in_chat(parent, pinned_by_someone_else=False)
        if self.ref.is_latest(round_) and round_.chosen is answer:
            round_.chosen = None

    async def regenerate(self) -> None:
        replies = [t.reply for th in self.ref.threads.values() for t in th.turns]
        answers = [a for r in self.ref.rounds for a in r.answers] + replies
        if not answers:
            return
        answer = self.rng.choice(answers)
        self.log.append(f"regenerate {answer.slack_ts}")
        restarted = await self.stores.regenerations.restart(
            "C1", answer.slack_ts, owner="replica-a", answerable=lambda _model: True
        )
        allowed = self.ref.may_regenerate(answer)
        if isinstance(restarted, Regeneration) != allowed:
            raise Mismatch(f"regenerate {answer.slack_ts}: {restarted}, expected {allowed}")
        if not isinstance(restarted, Regeneration):
            return
        answer.status, answer.text = PENDING, ""
        source = restarted.source
        if isinstance(source, RoundSource):
            request = self.requests.for_stored_round(
                "C1", source.chat_id, source.round_id, source.author
            )
            round_ = next(r for r in self.ref.rounds if answer in r.answers)
            waiting = Waiting(
                f"regenerate {answer.slack_ts}",
                lambda: self.ref.round_ready(round_),
                lambda: None if round_.deleted else self.ref.round_request(round_),
                [answer],
            )
        else:
            request = self.requests.for_stored_thread_turn(
                source.reply_thread_id, source.turn_id, source.author
            )
            thread, turn = next(
                (th, t) for th in self.ref.threads.values() for t in th.turns if t.reply is answer
            )
            waiting = Waiting(
                f"regenerate {answer.slack_ts}",
                lambda: self.ref.thread_ready(thread, turn),
                lambda: None if turn.deleted else self.ref.turn_request(thread, turn),
                [answer],
            )
        await self.expect(waiting, request)

    def messages(self) -> list[tuple[str, RefRound | RefTurn]]:
        said: list[tuple[str, RefRound | RefTurn]] = [(r.ts, r) for r in self.ref.rounds]
        said += [(t.ts, t) for th in self.ref.threads.values() for t in th.turns]
        return said

    async def edit(self) -> None:
        said = self.messages()
        if not said:
            return
        ts, message = self.rng.choice(said)
        text = self.say() if self.rng.random() < 0.9 else ""
        self.log.append(f"edit {ts} to {text!r}")
        await self.stores.conversations.revise_message(MessageClaim("T1", "C1", ts), text)
        if not message.deleted:
            message.text = text

    async def delete(self) -> None:
        everything: list[tuple[str, RefRound | RefTurn | RefAnswer]] = [*self.messages()]
        replies = [t.reply for th in self.ref.threads.values() for t in th.turns]
        everything += [(reply.slack_ts, reply) for reply in replies]
        everything += [(a.slack_ts, a) for r in self.ref.rounds for a in r.answers]
        if not everything:
            return
        ts, thing = self.rng.choice(everything)
        self.log.append(f"delete {ts}")
        await self.stores.conversations.forget_message(MessageClaim("T1", "C1", ts))
        thing.deleted = True

    async def new_chat(self) -> None:
        chat = CHANNEL if self.rng.random() < 0.8 else THREAD_CHAT
        self.log.append(f"/chorus new in {chat.thread_ts or 'channel'}")
        await self.stores.conversations.start_new_chat(chat)
        if any(r.chat == chat for r in self.ref.rounds) or chat in self.ref.generations:
            self.ref.generations[chat] = self.ref.generations.get(chat, 0) + 1

    async def models(self) -> None:
        if self.rng.random() < 0.5:
            chosen = self.rng.sample(ALL_MODELS, self.rng.randint(1, 3))
            self.log.append(f"/chorus models {chosen}")
            await self.stores.channels.set_models("T1", "C1", chosen, set_by="U1")
            self.ref.channel_models = chosen
        else:
            self.ref.configured = self.rng.sample(ALL_MODELS, self.rng.randint(1, 3))
            self.log.append(f"CHORUS_MODELS={self.ref.configured}")

    async def prompt(self) -> None:
        prompt = self.rng.choice([None, "Answer in French.", "Be brief."])
        self.log.append(f"/chorus prompt {prompt}")
        await self.stores.channels.set_prompt("C1", prompt, set_by="U1")
        self.ref.channel_prompt = prompt

    async def step(self) -> None:
        operations = [
            (self.mention, 6),
            (self.thread_message, 5),
            (self.settle, 4),
            (self.pin, 2),
            (self.unpin, 1),
            (self.regenerate, 2),
            (self.edit, 2),
            (self.delete, 2),
            (self.new_chat, 1),
            (self.models, 1),
            (self.prompt, 1),
        ]
        choices, weights = zip(*operations, strict=True)
        await self.rng.choices(choices, weights)[0]()

    async def finish_all(self) -> None:
        while self.streaming:
            await self.settle()
        assert not self.waiting, [w.what for w in self.waiting]


@dataclass(frozen=True)
class Waiting:
    """A request the bot builds once the answers before it are settled."""

    what: str
    ready: Callable[[], bool]
    expected: Callable[[], tuple[str, Turns] | None]  # None: the message was deleted
    answers: list[RefAnswer]
    request: ModelRequest | PendingRequest | None = None


@pytest.mark.parametrize("seed", SEEDS)
async def test_every_model_is_sent_what_the_context_rules_say(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(model_requests, "SETTLED_POLL_SECONDS", 0.001)
    database = await connect(f"sqlite+aiosqlite:///{tmp_path}/chorus.db")
    try:
        run = Run(stores_over(database), random.Random(seed))
        for _ in range(STEPS):
            await run.step()
        await run.finish_all()
    finally:
        await database.close()
