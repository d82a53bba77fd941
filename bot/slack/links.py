"""Links in model output that cannot pretend to go somewhere else.

A model's answer is untrusted: `[acme-bank.com](https://evil.example)` would show a trusted
name and open another site. A link whose label names a host (a URL, a domain, an address)
other than where it goes is shown as its label, as text, and then its real target.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from functools import cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from bot.slack.markdown import code_regions, markdown_forms

# A Markdown inline link (or image: Slack shows an image as a link): its label (one level of
# brackets inside it allowed, and line breaks, not a blank line), then its target, bare or in
# angle brackets, and an optional title, read as CommonMark reads them. Each part stops at the
# first character that cannot continue it, never to be tried again shorter (`*+`), so a run of
# unfinished links is scanned once.
_LABEL_CHARACTER = r"(?:[^\[\]\n]|\n(?![ \t]*\n))"
_LABEL = rf"(?:{_LABEL_CHARACTER}|\[{_LABEL_CHARACTER}*\])+"
_TARGET_CHARACTER = r"[^\x00-\x20()\\\x7f]|\\[^\x00-\x20\x7f]?"  # `\(` escapes a parenthesis


def _bare_target(depth: int) -> str:
    """A bare target: no space or control character, and parentheses balanced, nested up to
    `depth` deep."""
    pattern = f"(?:{_TARGET_CHARACTER})*+"
    for _ in range(depth):
        pattern = rf"(?:{_TARGET_CHARACTER}|\({pattern}\))*+"
    return pattern


_BARE_TARGET = _bare_target(32)  # where cmark and markdown-it stop reading a link
_BRACKETED_TARGET = r"(?:[^<>\\\n]|\\[^\n]?)*+"


def _title(opening: str, closing: str) -> str:
    """A link's title between `opening` and `closing`, neither unescaped inside it; line
    breaks in it, not a blank line."""
    text = rf"(?:[^{re.escape(opening + closing)}\\\n]|\\[^\n]?|\n(?![ \t]*\n))*+"
    return re.escape(opening) + text + re.escape(closing)


_TITLE = "|".join(_title(opening, closing) for opening, closing in ('""', "''", "()"))
_SPACE = r"[ \t]*\n?[ \t]*"  # spaces, and at most one line break
_INLINE_LINK = (
    rf"!?\[(?P<label>{_LABEL})\]"
    rf"\({_SPACE}(?:<(?P<bracketed>{_BRACKETED_TARGET})>|(?P<bare>{_BARE_TARGET}))"
    rf"(?:(?=[ \t\n]){_SPACE}(?:{_TITLE}))?{_SPACE}\)"
)
# Slack's own link syntax, `<https://target|label>`, in case Slack reads it in Markdown too;
# also as Markdown shows it from character references or escapes (`&lt;https://…&#124;…&gt;`),
# in case Slack reads the text Markdown shows.
_SLACK_OPENING = f"(?i:{markdown_forms('<', 'lt')})"
_SLACK_PIPE = f"(?i:{markdown_forms('|', 'vert', 'verbar', 'VerticalLine')})"
_SLACK_CLOSING = f"(?i:{markdown_forms('>', 'gt')})"
_SLACK_LINK = (
    rf"{_SLACK_OPENING}(?P<slack_target>[A-Za-z][\w+.-]*:"
    rf"(?:(?!{_SLACK_OPENING}|{_SLACK_PIPE}|{_SLACK_CLOSING})[^\s<>|])*+){_SLACK_PIPE}"
    rf"(?P<slack_label>(?:(?!{_SLACK_OPENING}|{_SLACK_CLOSING})[^<>\n])*+){_SLACK_CLOSING}"
)
_LINK = re.compile(f"{_INLINE_LINK}|{_SLACK_LINK}")
# A Markdown reference link, `[label][name]`, `[label][]` or `[label]`, whose target a
# definition, `[name]: target`, gives elsewhere; a definition's own name is not one.
_REFERENCE_NAME = r"(?:[^\[\]\\\n]|\\.)"  # a backslash escapes a bracket in it
_REFERENCE_LINK = (
    rf"!?\[(?P<reference_label>{_LABEL})\]"
    rf"(?:\[(?P<reference>{_REFERENCE_NAME}*)\]|(?![:(]))"
)
_LINK_OR_REFERENCE = re.compile(f"{_INLINE_LINK}|{_SLACK_LINK}|{_REFERENCE_LINK}")
# A definition applies to the whole answer, also from inside a quote or a list item.
_DEFINITION = re.compile(
    r"^(?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t])))*[ \t]*"
    rf"\[(?P<name>{_REFERENCE_NAME}+)\]:"
    rf"{_SPACE}(?:<(?P<bracketed>{_BRACKETED_TARGET})>|(?P<bare>\S+))",
    re.MULTILINE,
)
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_BRACKET = re.compile(r"[\[\]]")
_EMPHASIS = re.compile(r"[*_~`\[\]]")
_HARD_BREAK = re.compile(r"\\\n")  # a backslash at a line's end breaks the line, and shows not
# Dots IDNA reads as `.` in a host name: `acme。com` names acme.com.
_IDNA_DOTS = str.maketrans(dict.fromkeys("\u3002\uff0e\uff61", "."))
# Dots that only look like one (`acme·com`, or with U+A4F8, a Lisu tone mark). They are read
# as `.` only before a top-level domain in ASCII letters: a middle dot also stands between
# words, as in Japanese (`プライバシー・ポリシー`), and such words name no host.
_LOOK_ALIKE_DOTS = str.maketrans(
    dict.fromkeys(
        "\u00b7\u0589\u0660\u06d4\u06f0\u0701\u0702\u16eb\u2022\u2027\u2219\u22c5"
        "\u2e31\u2e33\u30fb\ua4f8\ua60e",
        ".",
    )
)
# What in a label names a host: a URL, an address, an IPv4 address (`10.0.0.1:8080/admin`)
# or a domain (`www.acme.com/login`), each a word of its own or among other words and
# punctuation (`Log in to acme.com!`). What follows a host as its path names no other.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HOST_NAMED = re.compile(
    r"(?<![\w+.-])(?P<url>[A-Za-z][\w+.-]*://\S+)"
    r"|(?<![\w.%+-])(?P<address>[\w.%+-]+@[^\W_][\w.-]*\.[^\W\d_]{2,63})(?![\w-])"
    rf"|(?<![\w.])(?P<ipv4>(?:{_OCTET}\.){{3}}{_OCTET})(?![\w-]|\.\d)(?:[:/?#]\S*)?"
    r"|(?<![\w.-])(?P<domain>(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
    r"(?P<top_level>[^\W\d_]{2,63}|xn--[\w-]+))(?![\w-])(?:[:/?#]\S*)?"
)
# The extensions of file names (`config.yaml`, `Node.js`) that no top-level domain has: such
# a name names no host. Others are both (`app.py`, `README.md`: Paraguay's and Moldova's, and
# `mbank.pl` is a bank's), and name a host unless the link opens that file.
_EXTENSIONS_OF_NO_DOMAIN = frozenset(
    re.findall(
        r"\w+",
        "cfg conf cpp css csv go hpp html ini ipynb java js json jsx kt lock log php rb sql"
        " swift toml ts tsx txt xml yaml yml",
    )
)
_FILE_NAME = re.compile(r"[\w.-]+\.(?:cc|md|pl|py|rs|sh)", re.IGNORECASE)
# CommonMark's autolink: a scheme, then no space or angle bracket. `|` is written `%7C`, so
# the shown target cannot be read as Slack's `<target|label>`.
_AUTOLINKABLE = re.compile(r"[A-Za-z][\w+.-]{1,31}:[^\s<>\x00-\x1f]*")


def unspoofed_links(text: str) -> str:
    """`text` with each link whose label names a host other than its target's written as its
    label, then its real target: `acme-bank.com (<https://evil.example>)`, and each link to a
    Slack mention (`[Bob](@U1)`) as its label. Ordinary labels, code, and a link not yet
    finished (streaming) are left as written."""
    defined = _definitions(text) if "]:" in text else []
    links = _LINK_OR_REFERENCE if defined else _LINK
    if links.search(text) is None:
        return text  # most answers, re-rendered at each streaming edit: no code to find
    code = code_regions(text)
    code_starts = [start for start, _ in code]

    def in_code(at: int) -> bool:
        inside = bisect_right(code_starts, at) - 1
        return inside >= 0 and at < code[inside][1]

    definitions: dict[str, str] = {}
    for name, at, target in defined:
        if not in_code(at):
            definitions.setdefault(name, target)  # Markdown uses a name's first definition

    def rewritten(link: re.Match[str]) -> str:
        if in_code(link.start()):
            return link[0]
        reference = link.groupdict().get("reference_label")  # when definitions were found
        if reference is not None:
            label = reference
            target = definitions.get(_reference_name(link["reference"] or label))
            if target is None:
                return link[0]  # brackets, a task box, or a reference to nothing
        else:
            label = link["label"] if link["slack_target"] is None else link["slack_label"]
            target = _unescaped(link["slack_target"] or link["bracketed"] or link["bare"] or "")
        inner = list(_LINK.finditer(label))
        links_inside = any(not found[0].startswith("!") for found in inner)
        if _is_a_mention(target):
            return unspoofed_links(label) if links_inside else _BRACKET.sub(r"\\\g<0>", label)
        if links_inside and link["slack_target"] is None:
            # A link cannot hold a link: the one inside is the link, these brackets text.
            start, end = (at - link.start() for at in link.span(_label_group(link)))
            return link[0][:start] + unspoofed_links(label) + link[0][end:]
        labels = [_LINK.sub(_inner_label, label) if inner else label]
        # Slack may read its own syntax as written, a backslash no escape but a browser's slash:
        # `<https://evil.example\@bank.com|bank.com>` then opens evil.example; and a link in
        # its label, as written or as its label.
        readings = [target] if link["slack_target"] is None else [target, link["slack_target"]]
        labels += [label] if link["slack_target"] is not None and inner else []
        shown = [_as_shown(written) for written in labels]
        misleading = next(
            (reading for reading in readings if any(_misleads(one, reading) for one in shown)),
            None,
        )
        if misleading is None:
            return link[0]
        # Its brackets escaped, the label cannot become a link of its own.
        label = _BRACKET.sub(r"\\\g<0>", label)
        return f"{label} ({_shown_target(misleading)})" if misleading else label

    return links.sub(rewritten, text)


def _is_a_mention(target: str) -> bool:
    """Whether a target is the body of a Slack mention (`@U1`, `!here`, `#C1`): Slack may read
    `[Bob](@U1)` as its `<@U1|Bob>`, which pings. Such a link, or an anchor on the page (none
    in Slack), is shown as its label."""
    shown = "".join(c for c in target if unicodedata.category(c) != "Cf").lstrip()
    return shown.startswith(("!", "@", "#"))


def _inner_label(link: re.Match[str]) -> str:
    """A link inside another's label, as its own label reads."""
    return link["label"] if link["slack_target"] is None else link["slack_label"]


