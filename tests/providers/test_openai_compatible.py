"""The OpenAI-compatible provider against Chat Completions streams as OpenAI and others send."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers.base import (
    BadRequest,
    MalformedStream,
    OutputLimitReached,
    Overloaded,
    ProviderTimeout,
    Refused,
    ServerError,
    StoppedEarly,
    StreamCut,
    Usage,
    system_in_first_turn,
)
from bot.providers.openai_compatible import OpenAICompatibleProvider
from tests.providers.replay import JSON, Answer, ReplayServer, run

BASE_URL = "https://api.openai.com/v1"
KEY = "sk-test-abc123"

CHUNK = (
    'data: {{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk",'
    '"created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default",'
    '"system_fingerprint":"fp_eb9dce56a8","choices":[{{"index":0,"delta":{delta},'
    '"logprobs":null,"finish_reason":{finish}}}],"usage":null}}\n\n'
)
USAGE_CHUNK = (
    'data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk",'
    '"created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default",'
    '"system_fingerprint":"fp_eb9dce56a8","choices":[],"usage":{"prompt_tokens":31,'
    '"completion_tokens":9,"total_tokens":40,"prompt_tokens_details":{"cached_tokens":0,'
    '"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n'
)
DONE = "data: [DONE]\n\n"


def chunk(content: str | None = None, finish: str | None = None, role: bool = False) -> str:
    if role:
        delta = '{"role":"assistant","content":"","refusal":null}'
    elif content is None:
        delta = "{}"
    else:
        delta = f'{{"content":"{content}"}}'
    return CHUNK.format(delta=delta, finish=f'"{finish}"' if finish else "null")


ANSWER = (
    chunk(role=True) + chunk("4 and ") + chunk("6.") + chunk(finish="stop") + USAGE_CHUNK + DONE
).encode()


async def ask(server: ReplayServer, request: ModelRequest | None = None, **options) -> Answer:
    async with server.client() as client:
        provider = OpenAICompatibleProvider(client, options.pop("base_url", BASE_URL), **options)
        return await run(provider, "gpt-4o", request)


async def test_streams_text_then_the_usage_of_the_final_chunk():
    answer = await ask(ReplayServer(ANSWER, chunk_size=7), api_key=KEY)

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]


async def test_sends_system_prompt_then_turns_with_usage_requested():
    server = ReplayServer(ANSWER)
    await ask(server, api_key=KEY)

    assert server.request.method == "POST"
    assert server.request.url == "https://api.openai.com/v1/chat/completions"
    assert server.request.headers["authorization"] == f"Bearer {KEY}"
    assert server.request.headers["accept"] == "text/event-stream"
    assert server.sent_json() == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Ann: What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "Bob: And 3+3?"},
            {"role": "user", "content": "Ann: Answer both."},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_empty_system_prompt_is_left_out():
    server = ReplayServer(ANSWER)
    await ask(server, ModelRequest("", (ChatMessage("user", "hi"),)), api_key=KEY)

    assert server.sent_json()["messages"] == [{"role": "user", "content": "hi"}]


async def test_local_server_without_key_gets_no_authorization_header():
    server = ReplayServer(ANSWER)
    answer = await ask(server, base_url="http://localhost:11434/v1/", api_key=None)

    assert answer.text == "4 and 6."
    assert server.request.url == "http://localhost:11434/v1/chat/completions"
    assert "authorization" not in server.request.headers


async def test_extra_headers_are_sent():
    server = ReplayServer(ANSWER)
    await ask(
        server,
        base_url="https://openrouter.ai/api/v1",
        api_key=KEY,
        extra_headers={"X-Title": "chorus-slack"},
    )

    assert server.request.headers["x-title"] == "chorus-slack"
    assert server.request.url == "https://openrouter.ai/api/v1/chat/completions"


async def test_openrouter_comments_are_ignored_and_errors_name_openrouter():
    body = ": OPENROUTER PROCESSING\n\n" + chunk("Hi") + chunk(finish="stop") + DONE
    answer = await ask(
        ReplayServer(body.encode()), base_url="https://openrouter.ai/api/v1", api_key=KEY
    )
    assert answer.text == "Hi"

    cut = await ask(
        ReplayServer(chunk("Hi").encode()), base_url="https://openrouter.ai/api/v1", api_key=KEY
    )
    assert str(cut.error) == "The stream from OpenRouter stopped before the answer was complete."


async def test_finish_reason_without_done_still_completes():
    answer = await ask(ReplayServer((chunk("Hi") + chunk(finish="stop")).encode()), api_key=KEY)

    assert answer.error is None
    assert answer.text == "Hi"


async def test_a_usage_chunk_without_choices_is_read():
    usage_only = USAGE_CHUNK.replace('"choices":[],', "")
    body = chunk("Hi") + chunk(finish="stop") + usage_only + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.error is None
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]


async def test_length_finish_keeps_the_text_and_says_where_it_stopped():
    body = chunk(role=True) + chunk("4 and ") + chunk(finish="length") + USAGE_CHUNK + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]
    assert isinstance(answer.error, OutputLimitReached)
    assert str(answer.error) == "OpenAI stopped at the output-token limit."


@pytest.mark.parametrize(
    "reason", ["stop", "tool_calls", "function_call", "eos", "eos_token", "stop_sequence"]
)
async def test_known_finish_reasons_end_a_whole_answer(reason: str):
    body = chunk(role=True) + chunk("4 and 6.") + chunk(finish=reason) + USAGE_CHUNK + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.error is None
    assert answer.text == "4 and 6."


# DeepSeek's when it runs short of capacity mid-answer; vLLM's for a request it aborted.
@pytest.mark.parametrize("reason", ["insufficient_system_resource", "abort"])
async def test_an_unknown_finish_reason_keeps_the_text_but_the_answer_is_not_whole(reason: str):
    body = chunk(role=True) + chunk("The first step is ") + chunk(finish=reason)
    answer = await ask(ReplayServer((body + USAGE_CHUNK + DONE).encode()), api_key=KEY)

    assert answer.text == "The first step is "
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]
    assert isinstance(answer.error, StoppedEarly)
    assert str(answer.error) == f"OpenAI stopped the answer early (finish reason {reason})."


async def test_stream_ending_without_done_or_finish_reason_is_cut():
    answer = await ask(ReplayServer((chunk("4 and ")).encode()), api_key=KEY)

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)
    assert str(answer.error) == "The stream from OpenAI stopped before the answer was complete."


async def test_connection_dropped_mid_stream_is_cut_and_keeps_text():
    server = ReplayServer(
        chunk("4 and ").encode(),
        fail_after_body=httpx.RemoteProtocolError("peer closed connection"),
    )
    answer = await ask(server, api_key=KEY)

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)


async def test_connection_dropped_after_done_does_not_spoil_the_answer():
    server = ReplayServer(ANSWER, fail_after_body=httpx.ReadError("connection reset"))
    answer = await ask(server, api_key=KEY)

    assert answer.error is None
    assert answer.text == "4 and 6."


async def test_connection_dropped_after_the_usage_but_before_done_keeps_the_answer():
    # Only `[DONE]` is missing: the finish reason and the usage chunk say the answer is whole.
    body = chunk(role=True) + chunk("4 and ") + chunk("6.") + chunk(finish="stop") + USAGE_CHUNK
    dropped = httpx.RemoteProtocolError("peer closed connection without sending complete body")
    answer = await ask(ReplayServer(body.encode(), fail_after_body=dropped), api_key=KEY)

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]


async def test_content_filter_finish_reason_is_a_refusal():
    answer = await ask(ReplayServer((chunk(finish="content_filter") + DONE).encode()), api_key=KEY)

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == "OpenAI refused to answer (finish reason content_filter)."


def refusal(words: str) -> str:
    return CHUNK.format(delta=json.dumps({"refusal": words}), finish="null")


@pytest.mark.parametrize("end", [chunk(finish="stop") + DONE, DONE])
async def test_a_refusal_is_shown_in_the_models_own_words(end: str):
    body = chunk(role=True) + refusal("I'm sorry, ") + refusal("I can't help with that.") + end
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == "OpenAI refused to answer: I'm sorry, I can't help with that."


@pytest.mark.parametrize(
    "ending",
    [chunk(finish="content_filter"), refusal("I can't help with that.") + chunk(finish="stop")],
)
async def test_an_answer_refused_midway_keeps_its_text_and_the_usage_reported_after_it(ending: str):
    body = chunk(role=True) + chunk("4 and ") + ending + USAGE_CHUNK + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]
    assert isinstance(answer.error, Refused)


async def test_error_object_in_the_stream_is_mapped_by_type():
    error = (
        'data: {"error":{"message":"The server had an error while processing your request.",'
        '"type":"server_error","param":null,"code":null}}\n\n'
    )
    answer = await ask(ReplayServer((chunk("4") + error).encode()), api_key=KEY)

    assert answer.text == "4"
    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenAI had a server error (server_error)."


async def test_openrouter_numeric_error_code_in_the_stream_is_mapped():
    error = (
        'data: {"id":"cmpl-abc123","object":"chat.completion.chunk","created":1234567890,'
        '"model":"gpt-3.5-turbo","provider":"openai","error":{"code":503,'
        '"message":"Provider disconnected unexpectedly"},"choices":[{"index":0,'
        '"delta":{"content":""},"finish_reason":"error"}]}\n\n'
    )
    answer = await ask(
        ReplayServer(error.encode()), base_url="https://openrouter.ai/api/v1", api_key=KEY
    )

    assert isinstance(answer.error, Overloaded)
    assert str(answer.error) == "OpenRouter is overloaded (error 503); try again in a moment."


async def test_openrouter_says_why_the_provider_it_routed_to_failed_midway():
    raw = json.dumps({"error": {"message": "Upstream connection reset", "type": "api_error"}})
    metadata = {"raw": raw, "provider_name": "DeepInfra"}
    error = (
        'data: {"id":"gen-123","object":"chat.completion.chunk","created":1234567890,'
        '"model":"meta-llama/llama-4-maverick","error":{"code":502,'
        f'"message":"Provider returned error","metadata":{json.dumps(metadata)}}},'
        '"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n'
    )
    server = ReplayServer((chunk("4") + error).encode())
    answer = await ask(server, base_url="https://openrouter.ai/api/v1", api_key=KEY)

    assert answer.text == "4"
    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == (
        "OpenRouter had a server error (error 502): DeepInfra: Upstream connection reset."
    )


async def test_a_vllm_error_response_sent_in_the_stream_is_read_as_its_error():
    error = (
        'data: {"object":"error","message":"This model\'s maximum context length is 4096 '
        'tokens.","type":"BadRequestError","param":null,"code":400}\n\n'
    )
    server = ReplayServer((chunk("4") + error).encode())
    answer = await ask(server, base_url="http://127.0.0.1:8000/v1", api_key=None)

    assert answer.text == "4"
    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "127.0.0.1:8000 rejected the request (error 400): This model's maximum context length "
        "is 4096 tokens."
    )


# llama.cpp's server (builds before September 2025) writes an error that comes once the stream
# has begun under an `error:` field SSE does not have, then ends the stream as if whole.
LLAMA_CPP_ERROR = (
    'error: {"code":400,"message":"the request exceeds the available context size. try '
    'increasing the context size or enable context shift","type":"invalid_request_error"}\n\n'
)


@pytest.mark.parametrize("before", ["", chunk(role=True) + chunk("4 and ")])
async def test_an_error_llama_cpp_writes_under_an_error_field_is_that_error(before: str):
    server = ReplayServer((before + LLAMA_CPP_ERROR + DONE).encode())
    answer = await ask(server, base_url="http://127.0.0.1:8080/v1", api_key=None)

    assert answer.text == ("4 and " if before else "")
    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "127.0.0.1:8080 rejected the request (invalid_request_error): the request exceeds the "
        "available context size. try increasing the context size or enable context shift."
    )


OLLAMA_CHUNK = (
    'data: {{"id":"chatcmpl-412","object":"chat.completion.chunk","created":1741570283,'
    '"model":"{model}","system_fingerprint":"fp_ollama","choices":[{{"index":0,'
    '"delta":{{"role":"assistant","content":"{content}"}},"finish_reason":null}}]}}\n\n'
)


async def test_ollama_failing_midway_is_a_cut_stream_as_its_openai_endpoint_drops_the_reason():
    # Ollama writes an error met mid-answer (the runner crashed, ran out of memory) as
    # `{"error": "..."}` into the body (server/routes.go, streamResponse). Its OpenAI middleware
    # (middleware/openai.go, ChatWriter) reads that, the status being 200 by then, as one more
    # `api.ChatResponse`, which has no error field: what goes out is an empty chunk of no
    # model, then the end of the body, with no finish reason and no `[DONE]`.
    body = (
        OLLAMA_CHUNK.format(model="llama3.2", content="The first")
        + OLLAMA_CHUNK.format(model="llama3.2", content=" step is")
        + OLLAMA_CHUNK.format(model="", content="")
    )
    server = ReplayServer(body.encode())
    answer = await ask(server, base_url="http://localhost:11434/v1", api_key=None)

    assert answer.text == "The first step is"
    assert isinstance(answer.error, StreamCut)
    assert str(answer.error) == "The stream from Ollama stopped before the answer was complete."


async def test_error_finish_reason_without_an_error_object_is_a_server_error():
    answer = await ask(ReplayServer((chunk("4") + chunk(finish="error")).encode()), api_key=KEY)

    assert answer.text == "4"
    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenAI had a server error (error in the stream)."


async def test_ollama_string_error_body_is_kept():
    server = ReplayServer(
        b'{"error":"model \\"llama9\\" not found, try pulling it first"}',
        status=404,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    answer = await ask(server, base_url="http://localhost:11434/v1", api_key=None)

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        'Ollama rejected the request (HTTP 404): model "llama9" not found, try pulling it first.'
    )


async def test_an_error_sent_at_the_top_level_of_the_body_is_kept():
    """vLLM before 0.10, SGLang and FastChat answer the OpenAI error fields unwrapped."""
    error = {
        "object": "error",
        "message": "This model's maximum context length is 8192 tokens. However, you "
        "requested 9100 tokens (9100 in the messages, 0 in the completion). Please reduce "
        "the length of the messages or completion.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    server = ReplayServer(json.dumps(error).encode(), status=400, headers=JSON)
    answer = await ask(server, base_url="http://gpu-box:8000/v1", api_key=None)

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "gpu-box:8000 rejected the request (HTTP 400): This model's maximum context length "
        "is 8192 tokens. However, you requested 9100 tokens (9100 in the messages, 0 in the "
        "completion). Please reduce the length of the messages or completion."
    )
    assert len(server.requests) == 1, "not asked again: the system message is not the trouble"


async def test_a_model_refusing_a_system_message_is_asked_again_with_it_in_the_first_turn():
    """vLLM's answer for Gemma 2, whose chat template has no system role."""
    error = {"object": "error", "message": "System role not supported", "code": 400}
    server = ReplayServer(json.dumps(error).encode(), status=400, headers=JSON)
    answer = await ask(server, base_url="http://gpu-box:8000/v1", api_key=None)

    assert isinstance(answer.error, BadRequest), "this server refuses the second ask too"
    first, second = (json.loads(request.content)["messages"] for request in server.requests)
    assert first[0] == {"role": "system", "content": "Be brief."}
    assert second[0] == {"role": "user", "content": "Be brief.\n\nAnn: What is 2+2?"}
    assert second[1:] == first[2:]


