"""SPEC §4.1 and 4.2: which events are people's messages, and how their text reads to models."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.chat.attachments import AttachedFile
from bot.chat.routing import IncomingMessage
from bot.slack.files import SlackFiles
from bot.slack.inbound import (
    NAMES_LOOKED_UP_PER_MESSAGE,
    ReadableMessage,
    incoming_message,
    readable_message,
    readable_text,
    rewritten_by_author,
)
from bot.slack.web import SlackWeb
from bot.slack.web_client import open_web_session
from tests.doubles import SharedFile, SlackEmulator
from tests.slack.known_names import KnownNames

NAMES = KnownNames({"U0ALICE": "Alice", "U0BOB": "Bob"}, {"C0RANDOM": "random"})


async def readable(text: str) -> str:
    return await readable_text(text, bot_user_id="U0BOT", names=NAMES)


async def test_the_bot_mention_is_stripped():
    assert await readable("<@U0BOT> what is 2+2?") == "what is 2+2?"


async def test_people_channels_and_links_stay_readable():
    text = "<@U0BOT> ask <@U0BOB> in <#C1|general> about <https://x.dev/a?b=1|the docs>"
    assert await readable(text) == "ask @Bob in #general about the docs (https://x.dev/a?b=1)"


async def test_a_channel_link_without_its_name_reads_as_the_channel_slack_names():
    text = "see <#C0RANDOM|> and <#C0RANDOM>, not <#C0SECRET>"
    assert await readable(text) == "see #random and #random, not #C0SECRET"


async def test_punctuation_that_addresses_the_bot_goes_with_its_mention():
    assert await readable("<@U0BOT>, +claude what is 2+2?") == "+claude what is 2+2?"
    assert await readable("<@U0BOT>: hi, you") == "hi, you"
    assert await readable("what do you think <@U0BOT>? and <@U0BOB>, <@U0BOT>.") == (
        "what do you think? and @Bob,."
    )


async def test_emoji_smileys_and_addresses_after_the_mention_are_left_as_written():
    assert await readable("<@U0BOT> :wave: can you help?") == ":wave: can you help?"
    assert await readable("<@U0BOT> ;) hi") == ";) hi"
    assert await readable("<@U0BOT> ::1 is localhost?") == "::1 is localhost?"
    assert await readable("thanks <@U0BOT> :heart:") == "thanks :heart:"


async def test_slack_escapes_are_undone_for_models():
    assert await readable("<@U0BOT> is 1 &lt; 2 &amp;&amp; 3 &gt; 2?") == "is 1 < 2 && 3 > 2?"


async def test_code_blocks_and_odd_unicode_pass_through():
    text = "<@U0BOT> fix ```def f():\n    return 'héllo 👋 \u202e'```"
    assert await readable(text) == "fix ```def f():\n    return 'héllo 👋 \u202e'```"


async def test_special_mentions_and_mail_links_read_as_written():
    text = "<!here> <!subteam^S1> <!subteam^S1|@devs> <mailto:bob@x.dev> <mailto:bob@x.dev|Bob>"
    assert await readable(text) == "@here @S1 @devs bob@x.dev Bob"


async def test_each_user_group_without_its_handle_reads_as_itself():
    text = "ask <!subteam^S0DESIGN> or <!subteam^S0OPS>"
    assert await readable(text) == "ask @S0DESIGN or @S0OPS"


async def test_a_broadcast_labelled_without_its_at_sign_still_reads_as_one():
    text = "<!here|here> <!channel|channel> <!everyone> on <!date^1392734382^{date}|Feb 18, 2014>"
    assert await readable(text) == "@here @channel @everyone on Feb 18, 2014"


def event(**overrides):
    base = {"type": "message", "channel": "C1", "user": "U0ALICE", "text": "hi", "ts": "1.0"}
    return base | overrides


@pytest.mark.parametrize(
    "ignored",
    [
        event(bot_id="B0OTHER"),
        event(subtype="bot_message"),
        event(subtype="message_changed"),
        event(subtype="channel_join"),
        event(user="U0BOT"),
    ],
)
def test_bot_messages_edits_and_joins_are_not_peoples_messages(ignored):
    assert incoming_message(ignored, team_id="T1", bot_user_id="U0BOT") is None


@pytest.mark.parametrize("subtype", ["thread_broadcast", "me_message", "file_share"])
def test_a_reply_also_sent_to_the_channel_and_a_me_message_are_peoples_messages(subtype):
    message = incoming_message(event(subtype=subtype), team_id="T1", bot_user_id="U0BOT")
    assert message is not None and message.text == "hi"


def test_a_direct_message_is_known_by_its_channel_when_slack_omits_the_channel_type():
    dm = incoming_message(event(channel="D1"), team_id="T1", bot_user_id="U0BOT")
    assert dm is not None and dm.is_direct


def test_a_mention_of_the_bot_with_a_label_is_a_mention():
    mention = incoming_message(event(text="<@U0BOT|chorus> hi"), team_id="T1", bot_user_id="U0BOT")
    assert mention is not None and mention.mentions_bot


def test_a_message_from_another_organisation_in_a_shared_channel_joins_the_same_chat():
    ours = incoming_message(event(team="T1"), team_id="T1", bot_user_id="U0BOT")
    theirs = incoming_message(event(team="T9PARTNER"), team_id="T1", bot_user_id="U0BOT")
    assert ours is not None and theirs is not None
    assert theirs.team_id == ours.team_id == "T1"


def test_a_message_from_another_organisation_carries_its_authors_name_from_its_profile():
    profile = {"display_name": "", "real_name": "Erin Partner", "team": "T9PARTNER"}
    theirs = incoming_message(event(user_profile=profile), team_id="T1", bot_user_id="U0BOT")
    ours = incoming_message(event(), team_id="T1", bot_user_id="U0BOT")
    assert theirs is not None and theirs.profile_name == "Erin Partner"
    assert ours is not None and ours.profile_name is None


def test_a_direct_message_and_a_mention_are_recognised():
    dm = incoming_message(event(channel="D1", channel_type="im"), team_id="T1", bot_user_id="U0BOT")
    assert dm is not None and dm.is_direct and not dm.mentions_bot
    mention = incoming_message(event(text="<@U0BOT> hi"), team_id="T1", bot_user_id="U0BOT")
    assert mention is not None and mention.mentions_bot and not mention.is_direct


@pytest.mark.parametrize(
    ("channel", "channel_type", "place"),
    [
        ("D1", "im", "DM"),
        ("D1", None, "DM"),
        ("G1", "mpim", "conversation"),
        ("C1", "channel", "channel"),
        ("G2", "group", "channel"),  # a private channel
        ("G3", None, "conversation"),  # an `app_mention` in a group DM (or an old private channel)
        ("C2", None, "channel"),  # an `app_mention` in a channel
    ],
)
def test_replies_name_the_place_a_message_was_said_in(channel, channel_type, place):
    said = event(channel=channel, **({"channel_type": channel_type} if channel_type else {}))
    message = incoming_message(said, team_id="T1", bot_user_id="U0BOT")
    assert message is not None and message.place == place


def test_attached_files_are_kept_as_slack_describes_them():
    files = [
        {"id": "F1", "name": "chart.png", "mimetype": "image/png", "filetype": "png", "size": 7},
        {"id": "F2", "title": "notes", "url_private": "https://files.slack.com/F2/notes"},
        {"id": "F3", "mode": "hidden_by_limit"},
        {"id": "F4", "mode": "file_access", "file_access": "check_file_info", "user": ""},
        {
            "id": "F5",
            "name": "plan.txt",
            "mimetype": "text/plain",
            "mode": "external",
            "is_external": True,
            "external_type": "dropbox",
            "url_private": "https://www.dropbox.com/s/abc/plan.txt",
        },
    ]
    message = incoming_message(
        event(subtype="file_share", files=files), team_id="T1", bot_user_id="U0BOT"
    )
    assert message is not None
    assert message.attachments == (
        AttachedFile("chart.png", mimetype="image/png", filetype="png", size=7, file_id="F1"),
        AttachedFile("notes", url="https://files.slack.com/F2/notes", file_id="F2"),
        AttachedFile("F4", file_id="F4", described=False),
        AttachedFile("plan.txt", file_id="F5"),  # not text the bot can download
    )


@dataclass
class Files:
    """The bot's file access and the workspace the files are shared in."""

    slack: SlackFiles
    emulator: SlackEmulator

    def message(self, text: str, *shared: SharedFile) -> IncomingMessage:
        """A message in #general with `shared` attached, as its event reaches the bot."""
        posted = self.emulator.post_user_message("C0GENERAL", "U0ALICE", text, files=shared)
        found = incoming_message(
            event(text=text, files=posted["files"]), team_id="T1", bot_user_id="U0BOT"
        )
        assert found is not None
        return found

    async def read(self, message: IncomingMessage) -> ReadableMessage:
        return await readable_message(message, bot_user_id="U0BOT", names=NAMES, files=self.slack)


