"""The Gemini provider against `streamGenerateContent?alt=sse` streams as Google sends them."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers.base import (
    MalformedStream,
    OutputLimitReached,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    Refused,
    StoppedEarly,
    StreamCut,
    Usage,
)
from bot.providers.gemini import GeminiProvider
from tests.providers.replay import Answer, ReplayServer, run

BASE_URL = "https://generativelanguage.googleapis.com"
KEY = "AIzaSy-test-abc123"


def chunk(*texts: str, finish: str | None = None, usage: dict | None = None) -> str:
    """One chunk exactly as Gemini frames it: compact JSON, CRLF CRLF after each event."""
    candidate: dict = {"content": {"parts": [{"text": t} for t in texts], "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    data: dict = {"candidates": [candidate]}
    data["usageMetadata"] = usage or {"promptTokenCount": 12, "totalTokenCount": 12}
    data["modelVersion"] = "gemini-2.5-flash"
    data["responseId"] = "mJ0faJ2bBfWk1dkP8oPx2Qc"
    return f"data: {json.dumps(data, separators=(',', ':'))}\r\n\r\n"


FINAL_USAGE = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 5,
    "totalTokenCount": 17,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
}
ANSWER = (chunk("4 and ") + chunk("6.", finish="STOP", usage=FINAL_USAGE)).encode()


async def ask(server: ReplayServer, request: ModelRequest | None = None, model="") -> Answer:
    async with server.client() as client:
        provider = GeminiProvider(client, BASE_URL + "/", KEY)
        return await run(provider, model or "gemini-2.5-flash", request)


async def test_streams_parts_and_reports_the_last_usage_once():
    answer = await ask(ReplayServer(ANSWER, chunk_size=9))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=12, output_tokens=5)]


async def test_gemini_key_is_sent_in_header_not_url():
    server = ReplayServer(ANSWER)
    await ask(server)

    url = server.request.url
    assert url.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert dict(url.params) == {"alt": "sse"}
    assert KEY not in str(url)
    assert server.request.headers["x-goog-api-key"] == KEY


async def test_sends_system_instruction_and_alternating_user_and_model_turns():
    server = ReplayServer(ANSWER)
    await ask(server)

    assert server.sent_json() == {
        "contents": [
            {"role": "user", "parts": [{"text": "Ann: What is 2+2?"}]},
            {"role": "model", "parts": [{"text": "4."}]},
            {"role": "user", "parts": [{"text": "Bob: And 3+3?\n\nAnn: Answer both."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


async def test_empty_system_prompt_sends_no_system_instruction():
    server = ReplayServer(ANSWER)
    await ask(server, ModelRequest("", (ChatMessage("user", "hi"),)), model="models/gemini-2.5-pro")

    assert "systemInstruction" not in server.sent_json()
    assert server.request.url.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"


async def test_gemma_models_get_the_system_prompt_atop_the_first_user_turn():
    """Gemma on the Gemini API refuses a system instruction ("Developer instruction is not
    enabled")."""
    server = ReplayServer(ANSWER)
    request = ModelRequest("Be brief.", (ChatMessage("user", "Ann: hi"),))
    await ask(server, request, model="gemma-3-27b-it")

    sent = server.sent_json()
    assert "systemInstruction" not in sent
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Be brief.\n\nAnn: hi"}]}]


async def test_max_tokens_finish_keeps_the_text_and_says_where_it_stopped():
    body = chunk("4 and ") + chunk("6", finish="MAX_TOKENS", usage=FINAL_USAGE)
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "4 and 6"
    assert answer.usage == [Usage(input_tokens=12, output_tokens=5)]
    assert isinstance(answer.error, OutputLimitReached)
    assert str(answer.error) == "Gemini stopped at the output-token limit."


async def test_thinking_tokens_count_as_output_and_thoughts_are_not_text():
    thought = chunk("4 and 6.", finish="STOP", usage={**FINAL_USAGE, "thoughtsTokenCount": 40})
    thought = thought.replace('"parts":[', '"parts":[{"text":"Adding.","thought":true},')
    answer = await ask(ReplayServer(thought.encode()))

    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=12, output_tokens=45)]


