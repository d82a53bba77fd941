"""The fault run's counter on hand-made cases: it must see every kind of failure it reports."""

from __future__ import annotations

from dataclasses import replace

from bench.fault_census import AnswerIndex, seen_messages
from bench.fault_plan import RandomlyFailingModel
from bench.fault_tally import AnswerKey, ExpectedAnswer, Outcome, SeenMessage, tally

CHANNEL = "C0FAULT001"
GPT, CLAUDE = "openai:gpt-bench", "anthropic:claude-bench"
ROUND = AnswerKey(CHANNEL, "100.000001", GPT)
ROUND_CLAUDE = AnswerKey(CHANNEL, "100.000001", CLAUDE)
TURN = AnswerKey(CHANNEL, "300.000001")
EXPECTED = [
    ExpectedAnswer(ROUND, None, "[r0001]"),
    ExpectedAnswer(ROUND_CLAUDE, None, "[r0001]"),
    ExpectedAnswer(TURN, "200.000001", "[t0001]"),
]


def answer(key: AnswerKey, ts: str, *, thread_ts: str | None = None) -> SeenMessage:
    return SeenMessage(CHANNEL, ts, thread_ts, True, Outcome.COMPLETE, key, key)


ALL_LANDED = [
    answer(ROUND, "200.000001"),
    answer(ROUND_CLAUDE, "200.000002"),
    answer(TURN, "300.000002", thread_ts="200.000001"),
]


def count(seen: list[SeenMessage]):
    return tally(EXPECTED, seen, rounds_sent=1, thread_turns_sent=1)


def test_every_answer_once_is_clean():
    result = count(ALL_LANDED)
    assert (result.expected, result.landed) == (3, 3)
    assert result.clean and not result.problems


def test_a_missing_answer_is_lost():
    result = count(ALL_LANDED[1:])
    assert (result.landed, result.lost) == (2, 1)
    assert not result.clean


def test_a_second_final_message_for_one_answer_is_a_duplicate():
    result = count([*ALL_LANDED, answer(ROUND, "200.000009")])
    assert (result.landed, result.duplicates) == (3, 1)


def test_a_copy_known_only_by_its_echo_is_a_duplicate():
    copy = replace(ALL_LANDED[0], ts="200.000009", key=None)
    assert count([*ALL_LANDED, copy]).duplicates == 1


def test_a_placeholder_left_behind_is_stuck_not_lost():
    placeholder = replace(ALL_LANDED[0], final=False, outcome=None, echo_key=None)
    result = count([placeholder, *ALL_LANDED[1:]])
    assert (result.stuck, result.lost, result.landed) == (1, 0, 2)


def test_a_stray_placeholder_beside_a_landed_answer_is_stuck():
    stray = SeenMessage(CHANNEL, "200.000009", None, False, None, None)
    assert count([*ALL_LANDED, stray]).stuck == 1


def test_an_answer_in_the_wrong_place_is_unexpected_and_its_answer_lost():
    top_level_reply = replace(ALL_LANDED[2], thread_ts=None)
    result = count([*ALL_LANDED[:2], top_level_reply])
    assert (result.unexpected, result.lost) == (1, 1)


def test_an_answer_echoing_another_message_is_unexpected():
    wrong_context = replace(ALL_LANDED[0], echo_key=AnswerKey(CHANNEL, "999.000001", GPT))
    result = count([wrong_context, *ALL_LANDED[1:]])
    assert (result.unexpected, result.lost) == (1, 1)


def test_a_message_nobody_asked_for_is_unexpected():
    unknown = SeenMessage(CHANNEL, "200.000009", None, True, Outcome.ERROR_LINE, None)
    assert count([*ALL_LANDED, unknown]).unexpected == 1


def test_continuations_are_not_answers():
    rest = replace(ALL_LANDED[0], ts="200.000005", thread_ts="200.000001", continuation=True)
    assert count([*ALL_LANDED, rest]).clean


def test_outcomes_are_counted_once_per_answer():
    failed = replace(ALL_LANDED[1], outcome=Outcome.ERROR_LINE, echo_key=None)
    result = count([ALL_LANDED[0], failed, ALL_LANDED[2]])
    assert result.outcomes == {Outcome.COMPLETE: 2, Outcome.CUT_OFF: 0, Outcome.ERROR_LINE: 1}


def gpt_answer(ts: str, token: str) -> dict[str, object]:
    """GPT's finished answer in CHANNEL, echoing the person's message that carries `token`."""
    return {
        "channel": CHANNEL,
        "ts": ts,
        "text": "GPT",
        "blocks": [
            {"type": "markdown", "text": f"gpt-bench answers: Alice: {token} why?"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "*GPT* · 1.0 s"}]},
        ],
    }


def test_messages_are_tied_to_answers_by_database_and_by_echo():
    tokens = {"[r0001]": (CHANNEL, "100.000001"), "[t0001]": (CHANNEL, "300.000001")}
    index = AnswerIndex(keys={(CHANNEL, "200.000001"): ROUND})
    echoed = gpt_answer("200.000001", "[r0001]")
    placeholder = {
        "channel": CHANNEL,
        "ts": "300.000002",
        "thread_ts": "200.000001",
        "text": "GPT",
        "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "_thinking…_"}]}],
    }
    first, second = seen_messages([echoed, placeholder], index, tokens, [GPT, CLAUDE])
    assert (first.key, first.echo_key, first.final, first.outcome) == (
        ROUND,
        ROUND,
        True,
        Outcome.COMPLETE,
    )
    assert (second.key, second.echo_key, second.final, second.thread_ts) == (
        None,
        None,
        False,
        "200.000001",
    )


def test_provider_faults_repeat_with_the_seed_and_differ_without_it():
    model = RandomlyFailingModel(name=GPT, seed=1, fault_rate=0.5)
    again = RandomlyFailingModel(name=GPT, seed=1, fault_rate=0.5)
    other = RandomlyFailingModel(name=GPT, seed=2, fault_rate=0.5)
    plan = [model.fault_for(number) for number in range(50)]
    assert plan == [again.fault_for(number) for number in range(50)]
    assert plan != [other.fault_for(number) for number in range(50)]
    assert 10 < sum(fault is not None for fault in plan) < 40


def test_a_soaks_ten_thousandth_round_is_tied_to_its_answer_by_echo_too():
    tokens = {"[r10000]": (CHANNEL, "100.000001")}
    copy = gpt_answer("200.000009", "[r10000]")
    (seen,) = seen_messages([copy], AnswerIndex(keys={}), tokens, [GPT, CLAUDE])
    assert seen.echo_key == ROUND
