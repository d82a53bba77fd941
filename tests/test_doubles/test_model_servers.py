"""The fake model servers speak each provider's real streaming wire format and errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse, connect_sse

from tests.doubles import FakeModelServer, ModelFault, ModelScript, wait_until

OPENAI_HEADERS = {"Authorization": "Bearer sk-test-openai"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-test-anthropic", "anthropic-version": "2023-06-01"}
GEMINI_HEADERS = {"x-goog-api-key": "test-gemini-key"}
OPENAI_PATH = "/openai/v1/chat/completions"
RESPONSES_PATH = "/openai/v1/responses"
ANTHROPIC_PATH = "/anthropic/v1/messages"
GEMINI_PATH = "/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def openai_request(model: str = "gpt-5.1", **extra: Any) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Alice: hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        {"role": "user", "content": "Alice: what is 2+2?"},
    ]
    return {"model": model, "stream": True, "messages": messages, **extra}


def responses_request(model: str = "gpt-5-pro") -> dict[str, Any]:
    items = [
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": "Alice: hi"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "Alice: what is 2+2?"}]},
    ]
    return {"model": model, "stream": True, "input": items}


def anthropic_request(model: str = "claude-sonnet-4-5", **extra: Any) -> dict[str, Any]:
    messages = [
        {"role": "user", "content": "Alice: hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "Alice: what is 2+2?"}]},
    ]
    system = [{"type": "text", "text": "Be brief."}]
    return {
        "model": model,
        "max_tokens": 1024,
        "stream": True,
        "system": system,
        "messages": messages,
        **extra,
    }


def gemini_request(**extra: Any) -> dict[str, Any]:
    contents = [
        {"role": "user", "parts": [{"text": "Alice: hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "Alice: what is 2+2?"}]},
    ]
    system = {"parts": [{"text": "Be brief."}]}
    return {"systemInstruction": system, "contents": contents, **extra}


def stream_events(
    models: FakeModelServer, path: str, headers: dict[str, str], body: dict[str, Any]
) -> list[tuple[str, str]]:
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=5.0) as client,
        connect_sse(client, "POST", path, headers=headers, json=body) as source,
    ):
        source.response.raise_for_status()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(event.event, event.data) for event in source.iter_sse()]


def openai_finish_reason(chunks: list[dict[str, Any]]) -> str:
    return [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]][-1]


def openai_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def responses_finish_reason(chunks: list[dict[str, Any]]) -> str:
    if any(chunk["type"] == "response.refusal.done" for chunk in chunks):
        return "refusal"
    response = chunks[-1]["response"]
    details = response["incomplete_details"]
    return str(details["reason"] if details else response["status"])


def responses_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"] for c in chunks if c["type"] == "response.output_text.delta")


def anthropic_stop_reason(chunks: list[dict[str, Any]]) -> str:
    return next(c["delta"]["stop_reason"] for c in chunks if c["type"] == "message_delta")


def anthropic_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")


def gemini_finish_reason(chunks: list[dict[str, Any]]) -> str:
    return str(chunks[-1]["candidates"][0]["finishReason"])


def gemini_text(chunks: list[dict[str, Any]]) -> str:
    parts = [c["candidates"][0].get("content", {}).get("parts", []) for c in chunks]
    return "".join(part["text"] for chunk_parts in parts for part in chunk_parts)


@dataclass(frozen=True)
class ProviderCase:
    """One provider's endpoint, a valid request to it, and where its stream says how it ended."""

    path: str
    headers: dict[str, str]
    body: Callable[[], dict[str, Any]]
    model: str
    rate_limit_error: str
    refusal_reason: str
    output_limit_reason: str
    finish_reason: Callable[[list[dict[str, Any]]], str]
    text: Callable[[list[dict[str, Any]]], str]

    def stream(self, models: FakeModelServer) -> list[tuple[str, str]]:
        return stream_events(models, self.path, self.headers, self.body())


