"""A chat the bot held before an upgrade: its messages in the Slack emulator, its rows written
as the code of an older schema revision wrote them (same ts as the messages, so threads and
buttons resolve), the database left at that revision for the bot to migrate at start-up.

The chat, in CHANNEL:

    round 1  Alice: name a colour          Claude "Teal." (In Chat), GPT a long answer (its
                                           continuations in its thread), Gemini "Amber."
             thread under GPT's answer     Bob: why that one?  →  GPT "Because it is calm."
    round 2  Alice: and a name for a cat?  Claude failed, GPT "Miso." (In Chat, as Claude
                                           failed), Gemini "Pepper."
             thread under Gemini's answer  Bob: shorter?  →  Gemini "Pip." (round 1 in its
                                           snapshot)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from slack_sdk import WebClient
from sqlalchemy import MetaData, Table, insert, update
from sqlalchemy.orm import Session

from bot.chat.catalog import display_name_for
from bot.chat.in_chat import AnswerStatus
from bot.slack.rendering import outcome_messages
from storage.database import MIGRATIONS_DIR, database_at
from tests.doubles.slack_emulator import SlackEmulator
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION

CLAUDE, GPT, GEMINI = "anthropic:claude-test", "openai:gpt-test", "google:gemini-test"

COLOUR_QUESTION = "name a colour"
CLAUDE_COLOUR = "Teal."
GPT_COLOUR = "\n\n".join(f"Teal, reason {i}. " + "calm and clear " * 150 for i in range(12))
GEMINI_COLOUR = "Amber."
WHY = "why that one?"
GPT_WHY = "Because it is calm."

CAT_QUESTION = "and a name for a cat?"
CLAUDE_CAT_ERROR = "Anthropic answered 500 (overloaded). Press Regenerate or ask again."
GPT_CAT = "Miso."
GEMINI_CAT = "Pepper."
SHORTER = "shorter?"
GEMINI_SHORTER = "Pip."


@dataclass(frozen=True)
class SchemaEra:
    """An old revision, and what the code of its time wrote."""

    revision: str
    # Every round's In Chat answer was stored once its answers settled, the default rule's
    # pick too (until 6b579b9); since, only a person's pick is.
    stored_default_in_chat: bool
    # answers.shown_at (0003) and answers.marked_in_chat (0012), kept by the code.
    shown_and_marked: bool
    # Snapshot entries name their In Chat answer's id (b42eeff).
    snapshot_answer_ids: bool
    # claimed_messages.recorded (0014).
    recorded_claims: bool


FIRST_SCHEMA = SchemaEra("0001", True, False, False, False)
# The last before continuations moved from answers.continuation_ts to their own table (0016).
BEFORE_CONTINUATIONS_TABLE = SchemaEra("0015", False, True, True, True)
OLD_ERAS = (FIRST_SCHEMA, BEFORE_CONTINUATIONS_TABLE)


@dataclass(frozen=True)
class OldChat:
    """The Slack ts of the chat's answers, by round, in model order (Claude, GPT, Gemini)."""

    colour_answers: tuple[str, str, str]
    gpt_colour_continuations: tuple[str, ...]
    cat_answers: tuple[str, str, str]


@dataclass(frozen=True)
class _OldAnswer:
    model: str
    text: str
    status: AnswerStatus = AnswerStatus.DONE
    error: str | None = None


@dataclass(frozen=True)
class _Posted:
    answer: _OldAnswer
    ts: str
    continuation_ts: tuple[str, ...] = ()


