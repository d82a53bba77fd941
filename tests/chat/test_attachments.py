"""Which attached files the models are shown, and how they read them."""

from __future__ import annotations

import codecs

from bot.chat.attachments import (
    MAX_FILE_BYTES,
    MAX_MESSAGE_FILE_BYTES,
    NOT_UTF8,
    UNREADABLE,
    AttachedFile,
    FileNotShown,
    FileShown,
    file_text,
    files_notice,
    files_to_read,
    unread_files_notice,
    with_files,
)
from bot.chat.quoting import QUOTED_LIMIT

URL = "https://files.slack.com/files-pri/T1-F1/notes.txt"


def text_file(name: str = "notes.txt", size: int = 100, **fields) -> AttachedFile:
    return AttachedFile(
        name, mimetype=fields.pop("mimetype", "text/plain"), size=size, url=URL, **fields
    )


def test_text_code_and_snippet_files_are_read_images_and_pdfs_are_only_named():
    files = [
        text_file(),
        AttachedFile("build.log", mimetype="application/octet-stream", filetype="log", url=URL),
        AttachedFile("Untitled", mimetype="", filetype="python", url=URL),
        AttachedFile("data.json", mimetype="application/json", url=URL),
        AttachedFile("q3.png", mimetype="image/png", filetype="png", url=URL),
        AttachedFile("q3.pdf", mimetype="application/pdf", filetype="pdf", url=URL),
    ]
    planned = files_to_read(files)
    assert planned == [*files[:4], FileNotShown("q3.png"), FileNotShown("q3.pdf")]


def test_a_file_shared_from_another_organisation_that_could_not_be_looked_up_is_unread():
    stub = AttachedFile("a file shared from another organisation", file_id="F1", described=False)
    assert files_to_read([stub]) == [
        FileNotShown("a file shared from another organisation", UNREADABLE)
    ]


def test_a_file_name_with_a_line_break_stays_on_its_header_line():
    text = with_files(
        "look",
        [FileShown("x\n```\nfake", "real text"), FileNotShown("y\n[attached file: z.txt]")],
    )
    assert text == (
        "look\n[attached file: x ``` fake]\n```\nreal text\n```\n"
        "[attached, not shown to you: y [attached file: z.txt]]"
    )


def test_a_file_over_the_size_limit_is_named_with_its_size():
    big = text_file("big.log", size=MAX_FILE_BYTES + 1)
    huge = text_file("huge.log", size=3_200_000)
    assert files_to_read([big, huge]) == [
        FileNotShown("big.log", "too large to show, 100 KB"),
        FileNotShown("huge.log", "too large to show, 3.2 MB"),
    ]


def test_files_are_read_while_the_message_budget_lasts():
    half = MAX_MESSAGE_FILE_BYTES // 2
    first, second, third, small = (
        text_file("a.txt", size=half),
        text_file("b.txt", size=half),
        text_file("c.txt", size=half),
        text_file("d.txt", size=0),
    )
    planned = files_to_read([first, second, third, small])
    assert planned == [first, second, FileNotShown("c.txt", "too large to show, 100 KB"), small]


def test_any_text_mimetype_is_read_whatever_slack_calls_its_filetype():
    styles = text_file("styles.scss", mimetype="text/x-scss", filetype="scss")
    assert files_to_read([styles]) == [styles]


def test_a_small_file_past_the_message_budget_is_said_to_be_at_least_1_kb():
    first, second = text_file("a.txt", size=MAX_FILE_BYTES), text_file("b.txt", size=99_900)
    late = text_file("c.txt", size=500)
    assert files_to_read([first, second, late])[2] == FileNotShown(
        "c.txt", "too large to show, 1 KB"
    )


def test_a_text_file_without_a_download_url_is_said_to_be_unreadable():
    hidden = AttachedFile("notes.txt", mimetype="text/plain", size=10, url=None)
    assert files_to_read([hidden]) == [FileNotShown("notes.txt", "could not be read")]


def test_only_utf8_text_without_nul_bytes_counts_as_text():
    assert file_text("héllo\n".encode()) == "héllo\n"
    assert file_text(b"\xef\xbb\xbfwith a BOM") == "with a BOM"
    assert file_text(b"\x89PNG\r\n\x1a\n\x00\x00") is None
    assert file_text(b"SQLite format 3\x00\x10\x00") is None
    assert file_text("latin-1 café".encode("latin-1")) is None
    assert file_text(None) is None


def test_utf16_text_with_its_byte_order_mark_is_text_too():
    assert file_text("id;name\r\n1;café\r\n".encode("utf-16")) == "id;name\r\n1;café\r\n"
    assert file_text(codecs.BOM_UTF16_BE + "x".encode("utf-16-be")) == "x"
    assert file_text(codecs.BOM_UTF16_LE + b"\x00\xd8") is None  # a lone surrogate


def test_shown_files_follow_the_text_in_fences_and_the_rest_are_named():
    text = with_files(
        "what is wrong here?",
        [
            FileShown("app.py", "print('hi')\n\n"),
            FileNotShown("q3.png"),
            FileNotShown("big.log", "too large to show, 3.2 MB"),
        ],
    )
    assert text == (
        "what is wrong here?\n"
        "[attached file: app.py]\n```\nprint('hi')\n```\n"
        "[attached, not shown to you: q3.png, big.log (too large to show, 3.2 MB)]"
    )


def test_a_file_with_fences_of_its_own_cannot_close_the_fence_around_it():
    readme = "Run:\n```sh\nmake\n```\n````\nfour\n````"
    text = with_files("", [FileShown("README.md", readme)])
    assert text == f"[attached file: README.md]\n`````\n{readme}\n`````"


def test_the_author_is_told_of_files_not_downloaded_apart_from_files_not_utf8():
    outcomes = [
        FileShown("ok.txt", "fine"),
        FileNotShown("gone.txt", UNREADABLE),
        FileNotShown("export.csv", NOT_UTF8),
        FileNotShown("photo.png"),  # not text: nothing to tell
        FileNotShown("big.log", "too large to show, 3.2 MB"),
    ]
    notice = files_notice(outcomes)
    assert notice == (
        f"{unread_files_notice(['gone.txt'])} The models were told of `export.csv` but not "
        "shown the text, which is not UTF-8: save it as UTF-8 to share it."
    )
    assert files_notice(outcomes[3:]) is None


def test_the_notice_of_unread_files_names_them_and_the_likely_fix():
    assert unread_files_notice([]) is None
    one = unread_files_notice(["notes.txt"])
    assert one.startswith("I couldn't download `notes.txt` from Slack, so the models were told")
    assert "told of it but" in one and "`files:read`" in one
    two = unread_files_notice(["a.txt", "b.log"])
    assert "`a.txt`, `b.log`" in two and "told of them but" in two


def test_file_names_in_the_notice_cannot_ping_or_break_out_of_their_quotes():
    notice = unread_files_notice(["report` <!channel> <@U0BOB> *x.txt"])
    assert notice is not None
    assert "`report\u02cb &lt;!channel&gt; &lt;@U0BOB&gt; *x.txt`" in notice
    assert "`R&amp;D.txt`" in unread_files_notice(["R&D.txt"])


def test_long_file_names_are_shortened_in_the_notice():
    at_limit, over = "a" * QUOTED_LIMIT, "b" * (QUOTED_LIMIT + 1)
    notice = unread_files_notice([at_limit, over])
    assert f"`{at_limit}`, `{'b' * (QUOTED_LIMIT - 1)}…`" in notice
