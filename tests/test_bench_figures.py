"""The benchmark's own arithmetic: percentiles, the table, answers read out of Slack calls."""

from __future__ import annotations

from typing import Any

from bench.slack_timeline import AnswerTimeline, MeasuredRound, answer_timelines, measured_rounds
from bench.steady_streams import FIRST_TOKEN_DELAYS, SteadyRounds, first_text_rows
from bench.table import Note, Row, format_table, median, p95
from bot.chat.in_chat import AnswerStatus
from bot.slack.rendering import outcome_messages, placeholder_message, streaming_message
from tests.doubles import ApiCall

CHANNEL, OTHER = "C0BENCH00001", "C0BENCH00002"


def test_median_and_p95_are_values_that_were_measured():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert p95([float(n) for n in range(1, 101)]) == 95.0
    assert p95([float(n) for n in range(1, 21)]) == 19.0
    assert p95([7.0]) == 7.0


def test_the_table_says_which_targets_are_met_and_keeps_columns_aligned():
    fast = Row("fast", (1.0, 2.0, 3.0), "ms", "≤ 5 ms", lambda middle, _high: middle <= 5)
    slow = Row("a slower figure", (9.0, 10.0), "ms", "≤ 5 ms", lambda middle, _high: middle <= 5)
    plain = Row("no target", (1.5,), "MiB")
    table = format_table([fast, slow, Note("skipped: something"), plain])
    lines = table.splitlines()

    assert lines[0].split() == ["figure", "median", "p95", "target", "met?"]
    assert lines[2].endswith("yes") and lines[3].endswith("NO")
    assert lines[4] == "skipped: something"
    assert lines[5].endswith("—")
    assert len({line.index("ms") for line in lines[2:4]}) == 1, "medians line up"
    assert "9.5 ms" in lines[3] and "10.0 ms" in lines[3]


def call(method: str, at: float, params: dict[str, Any], **response: Any) -> ApiCall:
    return ApiCall(method, params, 200, {"ok": True, **response}, at)


def post(channel: str, ts: str, model: str, at: float) -> ApiCall:
    message = placeholder_message(model)
    params = {"channel": channel, "text": message.text, "blocks": message.blocks}
    return call("chat.postMessage", at, params | {"username": model}, channel=channel, ts=ts)


def update(channel: str, ts: str, at: float, message: Any, *, ok: bool = True) -> ApiCall:
    params = {"channel": channel, "ts": ts, "text": message.text, "blocks": message.blocks}
    if ok:
        return call("chat.update", at, params)
    return ApiCall("chat.update", params, 429, {"ok": False, "error": "ratelimited"}, at)


def final(model: str, text: str) -> Any:
    (message,) = outcome_messages(
        model,
        status=AnswerStatus.DONE,
        text=text,
        error=None,
        seconds=1.0,
        input_tokens=10,
        output_tokens=5,
    )
    return message


def test_each_answer_is_followed_from_placeholder_to_its_final_edit():
    calls = [
        post(CHANNEL, "1.000001", "Claude", at=10.1),
        post(CHANNEL, "1.000002", "GPT", at=10.2),
        update(CHANNEL, "1.000001", 10.5, streaming_message("Claude", "Hel"), ok=False),
        update(CHANNEL, "1.000001", 10.6, streaming_message("Claude", "Hello")),
        update(CHANNEL, "1.000002", 10.7, final("GPT", "Hi")),
        update(CHANNEL, "1.000001", 11.0, final("Claude", "Hello there")),
        post(OTHER, "2.000001", "Claude", at=12.0),
    ]

    claude, gpt, elsewhere = answer_timelines(calls)

    assert (claude.model, claude.posted_at, claude.first_text_at, claude.final_at) == (
        "Claude",
        10.1,
        10.6,
        11.0,
    )
    assert claude.updates == 3, "a refused edit is still a call"
    assert (gpt.first_text_at, gpt.final_at, gpt.updates) == (10.7, 10.7, 1)
    assert (elsewhere.channel, elsewhere.final_at, elsewhere.updates) == (OTHER, None, 0)


def test_a_round_lasts_from_delivery_to_its_last_final_edit():
    calls = [
        post(CHANNEL, "1.000001", "Claude", at=10.1),
        post(CHANNEL, "1.000002", "GPT", at=10.2),
        update(CHANNEL, "1.000002", 10.7, final("GPT", "Hi")),
        update(CHANNEL, "1.000001", 11.0, final("Claude", "Hello there")),
    ]

    (measured,) = measured_rounds(calls, {CHANNEL: 10.0})

    assert measured.posts == 2
    assert [answer.model for answer in measured.answers] == ["Claude", "GPT"]
    assert abs(measured.seconds - 1.0) < 1e-9


def test_first_text_is_timed_from_the_event_and_from_each_models_request():
    delivered, round_trip = 10.0, 0.027
    asked = {model: delivered + 0.015 for model in FIRST_TOKEN_DELAYS}
    # claude's first text lands one round trip after its first token; the others 10 ms later.
    lateness = {model: round_trip + (0.0 if n == 0 else 0.010) for n, model in enumerate(asked)}
    answers = tuple(
        AnswerTimeline(
            CHANNEL,
            f"1.00000{n}",
            model,
            posted_at=10.03,
            first_text_at=asked[model] + delay + lateness[model],
        )
        for n, (model, delay) in enumerate(FIRST_TOKEN_DELAYS.items())
    )
    steady = SteadyRounds(
        (MeasuredRound(CHANNEL, delivered, answers, posts=3),), (asked,), 1.0, round_trip
    )

    rows = {row.figure: row for row in first_text_rows(steady)}

    from_event = "3. first text - first-token delay, {} ({} s)"
    from_request = "3b. the same, from the model's request on, {}"
    claude, gpt = (
        rows[from_event.format("claude-test", 0.3)],
        rows[from_event.format("gpt-test", 0.6)],
    )
    assert abs(claude.median - 42.0) < 1e-6 and claude.met is True, "15 + 27 ≤ 27 + 20"
    assert abs(gpt.median - 52.0) < 1e-6 and gpt.met is False
    claude, gpt = rows[from_request.format("claude-test")], rows[from_request.format("gpt-test")]
    assert abs(claude.median - 27.0) < 1e-6 and claude.met is True, "27 ≤ 27 + 5"
    assert abs(gpt.median - 37.0) < 1e-6 and gpt.met is False
    assert len(rows) == 6