PROVIDERS = {
    "openai": ProviderCase(
        OPENAI_PATH,
        OPENAI_HEADERS,
        openai_request,
        "gpt-5.1",
        "requests",
        "content_filter",
        "length",
        openai_finish_reason,
        openai_text,
    ),
    "openai-responses": ProviderCase(
        RESPONSES_PATH,
        OPENAI_HEADERS,
        responses_request,
        "gpt-5-pro",
        "requests",
        "refusal",
        "max_output_tokens",
        responses_finish_reason,
        responses_text,
    ),
    "anthropic": ProviderCase(
        ANTHROPIC_PATH,
        ANTHROPIC_HEADERS,
        anthropic_request,
        "claude-sonnet-4-5",
        "rate_limit_error",
        "refusal",
        "max_tokens",
        anthropic_stop_reason,
        anthropic_text,
    ),
    "gemini": ProviderCase(
        GEMINI_PATH,
        GEMINI_HEADERS,
        gemini_request,
        "gemini-2.5-pro",
        "RESOURCE_EXHAUSTED",
        "SAFETY",
        "MAX_TOKENS",
        gemini_finish_reason,
        gemini_text,
    ),
}


def test_openai_streams_chunks_usage_and_done(models: FakeModelServer):
    body = openai_request(stream_options={"include_usage": True})
    events = stream_events(models, OPENAI_PATH, OPENAI_HEADERS, body)
    assert events[-1] == ("message", "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert openai_text(chunks) == "gpt-5.1 answers: Alice: what is 2+2?"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("openrouter", {"Authorization": "Bearer sk-test-openrouter"}), ("ollama", {})],
)
def test_openai_compatible_providers_share_the_format(
    models: FakeModelServer, prefix: str, headers: dict[str, str]
):
    events = stream_events(models, f"/{prefix}/v1/chat/completions", headers, openai_request("m"))
    assert events[-1][1] == "[DONE]" and models.requests[-1].provider == prefix


def test_openai_responses_streams_numbered_typed_events_to_response_completed(
    models: FakeModelServer,
):
    events = stream_events(models, RESPONSES_PATH, OPENAI_HEADERS, responses_request())
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-2:] == ["response.output_item.done", "response.completed"]
    payloads = [json.loads(data) for _, data in events]
    assert [p["type"] for p in payloads] == names
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    text = responses_text(payloads)
    assert text == "gpt-5-pro answers: Alice: what is 2+2?"
    done = next(p for p in payloads if p["type"] == "response.output_text.done")
    assert done["text"] == text
    response = payloads[-1]["response"]
    assert response["id"].startswith("resp_") and response["usage"]["output_tokens"] > 0


def test_anthropic_streams_message_start_to_message_stop(models: FakeModelServer):
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    payloads = [json.loads(data) for _, data in events]
    assert all(payload["type"] == name for name, payload in zip(names, payloads, strict=True))
    assert anthropic_text(payloads) == "claude-sonnet-4-5 answers: Alice: what is 2+2?"
    assert payloads[0]["message"]["usage"]["input_tokens"] > 0
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"


def test_gemini_streams_crlf_separated_chunks(models: FakeModelServer):
    raw = httpx.post(
        f"{models.url}{GEMINI_PATH}", headers=GEMINI_HEADERS, json=gemini_request(), trust_env=False
    ).text
    assert "\r\n\r\n" in raw
    events = stream_events(models, GEMINI_PATH, GEMINI_HEADERS, gemini_request())
    chunks = [json.loads(data) for _, data in events]
    assert gemini_text(chunks) == "gemini-2.5-pro answers: Alice: what is 2+2?"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] > 0


def test_gemini_aborts_a_stream_with_its_error_body_outside_sse_framing(models: FakeModelServer):
    fault = ModelFault(status=429, stream_error_after_chunks=1)
    models.script("gemini-2.5-pro", ModelScript(error=fault))
    raw = httpx.post(
        f"{models.url}{GEMINI_PATH}", headers=GEMINI_HEADERS, json=gemini_request(), trust_env=False
    ).text

    framed, _, unframed = raw.rpartition("\r\n\r\n")
    assert framed.startswith("data: "), "the text before it comes as usual"
    assert unframed.startswith("{\n  "), "pretty-printed, with no `data:` before it"
    error = json.loads(unframed)["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")


