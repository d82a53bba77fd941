"""A model cannot show a link as going to one place while it goes to another: a label that names
a host other than the link's own is shown as text, followed by where the link really goes."""

import pytest

from bot.slack.links import unspoofed_links
from bot.slack.markdown import MARKDOWN_BLOCK_LIMIT
from bot.slack.rendering import final_messages, streaming_message


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        (
            "[https://acme-bank.com/login](https://evil.example/phish)",
            "https://acme-bank.com/login (<https://evil.example/phish>)",
        ),
        ("[acme-bank.com](https://evil.example)", "acme-bank.com (<https://evil.example>)"),
        ("[www.acme.com/login](http://evil.example)", "www.acme.com/login (<http://evil.example>)"),
        ("[acme.com](https://acme.com.evil.example)", "acme.com (<https://acme.com.evil.example>)"),
        ("[acme.com](https://evil.example/acme.com)", "acme.com (<https://evil.example/acme.com>)"),
    ],
)
def test_a_link_whose_label_names_another_host_shows_its_real_target(link, shown):
    assert unspoofed_links(f"Log in at {link} now.") == f"Log in at {shown} now."


@pytest.mark.parametrize(
    "link",
    [
        "[the docs](https://evil.example)",
        "[Python 3.12 release notes](https://docs.python.org/3.12/)",
        "[src/app.py](https://github.com/acme/app/blob/main/src/app.py)",
    ],
)
def test_ordinary_link_labels_are_kept(link):
    assert unspoofed_links(f"See {link}.") == f"See {link}."


@pytest.mark.parametrize(
    "link",
    [
        "[`Array.prototype.map()`](https://developer.mozilla.org/docs/map)",
        "[Object.keys()](https://developer.mozilla.org/docs/keys)",
        "[the React.useState hook](https://react.dev/reference/react/useState)",
        "[the Django.contrib admin](https://docs.djangoproject.com/en/5.0/ref/contrib/admin/)",
    ],
)
def test_code_in_a_link_label_names_no_host(link):
    """A dotted name whose last part is no top-level domain there is, or that is called, is
    code: its link to the docs stays a link."""
    assert unspoofed_links(f"See {link}.") == f"See {link}."


def test_a_host_with_its_top_level_domain_in_capitals_still_names_that_host():
    assert unspoofed_links("[bank.COM](https://evil.example)") == (
        "bank.COM (<https://evil.example>)"
    )


@pytest.mark.parametrize(
    "link",
    [
        "[acme.com](https://acme.com/x)",
        "[https://acme.com/login](https://acme.com/login?next=/)",
        "[WWW.Acme.com](https://acme.com)",
        "[acme.com](https://www.acme.com/)",
    ],
)
def test_a_link_whose_label_names_its_own_host_is_kept(link):
    assert unspoofed_links(link) == link


def test_a_link_to_a_subdomain_of_the_host_its_label_names_is_kept_as_that_host_runs_it():
    assert unspoofed_links("[acme.com](https://docs.acme.com/x)") == (
        "[acme.com](https://docs.acme.com/x)"
    )


def test_a_label_naming_a_subdomain_of_a_link_to_its_parent_shows_the_real_target():
    assert unspoofed_links("[docs.acme.com](https://acme.com)") == (
        "docs.acme.com (<https://acme.com>)"
    )


def test_an_address_label_is_kept_only_on_a_mail_link_to_that_address():
    kept = "[Bob@Acme.com](mailto:bob@acme.com?subject=hi)"
    assert unspoofed_links(kept) == kept
    assert unspoofed_links("[bob@acme.com](mailto:eve@evil.example)") == (
        "bob@acme.com (<mailto:eve@evil.example>)"
    )
    assert unspoofed_links("[bob@acme.com](https://evil.example)") == (
        "bob@acme.com (<https://evil.example>)"
    )


