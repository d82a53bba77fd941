"""The Anthropic provider against Messages API event streams as Anthropic sends them."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing

import httpx
import pytest

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers.anthropic import AnthropicProvider
from bot.providers.base import (
    BadRequest,
    MalformedStream,
    OutputLimitReached,
    Overloaded,
    RateLimited,
    Refused,
    ServerError,
    StreamCut,
    TextDelta,
    Usage,
)
from bot.providers.buffered import BufferedStream
from tests.providers.replay import (
    ANSWER_PATIENCE_SECONDS,
    JSON,
    SSE,
    Answer,
    ReplayServer,
    conversation,
    run,
)

BASE_URL = "https://api.anthropic.com"
KEY = "sk-ant-test-abc123"

START = (
    "event: message_start\n"
    'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL",'
    '"type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],'
    '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,'
    '"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n'
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
)
PING = 'event: ping\ndata: {"type": "ping"}\n\n'


def text(piece: str) -> str:
    return (
        "event: content_block_delta\n"
        'data: {"type":"content_block_delta","index":0,'
        f'"delta":{{"type":"text_delta","text":"{piece}"}}}}\n\n'
    )


def message_end(
    stop_reason: str = "end_turn", output_tokens: int = 15, stop_details: str = ""
) -> str:
    details = f',"stop_details":{stop_details}' if stop_details else ""
    return (
        'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        "event: message_delta\n"
        f'data: {{"type":"message_delta","delta":{{"stop_reason":"{stop_reason}",'
        f'"stop_sequence":null{details}}},"usage":{{"output_tokens":{output_tokens}}}}}\n\n'
    )


STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
ANSWER = (START + PING + text("4 and ") + text("6.") + message_end() + STOP).encode()


def error_event(kind: str, message: str) -> str:
    return (
        "event: error\n"
        f'data: {{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}\n\n'
    )


async def ask(server: ReplayServer, request: ModelRequest | None = None, **options) -> Answer:
    async with server.client() as client:
        provider = AnthropicProvider(client, options.pop("base_url", BASE_URL), KEY, **options)
        return await run(provider, "claude-sonnet-4-5", request)


async def test_streams_text_deltas_and_reports_usage_at_the_end():
    answer = await ask(ReplayServer(ANSWER, chunk_size=11))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=25, output_tokens=15)]


async def test_sends_key_version_system_and_merged_turns():
    server = ReplayServer(ANSWER)
    await ask(server, base_url="https://api.anthropic.com/", max_tokens=1000)

    assert server.request.url == "https://api.anthropic.com/v1/messages"
    assert server.request.headers["x-api-key"] == KEY
    assert server.request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in server.request.headers
    assert server.sent_json() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1000,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Ann: What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "Bob: And 3+3?\n\nAnn: Answer both."},
        ],
        "stream": True,
    }


async def test_empty_system_is_omitted_and_messages_open_with_a_user_turn():
    server = ReplayServer(ANSWER)
    request = ModelRequest("", (ChatMessage("assistant", "4."), ChatMessage("user", "Why?")))
    await ask(server, request)

    sent = server.sent_json()
    assert "system" not in sent
    assert [turn["role"] for turn in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "Why?"},
    ]


async def test_events_without_an_event_line_are_read_by_the_type_in_their_data():
    unnamed = "\n".join(
        line for line in ANSWER.decode().split("\n") if not line.startswith("event:")
    )
    answer = await ask(ReplayServer(unnamed.encode()))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=25, output_tokens=15)]


async def test_an_answer_is_not_held_up_by_a_server_that_keeps_the_stream_open_after_it():
    server = ReplayServer(ANSWER, hang_after_body=True)
    answer = await asyncio.wait_for(ask(server), ANSWER_PATIENCE_SECONDS)

    assert answer.error is None
    assert answer.text == "4 and 6."


async def test_a_stream_closed_midway_hands_back_the_input_tokens_of_message_start():
    """The bot stops reading (Stop, an answer too long) while the model still writes."""
    server = ReplayServer((START + text("4 and ")).encode(), hang_after_body=True)
    async with server.client() as client:
        provider = AnthropicProvider(client, BASE_URL, KEY)
        stream = BufferedStream(provider.stream("claude-sonnet-4-5", conversation()))
        async with aclosing(stream.events()) as events:
            first = await asyncio.wait_for(anext(events), ANSWER_PATIENCE_SECONDS)
        unread = await stream.close()

    assert first == TextDelta("4 and ")
    assert unread == [Usage(input_tokens=25, output_tokens=None)]


async def test_cached_prompt_tokens_count_as_input():
    start = START.replace('"cache_read_input_tokens":0', '"cache_read_input_tokens":1000')
    answer = await ask(ReplayServer((start + text("Hi") + message_end() + STOP).encode()))

    assert answer.usage == [Usage(input_tokens=1025, output_tokens=15)]


async def test_an_unreadable_token_count_is_unknown_and_the_answer_whole():
    start = START.replace('"cache_read_input_tokens":0', '"cache_read_input_tokens":"many"')
    answer = await ask(ReplayServer((start + text("Hi") + message_end() + STOP).encode()))

    assert answer.error is None
    assert answer.text == "Hi"
    assert answer.usage == [Usage(input_tokens=25, output_tokens=15)]


async def test_thinking_deltas_are_not_answer_text():
    thinking = (
        "event: content_block_delta\n"
        'data: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"thinking_delta","thinking":"Let me add."}}\n\n'
    )
    answer = await ask(ReplayServer((START + thinking + text("4") + message_end() + STOP).encode()))

    assert answer.text == "4"


async def test_a_stream_ending_before_the_stop_reason_is_cut():
    answer = await ask(ReplayServer((START + text("4 and ")).encode()))

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)
    assert str(answer.error) == "The stream from Anthropic stopped before the answer was complete."


async def test_an_answer_whose_stop_reason_came_is_whole_without_message_stop():
    server = ReplayServer(
        (START + text("4 and ") + text("6.") + message_end()).encode(),
        fail_after_body=httpx.ReadError("connection reset"),
    )
    answer = await ask(server)

    assert (answer.text, answer.error) == ("4 and 6.", None)
    assert [usage.output_tokens for usage in answer.usage] == [15]


async def test_read_error_mid_stream_is_a_cut_stream():
    server = ReplayServer(
        (START + text("4 and ")).encode(), fail_after_body=httpx.ReadError("connection reset")
    )
    answer = await ask(server)

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)


async def test_refusal_stop_reason_is_refused():
    answer = await ask(ReplayServer((START + message_end("refusal") + STOP).encode()))

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == "Anthropic refused to answer (stop reason refusal)."


async def test_a_refusal_is_shown_in_the_explanation_anthropic_gives_for_it():
    details = (
        '{"type":"refusal","category":"cyber",'
        '"explanation":"This request was declined because it could enable cyber harm."}'
    )
    answer = await ask(
        ReplayServer((START + message_end("refusal", stop_details=details) + STOP).encode())
    )

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == (
        "Anthropic refused to answer: This request was declined because it could enable cyber harm."
    )


@pytest.mark.parametrize(
    "details", ["null", '{"type":"refusal","category":null,"explanation":null}']
)
async def test_a_refusal_anthropic_gives_no_explanation_for_cites_its_stop_reason(details):
    answer = await ask(
        ReplayServer((START + message_end("refusal", stop_details=details) + STOP).encode())
    )

    assert str(answer.error) == "Anthropic refused to answer (stop reason refusal)."


async def test_an_answer_refused_midway_keeps_its_text_and_usage():
    body = START + text("4 and ") + message_end("refusal", output_tokens=3) + STOP
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=25, output_tokens=3)]
    assert isinstance(answer.error, Refused)
    assert str(answer.error) == "Anthropic refused to answer (stop reason refusal)."


async def test_max_tokens_stop_reason_keeps_the_text_and_says_where_it_stopped():
    body = START + text("4 and ") + message_end("max_tokens", output_tokens=2) + STOP
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=25, output_tokens=2)]
    assert isinstance(answer.error, OutputLimitReached)
    assert not answer.error.retryable
    assert str(answer.error) == "Anthropic stopped at the output-token limit."


async def test_a_full_context_window_stop_reason_keeps_the_text_and_says_the_window_filled():
    body = START + text("4 and ") + message_end("model_context_window_exceeded") + STOP
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "4 and "
    assert isinstance(answer.error, OutputLimitReached)
    assert not answer.error.retryable
    assert str(answer.error) == (
        "Anthropic stopped when the chat filled the model's context window."
    )


@pytest.mark.parametrize(
    ("kind", "message", "expected", "line"),
    [
        (
            "overloaded_error",
            "Overloaded",
            Overloaded,
            "Anthropic is overloaded (overloaded_error); try again in a moment.",
        ),
        (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            RateLimited,
            "Anthropic rate limit reached (rate_limit_error).",
        ),
        ("api_error", "Internal server error", ServerError, None),
        (
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            BadRequest,
            "Anthropic rejected the request (invalid_request_error): "
            "prompt is too long: 210000 tokens > 200000 maximum.",
        ),
    ],
)
async def test_error_event_in_the_stream_is_mapped_by_its_type(kind, message, expected, line):
    answer = await ask(ReplayServer((START + PING + error_event(kind, message)).encode()))

    assert type(answer.error) is expected
    assert answer.error.status is None
    if line is not None:
        assert str(answer.error) == line


async def test_error_event_after_text_keeps_the_text():
    body = START + text("4 and ") + error_event("overloaded_error", "Overloaded")
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "4 and "
    assert isinstance(answer.error, Overloaded)


@pytest.mark.parametrize(
    "failure", [error_event("api_error", "Internal server error"), ""], ids=["error", "cut"]
)
async def test_a_stream_failing_midway_keeps_the_prompt_count_of_message_start(failure):
    answer = await ask(ReplayServer((START + text("4 and ") + failure).encode()))

    assert answer.text == "4 and "
    # `message_start`'s output count (1) says nothing of the text streamed after it.
    assert answer.usage == [Usage(input_tokens=25, output_tokens=None)]
    assert isinstance(answer.error, ServerError | StreamCut)


async def test_malformed_event_data_is_reported():
    bad_delta = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0}\n\n'
    answer = await ask(ReplayServer((START + bad_delta).encode()))

    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error) == (
        "Anthropic sent a stream that could not be read ('delta' is missing)."
    )


def older_model_server(own_limit: int) -> tuple[httpx.AsyncClient, list[int]]:
    """Anthropic for a model that writes at most `own_limit` tokens: a request for more is
    refused as Anthropic refuses it. Keeps the `max_tokens` of each request."""
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        max_tokens = json.loads(request.content)["max_tokens"]
        asked.append(max_tokens)
        if max_tokens <= own_limit:
            return httpx.Response(200, headers=SSE, content=ANSWER)
        message = (
            f"max_tokens: {max_tokens} > {own_limit}, which is the maximum allowed number of "
            "output tokens for claude-3-5-haiku-20241022"
        )
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        return httpx.Response(400, headers=JSON, json=error)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer)), asked


async def test_a_model_writing_fewer_tokens_than_asked_for_is_asked_again_for_its_own_most(
    caplog,
):
    client, asked = older_model_server(own_limit=8192)
    async with client:
        provider = AnthropicProvider(client, BASE_URL, KEY, max_tokens=16_000)
        first = await run(provider, "claude-3-5-haiku-20241022")
        later = await run(provider, "claude-3-5-haiku-20241022")

    assert (first.error, first.text) == (None, "4 and 6.")
    assert (later.error, later.text) == (None, "4 and 6.")
    assert asked == [16_000, 8192, 8192], "asked for its own most from then on"
    (warning,) = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warning == (
        "claude-3-5-haiku-20241022 writes at most 8192 output tokens: it is asked for that "
        "many, not CHORUS_MAX_OUTPUT_TOKENS=16000"
    )


async def test_a_refusal_that_names_no_lower_limit_is_the_answers_error_and_not_asked_again():
    message = (
        "max_tokens: 1000 > 1000, which is the maximum allowed number of output tokens for "
        "claude-3-haiku-20240307"
    )
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    server = ReplayServer(json.dumps(error).encode(), status=400, headers=JSON)
    answer = await ask(server, max_tokens=1000)

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == f"Anthropic rejected the request (HTTP 400): {message}."
    assert len(server.requests) == 1
