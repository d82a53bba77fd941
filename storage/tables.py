"""The database schema: chats, rounds, answers, reply threads, thread turns, handled events,
claimed (or deleted) messages, edits that came before their message, the tokens of regenerated
answers, and each channel's own models and prompt.

Times are stored as Unix seconds (float) so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(64)  # Slack ids and timestamps ("C0123", "1764000000.000100")
# Messages whose text is still kept: what forgetting old messages looks through.
UNFORGOTTEN = text("text != ''")
# Answers whose final edit is still owed to Slack (or that are still being written).
UNSHOWN = text("shown_at IS NULL")
UNFINISHED = text("finished_at IS NULL")


class Base(DeclarativeBase):
    pass


class _KeyedByMessage:
    """A row per person's message, keyed by its workspace, channel and ts (first)."""

    team_id: Mapped[str] = mapped_column(ID, primary_key=True, sort_order=-1)
    channel_id: Mapped[str] = mapped_column(ID, primary_key=True, sort_order=-1)
    message_ts: Mapped[str] = mapped_column(ID, primary_key=True, sort_order=-1)


class Chat(Base):
    """A channel, DM or Slack thread conversation; `/chorus new` starts the next generation."""

    __tablename__ = "chats"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "thread_ts", "generation", name="uq_chats_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ID)
    channel_id: Mapped[str] = mapped_column(ID)
    thread_ts: Mapped[str] = mapped_column(ID, default="")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class Round(Base):
    """A person's message addressed to the bot in a chat; its answers hang off it."""

    __tablename__ = "rounds"
    __table_args__ = (
        Index("ix_rounds_chat_id_message_ts", "chat_id", "message_ts"),
        Index("ix_rounds_message", "channel_id", "message_ts"),
        Index(
            "ix_rounds_unforgotten",
            "created_at",
            sqlite_where=UNFORGOTTEN,
            postgresql_where=UNFORGOTTEN,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id"))
    channel_id: Mapped[str] = mapped_column(ID)
    message_ts: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    author_name: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    # The answer a person made In Chat; None leaves it to the default rule (SPEC §1).
    in_chat_answer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)


class ReplyThread(Base):
    """The Slack thread under one answer: its current model and the chat as it was at its start."""

    __tablename__ = "reply_threads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id"), unique=True)
    current_model: Mapped[str] = mapped_column(String(255))
    # [{"round_id": int, "user": str, "in_chat_answer": str | None}, …] oldest first
    snapshot: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)


class ThreadTurn(Base):
    """A person's message in a reply thread; the thread model's reply is an answer row."""

    __tablename__ = "thread_turns"
    __table_args__ = (
        Index("ix_thread_turns_thread_id_message_ts", "reply_thread_id", "message_ts"),
        Index("ix_thread_turns_message", "channel_id", "message_ts"),
        Index(
            "ix_thread_turns_unforgotten",
            "created_at",
            sqlite_where=UNFORGOTTEN,
            postgresql_where=UNFORGOTTEN,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reply_thread_id: Mapped[int] = mapped_column(ForeignKey("reply_threads.id"))
    channel_id: Mapped[str] = mapped_column(ID)
    message_ts: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    author_name: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)


class Answer(Base):
    """One model's answer to a round, or its reply to a thread turn, and its Slack message."""

    __tablename__ = "answers"
    __table_args__ = (
        Index("ix_answers_round_id", "round_id"),
        Index("ix_answers_thread_turn_id", "thread_turn_id"),
        Index("ix_answers_slack_message", "channel_id", "slack_ts"),
        Index("ix_answers_status", "status"),
        # The Home tab's usage of the last 30 days (`storage/usage.py`), read from the index
        # alone: the answers' rows, with their text, are many times larger.
        Index(
            "ix_answers_usage",
            "started_at",
            "model",
            "status",
            "input_tokens",
            "output_tokens",
            "finished_at",
        ),
        # What the sweeper looks for (`take_over_unshown`): few, among all answers ever.
        Index("ix_answers_unshown", "id", sqlite_where=UNSHOWN, postgresql_where=UNSHOWN),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), nullable=True)
    # No foreign key: thread_turns → reply_threads → answers would make a cycle.
    thread_turn_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(ID)
    post_thread_ts: Mapped[str | None] = mapped_column(ID, nullable=True)
    slack_ts: Mapped[str | None] = mapped_column(ID, nullable=True)
    continuation_ts: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[float] = mapped_column(Float)
    first_token_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    owner: Mapped[str] = mapped_column(String(255))
    heartbeat_at: Mapped[float] = mapped_column(Float)
    # When the final text (or error line) was shown in Slack; NULL while it is still owed.
    shown_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Who pressed Stop (their display name), while the answer streams on some replica.
    stop_requested_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Whether its settled message shows the In Chat mark: what `storage.in_chat_marks` keeps
    # in step with its round's In Chat answer.
    marked_in_chat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AnswerContinuation(Base):
    """A message a long answer goes on in (posted in its thread), with its answer: a reaction
    on it finds the answer by key."""

    __tablename__ = "answer_continuations"

    channel_id: Mapped[str] = mapped_column(ID, primary_key=True)
    slack_ts: Mapped[str] = mapped_column(ID, primary_key=True)
    answer_id: Mapped[int] = mapped_column(Integer)