@pytest.fixture
async def files(web: tuple[SlackWeb, SlackEmulator]) -> AsyncIterator[Files]:
    """The bot's own file access (`SlackFiles`), downloading from the emulator."""
    slack, emulator = web
    async with open_web_session() as session:
        yield Files(SlackFiles(slack, session, emulator.bot_token, emulator.api_url), emulator)


async def test_attached_files_that_are_not_text_are_named_to_the_models_as_not_shown(files):
    shared = (SharedFile("q3.pdf"), SharedFile("chart.png"))
    note = "[attached, not shown to you: q3.pdf, chart.png]"
    asked = await files.read(files.message("<@U0BOT> sum this up", *shared))
    assert asked.text == f"sum this up\n{note}"
    assert (await files.read(files.message("<@U0BOT>", *shared))).text == note
    assert files.emulator.file_downloads() == [], "not text: never downloaded"


async def test_attached_text_files_are_read_and_ones_not_utf8_said_so(files):
    notes = SharedFile("notes.txt", "the plan\n")
    binary = SharedFile("data.txt", b"\x00\x01\x02\x03")
    latin = SharedFile("export.csv", "café;1\n".encode("latin-1"))
    readable = await files.read(files.message("<@U0BOT> read these", notes, binary, latin))
    assert readable.text == (
        "read these\n[attached file: notes.txt]\n```\nthe plan\n```\n"
        "[attached, not shown to you: data.txt (not UTF-8 text), export.csv (not UTF-8 text)]"
    )
    assert readable.files_notice == (
        "The models were told of `data.txt`, `export.csv` but not shown the text, which is "
        "not UTF-8: save them as UTF-8 to share them."
    )
    assert "download" not in readable.files_notice


