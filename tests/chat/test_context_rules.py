"""SPEC §3: what each model is sent."""

from bot.chat.context import (
    ContextRound,
    ContextWindow,
    ThreadTurn,
    authored,
    build_round_context,
    build_thread_context,
    compose_system_prompt,
    estimate_tokens,
    shortened,
)
from bot.chat.history import (
    AnswerRecord,
    RoundRecord,
    TurnRecord,
    awaited_in_chat_answer,
    context_round,
    in_chat_marks_to_change,
    in_chat_settled,
    thread_anchor_message,
    thread_turn,
)
from bot.chat.in_chat import (
    AnswerStatus,
    InChatChoice,
    judge_in_chat_choice,
    unpin_returns_to_default,
)
from bot.chat.messages import ChatMessage

WIDE = ContextWindow(max_rounds=50, max_tokens=100_000)
DONE, FAILED, STREAMING = AnswerStatus.DONE, AnswerStatus.FAILED, AnswerStatus.STREAMING


def round_record(round_id: int, *answers: tuple[str, AnswerStatus], chosen: int | None = None):
    return RoundRecord(
        round_id,
        "Alice",
        f"question {round_id}",
        chosen,
        tuple(
            AnswerRecord(round_id * 10 + i, status, text)
            for i, (text, status) in enumerate(answers)
        ),
    )


def turns(request) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in request.messages]


def test_new_round_gets_earlier_rounds_with_their_in_chat_answer_then_the_new_message():
    history = [
        context_round(round_record(1, ("claude 1", DONE), ("gpt 1", DONE))),
        context_round(round_record(2, ("claude 2", DONE), ("gpt 2", DONE))),
    ]
    request = build_round_context("sys", history, "Bob: and now?", WIDE)
    assert request.system == "sys"
    assert turns(request) == [
        ("user", "Alice: question 1"),
        ("assistant", "claude 1"),
        ("user", "Alice: question 2"),
        ("assistant", "claude 2"),
        ("user", "Bob: and now?"),
    ]


def test_other_models_answers_are_not_sent():
    history = [context_round(round_record(1, ("claude says", DONE), ("gpt says", DONE)))]
    request = build_round_context("", history, "Alice: next", WIDE)
    sent = " ".join(m.content for m in request.messages)
    assert "gpt says" not in sent
    assert "claude says" in sent


def test_in_chat_answer_defaults_to_first_model():
    record = round_record(1, ("first model", DONE), ("second model", DONE))
    assert context_round(record).in_chat_answer == "first model"


def test_in_chat_answer_falls_back_to_first_that_succeeded():
    record = round_record(1, ("", FAILED), ("", FAILED), ("third model", DONE))
    assert context_round(record).in_chat_answer == "third model"


def test_in_chat_answer_waits_while_the_first_model_may_still_succeed():
    record = round_record(1, ("partial", STREAMING), ("second model", DONE))
    assert context_round(record).in_chat_answer is None


def test_later_rounds_wait_for_an_in_chat_answer_still_being_written_not_for_the_others():
    assert not in_chat_settled(round_record(1, ("partial", STREAMING), ("second", DONE)))
    assert not in_chat_settled(round_record(1, ("", FAILED), ("partial", STREAMING)))
    assert not in_chat_settled(round_record(1, ("first", DONE), ("", STREAMING), chosen=11))
    assert in_chat_settled(round_record(1, ("first", DONE), ("partial", STREAMING)))
    assert in_chat_settled(round_record(1, ("", FAILED), ("", FAILED)))  # nothing to wait for


def test_a_finished_answer_is_preferred_to_a_cut_off_or_stopped_one():
    record = round_record(1, ("half", AnswerStatus.STOPPED), ("second model", DONE))
    assert context_round(record).in_chat_answer == "second model"


def test_when_no_answer_finished_the_first_with_text_shown_is_in_chat():
    record = round_record(
        1, ("", FAILED), ("essay, cut at the limit", AnswerStatus.CUT_OFF), ("half", STREAMING)
    )
    assert context_round(record).in_chat_answer is None  # the third may still finish
    record = round_record(
        1,
        ("", FAILED),
        ("essay, cut at the limit", AnswerStatus.CUT_OFF),
        ("half", AnswerStatus.STOPPED),
    )
    assert context_round(record).in_chat_answer == "essay, cut at the limit"