def _label_group(link: re.Match[str]) -> str:
    """The group of a Markdown link's label: an inline link's, or (when definitions were
    found) a reference link's."""
    return next(name for name in ("label", "reference_label") if link.groupdict().get(name))


def _definitions(text: str) -> list[tuple[str, int, str]]:
    """The reference definitions in `text`: each one's name, where it is, and its target."""
    return [
        (
            _reference_name(definition["name"]),
            definition.start(),
            _unescaped(definition["bracketed"] or definition["bare"] or ""),
        )
        for definition in _DEFINITION.finditer(text)
        if not definition["name"].isspace()
    ]


def _reference_name(name: str) -> str:
    """A reference's name as Markdown matches it: case and runs of spaces do not count."""
    return " ".join(name.split()).casefold()


def _misleads(shown: str, target: str) -> bool:
    """Whether a label, as it reads, names an address or a host that `target` is not: a link
    to a subdomain of a host it names is not misleading (that host's owner runs it)."""
    return any(not _opens_what_it_names(name, target) for name in _names_in(shown))


def _names_in(shown: str) -> Iterator[re.Match[str]]:
    """What in a label names a host or an address (see `_HOST_NAMED`)."""
    for name in _HOST_NAMED.finditer(shown):
        if _may_name_a_host(name):
            yield name
    dotted = shown.translate(_LOOK_ALIKE_DOTS)
    if dotted != shown:
        for name in _HOST_NAMED.finditer(dotted):
            if name["top_level"] and name["top_level"].isascii() and _may_name_a_host(name):
                yield name


