"""A leading `<think>…</think>` block, as local reasoning models and some OpenRouter routes
stream it in the answer text, is left out of the answer of OpenAI-compatible servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from bot.providers.base import (
    OutputLimitReached,
    StoppedEarly,
    StreamCut,
    TextDelta,
    TextRetracted,
    ThoughtTooLong,
)
from bot.providers.openai_compatible import OpenAICompatibleProvider
from bot.providers.registry import Providers
from bot.providers.retry import RetryPolicy, stream_with_retries
from bot.providers.think_block import AnswerEvent, LeadingThinkFilter
from bot.settings import Settings
from tests.doubles.model_servers import FakeModelServer, ModelFault, ModelScript
from tests.providers.replay import SSE, Answer, ReplayServer, collect, conversation, run

OLLAMA_URL = "http://localhost:11434/v1"
THOUGHT = "\nThe user wants both sums. 2+2 is 4, 3+3 is 6.\n"
THINKING_ANSWER = f"<think>{THOUGHT}</think>\n\n4 and 6."
# As a DeepSeek-R1 distill answers when its chat template ends the prompt with `<think>\n`.
UNOPENED_THINKING_ANSWER = f"{THOUGHT.lstrip()}</think>\n\n4 and 6."
UNOPENED_THOUGHT_CHARS = UNOPENED_THINKING_ANSWER.index("</think>")
# Long enough to wait out a deadline of 0.6 s, short enough that a missing one fails quickly.
PATIENCE_SECONDS = 4.0


def content(text: str, finish: str | None = None) -> str:
    delta = {} if finish else {"content": text}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"


def stream_of(*pieces: str, finish: str | None = "stop") -> bytes:
    """A Chat Completions stream whose deltas carry `pieces`, ended by `finish` (or cut)."""
    body = "".join(content(piece) for piece in pieces)
    if finish is not None:
        body += content("", finish) + "data: [DONE]\n\n"
    return body.encode()


def in_pieces(text: str, size: int) -> list[str]:
    return [text[at : at + size] for at in range(0, len(text), size)]


async def ask_server(
    body: bytes, base_url: str = OLLAMA_URL, headers: dict[str, str] | None = None, **options: int
) -> Answer:
    async with ReplayServer(body, headers=SSE | (headers or {})).client() as client:
        return await run(OpenAICompatibleProvider(client, base_url, None, **options), "qwq")


async def ask_ollama_with_retries(models: FakeModelServer, model_id: str) -> Answer:
    """Ask `ollama:model_id` through providers made as the bot makes them, retrying before
    the first token."""
    async with providers(models) as provider_for:
        events = stream_with_retries(
            provider_for.by_name["ollama"], model_id, conversation(), RetryPolicy(base_delay=0)
        )
        return await collect(events)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 100])
async def test_a_leading_think_block_is_left_out_even_with_its_tags_split(size: int):
    answer = await ask_server(stream_of(*in_pieces(THINKING_ANSWER, size)))

    assert answer.error is None
    assert answer.text == "4 and 6."


async def test_whitespace_before_the_block_and_tags_cut_mid_name_are_read():
    answer = await ask_server(stream_of("\n ", "<th", "ink>", "hm", "m</thi", "nk>", "\n\n4."))

    assert answer.text == "4."


async def test_an_empty_think_block_is_left_out():
    answer = await ask_server(stream_of("<think>\n\n</think>\n\n", "Hello."))

    assert answer.text == "Hello."


# Answers that mention the tags, by what makes each no leading think block.
MENTIONS_OF_THE_TAGS = {
    "not-at-the-start": "Tags like <think>x</think> wrap the reasoning.",
    "in-a-code-block": "```html\n<think>x</think>\n```",
    "in-code": "`<think>` opens the block.",
    "another-tag": "<thinker> is no tag of ours.",
    "only-the-start-of-a-tag": "<th",
    "a-lone-closing-tag-in-code": "Then `</think>` ends the thought.",
    "a-lone-closing-tag-in-a-code-block": "Like so:\n```html\nhm</think>\n```",
    "a-closing-tag-after-an-opening-one": "Say <think>, then </think> ends it.",
}


@pytest.mark.parametrize("size", [2, 100])
@pytest.mark.parametrize("text", MENTIONS_OF_THE_TAGS.values(), ids=MENTIONS_OF_THE_TAGS.keys())
async def test_think_tags_anywhere_but_at_the_start_are_kept(text: str, size: int):
    answer = await ask_server(stream_of(*in_pieces(text, size)))

    assert answer.text == text


@pytest.mark.parametrize(
    "base_url", ["https://openrouter.ai/api/v1", OLLAMA_URL, "https://gpu-box:8000/v1"]
)
async def test_servers_that_may_run_open_models_have_the_block_left_out(base_url: str):
    answer = await ask_server(stream_of(THINKING_ANSWER), base_url)

    assert answer.text == "4 and 6."


async def test_openais_own_models_answer_as_they_wrote():
    # They never think in their answer text: one that starts so was asked to.
    answer = await ask_server(stream_of(THINKING_ANSWER), "https://api.openai.com/v1")

    assert answer.text == THINKING_ANSWER


async def test_an_answer_ending_inside_the_block_at_the_output_limit_says_so():
    answer = await ask_server(
        stream_of("<think>", THOUGHT, finish="length"), headers={"x-request-id": "req-7"}
    )

    assert answer.text == ""
    assert isinstance(answer.error, OutputLimitReached)
    assert str(answer.error) == (
        "Ollama stopped at the output-token limit before the model finished thinking."
    )
    assert answer.error.request_id == "req-7", "kept for the log"


async def test_an_answer_finished_inside_the_block_is_not_an_empty_success():
    answer = await ask_server(stream_of("<think>", THOUGHT))

    assert answer.text == ""
    assert isinstance(answer.error, StoppedEarly)
    assert str(answer.error) == "Ollama ended the answer before the model finished thinking."


async def test_a_stream_cut_inside_the_block_has_shown_nothing():
    answer = await ask_server(stream_of("<think>", THOUGHT, finish=None))

    assert answer.text == ""
    assert isinstance(answer.error, StreamCut)


async def test_a_model_thinking_in_circles_is_cut_off_at_the_longest_answer_shown():
    looping = stream_of("<think>", *["Wait, let me check again. "] * 10, "</think>4.")
    answer = await ask_server(looping, max_thought_chars=200)

    assert answer.text == ""
    assert isinstance(answer.error, ThoughtTooLong)
    assert str(answer.error) == (
        "The model's thinking passed 200 characters, the most Chorus waits for an answer."
    )
    assert not ThoughtTooLong.retryable, "it would most likely go round again"


async def test_thinking_within_the_bound_is_waited_for():
    answer = await ask_server(stream_of(THINKING_ANSWER), max_thought_chars=len(THOUGHT))

    assert answer.text == "4 and 6."


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 100])
async def test_a_thought_whose_opening_tag_was_in_the_prompt_is_left_out(size: int):
    answer = await ask_server(stream_of(*in_pieces(UNOPENED_THINKING_ANSWER, size)))

    assert answer.error is None
    assert answer.text == "4 and 6."


def fed(*pieces: str, max_thought_chars: int | None = None) -> list[list[AnswerEvent]]:
    """The events each piece brings, in order."""
    think = LeadingThinkFilter(max_thought_chars)
    return [think.feed(piece) for piece in pieces]


def test_text_shown_before_a_lone_closing_tag_is_taken_back_when_it_comes():
    assert fed("Hmm, 2+2", " is 4.", "</think>\n\n", "4.") == [
        [TextDelta("Hmm, 2+2")],
        [TextDelta(" is 4.")],
        [TextRetracted()],
        [TextDelta("4.")],
    ]


def test_a_lone_closing_tag_split_across_pieces_takes_back_its_start_too():
    assert fed("Hmm.</thi", "nk>\n\n4.") == [
        [TextDelta("Hmm.</thi")],
        [TextRetracted(), TextDelta("4.")],
    ]


def test_a_thought_ended_within_its_first_piece_is_never_shown():
    assert fed("Hmm.</think>\n\n4.") == [[TextDelta("4.")]]
    assert fed("</think>", "\n\n", "Hello.") == [[], [], [TextDelta("Hello.")]]


async def test_only_the_first_lone_closing_tag_ends_a_thought():
    answer = await ask_server(stream_of("Hmm.", "</think>\n\n", "Write </think> to close."))

    assert answer.text == "Write </think> to close."
    assert answer.retractions == 1


async def test_a_closing_tag_after_a_think_block_is_part_of_the_answer():
    answer = await ask_server(stream_of("<think>Hmm.</think>", "\n\nWrite ", "</think> last."))

    assert answer.text == "Write </think> last."
    assert answer.retractions == 0


async def test_a_lone_closing_tag_within_the_longest_thought_ends_it():
    answer = await ask_server(
        stream_of(*in_pieces(UNOPENED_THINKING_ANSWER, 4)), max_thought_chars=UNOPENED_THOUGHT_CHARS
    )

    assert answer.text == "4 and 6."


async def test_a_lone_closing_tag_past_the_longest_thought_is_part_of_the_answer():
    answer = await ask_server(
        stream_of(*in_pieces(UNOPENED_THINKING_ANSWER, 4)),
        max_thought_chars=UNOPENED_THOUGHT_CHARS - 1,
    )

    assert answer.error is None
    assert answer.text == UNOPENED_THINKING_ANSWER
    assert answer.retractions == 0


async def test_a_stream_cut_before_a_lone_closing_tag_keeps_what_was_shown():
    answer = await ask_server(stream_of("Hmm, 2+2", " is 4.", finish=None))

    assert answer.text == "Hmm, 2+2 is 4."
    assert isinstance(answer.error, StreamCut)


async def test_a_thought_without_an_answer_after_it_leaves_no_text():
    answer = await ask_server(stream_of("Hmm, 2+2", " is 4.", "</think>\n\n"))

    assert answer.error is None
    assert answer.text == ""
    assert answer.retractions == 1


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    yield server
    server.stop()


def providers(models: FakeModelServer, **tuning: float) -> Providers:
    """The providers as the bot makes them, pointed at the fake model servers."""
    env = {name.lower(): value for name, value in models.env().items()}
    return Providers(
        Settings(slack_bot_token="xoxb-test", slack_signing_secret="test", **env, **tuning)
    )


@pytest.mark.parametrize("provider", ["ollama", "openrouter", "openai"])
async def test_the_fake_servers_thinking_models_answer_without_their_thoughts(
    models: FakeModelServer, provider: str
):
    models.script(f"{provider}:qwq", ModelScript(reply=THINKING_ANSWER, chunk_chars=3))
    models.script(f"{provider}:loop", ModelScript(reply=f"<think>{'Hm. ' * 300}", chunk_chars=8))

    async with providers(models, chorus_max_answer_chars=1_000) as provider_for:
        answer = await run(provider_for.by_name[provider], "qwq")
        looping = await run(provider_for.by_name[provider], "loop")

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert isinstance(looping.error, ThoughtTooLong), "bounded as the answers shown are"


async def test_a_long_think_is_not_taken_for_a_model_that_never_starts(models: FakeModelServer):
    # Its thoughts stream for about 1.2 s, past the first-token deadline, never silent for long.
    long_think = ModelScript(reply=THINKING_ANSWER, chunk_chars=4, chunk_delay=0.08)
    models.script("ollama:qwq", long_think)

    async with providers(
        models, chorus_provider_first_token_timeout=0.6, chorus_provider_read_timeout=3.0
    ) as provider_for:
        answer = await asyncio.wait_for(
            run(provider_for.by_name["ollama"], "qwq"), PATIENCE_SECONDS
        )

    assert answer.error is None
    assert answer.text == "4 and 6."


async def test_a_stream_cut_while_thinking_is_retried_as_one_with_no_text(
    models: FakeModelServer,
):
    cut_mid_thought = ModelFault(cut_after_chunks=4)
    models.script(
        "ollama:qwq",
        ModelScript(reply=THINKING_ANSWER, chunk_chars=4, error=cut_mid_thought, fail_times=1),
    )

    answer = await ask_ollama_with_retries(models, "qwq")

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert len(models.requests_for("ollama:qwq")) == 2


async def test_a_stream_cut_after_a_thought_taken_back_is_retried_as_one_with_no_text(
    models: FakeModelServer,
):
    cut_before_the_answer = ModelFault(cut_after_chunks=UNOPENED_THINKING_ANSWER.index("4 and"))
    models.script(
        "ollama:r1",
        ModelScript(
            reply=UNOPENED_THINKING_ANSWER, chunk_chars=1, error=cut_before_the_answer, fail_times=1
        ),
    )

    answer = await ask_ollama_with_retries(models, "r1")

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.retractions == 2, "the thought was shown, and taken back, each time"
    assert len(models.requests_for("ollama:r1")) == 2
