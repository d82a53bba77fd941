"""What an answer a person stopped says of who stopped it; what the log says of an answer
Slack would not show."""

from __future__ import annotations

import logging

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.answering import AnswerStopped, final_edit_refused


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("Bob", "Stopped by Bob."),
        ("Sammy Davis Jr.", "Stopped by Sammy Davis Jr."),  # not "Jr.."
        ("Yahoo!", "Stopped by Yahoo!"),
    ],
)
def test_the_stop_note_ends_with_one_full_stop_whatever_the_name_ends_with(name, note):
    assert AnswerStopped(name).note == note


class ShownMarks:
    """Stands where `InChatMarks` does: keeps which answers were settled as shown."""

    def __init__(self) -> None:
        self.shown: list[int] = []

    async def answer_shown(self, answer_id: int, continuations: object = ()) -> None:
        self.shown.append(answer_id)


def refusal(code: str) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="",
        req_args={},
        data={"ok": False, "error": code},
        headers={},
        status_code=200,
    )
    return SlackApiError("Slack refused", response)


@pytest.mark.parametrize(
    ("code", "level"),
    [
        # Its text refused even as plain text: lost through the bot's own rendering.
        ("msg_too_long", logging.ERROR),
        ("invalid_blocks", logging.ERROR),
        # Its message or channel gone, or closed to the bot: nothing for anyone to fix.
        ("message_not_found", logging.WARNING),
        ("is_archived", logging.WARNING),
    ],
)
async def test_a_final_edit_given_up_is_an_error_only_when_the_answer_is_lost_to_the_bot(
    code, level, caplog
):
    marks = ShownMarks()

    await final_edit_refused(marks, 7, "C0GENERAL", refusal(code))

    assert marks.shown == [7]
    (given_up,) = caplog.records
    assert given_up.getMessage() == f"answer 7 cannot be shown in C0GENERAL ({code}): given up"
    assert given_up.levelno == level