def test_a_file_name_label_is_kept_on_a_link_to_that_file_but_not_on_one_elsewhere():
    kept = "[README.md](https://github.com/acme/app/blob/main/README.md#usage)"
    assert unspoofed_links(kept) == kept
    assert unspoofed_links("[README.md](https://evil.example/)") == (
        "README.md (<https://evil.example/>)"
    )


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("[**acme.com**](https://evil.example)", "**acme.com** (<https://evil.example>)"),
        ("[`acme.com`](https://evil.example)", "`acme.com` (<https://evil.example>)"),
        ("[acme&#46;com](https://evil.example)", "acme&#46;com (<https://evil.example>)"),
        ("[acme\\.com](https://evil.example)", "acme\\.com (<https://evil.example>)"),
        ("[acme\u200b.com](https://evil.example)", "acme\u200b.com (<https://evil.example>)"),
        ("[[acme.com]](https://evil.example)", "\\[acme.com\\] (<https://evil.example>)"),
    ],
)
def test_a_label_is_read_as_it_shows_whatever_markup_it_is_written_in(link, shown):
    assert unspoofed_links(link) == shown


@pytest.mark.parametrize(
    "link",
    [
        "[acme.com](<https://evil.example>)",
        '[acme.com](https://evil.example "Acme")',
        "[acme.com]( https://evil.example )",
        "[acme.com](https://evil.example/(a))",
    ],
)
def test_every_way_of_writing_a_links_target_is_checked(link):
    assert unspoofed_links(link).startswith("acme.com (<https://evil.example")


def test_an_image_is_checked_as_the_link_slack_shows_it_as():
    assert unspoofed_links("![acme.com](https://evil.example/i.png)") == (
        "acme.com (<https://evil.example/i.png>)"
    )


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("[acme\uff0ecom](https://evil.example)", "acme\uff0ecom (<https://evil.example>)"),
        ("[acme\u3002com](https://evil.example)", "acme\u3002com (<https://evil.example>)"),
        ("[acme\uff61com](https://evil.example)", "acme\uff61com (<https://evil.example>)"),
        (
            "[\uff41\uff43\uff4d\uff45.com](https://evil.example)",
            "\uff41\uff43\uff4d\uff45.com (<https://evil.example>)",
        ),
        ("[192.168.1.1](https://evil.example/login)", "192.168.1.1 (<https://evil.example/login>)"),
        (
            "[10.0.0.1:8080/admin](https://evil.example)",
            "10.0.0.1:8080/admin (<https://evil.example>)",
        ),
    ],
)
def test_a_label_naming_a_host_with_look_alike_characters_or_by_its_address_is_checked(link, shown):
    assert unspoofed_links(link) == shown


@pytest.mark.parametrize(
    "link",
    [
        "[acme\uff0ecom](https://acme.com/x)",
        "[192.168.1.1](http://192.168.1.1/)",
        "[1.2.3.400](https://github.com/acme/app/releases/1.2.3.400)",
        "[v1.2.3](https://github.com/acme/app/releases/v1.2.3)",
    ],
)
def test_look_alikes_of_its_own_host_and_version_numbers_are_kept(link):
    assert unspoofed_links(link) == link


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("[acme.com\n](https://evil.example)", "acme.com\n (<https://evil.example>)"),
        ("[\nacme.com](https://evil.example)", "\nacme.com (<https://evil.example>)"),
        (
            "[Log in at\nacme.com](https://evil.example)",
            "Log in at\nacme.com (<https://evil.example>)",
        ),
        ("[Log in at\nthe bank](https://evil.example)", None),  # names no host: kept
    ],
)
def test_a_label_over_two_lines_is_checked_as_one(link, shown):
    assert unspoofed_links(link) == (shown or link)


def test_a_blank_line_ends_a_label():
    text = "[acme.com\n\n](https://evil.example)"
    assert unspoofed_links(text) == text  # no link: two paragraphs


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "[[acme.com](https://evil.example)](https://acme.com)",
            "[acme.com (<https://evil.example>)](https://acme.com)",
        ),
        (
            "[see [acme.com](https://evil.example)](https://x.y)",
            "[see acme.com (<https://evil.example>)](https://x.y)",
        ),
        ("[see [the docs](https://x.y)](https://acme.com)", None),  # an honest inner link
    ],
)
def test_a_link_inside_another_links_brackets_is_the_link_checked(text, shown):
    assert unspoofed_links(text) == (shown or text)


