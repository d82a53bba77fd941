"""Which of Slack's refusals are retried later (they may change) and which are given up, and
an answer that is not the Web API's (a proxy's HTML page) told apart from a refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.app import identify_bot
from bot.settings import ConfigurationError
from bot.slack.rendering import SlackMessage
from bot.slack.slack_errors import SlackUnreachable, refused_for_good, slack_error_code
from bot.slack.web import SlackWeb
from bot.slack.web_client import make_web_client


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


@pytest.fixture
async def html_page_host() -> AsyncIterator[str]:
    """The base URL of a server (a proxy, a URL that is not the API's) answering every request
    with an HTML page and the status the path asks for (`/502/api/…`), labelled as JSON, plain
    text or gzip when the path says so (`/502/json/api/…`, `/200/plain/…`, `/200/gzip/…`)."""

    async def page(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        kind = request.match_info["rest"].split("/", 1)[0]
        labelled = {"json": "application/json", "plain": "text/plain", "gzip": "application/gzip"}
        waited = {"Retry-After": "0"} if status == 429 else {}  # a proxy's own rate limit
        return web.Response(
            status=status,
            text="<html>Bad Gateway</html>",
            content_type=labelled.get(kind, "text/html"),
            headers=waited,
        )

    runner = web.AppRunner(web.Application())
    runner.app.router.add_route("*", "/{status}/{rest:.*}", page)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.mark.parametrize("status", [200, 403, 502])
async def test_an_html_page_for_an_answer_is_known_by_its_status(html_page_host, status):
    async with aiohttp.ClientSession() as session:
        client = make_web_client("xoxb-1", f"{html_page_host}/{status}/api/", session=session)
        with pytest.raises(SlackApiError) as raised:
            await client.auth_test()
    assert slack_error_code(raised.value) == f"http_{status}"


@pytest.mark.parametrize(
    "page",
    [
        answer("<html>Access denied</html>", 403),
        answer("413 Request Entity Too Large", 413),
        answer({}, 429),  # slack_sdk's data for a body that is not JSON
        answer({"message": "no Route matched with those values"}, 404),  # a gateway's JSON
    ],
)
def test_an_answer_that_is_not_slacks_refuses_nothing_for_good(page: SlackApiError):
    assert not refused_for_good(page)


@pytest.mark.parametrize("path", ["403/api/", "407/api/", "413/api/", "429/api/", "404/json/api/"])
async def test_a_page_in_place_of_slacks_answer_is_slack_out_of_reach(
    html_page_host, path, monkeypatch
):
    """Whatever its status, and a 429 still answered so after slack_sdk's retries: what was
    asked (an answer's final edit) is tried again later, not given up."""
    monkeypatch.setattr("bot.slack.web_client._RATE_LIMIT_RETRIES", 1)
    async with aiohttp.ClientSession() as session:
        slack = SlackWeb(make_web_client("xoxb-1", f"{html_page_host}/{path}", session=session))
        with pytest.raises(SlackUnreachable):
            await slack.update("C1", "1.0", SlackMessage("done", []), answer_id=1)


@pytest.mark.parametrize("path", ["200/plain/api/", "200/gzip/api/", "403/plain/api/"])
async def test_a_body_neither_json_nor_html_is_slack_out_of_reach(html_page_host, path):
    """slack_sdk hands on plain text as text (failing with an AttributeError at HTTP 200)
    and gzip as bytes (taken for success at HTTP 200: a final edit taken as shown)."""
    async with aiohttp.ClientSession() as session:
        slack = SlackWeb(make_web_client("xoxb-1", f"{html_page_host}/{path}", session=session))
        with pytest.raises(SlackUnreachable):
            await slack.update("C1", "1.0", SlackMessage("done", []), answer_id=1)


@pytest.mark.parametrize("path", ["502/api/", "502/json/api/"])
async def test_an_html_page_at_start_up_says_to_check_slack_api_url_not_the_token(
    html_page_host, path
):
    api_url = f"{html_page_host}/{path}"
    async with aiohttp.ClientSession() as session:
        slack = SlackWeb(make_web_client("xoxb-1", api_url, session=session))
        with pytest.raises(ConfigurationError) as raised:
            await identify_bot(slack)
    assert str(raised.value) == (
        "Configuration error: SLACK_API_URL answered HTTP 502, not as Slack's Web API does; "
        "check SLACK_API_URL (https://slack.com/api/)"
    )
