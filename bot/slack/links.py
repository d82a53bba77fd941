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
from urllib.parse import urlsplit

from bot.slack.markdown import code_regions

# A Markdown inline link (or image: Slack shows an image as a link): its label (one level of
# brackets inside it allowed, and line breaks, not a blank line), then its target, bare
# (balanced parentheses allowed) or in angle brackets, and an optional title. Each part stops
# at the first character that cannot continue it, so a run of unfinished links is scanned once.
_LABEL_CHARACTER = r"(?:[^\[\]\n]|\n(?![ \t]*\n))"
_LABEL = rf"(?:{_LABEL_CHARACTER}|\[{_LABEL_CHARACTER}*\])+"
_INLINE_LINK = (
    rf"!?\[(?P<label>{_LABEL})\]"
    r"\([ \t]*\n?[ \t]*(?:<(?P<bracketed>[^<>\n]*)>|(?P<bare>(?:[^\s()]|\([^\s()]*\))*))"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*\n?[ \t]*\)"
)
# Slack's own link syntax, `<https://target|label>`, in case Slack reads it in Markdown too.
_SLACK_LINK = r"<(?P<slack_target>[A-Za-z][\w+.-]*:[^\s<>|]*)\|(?P<slack_label>[^<>\n]*)>"
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
    r"[ \t]*\n?[ \t]*(?:<(?P<bracketed>[^<>\n]*)>|(?P<bare>\S+))",
    re.MULTILINE,
)
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_BRACKET = re.compile(r"[\[\]]")
_EMPHASIS = re.compile(r"[*_~`\[\]]")
# Dots IDNA reads as `.` in a host name: `acme。com` names acme.com.
_LOOK_ALIKE_DOTS = str.maketrans(dict.fromkeys("\u3002\uff0e\uff61", "."))
# An IPv4 address (`192.168.1.1`, `10.0.0.1:8080/admin`) names the host it is.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}(?P<rest>[:/?#]\S*)?")
_URL = re.compile(r"[A-Za-z][\w+.-]*://\S+")
_DOMAIN = re.compile(
    r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[\w-]+)\.?(?P<rest>[:/?#]\S*)?"
)
_EMAIL = re.compile(r"[^\s@:/]+@[^\s@]+\.[^\W\d_]{2,63}")
# A label that is a file's name (`README.md`, `setup.py`) names the file a link opens, not a
# host, when the link's path ends with it.
_FILE_NAME = re.compile(
    r"[\w.-]+\.(?:c|cc|cfg|conf|cpp|cs|css|csv|go|h|hpp|html|ini|ipynb|java|js|json|jsx|kt|lock"
    r"|log|md|php|pl|py|rb|rs|sh|sql|swift|toml|ts|tsx|txt|xml|yaml|yml)",
    re.IGNORECASE,
)
# CommonMark's autolink: a scheme, then no space or angle bracket. `|` is written `%7C`, so
# the shown target cannot be read as Slack's `<target|label>`.
_AUTOLINKABLE = re.compile(r"[A-Za-z][\w+.-]{1,31}:[^\s<>\x00-\x1f]*")


def unspoofed_links(text: str) -> str:
    """`text` with each link whose label names a host other than its target's written as its
    label, then its real target: `acme-bank.com (<https://evil.example>)`. Ordinary labels,
    code, and a link not yet finished (streaming) are left as written."""
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
        if any(not found[0].startswith("!") for found in inner):
            # A link cannot hold a link: the one inside is the link, these brackets text.
            start, end = (at - link.start() for at in link.span(_label_group(link)))
            return link[0][:start] + unspoofed_links(label) + link[0][end:]
        shown = _LINK.sub(lambda image: image["label"], label) if inner else label
        if not _misleads(_as_shown(shown), target):
            return link[0]
        # Its brackets escaped, the label cannot become a link of its own.
        label = _BRACKET.sub(r"\\\g<0>", label)
        return f"{label} ({_shown_target(target)})" if target else label

    return links.sub(rewritten, text)


def _label_group(link: re.Match[str]) -> str:
    return next(name for name in ("label", "reference_label", "slack_label") if link[name])


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
    """Whether a label, as it reads, names an address or host that `target` is not: a link to
    a subdomain of the host it names is not misleading (that host's owner runs it)."""
    if _EMAIL.fullmatch(shown):
        scheme, _, address = target.partition(":")
        return scheme.lower() != "mailto" or address.split("?")[0].lower() != shown.lower()
    named = _host_named(shown)
    if named is None or _names_the_file(shown, target):
        return False
    real = _host(target)
    return real is None or (real != named and not real.endswith("." + named))


def _host_named(shown: str) -> str | None:
    """The host a label names, if it is a URL (`https://acme.com/x`) or a domain (`acme.com`,
    `www.acme.com/login`)."""
    if _URL.fullmatch(shown):
        return _host(shown)
    domain = _DOMAIN.fullmatch(shown) or _IPV4.fullmatch(shown)
    if domain is None:
        return None
    return _bare_host(shown[: domain.start("rest")] if domain["rest"] else shown)


def _names_the_file(shown: str, target: str) -> bool:
    if not _FILE_NAME.fullmatch(shown):
        return False
    try:
        path = urlsplit(target).path
    except ValueError:
        return False
    return path.lower().endswith("/" + shown.lower())


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # `http://[bad`
        return None
    return _bare_host(host) if host else None


def _bare_host(host: str) -> str:
    return host.lower().rstrip(".").removeprefix("www.")


def _as_shown(label: str) -> str:
    """A label as it reads: without emphasis, code or brackets, escapes or character
    references written out, without invisible characters that could split a host, and with
    look-alikes (full-width letters, ideographic dots) as the characters they pass for."""
    shown = _EMPHASIS.sub("", _MARKDOWN_ESCAPE.sub(r"\1", html.unescape(label)))
    shown = "".join(c for c in shown if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", shown).translate(_LOOK_ALIKE_DOTS).strip()


def _unescaped(target: str) -> str:
    """A target as Markdown reads it: escapes and character references written out."""
    return html.unescape(_MARKDOWN_ESCAPE.sub(r"\1", target))


def _shown_target(target: str) -> str:
    """The real target, as a link that shows itself, or as code if it cannot be one."""
    if _AUTOLINKABLE.fullmatch(target):
        return "<" + target.replace("|", "%7C") + ">"
    fence = "`" * max([1, *(len(run) + 1 for run in re.findall("`+", target))])
    return f"{fence} {target} {fence}"