class ReplacedGeneration(Base):
    """The tokens an answer had spent before someone regenerated it: gone from the answer,
    still spent (the Home tab's usage counts them)."""

    __tablename__ = "replaced_generations"
    __table_args__ = (
        Index(
            "ix_replaced_generations_usage", "started_at", "model", "input_tokens", "output_tokens"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[float] = mapped_column(Float)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)


class HandledEvent(Base):
    """A Slack event, recorded before it is acknowledged: Slack's retries and deliveries to
    other replicas find it here and stop; if its replica dies before finishing it, another
    (or the same, restarted) replica takes it over."""

    __tablename__ = "handled_events"
    __table_args__ = (
        Index("ix_handled_events_unfinished", "finished_at", "heartbeat_at"),
        # What a message waits for before it is recorded: messages said before it in its
        # conversation, received but not yet recorded (few, among all events).
        Index(
            "ix_handled_events_unfinished_messages",
            "channel_id",
            "thread_ts",
            "message_ts",
            sqlite_where=UNFINISHED,
            postgresql_where=UNFINISHED,
        ),
    )

    event_id: Mapped[str] = mapped_column(ID, primary_key=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(255))
    heartbeat_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The person's message the event brings, if it brings one: where it was said (the thread,
    # "" at the top level) and its ts.
    channel_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    thread_ts: Mapped[str | None] = mapped_column(ID, nullable=True)
    message_ts: Mapped[str | None] = mapped_column(ID, nullable=True)


UNRECORDED = text("NOT recorded")


class ClaimedMessage(_KeyedByMessage, Base):
    """A person's message that already has its round or thread turn, or its one reply (help,
    a handover, a deletion seen before the message): one per message."""

    __tablename__ = "claimed_messages"
    __table_args__ = (
        # What the sweep looks through (`forget_handled`): the few claims not known to have
        # a round or turn, among every message ever answered.
        Index(
            "ix_claimed_messages_unrecorded",
            "claimed_at",
            sqlite_where=UNRECORDED,
            postgresql_where=UNRECORDED,
        ),
    )

    claimed_at: Mapped[float] = mapped_column(Float)
    # Whether the message has its round or thread turn: such a claim is kept for good.
    recorded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class EarlyEdit(_KeyedByMessage, Base):
    """An edit of a person's message handled before the message was recorded (Slack sent it
    first, or the message was still on its way to the database): the round or thread turn
    that records the message takes it. One per message, the latest handled."""

    __tablename__ = "early_edits"
    __table_args__ = (Index("ix_early_edits_received_at", "received_at"),)

    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float)


class ChannelModels(Base):
    """A channel's own list of models (`/chorus models …`), replacing the workspace default."""

    __tablename__ = "channel_models"

    team_id: Mapped[str] = mapped_column(ID, primary_key=True)
    channel_id: Mapped[str] = mapped_column(ID, primary_key=True)
    models: Mapped[list[str]] = mapped_column(JSON)
    set_by: Mapped[str] = mapped_column(ID)
    updated_at: Mapped[float] = mapped_column(Float)


class ChannelPrompt(Base):
    """A channel's own system prompt (`/chorus prompt …`), sent after the workspace prompt.
    Keyed by channel alone: Slack channel ids are unique across workspaces, and a channel
    shared between organisations has one prompt."""

    __tablename__ = "channel_prompts"

    channel_id: Mapped[str] = mapped_column(ID, primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(ID)
    updated_at: Mapped[float] = mapped_column(Float)
