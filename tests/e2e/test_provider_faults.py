"""Provider faults: retried before the first token, kept and marked after it, always a clear
line in that model's own message, and never a problem for the other models."""

from __future__ import annotations

import re

from tests.doubles.model_servers import ModelFault, ModelScript
from tests.e2e.scene import BOB, CHANNEL, ask
from tests.e2e.slack_views import answers_in, body, status_line, wait_for_answers
from tests.e2e.stored_answers import saved_usage

LONG_REPLY = "This answer streams in many small pieces so a fault can strike midway. " * 4


def assert_no_stack_trace(message) -> None:
    shown = body(message) + status_line(message) + message["text"]
    assert "Traceback" not in shown and 'File "' not in shown


def answer_lines(bot, answer_id: int) -> list[str]:
    """The log's lines (above DEBUG) on answer `answer_id`, but for its provider's retries."""
    return [
        line
        for line in bot.logs().splitlines()
        if f"answer {answer_id} " in line and " DEBUG " not in line and "retrying in" not in line
    ]


def test_rate_limits_and_server_errors_before_the_first_token_are_retried(
    start_bot, slack, models, events
):
    models.script(
        "claude-test",
        ModelScript(error=ModelFault(status=429, retry_after=1), fail_times=1),
    )
    models.script("gpt-test", ModelScript(error=ModelFault(status=500), fail_times=2))
    models.script("gemini-test", ModelScript(error=ModelFault(status=503), fail_times=1))
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="3")
    ask(bot, events, "retry please")

    answers = wait_for_answers(slack, CHANNEL, 3)
    for message, model_id in zip(answers, ("claude-test", "gpt-test", "gemini-test"), strict=True):
        assert body(message) == f"{model_id} answers: Alice: retry please"
        assert ":warning:" not in status_line(message)
    first, second = models.requests_for("claude-test")
    assert second.at - first.at >= 1.0, "Retry-After: 1 was honoured"
    assert len(models.requests_for("gpt-test")) == 3
    # Which answer is being retried, among the model's answers in flight at once:
    (retried,) = [line for line in bot.logs().splitlines() if "after attempt 2 failed" in line]
    assert "answer 2 by openai:gpt-test: retrying in" in retried


def test_a_rate_limit_that_outlasts_the_retries_says_when_to_try_again(
    start_bot, slack, models, events
):
    models.script("claude-test", ModelScript(error=ModelFault(status=429, retry_after=1)))
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="2")
    ask(bot, events)

    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert "Anthropic rate limit reached (HTTP 429). Try again in 1 s." in status_line(claude)
    assert len(models.requests_for("claude-test")) == 2


def test_an_overloaded_provider_ends_in_one_clear_line(start_bot, slack, models, events):
    models.script("claude-test", ModelScript(error=ModelFault(status=529)))
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="2")
    ask(bot, events)

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == ""
    assert "overloaded" in status_line(claude) and "529" in status_line(claude)
    assert_no_stack_trace(claude)
    assert len(models.requests_for("claude-test")) == 2
    assert body(gpt) == "gpt-test answers: Alice: go"
    assert body(gemini) == "gemini-test answers: Alice: go"


def test_a_failed_answers_log_line_names_the_providers_request_id_and_slack_does_not(
    start_bot, slack, models, events
):
    """Providers' support asks for the id of the request that failed: the log gives it."""
    models.script("claude-test", ModelScript(error=ModelFault(stream_error_after_chunks=1)))
    models.script("gpt-test", ModelScript(error=ModelFault(status=400)))
    bot = start_bot()
    ask(bot, events)

    claude, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()
    for answer_id, message, model_id in ((1, claude, "claude-test"), (2, gpt, "gpt-test")):
        (request,) = models.requests_for(model_id)
        assert request.request_id is not None
        (failed,) = answer_lines(bot, answer_id)
        assert f"request id {request.request_id})" in failed
        assert request.request_id not in status_line(message) + body(message) + message["text"]


