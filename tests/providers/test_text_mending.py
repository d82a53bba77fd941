"""Text a provider's JSON escapes make unfit to store or show is mended as it streams."""

from __future__ import annotations

from bot.providers.text_mending import TextMender, mended
from tests.providers.replay import ReplayServer
from tests.providers.test_openai_compatible import DONE, KEY, USAGE_CHUNK, ask, chunk


def test_a_surrogate_pair_split_across_two_pieces_is_joined():
    mender = TextMender()
    assert [mender.mend("smile \ud83d"), mender.mend("\ude00!"), mender.rest()] == [
        "smile ",
        "😀!",
        "",
    ]


def test_lone_surrogates_become_replacement_characters_and_nuls_are_dropped():
    assert mended("a\ud800b\udc00c") == "a\ufffdb\ufffdc"
    assert mended("nul\x00byte") == "nulbyte"
    assert mended("plain text, untouched: é 😀") == "plain text, untouched: é 😀"


def test_a_high_surrogate_left_at_the_end_is_replaced():
    mender = TextMender()
    assert mender.mend("cut \ud83d") == "cut "
    assert mender.rest() == "\ufffd"


async def test_escaped_surrogates_and_nuls_from_the_wire_reach_the_answer_mended():
    body = (
        chunk("pair \\ud83d")
        + chunk("\\ude00, lone \\ud800, nul \\u0000.")
        + chunk(finish="stop")
        + USAGE_CHUNK
        + DONE
    )
    answer = await ask(ReplayServer(body.encode()), api_key=KEY)

    assert answer.error is None
    assert answer.text == "pair 😀, lone \ufffd, nul ."
    answer.text.encode("utf-8")  # storable and sendable: no lone surrogate left
