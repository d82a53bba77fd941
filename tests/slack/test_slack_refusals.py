"""Which of Slack's refusals are retried later (they may change) and which are given up."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.slack.web import SlackUnreachable, refused_for_good, slack_error_code


def answer(data: dict | str, status: int) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="",
        req_args={},
        data=data,
        headers={},
        status_code=status,
    )
    return SlackApiError("Slack refused", response)


def refusal(code: str) -> SlackApiError:
    return answer({"ok": False, "error": code}, 200)


def test_an_answer_that_is_not_the_web_apis_json_is_known_by_its_status():
    assert slack_error_code(answer("413 Request Entity Too Large", 413)) == "http_413"
    assert slack_error_code(refusal("channel_not_found")) == "channel_not_found"


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