def test_an_error_page_that_is_not_the_providers_json_is_not_shown(
    start_bot, slack, models, events
):
    traceback = 'Traceback (most recent call last):\n  File "/srv/app.py", line 9\nKeyError: x'
    models.script("gpt-test", ModelScript(error=ModelFault(status=400, plain_body=traceback)))
    bot = start_bot()
    ask(bot, events)

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert "OpenAI rejected the request (HTTP 400)." in status_line(gpt)
    assert_no_stack_trace(gpt)
    assert [body(claude), body(gemini)] == [
        "claude-test answers: Alice: go",
        "gemini-test answers: Alice: go",
    ]


def test_a_stream_that_hangs_before_the_first_token_times_out_cleanly(
    start_bot, slack, models, events
):
    models.script("gpt-test", ModelScript(error=ModelFault(hang_before_first_token=True)))
    bot = start_bot(CHORUS_PROVIDER_FIRST_TOKEN_TIMEOUT="1", CHORUS_PROVIDER_MAX_ATTEMPTS="2")
    ask(bot, events)

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert "took too long" in status_line(gpt)
    assert_no_stack_trace(gpt)
    assert len(models.requests_for("gpt-test")) == 2
    assert [body(claude), body(gemini)] == [
        "claude-test answers: Alice: go",
        "gemini-test answers: Alice: go",
    ]


def test_a_model_sending_only_keep_alives_times_out_at_the_first_token_deadline(
    start_bot, slack, models, events
):
    # Anthropic pings and OpenRouter's SSE comments reset the read timeout; the deadline holds.
    for model_id in ("claude-test", "router-test"):
        models.script(model_id, ModelScript(error=ModelFault(keep_alive_only=True)))
    bot = start_bot(
        CHORUS_MODELS="anthropic:claude-test,openrouter:router-test,google:gemini-test",
        CHORUS_PROVIDER_FIRST_TOKEN_TIMEOUT="1",
        CHORUS_PROVIDER_MAX_ATTEMPTS="2",
    )
    ask(bot, events)

    claude, router, gemini = wait_for_answers(slack, CHANNEL, 3)
    for message, model_id in ((claude, "claude-test"), (router, "router-test")):
        assert "took too long to start answering (no text within 1 s)" in status_line(message)
        assert_no_stack_trace(message)
        assert len(models.requests_for(model_id)) == 2, "retried once, then given up"
    assert body(gemini) == "gemini-test answers: Alice: go"


def test_text_already_streamed_is_kept_and_marked_cut_off(start_bot, slack, models, events):
    models.script(
        "claude-test",
        ModelScript(reply=LONG_REPLY, chunk_chars=10, error=ModelFault(cut_after_chunks=3)),
    )
    models.script(
        "gpt-test",
        ModelScript(reply=LONG_REPLY, chunk_chars=10, error=ModelFault(malformed_after_chunks=3)),
    )
    models.script(
        "gemini-test",
        ModelScript(
            reply=LONG_REPLY, chunk_chars=10, error=ModelFault(stream_error_after_chunks=3)
        ),
    )
    bot = start_bot()
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    for message in answers:
        assert body(message) == LONG_REPLY[:30], "the partial text is kept"
        assert "Cut off:" in status_line(message)
        assert_no_stack_trace(message)
    # Gemini's error came written into the body outside SSE framing, as Gemini sends one.
    assert "server error (INTERNAL)" in status_line(answers[2])
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        assert len(models.requests_for(model_id)) == 1, "no retry once text has streamed"