def test_a_link_around_an_image_reads_as_the_images_alt_text():
    assert unspoofed_links("[![acme.com](https://evil.example/i.png)](https://evil.example)") == (
        "!\\[acme.com\\](https://evil.example/i.png) (<https://evil.example>)"
    )
    kept = "[![acme.com](https://cdn.example/logo.png)](https://acme.com)"
    assert unspoofed_links(kept) == kept


def test_the_real_target_shown_cannot_be_read_as_slacks_link_syntax():
    assert unspoofed_links("[acme.com](https://evil.example/x|https://acme.com)") == (
        "acme.com (<https://evil.example/x%7Chttps://acme.com>)"
    )


def test_a_target_that_cannot_be_a_link_of_its_own_is_shown_as_code():
    assert unspoofed_links("[acme.com](evil.example/x)") == "acme.com (` evil.example/x `)"
    assert unspoofed_links("[acme.com](<https://evil.example/a b>)") == (
        "acme.com (` https://evil.example/a b `)"
    )


def test_slacks_own_link_syntax_cannot_spoof_either():
    assert unspoofed_links("<https://evil.example|https://acme-bank.com>") == (
        "https://acme-bank.com (<https://evil.example>)"
    )
    for honest in ("<https://acme.com/x|acme.com>", "<https://x.y|the docs>", "<https://x.y>"):
        assert unspoofed_links(honest) == honest


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        (
            "<https://evil.example|[acme.com](https://acme.com)>",
            "\\[acme.com\\](https://acme.com) (<https://evil.example>)",
        ),
        (
            "<https://evil.example|![acme.com](https://evil.example/i.png)>",
            "!\\[acme.com\\](https://evil.example/i.png) (<https://evil.example>)",
        ),
        (
            "<https://acme.com|[docs](https://acme.com/x)>",
            "<https://acme.com|[docs](https://acme.com/x)>",
        ),
    ],
)
def test_slacks_link_syntax_with_a_link_in_its_label_is_checked_as_its_label_reads(link, shown):
    """Read as Slack's syntax, the link shows its label as written, the link inside it too."""
    for posted in _shown(f"Log in at {link} now"):
        assert posted == f"Log in at {shown} now"


@pytest.mark.parametrize(
    "written",
    [
        "See [acme.com][1].\n\n[1]: https://evil.example",
        'See [acme.com][].\n\n[ACME.com]: <https://evil.example> "Acme"',
        "See [acme.com].\n\n[Acme.com]:\n  https://evil.example",
        "See [acme.com][the  Bank].\n\n[the bank]: https://evil.example",
        "See [acme.com][1].\n\n> [1]: https://evil.example",  # defined inside a quote
        "See [acme.com][1].\n\n- [1]: https://evil.example",  # or a list item
        "See [acme.com][a\\]b].\n\n[a\\]b]: https://evil.example",  # an escaped bracket
    ],
)
def test_a_reference_link_is_checked_against_the_target_its_definition_gives(written):
    definition = written.split("\n\n")[1]
    assert unspoofed_links(written) == "See acme.com (<https://evil.example>).\n\n" + definition


@pytest.mark.parametrize(
    "text",
    [
        "See [acme.com][1].\n\n[1]: https://docs.acme.com/x",
        "See [the docs][1].\n\n[1]: https://evil.example",
        "See [acme.com][2] and [acme.com].\n\n[1]: https://evil.example",
        "- [x] acme.com is up\n\n[x]: https://evil.example",  # a task box, "x" its label
    ],
)
def test_reference_links_that_name_their_own_host_or_nothing_defined_are_kept(text):
    assert unspoofed_links(text) == text


def test_a_reference_links_first_definition_outside_code_is_the_one_checked():
    text = (
        "```\n[acme.com]: https://acme.com\n```\n"
        "See [acme.com].\n\n[acme.com]: https://evil.example\n[acme.com]: https://acme.com"
    )
    assert "See acme.com (<https://evil.example>)." in unspoofed_links(text)


def test_a_reference_link_inside_code_is_left_as_written():
    text = "Write `[acme.com][1]` to fool a reader.\n\n[1]: https://evil.example"
    assert unspoofed_links(text) == text