async def test_an_unreadable_token_count_is_unknown_and_the_answer_whole():
    usage = {**FINAL_USAGE, "candidatesTokenCount": 5.5}
    answer = await ask(ReplayServer(chunk("4 and 6.", finish="STOP", usage=usage).encode()))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=12, output_tokens=None)]


async def test_an_output_count_gemini_leaves_out_is_unknown_not_zero():
    answer = await ask(ReplayServer(chunk("", finish="STOP").encode()))

    assert answer.error is None
    assert answer.usage == [Usage(input_tokens=12, output_tokens=None)]


async def test_a_usage_only_chunk_after_the_finish_is_read():
    usage_only = json.dumps({"usageMetadata": FINAL_USAGE, "modelVersion": "gemini-2.5-flash"})
    body = chunk("4 and 6.", finish="STOP") + f"data: {usage_only}\r\n\r\n"
    answer = await ask(ReplayServer(body.encode()))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=12, output_tokens=5)]


TEXT_BLOCKED = ["SAFETY", "RECITATION", "LANGUAGE", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"]
IMAGE_BLOCKED = ["IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"]


@pytest.mark.parametrize("reason", TEXT_BLOCKED + IMAGE_BLOCKED)
async def test_blocked_finish_reasons_are_refusals(reason: str):
    answer = await ask(ReplayServer((chunk("4 and ") + chunk(finish=reason)).encode()))

    assert answer.text == "4 and "
    assert isinstance(answer.error, Refused)
    assert str(answer.error) == f"Gemini refused to answer (finish reason {reason})."


async def test_a_blocked_answer_keeps_the_usage_of_its_last_chunk():
    body = chunk("4 and ") + chunk(finish="SAFETY", usage=FINAL_USAGE)
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "4 and "
    assert answer.usage == [Usage(input_tokens=12, output_tokens=5)]
    assert isinstance(answer.error, Refused)


@pytest.mark.parametrize(
    "reason", ["OTHER", "MALFORMED_FUNCTION_CALL", "FINISH_REASON_UNSPECIFIED"]
)
async def test_an_answer_ended_for_another_reason_keeps_its_text_but_is_not_whole(reason: str):
    body = chunk("The first step is ") + chunk("to", finish=reason, usage=FINAL_USAGE)
    answer = await ask(ReplayServer(body.encode()))

    assert answer.text == "The first step is to"
    assert answer.usage == [Usage(input_tokens=12, output_tokens=5)]
    assert isinstance(answer.error, StoppedEarly)
    assert str(answer.error) == f"Gemini stopped the answer early (finish reason {reason})."


async def test_blocked_prompt_is_a_refusal_with_the_prompt_tokens_counted():
    blocked = (
        'data: {"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":'
        '{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.5-flash",'
        '"responseId":"x"}\r\n\r\n'
    )
    answer = await ask(ReplayServer(blocked.encode()))

    assert isinstance(answer.error, Refused)
    assert answer.usage == [Usage(input_tokens=9, output_tokens=None)]
    assert str(answer.error) == "Gemini refused to answer (prompt blocked: PROHIBITED_CONTENT)."


async def test_no_finish_reason_before_the_end_is_a_cut_stream_keeping_the_prompt_count():
    answer = await ask(ReplayServer((chunk("4 and ") + chunk("6")).encode()))

    assert answer.text == "4 and 6"
    assert answer.usage == [Usage(input_tokens=12, output_tokens=None)]
    assert isinstance(answer.error, StreamCut)
    assert str(answer.error) == "The stream from Gemini stopped before the answer was complete."


async def test_a_connection_dropped_after_the_finish_reason_does_not_spoil_the_answer():
    # Gemini sends no end marker: its body just ends after the chunk with the finish reason.
    dropped = httpx.RemoteProtocolError("peer closed connection without sending complete body")
    answer = await ask(ReplayServer(ANSWER, fail_after_body=dropped))

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(input_tokens=12, output_tokens=5)]