def test_when_no_answer_finished_an_answer_ended_before_its_first_word_is_passed_over():
    """The first model stopped (or interrupted) before its first word has no text: the first
    answer with text is In Chat, and carries the mark, not a round sent without an answer."""
    for status in (AnswerStatus.STOPPED, AnswerStatus.INTERRUPTED):
        record = round_record(
            1, ("", status), ("cut at the limit", AnswerStatus.CUT_OFF), ("", FAILED)
        )
        assert context_round(record).in_chat_answer == "cut at the limit"
        assert in_chat_marks_to_change(record, {10: False, 11: False, 12: False}) == {11: True}


def test_chosen_in_chat_answer_wins_over_the_default():
    record = round_record(1, ("first", DONE), ("second", DONE), chosen=11)
    assert context_round(record).in_chat_answer == "second"


def test_a_chosen_answer_that_later_failed_gives_way_to_the_first_that_succeeded():
    # E.g. the In Chat answer was regenerated and its model failed this time.
    record = round_record(1, ("", FAILED), ("second", DONE), ("third", DONE), chosen=10)
    assert context_round(record).in_chat_answer == "second"


def test_a_chosen_answer_being_regenerated_is_not_replaced_by_another_meanwhile():
    for status in (AnswerStatus.PENDING, STREAMING):
        record = round_record(1, ("first", DONE), ("", status), chosen=11)
        assert context_round(record).in_chat_answer is None


def test_a_chosen_answer_that_ended_without_text_gives_way_to_the_default():
    """A pin on an answer still being written, which was then stopped (or interrupted) before
    its first word: the usual choice stands, not an In Chat answer with nothing to send."""
    for status in (AnswerStatus.STOPPED, AnswerStatus.INTERRUPTED):
        record = round_record(1, ("first", DONE), ("\n", status), chosen=11)
        assert context_round(record).in_chat_answer == "first"


def test_round_whose_in_chat_answer_failed_sends_no_assistant_turn():
    history = [context_round(round_record(1, ("", FAILED), ("", FAILED)))]
    request = build_round_context("", history, "Alice: again", WIDE)
    assert turns(request) == [("user", "Alice: question 1"), ("user", "Alice: again")]


def test_an_answer_of_only_blank_text_sends_no_assistant_turn():
    """An answer stopped or cut off after a line break has nothing to say (and Anthropic rejects
    a blank turn), in a chat and in a thread alike."""
    stopped = round_record(1, ("\n\n", AnswerStatus.STOPPED))
    request = build_round_context("", [context_round(stopped)], "Alice: again", WIDE)
    assert turns(request) == [("user", "Alice: question 1"), ("user", "Alice: again")]

    cut_off = thread_turn(TurnRecord("Bob", "and?", AnswerRecord(7, AnswerStatus.CUT_OFF, " \n")))
    request = build_thread_context("", [], "Alice: q", "\n", [cut_off], "Bob: again", WIDE)
    assert turns(request) == [("user", "Alice: q"), ("user", "Bob: and?"), ("user", "Bob: again")]


def test_people_are_named_in_their_messages():
    assert authored("Carol", "hi") == "Carol: hi"
    assert context_round(round_record(3, ("x", DONE))).user == "Alice: question 3"


def test_oldest_rounds_drop_first_and_the_new_message_never_does():
    history = [ContextRound(i, f"Alice: q{i}", f"a{i}") for i in range(1, 6)]
    request = build_round_context("", history, "Alice: now", ContextWindow(max_rounds=2))
    assert turns(request) == [
        ("user", "Alice: q4"),
        ("assistant", "a4"),
        ("user", "Alice: q5"),
        ("assistant", "a5"),
        ("user", "Alice: now"),
    ]


def test_token_budget_drops_oldest_rounds_but_keeps_an_oversized_new_message():
    history = [ContextRound(i, "Alice: " + "x" * 4000, "y" * 4000) for i in range(1, 4)]
    huge = "Alice: " + "z" * 20_000
    request = build_round_context("", history, huge, ContextWindow(max_tokens=1_000))
    assert turns(request) == [("user", huge)]


def test_every_turn_costs_a_few_tokens_beyond_its_text():
    assert estimate_tokens([ChatMessage("user", "x" * 400), ChatMessage("assistant", "")]) == 108


def test_chinese_or_japanese_text_counts_over_a_token_a_character():
    assert estimate_tokens([ChatMessage("user", "日本語の文章です" * 50)]) == 504
    assert estimate_tokens([ChatMessage("user", "Voilà, déjà vu." * 4)]) == 4 + 21


