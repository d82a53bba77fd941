"""Proof that the fault run's counter can fail: after the run, break three answers in Slack on
purpose (delete one, post a copy of another, leave a stray placeholder) and count again."""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk import WebClient

from bench.fault_census import AnswerIndex, bot_messages, outcome_of, seen_messages
from bench.fault_driver import FaultDriver
from bench.fault_tally import Outcome, Tally, tally
from bot.slack.rendering import placeholder_message
from tests.doubles import SlackEmulator
from tests.e2e.slack_views import is_final


def check_the_counter(
    slack: SlackEmulator,
    driver: FaultDriver,
    channels: Iterable[str],
    index: AnswerIndex,
    models: Iterable[str],
    before: Tally,
) -> bool:
    """Sabotage three answers; True when the counter sees exactly those three more problems."""
    channels, models = list(channels), list(models)
    complete = [
        message
        for message in bot_messages(slack, channels)
        if is_final(message) and outcome_of(message) is Outcome.COMPLETE
    ]
    if len(complete) < 2:
        print("counter self-check: skipped, fewer than two complete answers to sabotage")
        return True
    deleted, copied = complete[0], complete[-1]
    slack.delete_message(deleted["channel"], deleted["ts"])
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    thread_ts = copied.get("thread_ts") if copied.get("thread_ts") != copied["ts"] else None
    client.chat_postMessage(
        channel=copied["channel"],
        text=copied["text"],
        blocks=copied["blocks"],
        thread_ts=thread_ts,
        username=copied.get("username"),
    )
    stray = placeholder_message("Stray Model")
    client.chat_postMessage(channel=copied["channel"], text=stray.text, blocks=stray.blocks)

    seen = seen_messages(bot_messages(slack, channels), index, driver.tokens, models)
    after = tally(
        driver.expected,
        seen,
        rounds_sent=driver.rounds_sent,
        thread_turns_sent=driver.turns_sent,
    )
    found = (
        after.lost - before.lost,
        after.duplicates - before.duplicates,
        after.stuck - before.stuck,
    )
    ok = found == (1, 1, 1)
    print(
        "counter self-check: after deleting one answer, copying another and posting a stray "
        f"placeholder it counts {found[0]} more lost, {found[1]} more duplicate(s), "
        f"{found[2]} more stuck: {'ok' if ok else 'THE COUNTER IS WRONG'}"
    )
    return ok
