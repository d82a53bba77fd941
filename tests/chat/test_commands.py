"""`/chorus` commands, parsed."""

import pytest

from bot.chat.commands import (
    Help,
    NewChat,
    SetModels,
    SetPrompt,
    ShowModels,
    ShowPrompt,
    UseDefaultModels,
    asks_for_help,
    help_text,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("new", NewChat()),
        ("  NEW ", NewChat()),
        ("models", ShowModels()),
        ("models claude, +gpt", SetModels(("claude", "+gpt"))),
        ("models +Default", UseDefaultModels()),
        ("models default", UseDefaultModels()),
        ("models Default", UseDefaultModels()),
        ("models default claude", Help(unknown="models default claude")),
        ("", Help()),
        ("help", Help()),
        ("dance now", Help(unknown="dance now")),
        ("new please", Help(unknown="new please")),
        ("help me", Help(unknown="help me")),
        ("prompt", ShowPrompt()),
        ("Prompt  Answer in French, +briefly.", SetPrompt("Answer in French, +briefly.")),
        ("prompt clear", SetPrompt(None)),
        ("prompt Clear", SetPrompt(None)),
    ],
)
def test_commands_are_understood(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize("space", ["\n", "\t", "\u00a0", " \n"])
def test_a_prompt_written_on_the_lines_after_prompt_is_set_as_written(space):
    prompt = "You are terse.\nAnswer in French."
    assert parse_command(f"prompt{space}{prompt}") == SetPrompt(prompt)
    assert parse_command(f"prompt{space}clear") == SetPrompt(None)


def test_help_names_the_aliases_and_every_command():
    text = help_text(("claude", "gpt"))
    for needle in (
        "`+claude`, `+gpt`",
        "/chorus models",
        "/chorus new",
        "/chorus prompt",
        "thread",
        "direct message",
    ):
        assert needle in text


def test_help_examples_use_this_workspaces_aliases():
    text = help_text(("llama3.2", "qwen3", "mistral"))
    assert "`/chorus models llama3.2 qwen3` sets them" in text


def test_a_message_saying_only_help_asks_for_the_bots_help():
    for text in ("help", " Help? ", "HELP!", "help."):
        assert asks_for_help(text)
    for text in ("help me with this regex", "helpful?", "", "can you help?"):
        assert not asks_for_help(text)


def test_help_names_the_place_it_is_read_in():
    assert "`/chorus models` shows this DM's models" in help_text(("claude",), "DM")
    assert "gives this channel its own instructions" in help_text(("claude",))
    # The Home tab is no channel: the commands are told of channels in general.
    home = help_text(("claude",), None)
    assert "`/chorus models` shows a channel's models" in home
    assert "this " not in home


def test_help_writes_the_in_chat_mark_as_answers_show_it():
    """Slack shows an emoji's `:name:` in code, not the emoji: the mark is written as the
    status line under an answer (and the Home tab beside the help) has it."""
    text = help_text(("claude",))
    assert "marked :pushpin: In Chat under it" in text
    assert "`:pushpin:" not in text


def test_help_says_which_answers_a_pushpin_makes_in_chat():
    """Only an answer to the latest message can be picked: the help says so, as the note on
    a pushpin elsewhere does."""
    assert "A :pushpin: on an answer to the latest message makes it *In Chat*" in help_text(
        ("claude",)
    )


def test_help_tells_what_answers_as_the_bot_decides_it():
    """The channel's own models answer, not every configured one; a `+alias` leading a
    question in an answer's thread hands the thread over too, not only an alias alone."""
    text = help_text(("claude", "gpt"))
    assert "each of this channel's models answers in its own message" in text
    assert "in a thread under an answer, it hands the thread to that model from then on" in text
    assert "each of a channel's models answers" in help_text(("claude",), None)
