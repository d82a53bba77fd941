"""SPEC §4: which messages are answered, and how."""

from bot.chat.routing import (
    ChatKey,
    ContinueThread,
    Ignore,
    IgnoreReason,
    IncomingMessage,
    StartRound,
    route_message,
)


def message(*, thread_ts=None, is_direct=False, mentions_bot=False, ts="200.0"):
    return IncomingMessage(
        team_id="T1",
        channel_id="D1" if is_direct else "C1",
        ts=ts,
        thread_ts=thread_ts,
        user_id="U1",
        text="hi",
        is_direct=is_direct,
        mentions_bot=mentions_bot,
    )


def test_a_mention_in_a_channel_starts_a_round_in_the_channel_chat():
    route = route_message(message(mentions_bot=True), parent_answer_id=None)
    assert route == StartRound(ChatKey("T1", "C1"))
    assert route.reply_in_thread is None


def test_a_channel_message_without_a_mention_is_ignored():
    assert route_message(message(), None) == Ignore(IgnoreReason.NOT_ADDRESSED)


def test_any_direct_message_starts_a_round_without_a_mention():
    assert route_message(message(is_direct=True), None) == StartRound(ChatKey("T1", "D1"))


def test_a_reply_under_an_answer_continues_that_thread_without_a_mention():
    assert route_message(message(thread_ts="100.0"), parent_answer_id=42) == ContinueThread(42)


def test_a_reply_under_an_answer_that_mentions_the_bot_still_continues_the_thread():
    route = route_message(message(thread_ts="100.0", mentions_bot=True), parent_answer_id=42)
    assert route == ContinueThread(42)


def test_a_thread_reply_not_under_an_answer_is_ignored_without_a_mention():
    route = route_message(message(thread_ts="100.0"), parent_answer_id=None)
    assert route == Ignore(IgnoreReason.THREAD_NOT_UNDER_ANSWER)


def test_a_mention_in_a_thread_not_under_an_answer_makes_that_thread_a_chat():
    route = route_message(message(thread_ts="100.0", mentions_bot=True), parent_answer_id=None)
    assert route == StartRound(ChatKey("T1", "C1", "100.0"))
    assert isinstance(route, StartRound) and route.reply_in_thread == "100.0"


def test_a_thread_parent_message_itself_counts_as_top_level():
    route = route_message(message(thread_ts="200.0", ts="200.0", mentions_bot=True), None)
    assert route == StartRound(ChatKey("T1", "C1"))