def test_an_answer_ollama_fails_midway_keeps_its_text_and_is_marked_cut_off_without_a_reason(
    start_bot, slack, models, events
):
    # Ollama's OpenAI endpoint sends no error mid-answer, only an empty chunk and the end of
    # the body: the reason stays in the server's own log.
    fault = ModelFault(message="model runner has unexpectedly stopped", stream_error_after_chunks=3)
    models.script("ollama:llama3.2", ModelScript(reply=LONG_REPLY, chunk_chars=10, error=fault))
    bot = start_bot(CHORUS_MODELS="ollama:llama3.2")
    ask(bot, events)

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == LONG_REPLY[:30], "the partial text is kept"
    # Named by its address: the fake server is not on Ollama's port.
    assert "Cut off: the stream from 127.0.0.1:" in status_line(answer)
    assert "stopped before the answer was complete." in status_line(answer)
    assert "runner" not in status_line(answer)
    assert_no_stack_trace(answer)
    assert len(models.requests_for("ollama:llama3.2")) == 1, "no retry once text has streamed"


def test_tokens_reported_before_a_stream_failed_are_shown_and_saved(
    start_bot, slack, models, events, database_url
):
    # Anthropic counts the prompt in `message_start`, Gemini in every chunk, and a failed
    # Responses response carries its usage; each stream fails after some text.
    faults = {
        "claude-test": ModelFault(stream_error_after_chunks=3),
        "gpt-test": ModelFault(stream_error_after_chunks=3),
        "gemini-test": ModelFault(cut_after_chunks=3),
    }
    for model_id, fault in faults.items():
        script = ModelScript(reply=LONG_REPLY, chunk_chars=10, usage=(1234, 56), error=fault)
        models.script(model_id, script)
    bot = start_bot(OPENAI_API="responses")
    ask(bot, events)

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    for message in (claude, gpt, gemini):
        assert "Cut off:" in status_line(message)
        assert "1,234 tokens in" in status_line(message)
    assert "1,234 tokens in, 56 out" in status_line(gpt)
    bot.wait_until_idle()
    # Anthropic and Gemini send the output count only with the finish the cut stream lacked.
    assert saved_usage(database_url) == [(1234, None), (1234, 56), (1234, None)]


def test_a_failure_after_only_a_line_break_is_retried_like_one_before_any_text(
    start_bot, slack, models, events
):
    reply = "\n\nThe whole answer, after a retry."
    fault = ModelFault(cut_after_chunks=1)
    models.script("claude-test", ModelScript(reply=reply, chunk_chars=2, error=fault, fail_times=1))
    models.script("gpt-test", ModelScript(reply="\n", error=ModelFault(cut_after_chunks=1)))
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="2")
    ask(bot, events)

    claude, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == reply.strip()
    assert ":warning:" not in status_line(claude)
    assert len(models.requests_for("claude-test")) == 2
    assert "Cut off" not in status_line(gpt), "a line break is no answer to keep"
    assert ":warning:" in status_line(gpt)


def test_an_answer_stopped_at_the_output_token_limit_is_kept_and_says_so(
    start_bot, slack, models, events
):
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        script = ModelScript(
            reply=LONG_REPLY, chunk_chars=10, error=ModelFault(output_limit_after_chunks=3)
        )
        models.script(model_id, script)
    bot = start_bot()
    ask(bot, events)

    for message in wait_for_answers(slack, CHANNEL, 3):
        assert body(message) == LONG_REPLY[:30], "the text up to the limit is kept"
        assert "Cut off:" in status_line(message)
        assert "stopped at the output-token limit" in status_line(message)
        assert "tokens" in status_line(message), "the usage sent with the finish is shown"
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        assert len(models.requests_for(model_id)) == 1, "not retried: it would stop there again"

    # No answer finished: the next round is sent the first model's text as far as it went.
    bot.wait_until_idle()
    ask(bot, events, "go on")
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("gpt-test")[-1].turns() == [
        ("user", "Alice: go"),
        ("assistant", LONG_REPLY[:30]),
        ("user", "Alice: go on"),
    ]