def test_the_system_prompt_and_every_turn_count_against_the_token_budget():
    history = [ContextRound(i, f"Alice: q{i}", f"a{i}") for i in (1, 2)]
    everything = build_round_context("Be brief.", history, "Alice: now", WIDE)
    exact = estimate_tokens([ChatMessage("user", "Be brief."), *everything.messages])

    fits = ContextWindow(max_tokens=exact)
    assert build_round_context("Be brief.", history, "Alice: now", fits) == everything
    one_short = ContextWindow(max_tokens=exact - 1)
    assert turns(build_round_context("Be brief.", history, "Alice: now", one_short)) == [
        ("user", "Alice: q2"),
        ("assistant", "a2"),
        ("user", "Alice: now"),
    ]


def test_a_round_too_large_for_the_budget_ends_the_history_older_ones_never_skip_past_it():
    history = [
        ContextRound(1, "Alice: q1", "a1"),
        ContextRound(2, "Alice: q2", "y" * 8000),
        ContextRound(3, "Alice: q3", "a3"),
    ]
    request = build_round_context("", history, "Alice: now", ContextWindow(max_tokens=1_000))
    assert turns(request) == [("user", "Alice: q3"), ("assistant", "a3"), ("user", "Alice: now")]


def test_a_request_too_long_for_the_model_is_shortened_to_fit_what_it_said_it_holds():
    """Rounds of about 1,000 tokens each: a model of 2,200 that was sent 5,000 is sent the
    newest rounds that fit 90 % of 2,200/5,000 of the request, oldest dropped first."""
    history = [ContextRound(i, f"Alice: q{i} " + "x" * 2000, "y" * 2000) for i in range(1, 6)]
    request = build_round_context("Be brief.", history, "Alice: now", WIDE)

    shorter = shortened(request, limit=2_200, sent=5_000)

    assert shorter is not None
    assert [content[:10] for _, content in turns(shorter)] == [
        "Alice: q5 ",
        "y" * 10,
        "Alice: now",
    ]
    assert shorter.system == "Be brief."


def test_a_request_shortened_without_the_models_size_is_half_as_long():
    history = [ContextRound(i, f"Alice: q{i} " + "x" * 2000, "y" * 2000) for i in range(1, 5)]
    request = build_round_context("", history, "Alice: now", WIDE)

    shorter = shortened(request, limit=None, sent=None)

    assert shorter is not None  # 90 % of half of four rounds: room for one
    assert [content[:10] for _, content in turns(shorter)] == [
        "Alice: q4 ",
        "y" * 10,
        "Alice: now",
    ]


def test_a_thread_shortened_drops_the_snapshot_then_turns_but_never_the_answer_it_hangs_under():
    snapshot = [ContextRound(i, f"Alice: q{i} " + "x" * 2000, "a") for i in (1, 2)]
    earlier = [ThreadTurn(f"Bob: t{i} " + "x" * 2000, f"r{i}") for i in (1, 2)]
    request = build_thread_context("", snapshot, "Alice: q3", "a3", earlier, "Bob: t3", WIDE)

    shorter = shortened(request, limit=1_000, sent=2_000)
    shortest = shortened(shorter, limit=1, sent=1_000) if shorter else None

    assert shorter is not None and shortest is not None
    assert [content[:9] for _, content in turns(shorter)] == [
        "Alice: q3",
        "a3",
        "Bob: t2 x",
        "r2",
        "Bob: t3",
    ]
    assert turns(shortest) == [("user", "Alice: q3"), ("assistant", "a3"), ("user", "Bob: t3")]
    assert shortened(shortest, limit=1, sent=1_000) is None, "nothing more to leave out"


def test_thread_context_is_snapshot_then_round_and_its_answer_then_turns_then_new_message():
    snapshot = [ContextRound(1, "Alice: q1", "a1")]
    earlier = [
        thread_turn(TurnRecord("Bob", "follow-up", AnswerRecord(7, DONE, "reply 1"))),
        thread_turn(TurnRecord("Alice", "lost one", AnswerRecord(8, FAILED, ""))),
    ]
    request = build_thread_context(
        "sys", snapshot, "Alice: q2", "gpt's a2", earlier, "Carol: and?", WIDE
    )
    assert turns(request) == [
        ("user", "Alice: q1"),
        ("assistant", "a1"),
        ("user", "Alice: q2"),
        ("assistant", "gpt's a2"),
        ("user", "Bob: follow-up"),
        ("assistant", "reply 1"),
        ("user", "Alice: lost one"),
        ("user", "Carol: and?"),
    ]