@pytest.mark.parametrize(
    "code",
    [
        "Write `[acme.com](https://evil.example)` to fool a reader.",
        "```md\n[acme.com](https://evil.example)\n<https://evil.example|acme.com>\n```\nDone.",
        "~~~\n[acme.com](https://evil.example)",  # a fence still open while streaming
        "1. Write:\n   ```md\n   [acme.com](https://evil.example)\n   ```\n2. Done.",
    ],
)
def test_links_inside_code_are_left_as_written(code):
    assert unspoofed_links(code) == code


@pytest.mark.parametrize("indent", ["    ", "\t", "  \t"])
def test_a_fence_indented_as_code_hides_no_link(indent):
    """At the top level, a fence indented four columns is an indented code block's text."""
    text = f"{indent}```\n[acme.com](https://evil.example)\n{indent}```"
    assert unspoofed_links(text) == f"{indent}```\nacme.com (<https://evil.example>)\n{indent}```"


@pytest.mark.parametrize(
    "text",
    [
        "- Write:\n  ```\n[acme.com](https://evil.example)\n  ```",
        "- Write:\n  ```\nmore\n  ```\nsee\n  ```\n[acme.com](https://evil.example)",
    ],
)
def test_a_fence_in_a_list_item_that_has_ended_hides_no_link(text):
    """Where a line indented less than the fence ends its list item, what follows is prose
    (a fence opening there would be taken for the closing one)."""
    assert "acme.com (<https://evil.example>)" in unspoofed_links(text)


def test_a_code_span_cut_between_two_messages_hides_no_link():
    """A line longer than a message is cut where it must, here inside a code span: the
    span's text is then no code in either message."""
    line = "`" + "a " * 5_000 + "[acme.com](https://evil.example)" + " b" * 2_000 + "`"
    parts = [message.blocks[0]["text"] for message in final_messages("GPT", line, "footer")]
    shown = streaming_message("GPT", line).blocks[0]["text"]

    assert len(parts) > 1
    assert all(len(part) <= MARKDOWN_BLOCK_LIMIT for part in parts)
    assert "acme.com (<https://evil.example>)" in parts[0]
    assert shown == parts[0]
    assert "[acme.com]" not in "".join(parts)


def test_an_escaped_backtick_opens_no_code_span_to_hide_a_link_in():
    assert unspoofed_links("\\` [acme.com](https://evil.example) `") == (
        "\\` acme.com (<https://evil.example>) `"
    )


@pytest.mark.parametrize("before", ["[docs](https://acme.com/`) ", "<https://acme.com/`> "])
def test_a_backtick_in_a_links_target_opens_no_code_span_to_hide_a_link_in(before):
    text = f"{before}[acme.com](https://evil.example) `"
    assert unspoofed_links(text) == f"{before}acme.com (<https://evil.example>) `"


def test_backticks_paired_across_lines_hide_no_link():
    text = "a ` b\n` [acme.com](https://evil.example) `"
    assert unspoofed_links(text) == "a ` b\n` acme.com (<https://evil.example>) `"


@pytest.mark.parametrize(
    "partial", ["[acme.com](https://evil.exa", "[acme.com](", "[acme.com", "<https://evil|acme"]
)
def test_an_unfinished_link_in_a_streaming_answer_is_left_as_written(partial):
    assert unspoofed_links(partial) == partial
    assert streaming_message("GPT", partial).blocks[0]["text"] == partial


def test_answers_are_posted_with_their_links_unspoofed():
    answer = "Sign in at [acme-bank.com](https://evil.example/phish)."
    shown = "Sign in at acme-bank.com (<https://evil.example/phish>)."
    (final,) = final_messages("GPT", answer, "footer")
    assert final.blocks[0]["text"] == shown
    assert streaming_message("GPT", answer).blocks[0]["text"] == shown


def _shown(answer: str) -> list[str]:
    """The answer as posted (its markdown blocks), and as the streaming edit shows it."""
    posted = [message.blocks[0]["text"] for message in final_messages("GPT", answer, "f")]
    return [*posted, streaming_message("GPT", answer).blocks[0]["text"]]


