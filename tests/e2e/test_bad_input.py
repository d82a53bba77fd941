"""Awkward input: empty mentions get help; long, odd or richly formatted messages reach the
models whole and readable."""

from __future__ import annotations

from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, BOB, CHANNEL, DM, MENTION
from tests.e2e.slack_views import answers_in, wait_for_answers


def test_an_empty_mention_gets_a_short_help_message(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"  {MENTION}  ", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="help was sent")
    (help_call,) = slack.calls_for("chat.postEphemeral")
    assert help_call.params["user"] == ALICE
    assert "+claude" in help_call.params["text"] and "thread" in help_call.params["text"]
    bot.wait_until_idle()  # the event handled: a round for it would be there by now
    assert answers_in(slack, CHANNEL) == []
    assert models.requests == []


def test_a_mention_saying_only_help_gets_the_help_not_the_models(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} Help?", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="help was sent")
    (help_call,) = slack.calls_for("chat.postEphemeral")
    assert "/chorus models" in help_call.params["text"]
    bot.wait_until_idle()  # the event handled: a round for it would be there by now
    assert answers_in(slack, CHANNEL) == []
    assert models.requests == []


def test_a_very_long_message_reaches_every_model_whole(bot, slack, models, events):
    long_text = " ".join(f"word{i}" for i in range(6000))  # ~40,000 characters
    events.user_says(CHANNEL, ALICE, f"{MENTION} {long_text}", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        (request,) = models.requests_for(model_id)
        assert request.turns() == [("user", f"Alice: {long_text}")]


def test_attached_files_are_named_to_the_models_as_not_shown(bot, slack, models, events):
    events.user_says(
        CHANNEL, ALICE, f"{MENTION} what does this show?", files=["q3.png"], to=[bot.events_url]
    )
    wait_for_answers(slack, CHANNEL, 3)
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        (request,) = models.requests_for(model_id)
        assert request.turns() == [
            ("user", "Alice: what does this show?\n[attached, not shown to you: q3.png]")
        ]


def test_mentions_links_code_and_odd_unicode_reach_the_models_readably(bot, slack, models, events):
    slack.add_channel("C0DESIGN", "design")
    text = (
        f"{MENTION} ask <@U0BOB> in <#C0RANDOM|random> or <#C0DESIGN|> about <https://example.com/a?b=1&amp;c=2|the"
        " docs> &amp; <https://example.org>:\n```\nif a &lt; b &amp;&amp; c &gt; d:\n"
        "    print('héllo 👋 שלום \u200f')\n```"
    )
    events.user_says(CHANNEL, ALICE, text, to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    (request,) = models.requests_for("gpt-test")
    assert request.turns() == [
        (
            "user",
            "Alice: ask @Bob in #random or #design about the docs "
            "(https://example.com/a?b=1&c=2) & https://example.org:\n```\nif a < b && c > d:\n"
            "    print('héllo 👋 שלום \u200f')\n```",
        )
    ]


def test_a_forwarded_message_reaches_the_models_with_or_without_words(bot, slack, models, events):
    report = slack.post_user_message(CHANNEL, BOB, "Q3 revenue was 12.5M, churn 4%")
    source = (CHANNEL, report["ts"])
    events.user_says(DM, ALICE, "summarise this", forwarding=source, to=[bot.events_url])
    wait_for_answers(slack, DM, 3)
    events.user_says(DM, ALICE, "", forwarding=source, to=[bot.events_url])
    wait_for_answers(slack, DM, 6)

    link = f"https://chorus-test.slack.com/archives/{CHANNEL}/p{report['ts'].replace('.', '')}"
    quoted = f"[forwarded message from Bob ({link})]\n> Q3 revenue was 12.5M, churn 4%"
    (_, request) = models.requests_for("claude-test")
    assert [text for _, text in request.turns()][::2] == [
        f"Alice: summarise this\n{quoted}",
        f"Alice: {quoted}",
    ]
    assert slack.calls_for("chat.postEphemeral") == [], "no help: something was asked"