def test_thread_window_drops_the_snapshot_before_thread_turns():
    snapshot = [ContextRound(i, f"Alice: q{i}", f"a{i}") for i in (1, 2)]
    earlier = [ThreadTurn("Bob: t1", "r1"), ThreadTurn("Bob: t2", "r2")]
    request = build_thread_context(
        "", snapshot, "Alice: q3", "a3", earlier, "Bob: t3", ContextWindow(max_rounds=3)
    )
    assert turns(request) == [
        ("user", "Alice: q2"),
        ("assistant", "a2"),
        ("user", "Alice: q3"),
        ("assistant", "a3"),
        ("user", "Bob: t1"),
        ("assistant", "r1"),
        ("user", "Bob: t2"),
        ("assistant", "r2"),
        ("user", "Bob: t3"),
    ]


def test_a_long_thread_keeps_its_newest_turns_after_the_answer_it_hangs_under():
    snapshot = [ContextRound(1, "Alice: q1", "a1")]
    earlier = [ThreadTurn(f"Bob: t{i}", f"r{i}") for i in range(1, 5)]
    request = build_thread_context(
        "", snapshot, "Alice: q2", "a2", earlier, "Bob: t5", ContextWindow(max_rounds=3)
    )
    assert turns(request) == [
        ("user", "Alice: q2"),
        ("assistant", "a2"),
        ("user", "Bob: t2"),
        ("assistant", "r2"),
        ("user", "Bob: t3"),
        ("assistant", "r3"),
        ("user", "Bob: t4"),
        ("assistant", "r4"),
        ("user", "Bob: t5"),
    ]


def test_the_answer_a_thread_hangs_under_counts_against_the_token_budget():
    snapshot = [ContextRound(1, "Alice: q1", "a1")]
    long_answer = "y" * 8000
    request = build_thread_context(
        "", snapshot, "Alice: q2", long_answer, [], "Bob: more?", ContextWindow(max_tokens=1_000)
    )
    assert turns(request) == [
        ("user", "Alice: q2"),
        ("assistant", long_answer),
        ("user", "Bob: more?"),
    ]


def test_a_thread_reply_still_streaming_or_failed_sends_no_assistant_turn():
    for status in (STREAMING, FAILED):
        turn = thread_turn(TurnRecord("Bob", "and?", AnswerRecord(7, status, "half a reply")))
        assert turn == ThreadTurn("Bob: and?", None)


def test_a_deleted_message_a_thread_hangs_under_is_sent_as_a_stand_in():
    assert thread_anchor_message("Alice", "secret plan", deleted=True) == (
        "Alice: (message deleted)"
    )
    assert thread_anchor_message("Alice", "secret plan", deleted=False) == "Alice: secret plan"


def test_thread_under_a_failed_answer_sends_no_empty_assistant_turn():
    request = build_thread_context("", [], "Alice: q", "", [], "Alice: retry?", WIDE)
    assert ChatMessage("assistant", "") not in request.messages
    assert turns(request) == [("user", "Alice: q"), ("user", "Alice: retry?")]


def test_system_prompt_joins_base_workspace_and_channel_prompts():
    assert compose_system_prompt("base", None, "  ", "channel") == "base\n\nchannel"
    assert compose_system_prompt("base\n", "  channel ") == "base\n\nchannel"


def test_only_a_finished_answer_of_the_latest_round_can_be_made_in_chat():
    assert judge_in_chat_choice(is_latest_round=True, status=DONE) is InChatChoice.CHOSEN
    assert judge_in_chat_choice(is_latest_round=False, status=DONE) is (
        InChatChoice.NOT_LATEST_ROUND
    )
    assert judge_in_chat_choice(is_latest_round=True, status=FAILED) is InChatChoice.NOT_USABLE
    assert judge_in_chat_choice(is_latest_round=False, status=FAILED) is (
        InChatChoice.NOT_LATEST_ROUND
    )


def test_an_answer_in_chat_already_is_said_to_be_so_not_chosen_again():
    choice = judge_in_chat_choice(is_latest_round=True, status=DONE, is_in_chat=True)
    assert choice is InChatChoice.ALREADY and not choice.chosen
    assert judge_in_chat_choice(is_latest_round=False, status=DONE, is_in_chat=True) is (
        InChatChoice.NOT_LATEST_ROUND
    )


def test_after_a_new_chat_no_answer_of_the_old_one_becomes_in_chat_and_says_why():
    choice = judge_in_chat_choice(is_latest_round=False, status=DONE, chat_is_current=False)
    assert choice is InChatChoice.CHAT_CLOSED and not choice.chosen


def test_an_answer_to_a_deleted_message_is_not_made_in_chat_and_says_why():
    # A deleted round is no chat's latest; the reason given is the deletion, not that.
    choice = judge_in_chat_choice(is_latest_round=False, status=DONE, question_deleted=True)
    assert choice is InChatChoice.QUESTION_DELETED and not choice.chosen