async def test_a_connection_dropped_before_the_finish_reason_is_a_cut_stream():
    dropped = httpx.ReadError("connection reset")
    answer = await ask(ReplayServer(chunk("4 and ").encode(), fail_after_body=dropped))

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)


async def test_error_in_the_stream_is_mapped_by_its_status():
    error = (
        'data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.",'
        '"status":"UNAVAILABLE"}}\r\n\r\n'
    )
    answer = await ask(ReplayServer((chunk("4") + error).encode()))

    assert answer.text == "4"
    assert isinstance(answer.error, Overloaded)
    assert str(answer.error) == "Gemini is overloaded (UNAVAILABLE); try again in a moment."


async def test_chunk_that_is_not_json_is_malformed():
    answer = await ask(ReplayServer((chunk("4") + 'data: {"candidates": [\r\n\r\n').encode()))

    assert answer.text == "4"
    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error) == (
        "Gemini sent a stream that could not be read (data that is not JSON)."
    )


async def test_parts_that_are_not_objects_are_malformed():
    bad = 'data: {"candidates":[{"content":{"parts":["4"],"role":"model"}}]}\r\n\r\n'
    answer = await ask(ReplayServer(bad.encode()))

    assert isinstance(answer.error, MalformedStream)


QUOTA_DETAILS = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content"}],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"},
]
QUOTA_ERROR = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": QUOTA_DETAILS,
    }
}


async def test_a_rate_limit_in_the_stream_carries_the_retry_delay_it_names():
    error = f"data: {json.dumps(QUOTA_ERROR, separators=(',', ':'))}\r\n\r\n"
    answer = await ask(ReplayServer((chunk("4") + error).encode()))

    assert answer.text == "4"
    assert isinstance(answer.error, RateLimited)
    assert str(answer.error) == "Gemini rate limit reached (RESOURCE_EXHAUSTED)."
    assert answer.error.retry_after == 17


async def test_a_daily_quota_hit_in_the_stream_is_used_up_not_a_rate_limit():
    violation = {"quotaId": "GenerateContentInputTokensPerModelPerDay-FreeTier"}
    details = [{**QUOTA_DETAILS[0], "violations": [violation]}, QUOTA_DETAILS[1]]
    error = {"error": {**QUOTA_ERROR["error"], "details": details}}
    answer = await ask(ReplayServer((chunk("4") + raw_error(error)).encode()))

    assert answer.text == "4"
    assert isinstance(answer.error, QuotaExhausted)
    assert str(answer.error).startswith(
        "Gemini daily quota is used up (RESOURCE_EXHAUSTED, "
        "GenerateContentInputTokensPerModelPerDay-FreeTier);"
    )


def raw_error(error: dict) -> str:
    """An error as Gemini aborts a running stream with it: pretty-printed JSON written straight
    into the body, over many lines, with no `data:` before it."""
    return json.dumps(error, indent=2) + "\n"


@pytest.mark.parametrize("text_before", ["", "4 and "])
async def test_an_error_written_into_the_stream_outside_sse_framing_is_that_error(
    text_before: str,
):
    body = (chunk(text_before) if text_before else "") + raw_error(QUOTA_ERROR)
    answer = await ask(ReplayServer(body.encode(), chunk_size=7))

    assert answer.text == text_before
    assert isinstance(answer.error, RateLimited)
    assert str(answer.error) == "Gemini rate limit reached (RESOURCE_EXHAUSTED)."
    assert answer.error.retry_after == 17


async def test_an_overload_written_into_the_stream_outside_sse_framing_is_an_overload():
    overloaded = {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }
    answer = await ask(ReplayServer((chunk("4") + raw_error(overloaded)).encode()))

    assert answer.text == "4"
    assert isinstance(answer.error, Overloaded)
    assert str(answer.error) == "Gemini is overloaded (UNAVAILABLE); try again in a moment."


async def test_a_stray_line_of_json_outside_sse_framing_does_not_hold_up_the_answer():
    body = chunk("4 and ") + '{"unfinished": \r\n\r\n' + chunk("6.", finish="STOP")
    answer = await ask(ReplayServer(body.encode()))

    assert answer.error is None
    assert answer.text == "4 and 6."