def _may_name_a_host(name: re.Match[str]) -> bool:
    """A domain-like name is code rather than a host when its last part is no top-level
    domain there is (`React.useState`) or a file's extension only (`config.yaml`), or when a
    call's parentheses follow it (`Array.prototype.map()`)."""
    if not name["domain"]:
        return True
    top_level = name["top_level"].lower()
    if top_level in _EXTENSIONS_OF_NO_DOMAIN or name.string.startswith("(", name.end("domain")):
        return False
    return _suffixes().publicsuffix(f"x.{top_level}", accept_unknown=False) is not None


@cache
def _suffixes() -> PublicSuffixList:
    """The bundled snapshot of the Public Suffix List, read when a name is first looked up,
    not at every start (reading it takes about 50 ms)."""
    return PublicSuffixList()


def _opens_what_it_names(name: re.Match[str], target: str) -> bool:
    if name["address"]:
        scheme, _, address = target.partition(":")
        return scheme.lower() == "mailto" and address.split("?")[0].lower() == name[0].lower()
    if name["domain"] and _names_the_file(name["domain"], target):
        return True
    named = _host(name["url"]) if name["url"] else _bare_host(name["domain"] or name["ipv4"])
    if named is None:
        return True  # `http://[bad`: names no host
    real = _host(target)
    return real is not None and (real == named or real.endswith("." + named))


