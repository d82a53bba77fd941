"""What an answer a person stopped says of who stopped it."""

from __future__ import annotations

import pytest

from bot.answering import AnswerStopped


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