def test_refusals_and_unreachable_providers_say_so(start_bot, slack, models, events):
    models.script("gemini-test", ModelScript(error=ModelFault(refusal=True)))
    bot = start_bot(
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",  # nothing listens on the discard port
        CHORUS_PROVIDER_MAX_ATTEMPTS="2",
    )
    ask(bot, events)

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == "claude-test answers: Alice: go"
    assert "Could not connect to OpenAI" in status_line(gpt)
    assert "127.0.0.1:9" not in status_line(gpt)
    # One line per failed answer, saying which (model, id, channel) and why, at WARNING.
    bot.wait_until_idle()
    (gpt_failed,) = answer_lines(bot, 2)
    assert " WARNING bot.answering: answer 2 by openai:gpt-test in C0GENERAL: failed in " in (
        gpt_failed
    )
    assert "s: Could not connect to OpenAI. (ConnectError: [Errno 111]" in gpt_failed, "and why"
    (gemini_failed,) = answer_lines(bot, 3)
    assert " WARNING bot.answering: answer 3 by google:gemini-test in C0GENERAL: failed" in (
        gemini_failed
    )
    assert "refused" in status_line(gemini).lower() or "declined" in status_line(gemini).lower()
    for message in (gpt, gemini):
        assert_no_stack_trace(message)


def test_an_endless_answer_is_cut_off_at_the_longest_the_bot_shows(
    start_bot, slack, models, events
):
    looping = "All work and no play. " * 400  # 8,800 characters
    models.script("gpt-test", ModelScript(reply=looping, chunk_chars=500))
    bot = start_bot(CHORUS_MAX_ANSWER_CHARS="2000")
    ask(bot, events, "+gpt tell me a story")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == looping[:2000].strip()
    assert "Cut off: the answer passed 2,000 characters" in status_line(answer)
    bot.wait_until_idle()  # continuations are posted after the final edit: they would be there
    assert not answers_in(slack, CHANNEL, answer["ts"]), "no continuation of what was cut"
    (cut,) = answer_lines(bot, 1)
    assert " WARNING bot.answering: answer 1 by openai:gpt-test in C0GENERAL: cut_off in " in cut
    assert cut.endswith(": The answer passed 2,000 characters, the most Chorus shows.")


def test_an_answer_cut_off_for_length_keeps_the_tokens_its_model_reported_so_far(
    start_bot, slack, models, events, database_url
):
    # Anthropic counts the prompt in `message_start`, Gemini in every chunk; both are still
    # writing (about 9 s in all) when the bot cuts them off.
    looping = "All work and no play. " * 400
    for model_id in ("claude-test", "gemini-test"):
        script = ModelScript(reply=looping, chunk_chars=100, chunk_delay=0.1, usage=(1234, 56))
        models.script(model_id, script)
    bot = start_bot(CHORUS_MAX_ANSWER_CHARS="2000")
    ask(bot, events, "+claude +gemini tell me a story")

    for answer in wait_for_answers(slack, CHANNEL, 2):
        assert "Cut off: the answer passed 2,000 characters" in status_line(answer)
        assert "1,234 tokens in" in status_line(answer)
    bot.wait_until_idle()
    assert saved_usage(database_url) == [(1234, None), (1234, None)]


def test_a_thread_under_a_model_no_longer_set_up_is_answered_at_once_and_sent_nowhere(
    start_bot, slack, models, events
):
    bot = start_bot()
    ask(bot, events, "hi")
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    bot.stop()
    # The admin drops OpenAI: its model and its key.
    bot = start_bot(CHORUS_MODELS="anthropic:claude-test,google:gemini-test", OPENAI_API_KEY=None)
    events.user_says(CHANNEL, BOB, "go on", thread_ts=gpt["ts"], to=[bot.events_url])

    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt["ts"])
    assert "OpenAI is not set up on this bot (OPENAI_API_KEY is not set)" in status_line(reply)
    assert "+alias" in status_line(reply)
    assert len(models.requests_for("gpt-test")) == 1, "nothing more was sent to OpenAI"


