"""The Home tab's view: what it lists, and that it stays within Slack's block limits."""

from __future__ import annotations

from bot.chat.catalog import ModelCatalog, parse_model_list
from bot.chat.context import ContextWindow
from bot.slack.app_home import SECTION_TEXT_LIMIT, HomeSettings, home_view

CATALOG = ModelCatalog(parse_model_list("anthropic:claude-sonnet-4-5,openai:gpt-5"))


def settings(system_prompt: str = "Be brief.") -> HomeSettings:
    return HomeSettings(system_prompt, ContextWindow(max_rounds=7, max_tokens=9000), "SQLite")


def section_texts(view: dict) -> list[str]:
    return [block["text"]["text"] for block in view["blocks"] if block["type"] == "section"]


def test_home_lists_every_default_model_with_its_alias_and_name():
    text = "\n".join(section_texts(home_view(CATALOG, settings())))
    for spec in CATALOG:
        assert f"*{spec.display_name}*: `+{CATALOG.alias_of(spec)}` (`{spec.name}`)" in text


def test_home_shows_the_context_window_and_the_system_prompt_quoted():
    text = "\n".join(section_texts(home_view(CATALOG, settings("Line one.\n\nLine two."))))
    assert "up to 7 earlier rounds, about 9,000 tokens" in text
    assert ">Line one.\n> \n>Line two." in text


def test_a_long_system_prompt_is_cut_to_fit_a_section():
    view = home_view(CATALOG, settings("x" * 10_000))
    assert view["type"] == "home"
    assert all(len(text) <= SECTION_TEXT_LIMIT for text in section_texts(view))
    assert section_texts(view)[-1].endswith("…")