async def test_a_template_refusal_answered_as_a_server_error_is_a_bad_request():
    """llama.cpp's answer when a chat template raises: HTTP 500, though asking again won't help."""
    error = {"error": {"code": 500, "message": "System role not supported", "type": "server_error"}}
    server = ReplayServer(json.dumps(error).encode(), status=500, headers=JSON)
    answer = await ask(server, base_url="http://127.0.0.1:8080/v1", api_key=None)

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "127.0.0.1:8080 rejected the request (HTTP 500): System role not supported."
    )
    first, second = (json.loads(request.content)["messages"] for request in server.requests)
    assert first[0]["role"] == "system"
    assert second[0]["role"] == "user"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("data: {not json\n\n", id="not-json"),
        pytest.param('data: ["a list"]\n\n', id="not-an-object"),
        pytest.param('data: {"id":"x","object":"chat.completion.chunk"}\n\n', id="no-choices"),
        pytest.param('data: {"choices":[{"delta":{"content":7}}]}\n\n', id="content-not-text"),
        pytest.param('data: {"choices":["Hi"]}\n\n', id="choice-not-an-object"),
    ],
)
async def test_data_of_the_wrong_shape_is_malformed(data: str):
    answer = await ask(ReplayServer((chunk("Hi") + data + DONE).encode()), api_key=KEY)

    assert answer.text == "Hi"
    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error).startswith("OpenAI sent a stream that could not be read (")