@pytest.mark.parametrize(
    "label",
    [
        "bank.com!",
        '"bank.com"',
        "(bank.com)",
        "bank.com,",
        "Log in to bank.com",
        ":lock: bank.com",
        "bank.com's login",
        "see:bank.com",
        "bank.com\\\n",  # a hard line break after the host
        "![x](https://bank.com/i.png) bank.com",
        "Write to bob@bank.com",
        "Open https://bank.com/login now",
    ],
)
def test_a_label_naming_another_host_among_other_words_is_shown_with_its_target(label):
    for shown in _shown(f"[{label}](https://evil.example)"):
        assert shown.endswith(" (<https://evil.example>)"), shown


@pytest.mark.parametrize(
    "dot",
    ["\ua4f8", "\u00b7", "\u2027", "\u0589", "\u06d4", "\u30fb", "\u2e31", "\u22c5", "\u2024"],
)
def test_a_label_naming_a_host_with_a_look_alike_dot_is_shown_with_its_target(dot):
    assert unspoofed_links(f"[Log in at bank{dot}com](https://evil.example)") == (
        f"Log in at bank{dot}com (<https://evil.example>)"
    )
    kept = f"[bank{dot}com](https://bank.com/login)"
    assert unspoofed_links(kept) == kept


@pytest.mark.parametrize(
    "link",
    [
        "[Log in to bank.com](https://bank.com/login)",
        "[Write to support at bank.com](mailto:support@bank.com)",
        "[the docs (v1.2)](https://x.dev)",
        "[Next.js docs](https://nextjs.org/docs)",
        "[Node.js](https://nodejs.org)",
        "[see test_links.py](https://github.com/acme/app/blob/main/tests/test_links.py)",
        "[see config.yaml, e.g. line 3](https://evil.example)",  # .yaml is no top-level domain
        "[Edit README.md](https://github.com/acme/app/blob/main/README.md)",
        "[Lines 3-9 of src/app.py](https://github.com/acme/app/blob/main/src/app.py#L3-L9)",
        "[プライバシー・ポリシー](https://example.jp/privacy)",  # a middle dot between words
    ],
)
def test_labels_naming_only_their_own_host_or_no_host_among_other_words_are_kept(link):
    assert unspoofed_links(link) == link


def test_a_file_name_that_is_also_a_host_is_shown_with_a_target_elsewhere():
    """`.md`, `.py`, `.pl`… are top-level domains too: `bank.pl` is a bank's."""
    assert unspoofed_links("[Log in to mbank.pl](https://evil.example)") == (
        "Log in to mbank.pl (<https://evil.example>)"
    )
    assert unspoofed_links("[see README.md](https://evil.example)") == (
        "see README.md (<https://evil.example>)"
    )


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("[bank.com](https://evil.example/a(b(c)))", "<https://evil.example/a(b(c))>"),
        ("[bank.com](https://evil.example/\\()", "<https://evil.example/(>"),
        ("[bank.com](https://evil.example/\\)x)", "<https://evil.example/)x>"),
        ("[bank.com](<https://evil.example/\\>>)", "` https://evil.example/> `"),
        ('[bank.com](https://evil.example "a \\" b")', "<https://evil.example>"),
        ('[bank.com](https://evil.example "over\ntwo lines")', "<https://evil.example>"),
        ("[bank.com](https://evil.example ('a' \\(b\\)))", "<https://evil.example>"),
    ],
)
def test_every_target_commonmark_reads_as_a_link_is_checked(link, target):
    """Nested or escaped parentheses, escaped quotes in a title, a title over two lines."""
    for shown in _shown(link):
        assert shown == f"bank.com ({target})"


@pytest.mark.parametrize(
    "link",
    [
        "[bank.com](https://evil.example\\\\@bank.com)",
        "[bank.com](https://evil.example&#92;@bank.com)",
        "[bank.com](<https://evil.example\\\\@bank.com>)",
        "[bank.com](https://evil.example\\x@bank.com)",  # `\x` escapes nothing: as written
    ],
)
def test_a_backslash_in_a_targets_host_is_read_as_a_browser_reads_it(link):
    """A browser reads a backslash in a web address as a slash: `https://evil.example\\@bank.com`
    opens evil.example (Python's `urlsplit` reads bank.com, after the `@`)."""
    for shown in _shown(link):
        assert shown.startswith("bank.com (<https://evil.example\\")


