"""A storage failure while handling a message: the person is told, nothing is silently
dropped, and the next message is answered as usual."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.doubles.model_servers import ModelFault, ModelScript
from tests.doubles.model_servers.recording import RecordedRequest
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import REGENERATE, numbered_takes
from tests.e2e.scene import ALICE, CHANNEL, MENTION, MODEL_IDS
from tests.e2e.slack_views import (
    answers_in,
    body,
    status_line,
    streaming_first_answer,
    wait_for_answers,
)

# The database refuses to record a round whose text says so: a fault at the storage edge.
FAILING_ROUNDS = """
CREATE TRIGGER refuse_rounds BEFORE INSERT ON rounds WHEN NEW.text LIKE '%unstorable%'
BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_the_database_refuses_is_apologised_for(bot, slack, models, events, database_url):
    with sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///")) as connection:
        connection.executescript(FAILING_ROUNDS)

    events.user_says(CHANNEL, ALICE, f"{MENTION} something unstorable", to=[bot.events_url])

    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the apology")
    (apology,) = slack.ephemeral_messages(CHANNEL)
    assert apology["user"] == ALICE
    assert "something went wrong on my side" in apology["text"]
    assert "simulated storage failure" in bot.logs()
    assert answers_in(slack, CHANNEL) == []

    events.user_says(CHANNEL, ALICE, f"{MENTION} and this?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)


def refuse(database_url: str, trigger: str) -> None:
    """Make the bot's SQLite database refuse a write, as `trigger` says."""
    with sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///")) as connection:
        connection.executescript(trigger)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_chorus_command_the_database_refuses_is_apologised_for_in_its_reply(
    bot, events, database_url
):
    refuse(
        database_url,
        "CREATE TRIGGER refuse_models BEFORE INSERT ON channel_models "
        "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    )
    reply = events.user_runs_command(CHANNEL, ALICE, "models claude", to=bot.events_url)

    assert reply.status_code == 200
    assert reply.json() == {
        "response_type": "ephemeral",
        "text": "Sorry, something went wrong on my side with `/chorus models claude`; "
        "please try again.",
    }
    assert "simulated storage failure" in bot.logs()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_chorus_command_is_logged_without_what_it_said(start_bot, events, database_url):
    bot = start_bot(LOG_LEVEL="INFO")  # at DEBUG the Slack libraries log requests, texts too
    refuse(
        database_url,
        "CREATE TRIGGER refuse_prompts BEFORE INSERT ON channel_prompts "
        "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    )
    prompt = "Our launch is codenamed Bluebird"
    reply = events.user_runs_command(CHANNEL, ALICE, f"prompt {prompt}", to=bot.events_url)

    assert "something went wrong on my side" in reply.json()["text"]
    assert "/chorus prompt in C0GENERAL failed" in bot.logs()
    assert "Bluebird" not in bot.logs()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_regeneration_the_database_refuses_is_apologised_for(bot, slack, events, database_url):
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a bakery", to=[bot.events_url])
    claude, *_ = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()
    refuse(
        database_url,
        "CREATE TRIGGER refuse_regenerating BEFORE UPDATE OF status ON answers "
        "WHEN NEW.status = 'pending' BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    )
    events.user_clicks(CHANNEL, claude["ts"], "regenerate_answer", ALICE, to=bot.events_url)

    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the apology")
    (apology,) = slack.ephemeral_messages(CHANNEL)
    assert apology["user"] == ALICE
    assert apology["text"] == (
        "Sorry, something went wrong on my side while regenerating that answer; please try again."
    )
    assert "simulated storage failure" in bot.logs()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_answer_that_crashes_is_logged_once_as_an_error_with_its_traceback(
    bot, slack, models, events, database_url
):
    """The crash and the answer's outcome are one line, not an error then an ordinary end."""
    models.script("claude-test", ModelScript(reply="word " * 100, chunk_chars=5, chunk_delay=0.05))
    refuse(  # its text so far is not saved: no fault a model or Slack could cause
        database_url,
        "CREATE TRIGGER refuse_progress BEFORE UPDATE OF status ON answers "
        "WHEN NEW.status = 'streaming' BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    )
    events.user_says(CHANNEL, ALICE, f"{MENTION} +claude hello", to=[bot.events_url])

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert "Something went wrong on Chorus's side" in status_line(answer)
    bot.wait_until_idle()
    (ended,) = [line for line in bot.logs().splitlines() if "answer 1 by" in line]
    assert " ERROR bot.answering: answer 1 by anthropic:claude-test in C0GENERAL: " in ended
    assert ended.endswith(": crashed")
    assert bot.logs().count("Traceback (most recent call last)") == 2  # its cause's, its own


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_model_failure_the_database_will_not_record_is_logged_once_with_its_reason(
    start_bot, slack, models, events, database_url
):
    models.script("gpt-test", ModelScript(error=ModelFault(status=400, message="Prompt too long.")))
    bot = start_bot(LOG_LEVEL="INFO")
    refuse(
        database_url,
        "CREATE TRIGGER refuse_failures BEFORE UPDATE OF status ON answers "
        "WHEN NEW.status = 'failed' BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    )
    events.user_says(CHANNEL, ALICE, f"{MENTION} +gpt anyone?", to=[bot.events_url])

    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the apology")
    lines = bot.logs().splitlines()
    (ended,) = [line for line in lines if "answer 1 by openai:gpt-test" in line]
    assert " WARNING " in ended and "Prompt too long." in ended
    assert ended.endswith("(not recorded: storage failed)")
    # The storage failure, with its traceback, once: where the message's handling gave up.
    (error,) = [line for line in lines if " ERROR " in line]
    assert "handling event" in error


# Each answer's first save of its text stands still a moment (in the server, its transaction
# open), so that ending every connection ends these transactions halfway.
SLOW_FIRST_SAVES = (
    """CREATE FUNCTION stand_still() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$""",
    """CREATE TRIGGER slow_first_saves BEFORE UPDATE OF text ON answers FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status = 'streaming') EXECUTE FUNCTION stand_still()""",
)
SAVES_STANDING_STILL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event = 'PgSleep'
"""
# What a server restart, a failover or an administrator does to the bot's connections.
END_EVERY_CONNECTION = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def on_postgres(database_url: str, query: str) -> object:
    """The first value `query` returns, run on its own connection to the bot's database."""

    async def run() -> object:
        dsn = make_url(database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            return await connection.fetchval(query)
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_carry_on_when_every_database_connection_is_ended_while_they_stream(
    start_bot, slack, models, events, database_url
):
    """Their saves that were under way run again on new connections (the server undid them),
    rather than each answer failing with "Something went wrong on Chorus's side"."""
    reply = "Streamed on, whatever the database's connections go through. " * 4
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(reply=reply, chunk_chars=8, chunk_delay=0.05))
    bot = start_bot(LOG_LEVEL="INFO")
    for statement in SLOW_FIRST_SAVES:
        on_postgres(database_url, statement)
    events.user_says(CHANNEL, ALICE, f"{MENTION} carry on", to=[bot.events_url])

    wait_until(
        lambda: on_postgres(database_url, SAVES_STANDING_STILL) == 3,
        message="every answer's first save under way",
    )
    assert on_postgres(database_url, END_EVERY_CONNECTION) >= 3

    answers = wait_for_answers(slack, CHANNEL, 3)
    for answer in answers:
        assert body(answer).strip() == reply.strip()
        assert ":warning:" not in status_line(answer)
    bot.wait_until_idle()
    assert " ERROR " not in bot.logs()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_stream_on_through_seconds_without_the_database(
    start_bot, slack, models, events, proxied_database_url, database_proxy
):
    """A restart or failover refuses connections for a moment: the saves of the answers'
    text meanwhile are skipped (each answer says so once in the log), not the answers
    failed, and their ends are recorded once the database is back."""
    reply = "Streamed on, whether or not the database is there. " * 16  # some 6 s
    bot = _three_answers_streaming(start_bot, models, events, reply, proxied_database_url)
    wait_until(
        lambda: len([m for m in answers_in(slack, CHANNEL) if len(body(m)) >= 40]) == 3,
        message="all three answers streaming",
    )

    database_proxy.cut()
    time.sleep(2.5)  # Stop presses are looked for each second meanwhile
    database_proxy.reopen()

    _all_answered_in_full(slack, bot, reply)
    assert bot.logs().count("its text so far was not saved; streaming on") == 3
    assert bot.logs().count("looking for Stop presses failed") == 1
    assert "looking for Stop presses works again" in bot.logs()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_that_end_while_the_database_is_away_are_recorded_and_shown_once_it_is_back(
    start_bot, slack, models, events, proxied_database_url, database_proxy
):
    """Their ends are recorded again until the database answers (for as long as another
    replica would wait before taking them over), rather than left "writing…" for recovery to
    mark interrupted, with only the text saved before the outage."""
    reply = "Ended while the database was away. " * 4  # some 1 s
    bot = _three_answers_streaming(start_bot, models, events, reply, proxied_database_url)
    wait_until(
        lambda: len([m for m in answers_in(slack, CHANNEL) if body(m)]) == 3,
        message="all three answers streaming",
    )

    database_proxy.cut()
    wait_until(
        lambda: bot.logs().count("its end was not recorded; trying again") == 3,
        message="every answer ended while the database was away",
    )
    database_proxy.reopen()

    _all_answered_in_full(slack, bot, reply)


# Each answer's record of where it streams stands still a moment (in the server, its
# transaction open), so that the database can go away just as it is written.
SLOW_RECORDS_OF_WHERE_ANSWERS_STREAM = (
    """CREATE FUNCTION stand_still() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$""",
    """CREATE TRIGGER slow_streams_at BEFORE UPDATE OF slack_ts ON answers FOR EACH ROW
    WHEN (OLD.slack_ts IS NULL AND NEW.status = 'pending') EXECUTE FUNCTION stand_still()""",
)
STREAMING_WHERE_RECORDED = (
    "SELECT count(*) FROM answers WHERE status = 'streaming' AND slack_ts IS NOT NULL"
)


def _answers_recording_where_they_stream(
    start_bot, models, events, database_url: str, proxied_database_url: str, reply: str, said: str
):
    """The bot on `proxied_database_url`, every model answering `reply` to a mention saying
    `said`, its answers' records of where they stream standing still in the server."""
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(reply=reply, chunk_chars=8, chunk_delay=0.06))
    bot = start_bot(DATABASE_URL=proxied_database_url, LOG_LEVEL="INFO")
    for statement in SLOW_RECORDS_OF_WHERE_ANSWERS_STREAM:
        on_postgres(database_url, statement)
    events.user_says(CHANNEL, ALICE, f"{MENTION} {said}", to=[bot.events_url])
    wait_until(
        lambda: on_postgres(database_url, SAVES_STANDING_STILL) == 3,
        message="every answer recording where it streams",
    )
    return bot


def _database_away_a_moment(database_url: str, database_proxy, *, connections: int) -> None:
    """A second without the database: no new connection, and the `connections` (at least)
    it had, with what they were doing, ended."""
    database_proxy.cut()
    assert on_postgres(database_url, END_EVERY_CONNECTION) >= connections
    time.sleep(1.0)
    database_proxy.reopen()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_stream_on_when_the_database_goes_away_as_they_record_where_they_stream(
    start_bot, slack, models, events, database_url, proxied_database_url, database_proxy
):
    """Their placeholders are posted, and the database goes away before it records where
    they stream: they stream on as with their text unsaved, rather than each failing with
    "Something went wrong on Chorus's side", and the first save once it is back records
    where they stream (for Stop and recovery)."""
    reply = "Streamed on from the first word, database or not. " * 16  # some 6 s
    bot = _answers_recording_where_they_stream(
        start_bot, models, events, database_url, proxied_database_url, reply, "stream on"
    )

    _database_away_a_moment(database_url, database_proxy, connections=3)

    wait_until(
        lambda: on_postgres(database_url, STREAMING_WHERE_RECORDED) == 3,
        message="where each answer streams recorded while it streams",
    )
    _all_answered_in_full(slack, bot, reply)
    assert bot.logs().count("where it streams was not saved; streaming on") == 3


SLOW_IN_CHAT_ANSWER = "Claude's In Chat answer, slow enough to be waited for. " * 5
ANSWERS_STREAMING_AT = "SELECT count(*) FROM answers WHERE slack_ts IS NOT NULL"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_waiting_for_the_in_chat_answer_before_them_wait_out_the_database_away(
    start_bot, slack, models, events, database_url, proxied_database_url, database_proxy
):
    """A mention written while the In Chat answer before it streams waits for that answer,
    reading it again and again: a moment without the database meanwhile is waited out, as
    the answer streaming is, rather than failing every answer of the mention."""

    def reply(request: RecordedRequest) -> str:
        if request.turns() == [("user", "Alice: first")]:
            return SLOW_IN_CHAT_ANSWER
        return "quick"

    models.script("claude-test", ModelScript(reply=reply, chunk_chars=8, chunk_delay=0.2))
    bot = start_bot(DATABASE_URL=proxied_database_url, LOG_LEVEL="INFO")
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    streaming_first_answer(slack, CHANNEL)
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_until(
        lambda: on_postgres(database_url, ANSWERS_STREAMING_AT) == 6,
        message="round 2's answers recorded where they stream, and waiting",
    )

    database_proxy.cut()
    time.sleep(1.5)  # the waiting answers read the In Chat answer every 0.25 s meanwhile
    database_proxy.reopen()

    answers = wait_for_answers(slack, CHANNEL, 6)
    assert body(answers[0]) == SLOW_IN_CHAT_ANSWER
    for answer in answers[3:]:
        assert ":warning:" not in status_line(answer)
    assert models.requests_for("gpt-test")[-1].turns()[1] == ("assistant", SLOW_IN_CHAT_ANSWER)
    waited = [line for line in bot.logs().splitlines() if "could not be read" in line]
    assert len(waited) == 3 and "Traceback" not in bot.logs(), bot.logs()  # one per answer
    assert waited[0].endswith(
        "WARNING bot.model_requests: what a message's answers are sent could not be read; "
        "waiting on: the database can't be reached (ConnectionRefusedError)"
    )


def _three_answers_streaming(start_bot, models, events, reply: str, database_url: str):
    """The bot on `database_url`, each model streaming `reply` to a mention, 8 characters
    each 60 ms."""
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(reply=reply, chunk_chars=8, chunk_delay=0.06))
    bot = start_bot(DATABASE_URL=database_url, LOG_LEVEL="INFO")
    events.user_says(CHANNEL, ALICE, f"{MENTION} stream on", to=[bot.events_url])
    return bot


def _all_answered_in_full(slack, bot, reply: str) -> None:
    answers = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()
    for answer in answers:
        assert body(answer).strip() == reply.strip()
        assert ":warning:" not in status_line(answer)


# The channel's prompt stands still a moment for whoever reads it (another connection holds
# its table), so that the database can go away just as it is read.
HOLD_CHANNEL_PROMPTS = """
DO $$ BEGIN LOCK TABLE channel_prompts IN ACCESS EXCLUSIVE MODE; PERFORM pg_sleep(30); END $$
"""
CHANNEL_PROMPTS_HELD = """
SELECT count(*) FROM pg_locks WHERE relation = 'channel_prompts'::regclass AND granted
"""
READS_STANDING_STILL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


def _hold_channel_prompts(database_url: str) -> None:
    """Hold the channel prompts' table from another connection until that is ended."""

    def hold() -> None:
        with contextlib.suppress(asyncpg.PostgresError, ConnectionError):
            on_postgres(database_url, HOLD_CHANNEL_PROMPTS)

    threading.Thread(target=hold, name="holding channel_prompts", daemon=True).start()
    wait_until(
        lambda: on_postgres(database_url, CHANNEL_PROMPTS_HELD) == 1,
        message="the channel prompts' table held",
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_regeneration_waits_out_the_database_away_as_its_request_is_built(
    start_bot, slack, models, events, database_url, proxied_database_url, database_proxy
):
    """The regenerated answer's request is read (the history, the channel's prompt, the
    message) once its placeholder shows: a moment without the database then is waited out,
    rather than the answer failing with "Something went wrong on Chorus's side"."""
    numbered_takes(models, "claude-test")
    bot = start_bot(DATABASE_URL=proxied_database_url, LOG_LEVEL="INFO")
    events.user_says(CHANNEL, ALICE, f"{MENTION} +claude name a bakery", to=[bot.events_url])
    (claude,) = wait_for_answers(slack, CHANNEL, 1)
    bot.wait_until_idle()
    _hold_channel_prompts(database_url)

    events.user_clicks(CHANNEL, claude["ts"], REGENERATE, ALICE, to=bot.events_url)
    wait_until(
        lambda: on_postgres(database_url, READS_STANDING_STILL) == 1,
        message="the channel's prompt being read",
    )
    _database_away_a_moment(database_url, database_proxy, connections=2)

    bot.wait_until_idle()
    (regenerated,) = answers_in(slack, CHANNEL)
    assert ":warning:" not in status_line(regenerated), status_line(regenerated)
    assert body(regenerated) == "take 2"
    waited = [line for line in bot.logs().splitlines() if "waiting on" in line]
    assert len(waited) == 1 and "Traceback" not in bot.logs(), bot.logs()
    assert " WARNING bot.model_requests: " in waited[0]
    assert waited[0].endswith(": the database can't be reached (ConnectionRefusedError)")


# The first answers' records of where they stream stand still (SLOW_RECORDS_OF_WHERE_…), so a
# mention said just after them waits for their placeholders, reading again and again.
ANSWERS_RECORDED = "SELECT count(*) FROM answers"
IN_ORDER = "Posted after the answers before, database or not. " * 3  # some 2 s


def _a_mention_waiting_for_the_placeholders_before_it(
    start_bot, models, events, database_url: str, proxied_database_url: str
):
    """The bot on `proxied_database_url`, the answers to a first mention recording where they
    stream, and those to a second, said just after, recorded and waiting for their
    placeholders."""
    bot = _answers_recording_where_they_stream(
        start_bot, models, events, database_url, proxied_database_url, IN_ORDER, "first"
    )
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_until(
        lambda: on_postgres(database_url, ANSWERS_RECORDED) == 6,
        message="the second answers recorded, and waiting for the first placeholders",
    )
    return bot


def _both_mentions_answered_in_full(slack, bot) -> None:
    """Six answers in full, no apology, and the wait for the placeholders said once (a
    WARNING), with no traceback."""
    answers = wait_for_answers(slack, CHANNEL, 6)
    bot.wait_until_idle()
    assert slack.ephemeral_messages(CHANNEL) == []
    for answer in answers:
        assert body(answer) == IN_ORDER
        assert ":warning:" not in status_line(answer)
    waited = [line for line in bot.logs().splitlines() if "placeholders" in line]
    assert len(waited) == 1 and "Traceback" not in bot.logs(), bot.logs()
    assert " WARNING bot.fan_out: " in waited[0]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_waiting_for_earlier_placeholders_wait_out_the_database_away(
    start_bot, slack, models, events, database_url, proxied_database_url, database_proxy
):
    """A mention said while the answers to the one before it are being posted waits for
    their placeholders, so its answers follow them in the channel: a moment without the
    database meanwhile is waited out, rather than failing the mention with an apology."""
    bot = _a_mention_waiting_for_the_placeholders_before_it(
        start_bot, models, events, database_url, proxied_database_url
    )

    _database_away_a_moment(database_url, database_proxy, connections=3)

    _both_mentions_answered_in_full(slack, bot)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_answers_waiting_for_earlier_placeholders_are_posted_anyway_if_the_database_stays_away(
    start_bot, slack, models, events, database_url, proxied_database_url, database_proxy
):
    """The database away for longer than answers wait for the placeholders before them (5 s):
    they are posted all the same while it is still away, and stream on unsaved, rather than
    waiting on with nothing in the channel or failing the mention with an apology."""
    bot = _a_mention_waiting_for_the_placeholders_before_it(
        start_bot, models, events, database_url, proxied_database_url
    )

    database_proxy.cut()
    try:
        assert on_postgres(database_url, END_EVERY_CONNECTION) >= 3
        wait_until(
            lambda: len(answers_in(slack, CHANNEL)) == 6,
            message="the second answers posted, the database still away",
        )
    finally:
        database_proxy.reopen()

    _both_mentions_answered_in_full(slack, bot)