def test_an_answer_to_a_forgotten_message_says_it_was_forgotten_not_deleted():
    # Forgetting leaves the round deleted and its answers without text.
    choice = judge_in_chat_choice(
        is_latest_round=False, status=FAILED, question_deleted=True, question_forgotten=True
    )
    assert choice is InChatChoice.QUESTION_FORGOTTEN and not choice.chosen
    assert "deleted" not in choice.value


def test_unpinning_the_picked_answer_of_the_latest_round_returns_to_the_default_rule():
    assert unpin_returns_to_default(
        is_latest_round=True, is_chosen=True, pinned_by_someone_else=False
    )
    # Someone else's pushpin still picks it; an unpicked answer or an earlier round's pick
    # has nothing to undo (picking there is refused too).
    for is_latest_round, is_chosen, pinned_by_someone_else in (
        (True, True, True),
        (True, False, False),
        (False, True, False),
    ):
        assert not unpin_returns_to_default(
            is_latest_round=is_latest_round,
            is_chosen=is_chosen,
            pinned_by_someone_else=pinned_by_someone_else,
        )


def test_an_undecided_in_chat_answer_waits_for_the_first_still_written_or_the_pick():
    assert (
        awaited_in_chat_answer(round_record(1, ("", FAILED), ("", STREAMING), ("", STREAMING)))
        == 11
    )
    assert awaited_in_chat_answer(round_record(1, ("", STREAMING), ("c", DONE), chosen=10)) == 10
    regenerating_pick = round_record(1, ("a", DONE), ("", STREAMING), chosen=11)
    assert awaited_in_chat_answer(regenerating_pick) == 11
    assert awaited_in_chat_answer(round_record(1, ("a", DONE), ("", FAILED))) is None


def test_an_answer_with_partial_text_can_be_made_in_chat_one_without_text_cannot():
    for status in (AnswerStatus.CUT_OFF, AnswerStatus.INTERRUPTED, AnswerStatus.STOPPED):
        assert judge_in_chat_choice(is_latest_round=True, status=status) is InChatChoice.CHOSEN
    assert judge_in_chat_choice(is_latest_round=True, status=FAILED) is InChatChoice.NOT_USABLE


def test_an_answer_still_being_written_can_be_made_in_chat_once_it_has_finished():
    for status in (AnswerStatus.PENDING, STREAMING):
        choice = judge_in_chat_choice(is_latest_round=True, status=status)
        assert choice is InChatChoice.CHOSEN_ONCE_FINISHED and choice.chosen
        assert judge_in_chat_choice(is_latest_round=False, status=status) is (
            InChatChoice.NOT_LATEST_ROUND
        )


def test_the_in_chat_mark_goes_to_the_in_chat_answer_alone():
    record = round_record(1, ("first", DONE), ("second", DONE), ("third", DONE))
    assert in_chat_marks_to_change(record, {10: False, 11: True, 12: False}) == {
        10: True,
        11: False,
    }
    assert in_chat_marks_to_change(record, {10: True, 11: False}) == {}


def test_the_in_chat_mark_follows_a_pick_and_a_failed_first_model():
    picked = round_record(1, ("first", DONE), ("second", DONE), chosen=11)
    assert in_chat_marks_to_change(picked, {10: True, 11: False}) == {10: False, 11: True}
    first_failed = round_record(1, ("", FAILED), ("second", DONE))
    assert in_chat_marks_to_change(first_failed, {10: False, 11: False}) == {11: True}


def test_the_in_chat_mark_comes_off_the_answers_to_a_deleted_message():
    """Later rounds no longer see a round whose message was deleted: none of its answers is
    marked as the one they see."""
    record = round_record(1, ("first", DONE), ("second", DONE))
    assert in_chat_marks_to_change(record, {10: True, 11: False}, question_deleted=True) == {
        10: False
    }
    assert in_chat_marks_to_change(record, {10: False, 11: False}, question_deleted=True) == {}


def test_in_chat_marks_stay_while_the_in_chat_answer_is_undecided():
    """A mark does not come off while the answer that may take its place is still written."""
    first_regenerating = round_record(1, ("", STREAMING), ("second", DONE))
    assert in_chat_marks_to_change(first_regenerating, {11: True}) == {}
    pick_regenerating = round_record(1, ("first", DONE), ("", STREAMING), chosen=11)
    assert in_chat_marks_to_change(pick_regenerating, {10: False}) == {}