def test_a_target_with_a_space_commonmark_allows_is_checked():
    """A no-break space is no space to CommonMark: it is part of the target."""
    assert unspoofed_links("[bank.com](https://evil.example/\u00a0x)") == (
        "bank.com (` https://evil.example/\u00a0x `)"
    )


def test_parentheses_nested_deeper_than_commonmark_reads_make_no_link():
    """Past 32 levels (cmark's and markdown-it's limit) CommonMark reads no link."""
    deep = "[bank.com](https://evil.example/" + "(" * 33 + ")" * 33 + ")"
    assert unspoofed_links(deep) == deep
    deepest = "[bank.com](https://evil.example/" + "(" * 32 + ")" * 32 + ")"
    assert unspoofed_links(deepest).startswith("bank.com (<https://evil.example/((")


@pytest.mark.parametrize(
    ("link", "label"),
    [
        ("[click](!here)", "click"),
        ("[Bob](@U123ABC)", "Bob"),
        ("[devs](!subteam^S1)", "devs"),
        ("[general](#C0123)", "general"),
        ("[click](<!channel>)", "click"),
        ("[click](\\!here)", "click"),
        ("[click](&#33;here)", "click"),
        ("[click](&excl;here)", "click"),
        ("[Bob](&#x40;U1)", "Bob"),
        ('[Bob](@U1 "Bob")', "Bob"),
        ("![Bob](@U1)", "Bob"),
        ("[[x]](!here)", "\\[x\\]"),
        ("[see [the docs](https://x.dev)](!here)", "see [the docs](https://x.dev)"),
    ],
)
def test_a_link_to_a_slack_mention_is_shown_as_its_label_so_it_cannot_ping(link, label):
    """Slack may read `[Bob](@U1)` as its own `<@U1|Bob>`: a mention."""
    for shown in _shown(f"Ask {link} now"):
        assert shown == f"Ask {label} now"


def test_a_reference_link_defined_as_a_slack_mention_is_shown_as_its_label():
    shown = unspoofed_links("Ask [everyone][1] now.\n\n[1]: !channel")
    assert shown == "Ask everyone now.\n\n[1]: !channel"


@pytest.mark.parametrize(
    "written",
    [
        "&lt;https://evil.example|bank.com&gt;",
        "&lt;https://evil.example&#124;bank.com&gt;",
        "&#60;https://evil.example&vert;bank.com&#x3E;",
        "&LT;https://evil.example&verbar;bank.com&GT;",
        "\\<https://evil.example\\|bank.com\\>",
    ],
)
def test_slacks_link_syntax_written_with_character_references_cannot_spoof(written):
    """Slack may read the text Markdown shows, `<https://evil.example|bank.com>`, as a link."""
    for shown in _shown(f"Log in at {written} now"):
        assert shown == "Log in at bank.com (<https://evil.example>) now"


@pytest.mark.parametrize(
    "link",
    [
        "<https://evil.example\\@bank.com|bank.com>",
        "<https://evil.example\\.bank.com|bank.com>",
    ],
)
def test_slacks_link_syntax_is_also_checked_as_written_without_markdowns_escapes(link):
    """Slack may read its own `<target|label>` as written, a backslash no escape: a browser
    reads it as a slash, and `https://evil.example\\@bank.com` opens evil.example."""
    target = link[1 : link.index("|")]
    for shown in _shown(f"Log in at {link} now"):
        assert shown == f"Log in at bank.com (<{target}>) now"
    honest = "<https://bank.com/a\\_b|bank.com>"
    assert unspoofed_links(honest) == honest


def test_slacks_link_syntax_written_with_character_references_naming_its_own_host_is_kept():
    honest = "&lt;https://bank.com/x&#124;bank.com&gt;"
    assert unspoofed_links(honest) == honest
