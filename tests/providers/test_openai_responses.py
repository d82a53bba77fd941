"""The OpenAI Responses provider against streams shaped as the Responses API sends them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers.base import (
    AuthenticationFailed,
    BadRequest,
    MalformedStream,
    OutputLimitReached,
    QuotaExhausted,
    RateLimited,
    Refused,
    ServerError,
    StoppedEarly,
    StreamCut,
    Usage,
)
from bot.providers.openai_responses import OpenAIResponsesProvider
from tests.providers.replay import ANSWER_PATIENCE_SECONDS, JSON, Answer, ReplayServer, run

BASE_URL = "https://api.openai.com/v1"
KEY = "sk-test-abc123"
ITEM = "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c2f0b4b2"
PLACE = {"item_id": ITEM, "output_index": 0, "content_index": 0}


def event(kind: str, number: int, **fields: Any) -> str:
    data = json.dumps({"type": kind, "sequence_number": number, **fields})
    return f"event: {kind}\ndata: {data}\n\n"


def response(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c2f0b4b2",
        "object": "response",
        "created_at": 1741476777,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": "gpt-4o-2024-08-06",
        "output": [],
        "store": False,
        "usage": None,
        **fields,
    }


USAGE = {
    "input_tokens": 37,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 11,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 48,
}
OPENING = (
    event("response.created", 0, response=response("in_progress"))
    + event("response.in_progress", 1, response=response("in_progress"))
    + event(
        "response.output_item.added",
        2,
        output_index=0,
        item={"id": ITEM, "type": "message", "status": "in_progress", "role": "assistant"},
    )
    + event("response.content_part.added", 3, **PLACE, part={"type": "output_text", "text": ""})
)


def delta(text: str, number: int) -> str:
    return event("response.output_text.delta", number, **PLACE, delta=text, logprobs=[])


def ending(status: str, number: int, **fields: Any) -> str:
    return event(f"response.{status}", number, response=response(status, usage=USAGE, **fields))


ANSWER = (
    OPENING
    + delta("4 and ", 4)
    + delta("6.", 5)
    + event("response.output_text.done", 6, **PLACE, text="4 and 6.", logprobs=[])
    + ending("completed", 7)
).encode()


async def ask(
    server: ReplayServer, request: ModelRequest | None = None, api_key: str | None = KEY
) -> Answer:
    async with server.client() as client:
        return await run(OpenAIResponsesProvider(client, BASE_URL, api_key), "gpt-4o", request)


async def test_streams_the_text_deltas_then_the_usage_of_the_completed_response():
    answer = await ask(ReplayServer(ANSWER, chunk_size=11))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=37, output_tokens=11)]


async def test_sends_instructions_and_the_turns_as_input_without_storing_the_response():
    server = ReplayServer(ANSWER)
    await ask(server)

    assert server.request.url == "https://api.openai.com/v1/responses"
    assert server.request.headers["authorization"] == f"Bearer {KEY}"
    assert server.sent_json() == {
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "user", "content": "Ann: What is 2+2?"},
            {"type": "message", "role": "assistant", "content": "4."},
            {"type": "message", "role": "user", "content": "Bob: And 3+3?"},
            {"type": "message", "role": "user", "content": "Ann: Answer both."},
        ],
        "stream": True,
        "store": False,
    }


async def test_no_system_prompt_sends_no_instructions_and_no_key_no_header():
    server = ReplayServer(ANSWER)
    await ask(server, ModelRequest("", (ChatMessage("user", "hi"),)), api_key=None)

    assert "instructions" not in server.sent_json()
    assert "authorization" not in server.request.headers


async def test_an_answer_is_not_held_up_by_a_server_that_keeps_the_stream_open_after_it():
    server = ReplayServer(ANSWER, hang_after_body=True)
    answer = await asyncio.wait_for(ask(server), ANSWER_PATIENCE_SECONDS)

    assert answer.error is None
    assert answer.text == "4 and 6."


async def test_reasoning_and_unknown_events_are_skipped():
    reasoning = event(
        "response.reasoning_summary_text.delta", 4, item_id="rs_1", delta="Thinking about sums"
    )
    future = event("response.something_new", 5, detail={"x": 1})
    body = OPENING + reasoning + future + delta("Hi", 6) + ending("completed", 7)
    answer = await ask(ReplayServer(body.encode()))

    assert answer.error is None
    assert answer.text == "Hi"


async def test_an_incomplete_response_at_the_token_limit_keeps_the_text_and_says_so():
    incomplete = ending("incomplete", 5, incomplete_details={"reason": "max_output_tokens"})
    answer = await ask(ReplayServer((OPENING + delta("4 and ", 4) + incomplete).encode()))

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=37, output_tokens=11)]
    assert isinstance(answer.error, OutputLimitReached)
    assert str(answer.error) == "OpenAI stopped at the output-token limit."


async def test_an_incomplete_response_stopped_by_the_content_filter_is_a_refusal():
    incomplete = ending("incomplete", 4, incomplete_details={"reason": "content_filter"})
    answer = await ask(ReplayServer((OPENING + incomplete).encode()))

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == "OpenAI refused to answer (incomplete: content_filter)."


@pytest.mark.parametrize(
    ("details", "said"),
    [({"reason": "max_messages"}, "incomplete: max_messages"), (None, "incomplete")],
)
async def test_an_incomplete_response_for_another_reason_keeps_its_text_but_is_not_whole(
    details: dict[str, str] | None, said: str
):
    incomplete = ending("incomplete", 5, incomplete_details=details)
    answer = await ask(ReplayServer((OPENING + delta("4 and ", 4) + incomplete).encode()))

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=37, output_tokens=11)]
    assert isinstance(answer.error, StoppedEarly)
    assert str(answer.error) == f"OpenAI stopped the answer early ({said})."


async def test_a_refusal_is_shown_in_the_models_own_words():
    refusal = "I'm sorry,\nI can't help with that."
    body = OPENING + event("response.refusal.done", 4, **PLACE, refusal=refusal)
    answer = await ask(ReplayServer(body.encode()))

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == "OpenAI refused to answer: I'm sorry, I can't help with that."


@pytest.mark.parametrize(
    "ending",
    [
        event("response.refusal.done", 5, **PLACE, refusal="I can't help with that.")
        + ending("completed", 6),
        ending("incomplete", 5, incomplete_details={"reason": "content_filter"}),
    ],
)
async def test_an_answer_refused_midway_keeps_its_text_and_usage(ending: str):
    answer = await ask(ReplayServer((OPENING + delta("4 and ", 4) + ending).encode()))

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=37, output_tokens=11)]
    assert isinstance(answer.error, Refused)


async def test_a_failed_response_is_mapped_by_its_error_code():
    stock = "The server had an error while processing your request. Sorry about that!"
    failed = ending("failed", 5, error={"code": "server_error", "message": stock})
    answer = await ask(ReplayServer((OPENING + delta("4", 4) + failed).encode()))

    assert answer.text == "4"
    assert answer.usage == [Usage(input_tokens=37, output_tokens=11)]
    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenAI had a server error (server_error)."


@pytest.mark.parametrize(
    "failure",
    [
        ending("failed", 5, error={"code": "vector_store_timeout", "message": "Timed out\n"}),
        event("error", 5, code="vector_store_timeout", message="Timed out\n", param=None),
    ],
    ids=["response.failed", "error"],
)
async def test_an_error_code_the_bot_does_not_know_is_named_with_its_message(failure):
    answer = await ask(ReplayServer((OPENING + delta("4", 4) + failure).encode()))

    assert answer.text == "4"
    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenAI had a server error (vector_store_timeout): Timed out."


async def test_a_prompt_failing_a_usage_policy_check_is_not_retried_and_says_why():
    flagged = "Invalid prompt: your prompt was flagged as potentially violating our usage policy."
    failed = ending("failed", 4, error={"code": "invalid_prompt", "message": flagged})
    answer = await ask(ReplayServer((OPENING + failed).encode()))

    assert isinstance(answer.error, BadRequest)
    assert not answer.error.retryable
    assert str(answer.error) == f"OpenAI rejected the request (invalid_prompt): {flagged}"


async def test_an_error_event_is_mapped_by_its_code():
    error = event("error", 4, code="rate_limit_exceeded", message="Rate limit reached.", param=None)
    answer = await ask(ReplayServer((OPENING + error).encode()))

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retryable


async def test_an_error_event_with_the_error_nested_is_read_by_its_type():
    # As the API sends it (the reference shows the fields flat): the message is kept.
    nested = {"type": "too_many_requests", "code": "too_many_requests", "param": None}
    error = event("error", 4, error={**nested, "message": "Too Many Requests"})
    answer = await ask(ReplayServer((OPENING + error).encode()))

    assert isinstance(answer.error, RateLimited)
    assert str(answer.error) == "OpenAI rate limit reached (too_many_requests)."


@pytest.mark.parametrize("code", ["credit_balance_exhausted", "insufficient_quota"])
async def test_an_error_event_saying_the_credits_are_gone_is_not_retried(code: str):
    no_credits = {"type": "insufficient_quota", "code": code, "message": "No credits remaining."}
    answer = await ask(ReplayServer((OPENING + event("error", 4, error=no_credits)).encode()))

    assert isinstance(answer.error, QuotaExhausted)
    assert not answer.error.retryable
    assert str(answer.error) == (
        f"OpenAI quota is used up ({code}); check the account's plan and billing."
    )


async def test_a_stream_that_ends_without_a_final_response_is_cut():
    answer = await ask(ReplayServer((OPENING + delta("4 and ", 4)).encode()))

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)

    dropped = ReplayServer(
        (OPENING + delta("4", 4)).encode(),
        fail_after_body=httpx.RemoteProtocolError("peer closed connection"),
    )
    assert isinstance((await ask(dropped)).error, StreamCut)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("event: response.output_text.delta\ndata: {not json\n\n", id="not-json"),
        pytest.param(
            'data: {"type":"response.output_text.delta","delta":7}\n\n', id="delta-not-text"
        ),
        pytest.param('data: {"type":"response.completed"}\n\n', id="no-response"),
    ],
)
async def test_data_of_the_wrong_shape_is_malformed(data: str):
    answer = await ask(ReplayServer((OPENING + delta("Hi", 4) + data).encode()))

    assert answer.text == "Hi"
    assert isinstance(answer.error, MalformedStream)


async def test_a_refused_key_answers_with_the_openai_error_shape():
    body = {
        "error": {
            "message": "Incorrect API key provided: sk-test-***123.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    server = ReplayServer(json.dumps(body).encode(), status=401, headers=dict(JSON))
    answer = await ask(server)

    assert isinstance(answer.error, AuthenticationFailed)
    assert "sk-test" not in str(answer.error)


REASONING = "rs_67ccd3a9da748190baa7f1570fe91ac604becb25c2f0b4b2"
SUMMARY_PLACE = {"item_id": REASONING, "output_index": 0, "summary_index": 0}
THINKING = event(
    "response.output_item.added",
    2,
    output_index=0,
    item={"id": REASONING, "type": "reasoning", "summary": []},
) + "".join(
    event("response.reasoning_summary_text.delta", number, **SUMMARY_PLACE, delta=piece)
    for number, piece in enumerate(["**Adding** ", "two and two."], start=3)
)


async def test_a_reasoning_summary_is_left_out_of_the_answer():
    answer = await ask(ReplayServer((THINKING + ANSWER.decode()).encode()))

    assert answer.error is None
    assert answer.text == "4 and 6."


async def test_a_summary_then_silence_fails_as_thinking_that_stopped():
    server = ReplayServer(THINKING.encode(), hang_after_body=True)
    async with server.client() as client:
        client.timeout = httpx.Timeout(0.6)
        provider = OpenAIResponsesProvider(client, BASE_URL, KEY, first_token_timeout=0.2)
        answer = await asyncio.wait_for(run(provider, "gpt-5"), ANSWER_PATIENCE_SECONDS)

    assert answer.text == ""
    assert str(answer.error) == "OpenAI stopped sending anything while thinking (none for 0.6 s)."