async def test_a_message_full_of_mentions_looks_each_one_up_once_and_few_in_all():
    names = KnownNames()
    people = [f"U{n:03}" for n in range(NAMES_LOOKED_UP_PER_MESSAGE + 10)]
    channels = [f"C{n:03}" for n in range(10)]
    text = " ".join(f"<#{channel}> <@{person}>" for person in people * 50 for channel in channels)
    shown = await readable_text(text, bot_user_id="U0BOT", names=names)

    first_seen = list(dict.fromkeys(re.findall(r"<[#@](\w+)>", text)))
    assert names.asked == first_seen[:NAMES_LOOKED_UP_PER_MESSAGE]
    assert shown.split()[:4] == ["#C000", "@U000", "#C001", "@U000"]


FORWARDED = {
    "is_share": True,
    "is_msg_unfurl": True,
    "author_id": "U0BOB",
    "from_url": "https://acme.slack.com/archives/C0OTHER/p1700000000000100",
    "text": "Q3 revenue was 12.5M, ask <@U0ALICE>",
    "ts": "1700000000.000100",
}
LINK_PREVIEW = {"title": "Example", "title_link": "https://example.com", "text": "a page"}


async def test_a_forwarded_message_reaches_the_models_quoted_under_its_author(files):
    event = {
        "type": "message",
        "user": "U0ALICE",
        "text": "summarise this",
        "ts": "2.0",
        "channel": "D0ALICE",
        "channel_type": "im",
        "attachments": [FORWARDED, LINK_PREVIEW],
    }
    message = incoming_message(event, team_id="T1", bot_user_id="U0BOT")
    assert message is not None
    readable = await files.read(message)
    assert readable.text == (
        "summarise this\n[forwarded message from Bob "
        "(https://acme.slack.com/archives/C0OTHER/p1700000000000100)]\n"
        "> Q3 revenue was 12.5M, ask @Alice"
    )


def test_a_message_unfurled_from_a_link_is_a_linked_message_not_a_forwarded_one():
    unfurled = {key: value for key, value in FORWARDED.items() if key != "is_share"}
    event = {"type": "message", "user": "U0ALICE", "text": "see", "ts": "2.0", "channel": "D1"}
    message = incoming_message(
        event | {"attachments": [unfurled]}, team_id="T1", bot_user_id="U0BOT"
    )
    assert message is not None
    assert [shared.forwarded for shared in message.shared] == [False]


def test_a_share_with_nothing_in_it_is_no_forwarded_message():
    event = {
        "type": "message",
        "user": "U0ALICE",
        "text": "hm",
        "ts": "2.0",
        "channel": "D0ALICE",
        "attachments": [FORWARDED | {"text": "", "fallback": ""}],
    }
    message = incoming_message(event, team_id="T1", bot_user_id="U0BOT")
    assert message is not None and message.shared == ()


def test_an_edit_is_a_rewrite_but_a_link_preview_added_by_slack_is_not():
    before = {"type": "message", "user": "U1", "text": "<@U0BOT> see https://x.org", "ts": "1.0"}
    edited = before | {"text": "<@U0BOT> see https://x.org?", "edited": {"user": "U1", "ts": "2"}}
    unfurled = before | {"attachments": [{"title": "X"}]}

    def changed(previous, current):
        return {"subtype": "message_changed", "message": current, "previous_message": previous}

    assert rewritten_by_author(changed(before, edited))
    assert rewritten_by_author({"subtype": "message_changed", "message": edited})
    assert not rewritten_by_author(changed(before, unfurled))
    assert not rewritten_by_author(changed(edited, edited | {"attachments": [{"title": "X"}]}))
