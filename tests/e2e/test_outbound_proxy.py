"""Behind an outbound proxy (HTTPS_PROXY and HTTP_PROXY, as the README says to set them), the
calls to Slack, the socket, the downloads of attached files and the providers' requests all go
through it, but for the hosts NO_PROXY names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.doubles import SharedFile
from tests.doubles.forward_proxy import ForwardProxy
from tests.doubles.slack_emulator.socket_mode import SOCKET_PATH
from tests.e2e.conftest import providers_by_way_of
from tests.e2e.scene import ALICE, CHANNEL, MENTION, MODEL_IDS, ask
from tests.e2e.slack_views import body, wait_for_answers

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    forward_proxy = ForwardProxy().start()
    yield forward_proxy
    forward_proxy.stop()


def behind(proxy: ForwardProxy, **more: str) -> dict[str, str]:
    """The bot's environment behind `proxy`, as the README says to set it."""
    return {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, **more}


def host_and_port(url: str) -> str:
    return urlsplit(url).netloc


def answered(slack) -> None:
    """Wait for the three answers to Alice's "go", each its model's."""
    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(answer) for answer in answers] == [
        f"{model} answers: Alice: go" for model in MODEL_IDS
    ]


def alice_asks_with_a_file(bot, slack, events) -> None:
    """Alice mentions the bot with a text file attached, and the three answers land."""
    notes = SharedFile("notes.txt", "ship on friday")
    events.user_says(CHANNEL, ALICE, f"{MENTION} summarise", files=[notes], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)


def web_api_paths(slack) -> Counter[str]:
    """The path of every Web API call the emulator answered."""
    return Counter(f"/api/{call.method}" for call in slack.calls)


def test_a_mention_is_answered_with_every_slack_call_and_provider_request_through_the_proxy(
    start_bot, slack, models, events, proxy
):
    bot = start_bot(**behind(proxy))
    ask(bot, events)

    answered(slack)
    bot.wait_until_idle()
    to_slack = Counter(proxy.paths_to(host_and_port(slack.url)))
    assert {"/api/auth.test", "/api/chat.postMessage", "/api/chat.update"} <= set(to_slack)
    assert to_slack == web_api_paths(slack)
    to_models = proxy.paths_to(host_and_port(models.url))
    assert len(to_models) == 3
    assert Counter(to_models) == Counter(request.path for request in models.requests)


def test_an_attached_files_download_goes_through_the_proxy(start_bot, slack, events, proxy):
    bot = start_bot(**behind(proxy))
    alice_asks_with_a_file(bot, slack, events)

    (download,) = slack.file_downloads()
    assert download.authorized
    assert download.path in proxy.paths_to(host_and_port(slack.url))


def test_in_socket_mode_the_socket_url_and_the_websocket_go_through_the_proxy(
    start_socket_bot, slack, events, proxy
):
    start_socket_bot(**behind(proxy))
    events.user_says(CHANNEL, ALICE, f"{MENTION} go", to=[slack.socket_mode])

    answered(slack)
    to_slack = proxy.paths_to(host_and_port(slack.url))
    assert "/api/apps.connections.open" in to_slack
    # ws:// over an HTTP proxy is an absolute-form GET that upgrades (wss:// would tunnel).
    (websocket,) = [request for request in proxy.requests() if request.path == SOCKET_PATH]
    assert websocket.method == "GET"
    assert len(slack.socket_mode.connections()) == 1


def test_in_socket_mode_no_proxy_naming_slacks_host_sends_the_socket_and_calls_directly(
    start_socket_bot, slack, events, proxy
):
    """slack_sdk's clients read HTTPS_PROXY but not NO_PROXY: the bot reads it for them."""
    start_socket_bot(**behind(proxy, NO_PROXY="127.0.0.1"))
    events.user_says(CHANNEL, ALICE, f"{MENTION} go", to=[slack.socket_mode])

    answered(slack)
    assert proxy.paths_to(host_and_port(slack.url)) == []
    assert len(slack.socket_mode.connections()) == 1


def test_no_proxy_naming_the_providers_host_sends_their_requests_directly_and_slacks_not(
    start_bot, slack, models, events, proxy
):
    at_localhost = models.env(host="localhost")
    bot = start_bot(**behind(proxy, NO_PROXY="localhost"), **at_localhost)
    ask(bot, events)

    answered(slack)
    providers = host_and_port(at_localhost["OPENAI_BASE_URL"])
    assert [request for request in proxy.requests() if request.target == providers] == []
    assert len(models.requests) == 3
    assert "/api/chat.postMessage" in proxy.paths_to(host_and_port(slack.url))


def test_no_proxy_naming_slacks_host_sends_its_calls_and_downloads_directly(
    start_bot, slack, models, events, proxy
):
    at_localhost = models.env(host="localhost")
    bot = start_bot(**behind(proxy, NO_PROXY="127.0.0.1"), **at_localhost)
    alice_asks_with_a_file(bot, slack, events)

    (download,) = slack.file_downloads()
    assert download.authorized
    assert proxy.paths_to(host_and_port(slack.url)) == []
    assert {"auth.test", "chat.postMessage", "chat.update"} <= {call.method for call in slack.calls}
    # NO_PROXY names hosts as written: 127.0.0.1 is not localhost.
    assert len(proxy.paths_to(host_and_port(at_localhost["OPENAI_BASE_URL"]))) == 3


def test_https_targets_are_reached_through_connect_tunnels(
    start_bot, slack, models, events, proxy, re_signed, proxy_ca_file
):
    api_url = re_signed(slack.api_url)
    providers = providers_by_way_of(re_signed, models)
    bot = start_bot(
        **behind(proxy), SLACK_API_URL=api_url, SSL_CERT_FILE=str(proxy_ca_file), **providers
    )
    ask(bot, events)

    answered(slack)
    requests = proxy.requests()
    assert {request.method for request in requests} == {"CONNECT"}
    tunnelled = {request.target for request in requests}
    assert host_and_port(api_url) in tunnelled
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "GEMINI_BASE_URL"):
        assert host_and_port(providers[name]) in tunnelled


def test_in_socket_mode_a_wss_socket_is_reached_through_a_connect_tunnel(
    start_socket_bot, slack, events, proxy, re_signed, proxy_ca_file
):
    socket_front = re_signed(slack.url)
    slack.socket_mode.serve_at(socket_front)
    api_url = re_signed(slack.api_url)
    start_socket_bot(**behind(proxy), SLACK_API_URL=api_url, SSL_CERT_FILE=str(proxy_ca_file))
    events.user_says(CHANNEL, ALICE, f"{MENTION} go", to=[slack.socket_mode])

    answered(slack)
    to_slack = [request for request in proxy.requests() if request.method == "CONNECT"]
    assert {request.target for request in to_slack} == {
        host_and_port(api_url),
        host_and_port(socket_front),
    }