def hold_an_old_chat(slack: SlackEmulator, database_url: str, era: SchemaEra) -> OldChat:
    """Post the chat's messages in the emulator and write its rows at `era`'s revision."""
    said = _SlackChat(slack)
    colour = said.mention(COLOUR_QUESTION)
    colour_answers = said.answers(
        [
            _OldAnswer(CLAUDE, CLAUDE_COLOUR),
            _OldAnswer(GPT, GPT_COLOUR),
            _OldAnswer(GEMINI, GEMINI_COLOUR),
        ],
        marked=0 if era.shown_and_marked else None,
    )
    why = said.thread_reply(colour_answers[1].ts, WHY)
    gpt_why = said.answer_in_thread(colour_answers[1].ts, _OldAnswer(GPT, GPT_WHY))
    cat = said.mention(CAT_QUESTION)
    cat_answers = said.answers(
        [
            _OldAnswer(CLAUDE, "", AnswerStatus.FAILED, CLAUDE_CAT_ERROR),
            _OldAnswer(GPT, GPT_CAT),
            _OldAnswer(GEMINI, GEMINI_CAT),
        ],
        marked=1 if era.shown_and_marked else None,
    )
    shorter = said.thread_reply(cat_answers[2].ts, SHORTER)
    gemini_shorter = said.answer_in_thread(cat_answers[2].ts, _OldAnswer(GEMINI, GEMINI_SHORTER))
    assert colour_answers[1].continuation_ts, "GPT's first answer is long enough to go on"

    def write(session: Session) -> None:
        _upgrade_to(session, era.revision)
        rows = _OldRows(session, era, slack.team_id)
        chat_id = rows.insert(
            "chats",
            team_id=slack.team_id,
            channel_id=CHANNEL,
            thread_ts="",
            generation=0,
            created_at=float(colour),
        )
        colour_round, colour_ids = rows.round(
            chat_id, colour, COLOUR_QUESTION, colour_answers, in_chat=0
        )
        rows.reply_thread(
            (colour_ids[1], colour_answers[1].ts), snapshot=[], turn=(why, WHY, gpt_why)
        )
        _, cat_ids = rows.round(chat_id, cat, CAT_QUESTION, cat_answers, in_chat=1)
        colour_in_chat = {
            "round_id": colour_round,
            "user": f"Alice: {COLOUR_QUESTION}",
            "in_chat_answer": CLAUDE_COLOUR,
        }
        if era.snapshot_answer_ids:
            colour_in_chat["in_chat_answer_id"] = colour_ids[0]
        rows.reply_thread(
            (cat_ids[2], cat_answers[2].ts),
            snapshot=[colour_in_chat],
            turn=(shorter, SHORTER, gemini_shorter),
        )

    _write_at_once(database_url, write)
    return OldChat(
        colour_answers=(colour_answers[0].ts, colour_answers[1].ts, colour_answers[2].ts),
        gpt_colour_continuations=colour_answers[1].continuation_ts,
        cat_answers=(cat_answers[0].ts, cat_answers[1].ts, cat_answers[2].ts),
    )