def error_type(body: dict[str, Any]) -> str:
    return str(body["error"]["type"])


def error_code(body: dict[str, Any]) -> str:
    return str(body["error"]["code"])


def error_status(body: dict[str, Any]) -> str:
    return str(body["error"]["status"])


ANTHROPIC_NO_VERSION = {"x-api-key": "sk-test-anthropic"}
ANTHROPIC_WRONG_KEY = {**ANTHROPIC_HEADERS, "x-api-key": "wrong"}


@pytest.mark.parametrize(
    ("path", "headers", "status", "read_error", "expected"),
    [
        pytest.param(OPENAI_PATH, {}, 401, error_type, "invalid_request_error", id="openai no key"),
        pytest.param(
            OPENAI_PATH,
            {"Authorization": "Bearer sk-no"},
            401,
            error_code,
            "invalid_api_key",
            id="openai wrong key",
        ),
        pytest.param(
            ANTHROPIC_PATH,
            ANTHROPIC_WRONG_KEY,
            401,
            error_type,
            "authentication_error",
            id="anthropic wrong key",
        ),
        pytest.param(
            ANTHROPIC_PATH,
            ANTHROPIC_NO_VERSION,
            400,
            error_type,
            "invalid_request_error",
            id="anthropic no version",
        ),
        pytest.param(GEMINI_PATH, {}, 403, error_status, "PERMISSION_DENIED", id="gemini no key"),
        pytest.param(
            f"{GEMINI_PATH}&key=test-gemini-key",
            GEMINI_HEADERS,
            400,
            error_status,
            "INVALID_ARGUMENT",
            id="gemini key in url",
        ),
    ],
)
def test_providers_refuse_bad_credentials_in_their_own_shape(
    models: FakeModelServer,
    path: str,
    headers: dict[str, str],
    status: int,
    read_error: Callable[[dict[str, Any]], str],
    expected: str,
):
    body = PROVIDERS[path.split("/")[1]].body()
    answer = httpx.post(f"{models.url}{path}", headers=headers, json=body, trust_env=False)
    assert answer.status_code == status
    assert read_error(answer.json()) == expected


def test_every_provider_reads_back_the_same_conversation(models: FakeModelServer):
    expected_turns = [
        ("user", "Alice: hi"),
        ("assistant", "Hello!"),
        ("user", "Alice: what is 2+2?"),
    ]
    for case in PROVIDERS.values():
        case.stream(models)
        [request] = models.requests_for(case.model)
        assert request.system_prompt() == "Be brief."
        assert request.turns() == expected_turns
        assert request.last_user_text() == "Alice: what is 2+2?"
    assert models.requests_for("google:gemini-2.5-pro") == models.requests_for("gemini-2.5-pro")


@pytest.mark.parametrize("case", PROVIDERS.values(), ids=PROVIDERS.keys())
def test_a_scripted_429_fails_then_the_model_recovers(models: FakeModelServer, case: ProviderCase):
    fault = ModelFault(status=429, message="slow down", retry_after=2)
    models.script(case.model, ModelScript(error=fault, fail_times=1))
    refused = httpx.post(
        f"{models.url}{case.path}", headers=case.headers, json=case.body(), trust_env=False
    )
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert case.rate_limit_error in refused.text and "slow down" in refused.text
    assert case.stream(models)


def test_anthropic_overloaded_is_529(models: FakeModelServer):
    models.script("claude-sonnet-4-5", ModelScript(error=ModelFault(status=529)))
    answer = httpx.post(
        f"{models.url}{ANTHROPIC_PATH}",
        headers=ANTHROPIC_HEADERS,
        json=anthropic_request(),
        trust_env=False,
    )
    assert answer.status_code == 529 and answer.json()["error"]["type"] == "overloaded_error"


