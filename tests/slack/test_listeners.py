"""What the Bolt listeners read off a delivery themselves: which of Slack's retries it is."""

from __future__ import annotations

from bot.slack.listeners import slack_retry


def test_a_first_delivery_is_no_retry() -> None:
    assert slack_retry({"content-type": ["application/json"]}) is None


def test_a_first_delivery_over_the_socket_is_no_retry_though_numbered_0() -> None:
    headers = {"x-slack-retry-num": ["0"], "x-slack-retry-reason": [""]}
    assert slack_retry(headers) is None


def test_a_retry_is_named_by_its_number_and_reason() -> None:
    headers = {"x-slack-retry-num": ["2"], "x-slack-retry-reason": ["http_timeout"]}
    assert slack_retry(headers) == "retry 2, http_timeout"


def test_a_retry_without_a_reason_is_named_by_its_number() -> None:
    assert slack_retry({"x-slack-retry-num": ["1"]}) == "retry 1"
