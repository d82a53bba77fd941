"""Which of Slack's refusals are retried later (they may change) and which are given up."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.web import SlackUnreachable, refused_for_good


def refusal(code: str) -> SlackApiError:
    return SlackApiError(f"Slack said {code}", {"ok": False, "error": code})


@pytest.mark.parametrize(
    "code",
    ["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"],
)
def test_a_refusal_that_may_change_is_retried_later(code: str):
    assert not refused_for_good(refusal(code))


def test_slack_out_of_reach_is_retried_later():
    assert not refused_for_good(SlackUnreachable("updating a message"))


@pytest.mark.parametrize(
    "code",
    [
        "message_not_found",
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "restricted_action",
        "missing_scope",
        "invalid_auth",
        "msg_too_long",
    ],
)
def test_a_refusal_slack_would_repeat_is_given_up(code: str):
    assert refused_for_good(refusal(code))