def test_a_cut_stream_breaks_after_the_scripted_chunks(models: FakeModelServer):
    models.script(
        "gpt-5.1", ModelScript(reply="a" * 60, chunk_chars=10, error=ModelFault(cut_after_chunks=2))
    )
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.Client(base_url=models.url, trust_env=False) as client,
        connect_sse(
            client,
            "POST",
            OPENAI_PATH,
            headers=OPENAI_HEADERS,
            json=openai_request(),
        ) as source,
    ):
        received.extend(event.data for event in source.iter_sse())
    contents = [json.loads(data)["choices"][0]["delta"].get("content") for data in received]
    assert contents == ["", "a" * 10, "a" * 10]


def test_malformed_and_in_stream_errors(models: FakeModelServer):
    models.script("claude-sonnet-4-5", ModelScript(error=ModelFault(malformed_after_chunks=1)))
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[-1][1])
    models.script(
        "claude-sonnet-4-5", ModelScript(error=ModelFault(status=529, stream_error_after_chunks=1))
    )
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    assert events[-1][0] == "error"
    assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("case", PROVIDERS.values(), ids=PROVIDERS.keys())
def test_refusals_use_each_providers_finish_reason(models: FakeModelServer, case: ProviderCase):
    models.script(case.model, ModelScript(error=ModelFault(refusal=True)))
    chunks = [json.loads(data) for _, data in case.stream(models) if data != "[DONE]"]
    assert case.finish_reason(chunks) == case.refusal_reason


@pytest.mark.parametrize("case", PROVIDERS.values(), ids=PROVIDERS.keys())
def test_an_output_limit_ends_with_each_providers_max_tokens_finish(
    models: FakeModelServer, case: ProviderCase
):
    script = ModelScript(
        reply="a" * 60, chunk_chars=10, error=ModelFault(output_limit_after_chunks=2)
    )
    models.script(case.model, script)
    chunks = [json.loads(data) for _, data in case.stream(models) if data != "[DONE]"]
    assert case.finish_reason(chunks) == case.output_limit_reason
    assert case.text(chunks) == "a" * 20


@pytest.mark.parametrize(
    ("path", "headers", "body", "keep_alive"),
    [
        (ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request("m"), "event: ping"),
        (
            "/openrouter/v1/chat/completions",
            {"Authorization": "Bearer sk-test-openrouter"},
            openai_request("m"),
            ": OPENROUTER PROCESSING",
        ),
    ],
)
def test_a_keep_alive_only_stream_sends_keep_alives_and_no_text(
    models: FakeModelServer,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    keep_alive: str,
):
    models.script("m", ModelScript(error=ModelFault(keep_alive_only=True)))
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=2) as client,
        client.stream("POST", path, headers=headers, json=body) as response,
    ):
        lines = response.iter_lines()
        seen = [next(lines) for _ in range(20)]
    assert sum(line == keep_alive for line in seen) >= 3
    assert not any("text_delta" in line or '"content": "m' in line for line in seen)
    wait_until(lambda: models.in_flight == 0, message="the stream never ended")


