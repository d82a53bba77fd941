"""The App Home tab, through the real bot: how to use it, its models, and their usage."""

from __future__ import annotations

from typing import Any

from tests.doubles import wait_until
from tests.doubles.model_servers import ModelFault, ModelScript
from tests.e2e.scene import ALICE, CHANNEL, MENTION
from tests.e2e.slack_views import wait_for_answers


def opened_home(slack, events, bot) -> tuple[dict[str, Any], str]:
    """Alice opens the Home tab: the view published, and its sections' text."""
    events.user_opens_home(ALICE, to=[bot.events_url])
    view = wait_until(lambda: slack.home_view(ALICE), message="no Home tab published for Alice")
    sections = [block["text"]["text"] for block in view["blocks"] if block["type"] == "section"]
    return view, "\n".join(sections)


def test_opening_the_home_tab_shows_usage_and_the_default_models(bot, slack, events, database_url):
    view, text = opened_home(slack, events, bot)

    for listed in ("*Claude Test*: `+claude`", "*GPT-test*: `+gpt`", "*Gemini Test*: `+gemini`"):
        assert listed in text
    assert "/chorus new" in text
    assert "*Usage in the last 30 days*\nNo answers yet." in text
    storage = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    assert f"Conversations are stored in {storage}." in text
    assert slack.bot_token not in str(view)


def test_the_home_tab_counts_each_models_answers_and_failures(bot, slack, models, events):
    models.script("gemini-test", ModelScript(error=ModelFault(status=400, message="Bad.")))
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)

    _, text = opened_home(slack, events, bot)

    usage = text.split("*Usage in the last 30 days*\n", 1)[1].split("\n*", 1)[0].splitlines()
    claude = next(line for line in usage if line.startswith("• *Claude Test*: "))
    assert claude.startswith("• *Claude Test*: 1 answer, ")
    assert "tokens in" in claude and claude.endswith("s on average")
    assert any(line.startswith("• *Gemini Test*: 1 answer (1 failed)") for line in usage)
    assert len(usage) == 3
