"""Local reasoning models that think aloud in their answer text: people, and later rounds, get
the answer without the thinking."""

from __future__ import annotations

from tests.doubles.bot_process import BotProcess
from tests.doubles.model_servers import ModelFault, ModelScript
from tests.doubles.waiting import wait_until
from tests.e2e.scene import CHANNEL, REPLICA_A, ask
from tests.e2e.slack_views import answers_in, body, status_line, wait_for_answers
from tests.e2e.stored_answers import saved_texts

THOUGHT = "Alice greets me. I should greet her back, briefly."
REPLY = f"<think>\n{THOUGHT}\n</think>\n\nHello, Alice!"


def hello_answered(
    start_bot, slack, models, events, model: str, script: ModelScript
) -> tuple[BotProcess, list[str]]:
    """A bot with `model` alone, scripted so, answers Alice's hello with "Hello, Alice!"; the
    bot, and every text its message showed while streaming."""
    models.script(model, script)
    bot = start_bot(CHORUS_MODELS=model)
    ask(bot, events, "hello")
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == "Hello, Alice!"
    assert ":warning:" not in status_line(answer)
    return bot, [call.params.get("text", "") for call in slack.calls_for("chat.update")]


def assert_the_next_round_is_sent_the_answer_alone(bot, slack, models, events, model: str):
    bot.wait_until_idle()
    ask(bot, events, "how are you?")
    wait_for_answers(slack, CHANNEL, 2)
    assert models.requests_for(model)[-1].turns() == [
        ("user", "Alice: hello"),
        ("assistant", "Hello, Alice!"),
        ("user", "Alice: how are you?"),
    ]


def test_a_local_models_think_block_is_neither_shown_nor_sent_back(
    start_bot, slack, models, events
):
    script = ModelScript(reply=REPLY, chunk_chars=3, chunk_delay=0.02)
    bot, shown = hello_answered(start_bot, slack, models, events, "ollama:qwq", script)
    assert shown and not any("think" in text or "greet her" in text for text in shown)

    assert_the_next_round_is_sent_the_answer_alone(bot, slack, models, events, "ollama:qwq")


def test_a_thought_whose_opening_tag_was_in_the_prompt_is_taken_back_and_not_sent_back(
    start_bot, slack, models, events
):
    # A DeepSeek-R1 distill on vLLM without a reasoning parser: its chat template ends the
    # prompt with `<think>\n`, so only the closing tag shows that its text was a thought.
    reply = f"{THOUGHT}\n</think>\n\nHello, Alice!"
    script = ModelScript(reply=reply, chunk_chars=3, chunk_delay=0.05)
    bot, shown = hello_answered(start_bot, slack, models, events, "ollama:r1", script)
    assert any("greet her" in text for text in shown), "streamed as it came, then taken back"

    assert_the_next_round_is_sent_the_answer_alone(bot, slack, models, events, "ollama:r1")


def test_a_thought_taken_back_is_not_kept_by_a_crash_that_follows(
    database_url, start_bot, slack, models, events
):
    # Streamed long enough to be saved, then taken back; the model goes quiet, the bot dies.
    thought = f"{THOUGHT} " * 3
    taken_back = f"{thought}\n</think>\n\n"
    script = ModelScript(
        reply=f"{taken_back}Hello, Alice!",
        chunk_chars=1,
        chunk_delay=0.01,
        error=ModelFault(keep_alive_after_chunks=len(taken_back)),
    )
    models.script("ollama:r1", script)
    bot = start_bot(CHORUS_MODELS="ollama:r1", **REPLICA_A)
    ask(bot, events, "hello")
    wait_until(
        lambda: "greet her" in "".join(saved_texts(database_url)),
        message="the thought saved while it streamed",
    )
    # Shown, then taken back: once Slack shows it gone, its being gone is saved too (a body
    # read before the thought reached Slack would not tell).
    wait_until(
        lambda: any("greet her" in call.params["text"] for call in slack.calls_for("chat.update")),
        message="the thought shown in Slack",
    )
    wait_until(
        lambda: "greet her" not in body(answers_in(slack, CHANNEL)[0]),
        message="the thought taken back in Slack",
    )
    bot.kill()

    start_bot(CHORUS_MODELS="ollama:r1", **REPLICA_A)
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert "stopped before this answer was finished" in status_line(answer)
    assert "greet her" not in body(answer)