def test_a_hung_stream_sends_headers_then_nothing(models: FakeModelServer):
    models.script("gpt-5.1", ModelScript(error=ModelFault(hang_before_first_token=True)))
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=0.3) as client,
        client.stream(
            "POST", OPENAI_PATH, headers=OPENAI_HEADERS, json=openai_request()
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            response.read()
    wait_until(lambda: models.in_flight == 0, message="the hung stream never ended")


async def test_concurrent_requests_are_counted_and_paced(models: FakeModelServer):
    models.script("gpt-5.1", ModelScript(reply="x" * 24, first_token_delay=0.1, chunk_delay=0.02))

    async def one_answer(client: httpx.AsyncClient) -> float:
        started = time.monotonic()
        async with aconnect_sse(
            client,
            "POST",
            OPENAI_PATH,
            headers=OPENAI_HEADERS,
            json=openai_request(),
        ) as source:
            [event async for event in source.aiter_sse()]
        return time.monotonic() - started

    async with httpx.AsyncClient(base_url=models.url, trust_env=False) as client:
        durations = await asyncio.gather(*(one_answer(client) for _ in range(3)))
    assert min(durations) >= 0.12
    assert models.max_in_flight == 3
    # The server counts a request done once its handler returns, which may be just after
    # the client has read the stream's end.
    wait_until(lambda: models.in_flight == 0, message="a request still counted in flight")


def test_a_hurried_server_sends_the_rest_of_a_paced_stream_at_once(models: FakeModelServer):
    models.script("gpt-5.1", ModelScript(reply="x" * 200, chunk_chars=2, chunk_delay=0.2))
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=5) as client,
        connect_sse(
            client, "POST", OPENAI_PATH, headers=OPENAI_HEADERS, json=openai_request()
        ) as source,
    ):
        events = source.iter_sse()
        next(events)  # the first chunk, at its pace: 99 more would take 20 s
        models.hurry()
        started = time.monotonic()
        rest = [event.data for event in events]
    assert time.monotonic() - started < 2
    assert rest[-1] == "[DONE]" and len(rest) >= 99


def test_callable_replies_and_explicit_usage(models: FakeModelServer):
    models.script(
        "anthropic:claude-sonnet-4-5",
        ModelScript(reply=lambda request: f"{len(request.turns())} turns", usage=(7, 3)),
    )
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    payloads = [json.loads(data) for _, data in events]
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert text == "3 turns"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 7
    assert payloads[-2]["usage"]["output_tokens"] == 3


def test_env_points_every_provider_at_the_server(models: FakeModelServer):
    env = models.env()
    assert env["OPENAI_BASE_URL"] == f"{models.url}/openai/v1"
    assert env["GEMINI_BASE_URL"] == f"{models.url}/gemini"
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"} <= set(
        env
    )


@pytest.mark.parametrize("provider", ["ollama", "openrouter"])
def test_open_models_strict_chat_templates_refuse_turns_that_do_not_alternate(
    models: FakeModelServer, provider: str
):
    path = f"/{provider}/v1/chat/completions"
    headers = {"Authorization": "Bearer sk-test-openrouter"} if provider == "openrouter" else {}
    body = openai_request("google/gemma-3-27b-it")
    assert stream_events(models, path, headers, body)

    body["messages"].insert(2, {"role": "user", "content": "Bob: and 3+3?"})
    answer = httpx.post(f"{models.url}{path}", headers=headers, json=body, trust_env=False)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Conversation roles must alternate user/assistant/user/assistant/..."
    )


THINKING = ModelScript(reply="4.", reasoning="Two and two make four.", chunk_chars=8)


@pytest.mark.parametrize(
    ("prefix", "headers", "reasoning_field"),
    [
        ("openrouter", {"Authorization": "Bearer sk-test-openrouter"}, "reasoning"),
        ("ollama", {}, "reasoning"),
        ("vllm", {}, "reasoning_content"),
    ],
)
def test_chat_completions_servers_stream_thoughts_in_their_own_field(
    models: FakeModelServer, prefix: str, headers: dict[str, str], reasoning_field: str
):
    models.script("m", THINKING)
    events = stream_events(models, f"/{prefix}/v1/chat/completions", headers, openai_request("m"))
    chunks = [json.loads(data) for _, data in events[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert "".join(delta.get(reasoning_field) or "" for delta in deltas) == THINKING.reasoning
    assert openai_text(chunks) == "4."


def test_openai_thinks_in_silence(models: FakeModelServer):
    models.script("gpt-5.1", THINKING)
    events = stream_events(models, OPENAI_PATH, OPENAI_HEADERS, openai_request())
    assert "Two and two" not in "".join(data for _, data in events)
    assert openai_text([json.loads(data) for _, data in events[:-1]]) == "4."


ANTHROPIC_THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
GEMINI_THOUGHTS = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}


def test_anthropic_thinks_in_a_signed_block_before_the_text_block(models: FakeModelServer):
    models.script("claude-sonnet-4-5", THINKING)
    request = anthropic_request(**ANTHROPIC_THINKING)
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, request)
    payloads = [json.loads(data) for _, data in events]
    starts = [p for p in payloads if p["type"] == "content_block_start"]
    assert [(p["index"], p["content_block"]["type"]) for p in starts] == [
        (0, "thinking"),
        (1, "text"),
    ]
    deltas = [p["delta"] for p in payloads if p["type"] == "content_block_delta"]
    assert "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta") == (
        THINKING.reasoning
    )
    assert [d["type"] for d in deltas][-2:] == ["signature_delta", "text_delta"]
    assert [p["index"] for p in payloads if p["type"] == "content_block_stop"] == [0, 1]