def test_server_names_come_from_the_base_url():
    client = httpx.AsyncClient()
    assert OpenAICompatibleProvider(client, "https://api.openai.com/v1", KEY).name == "OpenAI"
    assert OpenAICompatibleProvider(client, "http://127.0.0.1:11434/v1", None).name == "Ollama"
    local = OpenAICompatibleProvider(client, "http://user:pw@lmstudio:1234/v1?x=1", None)
    assert local.name == "lmstudio:1234"
    assert OpenAICompatibleProvider(client, BASE_URL, KEY, name="Azure").name == "Azure"


async def test_a_model_gone_quiet_while_thinking_again_after_some_text_says_so():
    thinking_again = CHUNK.format(delta='{"reasoning_content":"Let me check that."}', finish="null")
    server = ReplayServer(
        (chunk(role=True) + chunk("4 and ") + thinking_again).encode(),
        hang_after_body=True,
        read_timeout=0.3,
    )
    answer = await ask(server, api_key=KEY)

    assert answer.text == "4 and "
    assert str(answer.error) == ("OpenAI stopped sending anything while thinking (none for 0.3 s).")
    assert isinstance(answer.error, ProviderTimeout)


def test_a_system_prompt_before_an_answer_becomes_a_turn_of_its_own():
    request = ModelRequest("Be brief.", (ChatMessage("assistant", "4."), ChatMessage("user", "Go")))
    assert system_in_first_turn(request) == ModelRequest(
        "",
        (
            ChatMessage("user", "Be brief."),
            ChatMessage("assistant", "4."),
            ChatMessage("user", "Go"),
        ),
    )


