"""The Home tab's view: what it lists, and that it stays within Slack's block limits."""

from __future__ import annotations

import asyncio
import re
import time

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from bot.chat.catalog import ModelCatalog, parse_model_list
from bot.chat.context import ContextWindow
from bot.slack.app_home import (
    SECTION_TEXT_LIMIT,
    USAGE_FRESH_SECONDS,
    HomeSettings,
    HomeTab,
    home_view,
)
from storage.database import connect
from storage.tables import Answer
from storage.usage import ModelUsage, UsageStore

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
    assert "Models are sent up to 7 earlier questions and their answers, about 9,000 tokens" in text
    assert ">Line one.\n> \n>Line two." in text


def test_home_speaks_of_questions_and_answers_not_of_rounds():
    """The bot's own word "round" is not the tab's: it reads like the help beside it."""
    text = "\n".join(section_texts(home_view(CATALOG, settings())))
    assert not re.search(r"\brounds?\b", text, re.IGNORECASE)


def test_home_never_sent_line_spares_the_answers_it_says_are_sent():
    """The In Chat answer goes to the chat; any answer goes to the thread under it (SPEC §3)."""
    text = "\n".join(section_texts(home_view(CATALOG, settings())))
    never_sent = next(line for line in text.splitlines() if line.startswith("• Never sent"))
    assert "the answers that are not In Chat (except each to the thread under it)" in never_sent
    assert "other models' answers" not in never_sent  # one of them is sent: the In Chat one


def test_home_names_the_default_in_chat_answer_as_the_rule_picks_it():
    """A first answer stopped or cut off is passed over for one that finished, as a failed one
    is (`default_in_chat_answer`)."""
    text = "\n".join(section_texts(home_view(CATALOG, settings())))
    assert "the first model's, or if that one did not finish the first that did" in text


def test_home_says_how_long_what_is_said_is_kept():
    kept = "\n".join(section_texts(home_view(CATALOG, settings())))
    assert "Conversations are stored in SQLite.\n" in kept
    forgetting = HomeSettings("Be brief.", ContextWindow(7, 9000), "SQLite", forget_after_days=30)
    text = "\n".join(section_texts(home_view(CATALOG, forgetting)))
    assert "stored in SQLite; what is said is forgotten after 30 days." in text


def test_home_counts_one_of_a_thing_in_the_singular():
    one = HomeSettings("Be brief.", ContextWindow(1, 9000), "SQLite", forget_after_days=1)
    text = "\n".join(section_texts(home_view(CATALOG, one)))
    assert "up to 1 earlier question and its answer, about" in text
    assert "forgotten after 1 day." in text
    half = HomeSettings("Be brief.", ContextWindow(1, 9000), "SQLite", forget_after_days=0.5)
    assert "forgotten after 0.5 days." in "\n".join(section_texts(home_view(CATALOG, half)))


def test_a_long_system_prompt_is_cut_to_fit_a_section():
    view = home_view(CATALOG, settings("x" * 10_000))
    assert view["type"] == "home"
    assert all(len(text) <= SECTION_TEXT_LIMIT for text in section_texts(view))
    assert section_texts(view)[-1].endswith("…")


def usage_section(view: dict) -> str:
    return next(text for text in section_texts(view) if text.startswith("*Usage"))


def test_home_shows_each_models_recent_usage_most_used_first():
    usage = [
        ModelUsage("openai:gpt-5", 12, 2, 3_400, 1_250, 4.25),
        ModelUsage("anthropic:claude-sonnet-4-5", 1, 0, 0, 0, None),
    ]
    text = usage_section(home_view(CATALOG, settings(), usage))

    assert text.splitlines() == [
        "*Usage in the last 30 days*",
        "• *GPT-5*: 12 answers (2 failed), 3,400 tokens in, 1,250 out, 4.2 s on average",
        "• *Claude Sonnet 4.5*: 1 answer",
    ]


def test_home_says_when_nothing_has_been_answered_yet():
    assert usage_section(home_view(CATALOG, settings())).endswith("\nNo answers yet.")


def test_a_model_no_longer_configured_is_listed_by_its_stored_name():
    usage = [ModelUsage("retired:model-x", 3, 0, 0, 0, 1.0)]
    text = usage_section(home_view(CATALOG, settings(), usage))
    assert "• *retired:model-x*: 3 answers, 1.0 s on average" in text


def test_home_shows_tokens_when_a_provider_reports_only_some_of_them():
    usage = [ModelUsage("openai:gpt-5", 2, 0, 0, 310, None)]
    text = usage_section(home_view(CATALOG, settings(), usage))
    assert "• *GPT-5*: 2 answers, 0 tokens in, 310 out" in text


async def test_a_home_tab_slack_refuses_is_only_logged(web, tmp_path, caplog):
    slack, emulator = web
    database = await connect(f"sqlite+aiosqlite:///{tmp_path}/chorus.db")
    home = HomeTab(slack, CATALOG, settings(), UsageStore(database))

    await home.show("U0NOSUCH")
    await home.show("U0ALICE")

    await database.close()
    assert "could not publish the Home tab for U0NOSUCH: user_not_found" in caplog.text
    assert emulator.home_view("U0ALICE")["type"] == "home"


def _settled_answer(session: Session) -> None:
    now = time.time()
    session.execute(
        insert(Answer).values(
            model="openai:gpt-5",
            channel_id="C1",
            text="hi",
            status="done",
            started_at=now,
            finished_at=now + 2,
            owner="r1",
            heartbeat_at=now,
            continuation_ts=[],
        )
    )


async def test_the_usage_shown_is_read_at_most_once_a_minute_and_shared(web, tmp_path):
    """Opening the Home tab (everyone at once, after an announcement) costs one read of 30 days
    of answers a minute, not one each: on SQLite, every transaction waits for it."""
    slack, emulator = web
    database = await connect(f"sqlite+aiosqlite:///{tmp_path}/chorus.db")
    reads: list[str] = []

    def count_reads(_connection, _cursor, statement: str, *_: object) -> None:
        if statement.startswith("SELECT") and "FROM answers" in statement:
            reads.append(statement)

    event.listen(database._engine, "before_cursor_execute", count_reads)  # type: ignore[attr-defined]
    now = [1000.0]
    home = HomeTab(slack, CATALOG, settings(), UsageStore(database), clock=lambda: now[0])

    await asyncio.gather(*(home.show(person) for person in ("U0ALICE", "U0BOB", "U0CAROL") * 5))
    await database.run(_settled_answer)
    await home.show("U0ALICE")
    assert len(reads) == 1, "one read for all the openings"
    assert "No answers yet." in usage_section(emulator.home_view("U0ALICE"))

    now[0] += USAGE_FRESH_SECONDS
    await home.show("U0ALICE")
    await database.close()
    assert len(reads) == 2
    assert "• *GPT-5*: 1 answer, 2.0 s on average" in usage_section(emulator.home_view("U0ALICE"))