class _SlackChat:
    """The chat's messages, posted in the emulator in the order they were said: people's as
    people post, the answers as the bot posted them (`chat.postMessage` with its token)."""

    def __init__(self, slack: SlackEmulator) -> None:
        self._slack = slack
        self._web = WebClient(token=slack.bot_token, base_url=slack.api_url)

    def mention(self, text: str) -> str:
        return str(self._slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {text}")["ts"])

    def thread_reply(self, thread_ts: str, text: str) -> str:
        return str(self._slack.post_user_message(CHANNEL, BOB, text, thread_ts=thread_ts)["ts"])

    def answers(self, answers: list[_OldAnswer], *, marked: int | None) -> list[_Posted]:
        """A round's answers; the one at `marked` shows the In Chat mark (none did before 0012)."""
        return [
            self._post(answer, None, in_chat=position == marked)
            for position, answer in enumerate(answers)
        ]

    def answer_in_thread(self, thread_ts: str, answer: _OldAnswer) -> _Posted:
        return self._post(answer, thread_ts, in_chat=False)

    def _post(self, answer: _OldAnswer, thread_ts: str | None, *, in_chat: bool) -> _Posted:
        name = display_name_for(answer.model.split(":", 1)[1])
        first, *rest = outcome_messages(
            name,
            status=answer.status,
            text=answer.text,
            error=answer.error,
            seconds=1.5,
            input_tokens=12,
            output_tokens=34,
            in_chat=in_chat,
        )
        ts = self._say(first.text, first.blocks, name, thread_ts)
        continuations = tuple(self._say(part.text, part.blocks, name, ts) for part in rest)
        return _Posted(answer, ts, continuations)

    def _say(self, text: str, blocks: list[Any], name: str, thread_ts: str | None) -> str:
        posted = self._web.chat_postMessage(
            channel=CHANNEL, text=text, blocks=blocks, username=name, thread_ts=thread_ts
        )
        return str(posted["ts"])


class _OldRows:
    """Rows as the code of `era` wrote them, into the tables as its revision has them (read
    from the database: a column the revision lacks fails the insert)."""

    def __init__(self, session: Session, era: SchemaEra, team_id: str) -> None:
        self._session = session
        self._era = era
        self._team_id = team_id
        self._metadata = MetaData()

    def insert(self, table: str, **values: Any) -> int:
        """Insert one row; its id (the database's, so that its sequence moves on as the old
        code's inserts moved it: the upgraded bot's next row takes the next id)."""
        result = self._session.execute(insert(self._table(table)).values(**values))
        (row_id,) = result.inserted_primary_key or (None,)
        assert isinstance(row_id, int)
        return row_id

    def round(
        self, chat_id: int, ts: str, text: str, answers: list[_Posted], *, in_chat: int
    ) -> tuple[int, list[int]]:
        """A person's mention, its claim and its settled answers (the one at `in_chat` In Chat
        by the default rule): the round's and the answers' ids."""
        round_id = self._said("rounds", ts, text, (ALICE, "Alice"), chat_id=chat_id)
        answer_ids = [
            self._answer(posted, position, marked=position == in_chat, round_id=round_id)
            for position, posted in enumerate(answers)
        ]
        if self._era.stored_default_in_chat:  # as the round settled
            rounds = self._table("rounds")
            self._session.execute(
                update(rounds)
                .where(rounds.c.id == round_id)
                .values(in_chat_answer_id=answer_ids[in_chat])
            )
        return round_id, answer_ids

    def reply_thread(
        self,
        answer: tuple[int, str],
        *,
        snapshot: list[dict[str, Any]],
        turn: tuple[str, str, _Posted],
    ) -> None:
        """The thread under an answer (its id and ts) with its `snapshot` of the chat and one
        turn: Bob's message (its ts and text) and the thread model's reply."""
        answer_id, answer_ts = answer
        turn_ts, text, reply = turn
        thread_id = self.insert(
            "reply_threads",
            answer_id=answer_id,
            current_model=reply.answer.model,
            snapshot=snapshot,
            created_at=float(turn_ts),
        )
        turn_id = self._said("thread_turns", turn_ts, text, (BOB, "Bob"), reply_thread_id=thread_id)
        self._answer(reply, 0, marked=False, thread_turn_id=turn_id, post_thread_ts=answer_ts)

    def _said(self, table: str, ts: str, text: str, author: tuple[str, str], **where: Any) -> int:
        """A person's message at `ts` in `table` (a round's or a thread turn's), claimed as
        handled: its row's id."""
        self._claim(ts)
        user_id, author_name = author
        return self.insert(
            table,
            channel_id=CHANNEL,
            message_ts=ts,
            user_id=user_id,
            author_name=author_name,
            text=text,
            deleted=False,
            created_at=float(ts),
            **where,
        )

    def _answer(self, posted: _Posted, position: int, *, marked: bool, **where: Any) -> int:
        answer, started_at = posted.answer, float(posted.ts)
        finished_at = started_at + 1.5
        values: dict[str, Any] = {
            "position": position,
            "model": answer.model,
            "channel_id": CHANNEL,
            "slack_ts": posted.ts,
            "continuation_ts": list(posted.continuation_ts),
            "text": answer.text,
            "status": answer.status.value,
            "error": answer.error,
            "deleted": False,
            "started_at": started_at,
            "first_token_at": None if answer.error else started_at + 0.5,
            "finished_at": finished_at,
            "input_tokens": 12,
            "output_tokens": 34,
            "owner": "replica-before-the-upgrade",
            "heartbeat_at": finished_at,
            **where,
        }
        if self._era.shown_and_marked:
            values |= {"shown_at": finished_at, "marked_in_chat": marked}
        return self.insert("answers", **values)

    def _claim(self, ts: str) -> None:
        values: dict[str, Any] = {
            "team_id": self._team_id,
            "channel_id": CHANNEL,
            "message_ts": ts,
            "claimed_at": float(ts),
        }
        if self._era.recorded_claims:
            values["recorded"] = True
        self._session.execute(insert(self._table("claimed_messages")).values(**values))

    def _table(self, name: str) -> Table:
        if name not in self._metadata.tables:
            Table(name, self._metadata, autoload_with=self._session.connection())
        return self._metadata.tables[name]


def _upgrade_to(session: Session, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = session.connection()
    command.upgrade(config, revision)


def _write_at_once(database_url: str, write: Any) -> None:
    async def run() -> None:
        database = database_at(database_url)
        try:
            await database.run(write)
        finally:
            await database.close()

    asyncio.run(run())