@pytest.mark.parametrize("count", [-1, 2**31, 10**20, 12.5, '"31"', "true", "{}"], ids=str)
async def test_a_token_count_no_count_can_be_is_read_as_unknown(count):
    odd = USAGE_CHUNK.replace('"prompt_tokens":31', f'"prompt_tokens":{count}')
    body = chunk("Hi") + chunk(finish="stop") + odd + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.error is None
    assert answer.text == "Hi"
    assert answer.usage == [Usage(input_tokens=None, output_tokens=9)]


async def test_a_whole_token_count_written_as_a_decimal_is_read():
    odd = USAGE_CHUNK.replace('"prompt_tokens":31', '"prompt_tokens":31.0')
    body = chunk("Hi") + chunk(finish="stop") + odd + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.error is None
    assert answer.usage == [Usage(input_tokens=31, output_tokens=9)]


async def test_a_finish_reason_of_a_servers_own_is_quoted_on_one_short_line():
    reason = "abort\n" + "x" * 5000
    body = chunk("Hi") + chunk(finish=reason.replace("\n", "\\n")) + USAGE_CHUNK + DONE
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.text == "Hi"
    line = str(answer.error)
    assert line.startswith("OpenAI stopped the answer early (finish reason abort xxx")
    assert "\n" not in line
    assert len(line) < 260
