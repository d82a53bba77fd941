"""The App Home tab, through the real bot: opening it shows how to use the bot and its models."""

from __future__ import annotations

from tests.doubles import wait_until
from tests.e2e.scene import ALICE


def test_opening_the_home_tab_shows_usage_and_the_default_models(bot, slack, events, database_url):
    events.user_opens_home(ALICE, to=[bot.events_url])

    view = wait_until(lambda: slack.home_view(ALICE), message="no Home tab published for Alice")
    text = "\n".join(
        block["text"]["text"] for block in view["blocks"] if block["type"] == "section"
    )
    for listed in ("*Claude Test*: `+claude`", "*GPT-test*: `+gpt`", "*Gemini Test*: `+gemini`"):
        assert listed in text
    assert "/chorus new" in text
    storage = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    assert f"Conversations are stored in {storage}." in text
    assert slack.bot_token not in str(view)