def _names_the_file(shown: str, target: str) -> bool:
    if not _FILE_NAME.fullmatch(shown):
        return False
    try:
        path = urlsplit(target).path
    except ValueError:
        return False
    # The label as read has lost its underscores (`test_app.py` reads as emphasis-free text).
    return path.replace("_", "").lower().endswith("/" + shown.lower())


def _host(url: str) -> str | None:
    """The host a URL opens; a mail link's, the domain of the address it writes to."""
    scheme, _, address = url.partition(":")
    if scheme.lower() == "mailto":
        host = address.split("?")[0].rpartition("@")[2]
    else:
        try:
            # A browser reads a backslash as a slash (`https://evil.example\@acme.com` opens
            # evil.example), where `urlsplit` takes it for part of the host's user name.
            host = urlsplit(url.replace("\\", "/")).hostname or ""
        except ValueError:  # `http://[bad`
            return None
    # A URL among words may run into the punctuation after it: `(https://acme.com),`.
    host = re.sub(r"\W+$", "", host)
    return _bare_host(host) if host else None


def _bare_host(host: str) -> str:
    return host.lower().rstrip(".").removeprefix("www.")


def _as_shown(label: str) -> str:
    """A label as it reads: without emphasis, code or brackets, escapes or character
    references written out, without invisible characters that could split a host, and with
    look-alikes (full-width letters, ideographic dots) as the characters they pass for."""
    label = _HARD_BREAK.sub("\n", label)
    shown = _EMPHASIS.sub("", _MARKDOWN_ESCAPE.sub(r"\1", html.unescape(label)))
    shown = "".join(c for c in shown if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", shown).translate(_IDNA_DOTS).strip()


def _unescaped(target: str) -> str:
    """A target as Markdown reads it: escapes and character references written out."""
    return html.unescape(_MARKDOWN_ESCAPE.sub(r"\1", target))


def _shown_target(target: str) -> str:
    """The real target, as a link that shows itself, or as code if it cannot be one."""
    if _AUTOLINKABLE.fullmatch(target):
        return "<" + target.replace("|", "%7C") + ">"
    fence = "`" * max([1, *(len(run) + 1 for run in re.findall("`+", target))])
    return f"{fence} {target} {fence}"
