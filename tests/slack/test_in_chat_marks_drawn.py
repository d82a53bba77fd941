"""The In Chat mark drawn again under answers: the bot's Slack client against the emulator,
the marks in a real database."""

from __future__ import annotations

import dataclasses

from bot.chat.catalog import ModelCatalog, ModelSpec
from bot.chat.in_chat import AnswerStatus
from bot.in_chat_marks import InChatMarks
from bot.slack.rendering import IN_CHAT_MARK, placeholder_message
from bot.slack.web import MessageTag
from storage.answers import FinishedAnswer
from storage.database import connect
from tests.e2e.slack_views import status_line
from tests.storage.test_conversation_store import MODELS, claim, start, stores_over

CHANNEL = "C1"  # where the stores' rounds are


async def test_a_mark_another_replica_changed_meanwhile_is_drawn_as_it_now_stands(web, tmp_path):
    """This replica draws a stale mark (another replica's pick moved it since): reading the
    answer again after its edit, it draws the mark that now stands."""
    slack, emulator = web
    emulator.add_channel(CHANNEL, "marks")
    database = await connect(f"sqlite+aiosqlite:///{tmp_path / 'chorus.db'}")
    stores = stores_over(database)
    claude, gpt = (await start(stores, claim("1.0"))).answers
    for answer in (claude, gpt):
        ts = await slack.post(
            CHANNEL, placeholder_message("Model"), tag=MessageTag(answer.answer_id)
        )
        await stores.answers.posted(answer.answer_id, ts)
        await stores.answers.finish(answer.answer_id, FinishedAnswer(AnswerStatus.DONE, "hi"))
        assert await stores.answers.shown(answer.answer_id) == []
    shown = await stores.answers.current_marks([claude.answer_id])
    stale = dataclasses.replace(shown[claude.answer_id], in_chat=False)
    marks = InChatMarks(stores.answers, slack, ModelCatalog(map(ModelSpec.parse, MODELS)))

    await marks.show([stale])

    edits = [call.params for call in emulator.calls_for("chat.update")]
    assert [edit["ts"] for edit in edits] == [stale.slack_ts] * 2
    assert [IN_CHAT_MARK in status_line(edit) for edit in edits] == [False, True]
    assert status_line(emulator.message(CHANNEL, stale.slack_ts)).endswith(IN_CHAT_MARK)
    await database.close()
