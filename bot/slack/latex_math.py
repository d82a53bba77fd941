"""LaTeX math in model output shown as code. Slack renders no math, and read as Markdown a
formula loses characters (`\\{` shows `{`, `\\\\` one backslash, `\\,` a comma) and its `*`
and `_` turn to emphasis: as code it reads as the model wrote it."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable

from bot.slack.markdown import code_block, code_regions

# Display math: `$$…$$` (not `$$$`: a price tier) or `\[…\]`, over lines but not past a blank
# one (a paragraph's end). Neither takes its own opening again inside it, so that text of many
# openings and no closing is read in one pass.
_LINE_BREAK_IN_PARAGRAPH = r"\n(?![ \t]*\n)"
_DISPLAY = re.compile(
    rf"(?<!\$)\$\$(?P<dollars>(?:[^$\n]|{_LINE_BREAK_IN_PARAGRAPH})+?)\$\$(?!\$)"
    rf"|\\\[(?P<brackets>(?:[^\\\n]|\\[^\[\n]|{_LINE_BREAK_IN_PARAGRAPH})+?)\\\]"
)
# What a line of display math may start with and still be on a line of its own: indentation
# (in a list item) and a block quote's markers; its other lines start the same.
_BLOCK_PREFIX = re.compile(r"[ \t]*(?:>[ \t]*)*")
# Text inside `\(…\)` or `\[…\]`, or `$$…$$` within a line, that is math: a TeX command, a
# sub- or superscript, a brace or an operator, or (`let \(x\) be`) a single letter, save in
# `\[…\]`. Other text is prose with escaped brackets (`\[1\]` and `\[a\]` for a literal `[1]`
# and `[a]`, `use \( and \) to group`) or price tiers (`$$ to $$`), left as Markdown shows it.
_MATHEMATICAL = re.compile(r"[\\^_{}=+\-*/<>|]")
_LETTER = re.compile(r"\s*[A-Za-z]\s*")
# Inline math: `\(…\)`, or `$…$` as Pandoc reads it, so that prices are not taken for math:
# the opening `$` followed by a non-space, the closing one preceded by a non-space and not
# followed by a digit (`$5 to $10`, `$5-$10` hold none), and neither touching a letter
# (`US$5`, `$PATH:$HOME`).
_INLINE = re.compile(
    r"\\\((?P<parens>(?:[^\\\n]|\\[^(\n])+?)\\\)"
    r"|(?<![\\$\w])\$(?![\s$])(?P<dollar>(?:\\[^\n]|[^\\$\n])+?)(?<!\s)\$(?![\d$\w])"
)


def math_as_code(text: str) -> str:
    """`text` with its math outside code as code: display math alone on its lines as a code
    block (indented and quoted as it is, so that it stays in its list item or quote), any other
    as a code span."""
    if "$" not in text and "\\(" not in text and "\\[" not in text:
        return text  # most answers, code with backslashes too
    displayed = _outside_code(_DISPLAY, _display_code, text)
    return _outside_code(_INLINE, _inline_code, displayed)


def _outside_code(pattern: re.Pattern[str], code: Callable[[re.Match[str]], str], text: str) -> str:
    """`text` with each match of `pattern` that touches no code replaced by `code(match)`."""
    regions = code_regions(text)
    starts = [start for start, _ in regions]

    def replaced(match: re.Match[str]) -> str:
        before = bisect_left(starts, match.end()) - 1  # the last region starting before its end
        in_code = before >= 0 and regions[before][1] > match.start()
        return match[0] if in_code else code(match)

    return pattern.sub(replaced, text)


def _display_code(match: re.Match[str]) -> str:
    formula = match["dollars"] or match["brackets"]
    if match["brackets"] and not _MATHEMATICAL.search(formula):
        return match[0]
    text = match.string
    line_start = text.rfind("\n", 0, match.start()) + 1
    line_end = len(text) if (end := text.find("\n", match.end())) < 0 else end
    prefix = text[line_start : match.start()]
    first, *rest = formula.split("\n")
    lines = [first, *(_unquoted(line, prefix.count(">")) for line in rest)]
    if not "".join(lines).strip():
        return match[0]
    if not _BLOCK_PREFIX.fullmatch(prefix) or text[match.end() : line_end].strip():
        return _code_span(" ".join(" ".join(lines).split())) if _is_math(formula) else match[0]
    block = code_block("\n".join(line.strip() for line in lines).strip("\n").split("\n"))
    return "\n".join([block[0], *(prefix + line for line in block[1:])])


def _unquoted(line: str, depth: int) -> str:
    """`line` without its first `depth` block quote markers, as a quote's lines start."""
    for _ in range(depth):
        unindented = line.lstrip(" \t")
        if not unindented.startswith(">"):
            break
        line = unindented[1:]
    return line


def _inline_code(match: re.Match[str]) -> str:
    if (parens := match["parens"]) and not _is_math(parens):
        return match[0]
    return _code_span((parens or match["dollar"]).strip())


def _is_math(formula: str) -> bool:
    return bool(_MATHEMATICAL.search(formula) or _LETTER.fullmatch(formula))


def _code_span(text: str) -> str:
    """`text` (one line) as a code span: between backtick runs longer than any in it, with a
    space inside them where it starts or ends with a backtick, which would join the run."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{padding}{text}{padding}{ticks}"