def test_a_local_gemma_model_answers_the_round_after_one_it_failed(
    start_bot, slack, models, events
):
    """Gemma's chat template refuses two user turns in a row, which a failed answer leaves."""
    models.script("ollama:gemma3:27b", ModelScript(error=ModelFault(status=400), fail_times=1))
    bot = start_bot(CHORUS_MODELS="ollama:gemma3:27b")
    ask(bot, events)
    (failed,) = wait_for_answers(slack, CHANNEL, 1)
    assert ":warning:" in status_line(failed)

    bot.wait_until_idle()
    ask(bot, events, "go on")
    _, answer = wait_for_answers(slack, CHANNEL, 2)
    assert body(answer) == "gemma3:27b answers: Alice: go\n\nAlice: go on"
    assert models.requests_for("ollama:gemma3:27b")[-1].turns() == [
        ("user", "Alice: go\n\nAlice: go on")
    ]


def test_a_llama_cpp_template_refusing_the_system_role_is_not_retried_as_a_server_error(
    start_bot, slack, models, events
):
    """llama.cpp answers a chat template's refusal with HTTP 500, as if it were its own fault."""
    model = "ollama:gemma-2-9b-it-Q4_K_M.gguf"
    bot = start_bot(CHORUS_MODELS=model)
    ask(bot, events)
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert ":warning:" not in status_line(answer)
    refused, asked = models.requests_for(model)
    assert refused.system_prompt() is not None
    assert asked.system_prompt() is None
    assert asked.turns() == [("user", f"{refused.system_prompt()}\n\nAlice: go")]


def test_a_local_model_without_a_system_role_gets_the_system_prompt_in_its_first_turn(
    start_bot, slack, models, events
):
    """Gemma 2's chat template has no system role; the server refuses a system message."""
    bot = start_bot(CHORUS_MODELS="ollama:gemma2:9b")
    ask(bot, events)
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert ":warning:" not in status_line(answer)
    refused, asked = models.requests_for("ollama:gemma2:9b")
    assert asked.system_prompt() is None
    ((role, text),) = asked.turns()
    assert role == "user"
    assert text == f"{refused.system_prompt()}\n\nAlice: go"

    bot.wait_until_idle()
    ask(bot, events, "go on")
    _, second = wait_for_answers(slack, CHANNEL, 2)
    assert ":warning:" not in status_line(second)
    requests = models.requests_for("ollama:gemma2:9b")
    assert len(requests) == 3, "asked without a system message at once"
    assert requests[-1].system_prompt() is None
    assert requests[-1].turns()[0] == ("user", text)


def test_a_chat_longer_than_a_models_context_is_answered_from_its_newest_rounds(
    start_bot, slack, models, events
):
    bot = start_bot()
    for number in range(1, 4):
        ask(bot, events, f"question {number} " + "x" * 800)
        wait_for_answers(slack, CHANNEL, 3 * number)
    # About 1,350 tokens of context for the next round: room for one of its three rounds.
    models.script("gpt-test", ModelScript(context_tokens=700))
    ask(bot, events, "and now?")

    *_, gpt, gemini = wait_for_answers(slack, CHANNEL, 12)
    assert body(gpt) == "gpt-test answers: Alice: and now?"
    assert ":warning:" not in status_line(gpt)
    refused, answered = models.requests_for("gpt-test")[-2:]
    asked = [text[:17] for role, text in answered.turns() if role == "user"]
    assert asked == ["Alice: question 3", "Alice: and now?"]
    assert len(refused.turns()) == 7, "the three rounds and the new message"
    (gemini_sent,) = models.requests_for("gemini-test")[-1:]
    assert len(gemini_sent.turns()) == 7, "the other models' context is whole"
    assert body(gemini) == "gemini-test answers: Alice: and now?"
    assert re.search(
        r"answer 11 by openai:gpt-test: sending it again without its 4 oldest message\(s\), as "
        r"its context is longer than the model's: OpenAI rejected the request \(HTTP 400\): "
        r"This model's maximum context length is 700 tokens\.",
        bot.logs(),
    )