def test_gemini_streams_thought_parts(models: FakeModelServer):
    models.script("gemini-2.5-pro", THINKING)
    events = stream_events(models, GEMINI_PATH, GEMINI_HEADERS, gemini_request(**GEMINI_THOUGHTS))
    parts = [
        part
        for _, data in events
        for part in json.loads(data)["candidates"][0].get("content", {}).get("parts", [])
    ]
    assert "".join(p["text"] for p in parts if p.get("thought")) == THINKING.reasoning
    assert "".join(p["text"] for p in parts if not p.get("thought")) == "4."


def test_anthropic_not_asked_for_thinking_thinks_in_silence(models: FakeModelServer):
    models.script("claude-sonnet-4-5", THINKING)
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    payloads = [json.loads(data) for _, data in events]
    starts = [p for p in payloads if p["type"] == "content_block_start"]
    assert [(p["index"], p["content_block"]["type"]) for p in starts] == [(0, "text")]
    assert "Two and two" not in "".join(data for _, data in events)
    assert anthropic_text(payloads) == "4."


def test_gemini_not_asked_for_thoughts_thinks_in_silence(models: FakeModelServer):
    models.script("gemini-2.5-pro", THINKING)
    events = stream_events(models, GEMINI_PATH, GEMINI_HEADERS, gemini_request())
    assert "Two and two" not in "".join(data for _, data in events)
    assert gemini_text([json.loads(data) for _, data in events]) == "4."


def test_openrouter_answers_errors_in_its_own_shape(models: FakeModelServer):
    path, headers = "/openrouter/v1/chat/completions", {"Authorization": "Bearer sk-no"}
    refused = httpx.post(f"{models.url}{path}", headers=headers, json=openai_request("m"))
    assert refused.status_code == 401
    assert refused.json()["error"] == {"message": "Incorrect API key provided.", "code": 401}

    fault = ModelFault(status=502, message="Provider returned error", stream_error_after_chunks=1)
    models.script("m", ModelScript(error=fault))
    headers = {"Authorization": "Bearer sk-test-openrouter"}
    *_, (_, last) = stream_events(models, path, headers, openai_request("m"))
    chunk = json.loads(last)
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["error"] == {"message": "Provider returned error", "code": 502}
    assert chunk["choices"][0]["finish_reason"] == "error"


def test_ollama_ends_an_answer_failed_midway_with_an_empty_chunk_and_no_reason(
    models: FakeModelServer,
):
    fault = ModelFault(message="model runner has unexpectedly stopped", stream_error_after_chunks=1)
    models.script("llama3.2", ModelScript(reply="The first step is", error=fault))
    path = "/ollama/v1/chat/completions"
    events = stream_events(models, path, {}, openai_request("llama3.2"))

    chunks = [json.loads(data) for _, data in events]
    assert openai_text(chunks) == "The first st"
    last = chunks[-1]
    assert last["model"] == ""
    assert last["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert last["choices"][0]["finish_reason"] is None
    assert "runner" not in "".join(data for _, data in events), "the reason is not sent"
    assert "[DONE]" not in [data for _, data in events]
