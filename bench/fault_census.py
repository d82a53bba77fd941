"""What the bot left in Slack at the end of a fault run, each message tied to the answer it is.

Two independent witnesses say which answer a bot message is: the bot's database (the answer row
holding the message's ts, and the round or thread turn it belongs to), and the text itself (the
fake models echo the person's message, whose token names it).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bench.fault_tally import AnswerKey, Outcome, SeenMessage
from storage.database import connect, database_at
from storage.tables import Answer, Round, ThreadTurn
from tests.doubles import ApiCall, SlackEmulator
from tests.e2e.slack_views import body, is_final, status_line

# "gpt-bench answers: Alice: [r0012] why is the sky blue?" (the fake models' default reply). A
# model that needs alternating turns gets earlier user turns merged into the last one (a round
# still unanswered when the next began): the person's message is the last token.
ECHO = re.compile(r"^(?P<model_id>\S+) answers: ", re.DOTALL)
TOKEN = re.compile(r"\[[rt]\d{4,}\]")  # zero-padded to 4 digits: a soak sends more


@dataclass
class AnswerIndex:
    """The bot's database, read once the run is over."""

    keys: dict[tuple[str, str], AnswerKey] = field(default_factory=dict)  # (channel, ts) → key
    continuations: set[tuple[str, str]] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)  # answer rows by status


def read_answer_index(database_url: str) -> AnswerIndex:
    return asyncio.run(_read_answer_index(database_url))


async def _read_answer_index(database_url: str) -> AnswerIndex:
    query = (
        select(
            Answer.channel_id,
            Answer.slack_ts,
            Answer.model,
            Answer.status,
            Answer.continuation_ts,
            Round.message_ts.label("round_ts"),
            ThreadTurn.message_ts.label("turn_ts"),
        )
        .select_from(Answer)
        .outerjoin(Round, Round.id == Answer.round_id)
        .outerjoin(ThreadTurn, ThreadTurn.id == Answer.thread_turn_id)
    )
    database = await connect(database_url)
    try:
        rows = await database.run(lambda session: session.execute(query).all())
    finally:
        await database.close()
    index = AnswerIndex()
    for row in rows:
        index.statuses[row.status] += 1
        for ts in row.continuation_ts or ():
            index.continuations.add((row.channel_id, ts))
        if row.slack_ts is None:
            continue
        if row.round_ts is not None:
            key = AnswerKey(row.channel_id, row.round_ts, row.model)
        else:
            key = AnswerKey(row.channel_id, row.turn_ts or "")
        index.keys[row.channel_id, row.slack_ts] = key
    return index


def answers_not_shown(database_url: str) -> int:
    """Answers whose final text is not in Slack yet: being written, or a final edit owed
    (Slack did not take it) that the sweeper will show."""
    return asyncio.run(_answers_not_shown(database_url))


async def _answers_not_shown(database_url: str) -> int:
    database = database_at(database_url)
    try:
        query = select(func.count()).select_from(Answer).where(Answer.shown_at.is_(None))
        return await database.run(lambda session: int(session.scalar(query) or 0))
    finally:
        await database.close()


def bot_messages(slack: SlackEmulator, channels: Iterable[str]) -> list[dict[str, Any]]:
    """Every message the bot has in these channels: at the top, and in every thread."""
    found = []
    for channel in channels:
        for message in slack.messages(channel):
            if message.get("bot_id") == slack.bot_id:
                found.append(message | {"channel": channel})
            if message.get("reply_count"):
                found.extend(
                    reply | {"channel": channel}
                    for reply in slack.bot_messages(channel, thread_ts=message["ts"])
                )
    return found


def seen_messages(
    messages: Iterable[dict[str, Any]],
    index: AnswerIndex,
    tokens: Mapping[str, tuple[str, str]],
    models: Iterable[str],
) -> list[SeenMessage]:
    """The bot's messages as the tally reads them. `tokens` maps each token the run sent to its
    (channel, person's message ts); `models` are the configured `provider:model-id` names."""
    by_model_id = {name.split(":", 1)[1]: name for name in models}
    seen = []
    for message in messages:
        channel, ts = message["channel"], message["ts"]
        thread_ts = message.get("thread_ts")
        seen.append(
            SeenMessage(
                channel=channel,
                ts=ts,
                thread_ts=None if thread_ts in (None, ts) else thread_ts,
                final=is_final(message),
                outcome=outcome_of(message) if is_final(message) else None,
                key=index.keys.get((channel, ts)),
                echo_key=_echoed_answer(message, tokens, by_model_id),
                continuation=(channel, ts) in index.continuations,
            )
        )
    return seen


def seconds_to_final(calls: Iterable[ApiCall]) -> list[tuple[float, tuple[str, str]]]:
    """For each message the bot posted and later finalised: seconds from post to final edit,
    and the message (channel, ts); quickest first."""
    posted: dict[tuple[str, str], float] = {}
    finalised: dict[tuple[str, str], float] = {}
    for call in calls:
        if not call.ok:
            continue
        if call.method == "chat.postMessage" and not is_final(call.params):
            posted[call.response["channel"], call.response["ts"]] = call.at
        elif call.method == "chat.update" and is_final(call.params):
            finalised.setdefault((call.response["channel"], call.response["ts"]), call.at)
    return sorted((finalised[key] - at, key) for key, at in posted.items() if key in finalised)


def calls_on(message: tuple[str, str], calls: Iterable[ApiCall]) -> list[ApiCall]:
    """The calls that posted or edited this message, in order."""
    channel, ts = message
    return [
        call
        for call in calls
        if call.params.get("channel") == channel
        and ts in (call.params.get("ts"), call.response.get("ts"))
    ]


def outcome_of(message: dict[str, Any]) -> Outcome:
    shown = status_line(message) or message.get("text", "")
    if not body(message):
        return Outcome.ERROR_LINE
    return Outcome.CUT_OFF if ":warning:" in shown else Outcome.COMPLETE


def _echoed_answer(
    message: dict[str, Any], tokens: Mapping[str, tuple[str, str]], by_model_id: Mapping[str, str]
) -> AnswerKey | None:
    """The answer a complete echo names (a cut-off one may have lost its last token)."""
    text = body(message)
    match = ECHO.match(text)
    if match is None or not is_final(message) or outcome_of(message) is not Outcome.COMPLETE:
        return None
    found = TOKEN.findall(text)
    if not found or found[-1] not in tokens:
        return None
    channel, message_ts = tokens[found[-1]]
    if found[-1].startswith("[t"):
        return AnswerKey(channel, message_ts)
    model = by_model_id.get(match["model_id"])
    return None if model is None else AnswerKey(channel, message_ts, model)
