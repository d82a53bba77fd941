"""Markdown as Slack's `markdown` block takes it: code fences kept whole across Slack's size
limit, and tables (which that block does not render) turned into aligned text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

import regex

MARKDOWN_BLOCK_LIMIT = 12_000  # Slack: all markdown blocks of one message together
# About as wide as a Slack code block shows on a laptop. A table aligned wider wraps, so its
# columns no longer line up, and padding every cell to one long cell multiplies its size.
ALIGNED_TABLE_WIDTH = 120

# CommonMark fences, except that any indentation is taken: models indent fences inside list
# items by 4 or more spaces, and this module does not track list items. A fence may also open
# on a list item's own line (`1. ```bash`), after its markers.
_FENCE_OPENING = re.compile(
    r"[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*(?P<marker>`{3,}(?=[^`]*$)|~{3,})"
)
# One cell of a GFM table's delimiter row (`|---|:--:|`, `--- | ---`).
_DELIMITER_CELL = re.compile(r"\s*:?-+:?\s*")
# In a table cell: code spans (their text kept as written) between runs of backticks, and bold
# around other text: where `**` or `__` may open bold, and where each may close it.
_BACKTICKS = re.compile("`+")
# A backslash escape: an escaped backtick opens no code span, an escaped backslash escapes
# nothing after it.
_ESCAPE = re.compile(r"\\[\\`]")
# A link's target, where a backtick is part of the address and opens no code span: an inline
# link's `](…)` and an autolink's `<scheme:…>`.
_LINK_TARGET = re.compile(r"\]\([^\s()]*\)|<[A-Za-z][\w+.-]*:[^\s<>]*>")
_TILDES = re.compile("~+")
_CELL_PIPE = re.compile(r"(?<!\\)\|")  # a pipe between a table's cells; `\|` is a cell's own
_MARKDOWN_PUNCTUATION = re.compile(r"[\\`*_~\[\]]")
_BOLD_OPENING = re.compile(r"(?=\*\*\S)|(?<![^\W_])(?=__\S)")
_INDENTATION = re.compile(r"[ \t]*")
# A character escaped as an entity (mrkdwn's `&amp;`, `&lt;`, `&gt;`): a hard cut moves before it.
_ENTITY = re.compile(r"&#?[0-9A-Za-z]{1,8};")
# A character reference as Markdown reads one outside code: by name, or by decimal or
# hexadecimal number, and always ended by `;` (`&lt;`, `&#60;`, `&#x3C;`).
CHARACTER_REFERENCE = re.compile(
    r"&(?:[A-Za-z][A-Za-z0-9]{0,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
)
# A character as a reader sees it (a grapheme cluster): a letter and its accents, an emoji
# with its modifiers or joined with others (`👨‍👩‍👧`), a flag's two letters.
_CHARACTER = regex.compile(r"\X")
# HTML's line break, which models write in table cells (a cell cannot hold a line of its own).
HTML_LINE_BREAK = re.compile(r"<br[ \t]*/?>", re.IGNORECASE)
# How far back a cut looks for the character it would split starts; a longer run of marks
# on one letter is cut through all the same.
_LONGEST_CHARACTER = 32
_BOLD_CLOSING = {
    "**": re.compile(r"(?<=\S)(?=\*\*)"),
    "__": re.compile(r"(?<=\S)(?=__(?![^\W_]))"),
}


def markdown_forms(character: str, *names: str) -> str:
    """A pattern for each way Markdown may write `character`: as itself (backslash-escaped,
    if punctuation), or as a character reference, by number (of either case, for a letter)
    or by one of `names` (to be matched ignoring case)."""
    codes = sorted({ord(character.lower()), ord(character.upper())})
    forms = [re.escape(character) if character.isalnum() else rf"\\?{re.escape(character)}"]
    forms += [f"&#0*{code};|&#x0*{code:x};" for code in codes]
    forms += [f"&{name};" for name in names]
    return f"(?:{'|'.join(forms)})"


def character_read(reference: str, kept: str = "") -> str:
    """What a `CHARACTER_REFERENCE` shows in Markdown (`&lt;` shows `<`); as written if it
    names no character (`&bogus;`), or if what it shows is one of the characters `kept`."""
    read = html.unescape(reference)
    return reference if read == reference or any(c in kept for c in read) else read


@dataclass(frozen=True, slots=True)
class _CodeFence:
    """An open code fence: the line that opened it (its list items' markers, if any, as the
    spaces they indent it by), and the marker that closes it."""

    opening_line: str
    marker: str

    @classmethod
    def opened_by(cls, match: re.Match[str]) -> _CodeFence:
        """The fence a `_FENCE_OPENING` match opens."""
        line, start = match.string, match.start("marker")
        if line[:start].strip(" \t"):  # a list item's markers: as the spaces they take
            line = " " * len(line[:start].expandtabs(4)) + line[start:]
        return cls(line, match["marker"])

    def closes_at(self, line: str) -> bool:
        """A closing fence: the same character, at least as many, nothing after but spaces;
        indented less than four columns more than the opening line (in a list item too: one
        indented four more is the code's text, as a fence in a Markdown example shows)."""
        stripped = line.strip(" \t")
        return (
            stripped.startswith(self.marker)
            and not stripped.strip(self.marker[0])
            and _indent_width(line) < _indent_width(self.opening_line) + 4
        )

    @property
    def closing_line(self) -> str:
        """The line that closes the fence where it stands: indented as its opening line, as
        at the left margin it would end the list item the fence is in."""
        return _indentation(self.opening_line) + self.marker

    def reopened(self, rest: str) -> str:
        """`rest`, the fence's code continued in a message of its own, with the fence reopened
        at the left margin, as that message has no list item around it (and indented four
        columns a fence would be text): its lines up to the closing one lose that indentation."""
        width = _indent_width(self.opening_line)
        lines = [self.opening_line.lstrip(" \t")]
        position = 0
        while width and position <= len(rest):
            end = rest.find("\n", position)
            line = rest[position : len(rest) if end < 0 else end]
            if self.may_end_at(line):
                break
            lines.append(_without_indent(line, width))
            position += len(line) + 1
            if self.closes_at(line):
                break
        return "\n".join([*lines, rest[position:]] if position <= len(rest) else lines)

    def may_end_at(self, line: str) -> bool:
        """Whether `line` may end the fence without closing it: a line indented less than
        an indented fence ends the list item the fence may be in, and the fence with it."""
        return bool(line.strip()) and _indent_width(line) < _indent_width(self.opening_line)


def _open_fence(text: str) -> _CodeFence | None:
    """The code fence left open at the end of `text`, if any."""
    fence: _CodeFence | None = None
    for line in text.split("\n"):
        if fence is None:
            match = _FENCE_OPENING.match(line)
            if match:
                fence = _CodeFence.opened_by(match)
        elif fence.closes_at(line):
            fence = None
    return fence


def close_open_fence(text: str) -> str:
    """`text` with a code fence it left open closed, so nothing after it joins the code."""
    fence = _open_fence(text)
    return f"{text}\n{fence.closing_line}" if fence else text


def code_regions(text: str) -> list[tuple[int, int]]:
    """Where `text` is code, as (start, end) in order: its fenced blocks (one left open runs to
    the end) and the code spans of its paragraphs. A span is taken only within one line, and
    past a line that may or may not have ended a fence (see `_CodeFence.may_end_at`) fences
    are no longer taken, so that where block structure this module does not track decides
    what is code, text is taken for prose (and checked) rather than for code (left alone)."""
    regions: list[tuple[int, int]] = []
    fence: _CodeFence | None = None
    fences_known = True
    paragraph_start = position = 0
    for line in text.split("\n"):
        end = position + len(line) + 1
        if fence is not None and fence.may_end_at(line):
            regions[-1] = (regions[-1][0], position)
            fence, fences_known, paragraph_start = None, False, position
        if fence is not None:
            if fence.closes_at(line):
                regions[-1] = (regions[-1][0], min(end, len(text)))
                fence = None
                paragraph_start = end
            position = end
            continue
        match = _fence_opening_for_certain(line) if fences_known else None
        if match or not line.strip():
            regions += _line_code_spans(text[paragraph_start:position], paragraph_start)
            paragraph_start = end
            if match:
                fence = _CodeFence.opened_by(match)
                regions.append((position, len(text)))
        position = end
    if fence is None:
        regions += _line_code_spans(text[paragraph_start:], paragraph_start)
    return regions


def _fence_opening_for_certain(line: str) -> re.Match[str] | None:
    """A fence's opening line that is one wherever it stands. Indented four columns or more
    it opens a fence only inside a list item: at the top level it is an indented code
    block's text, and the lines after it are prose."""
    match = _FENCE_OPENING.match(line)
    return match if match and _indent_width(line) < 4 else None


def _without_indent(line: str, width: int) -> str:
    """`line` without its first `width` columns of indentation (a tab reaching the next
    multiple of four; one that reaches past `width` leaves the columns past it as spaces)."""
    column = index = 0
    while index < len(line) and column < width and line[index] in " \t":
        column = column + 1 if line[index] == " " else column + 4 - column % 4
        index += 1
    return " " * (column - width) + line[index:]


def _indent_width(line: str) -> int:
    """How many columns `line` is indented, a tab reaching the next multiple of four."""
    return len(_indentation(line).expandtabs(4))


def _indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _line_code_spans(paragraph: str, offset: int) -> Iterator[tuple[int, int]]:
    unescaped = _ESCAPE.sub(lambda escape: escape[0].replace("`", "'"), paragraph)
    unescaped = _LINK_TARGET.sub(lambda target: target[0].replace("`", "'"), unescaped)
    for start, code, end in _code_spans(unescaped):
        if "\n" not in code:
            yield offset + start, offset + end


def split_markdown(text: str, limit: int = MARKDOWN_BLOCK_LIMIT) -> list[str]:
    """Split Markdown into parts of at most `limit` characters, at paragraph, line or word
    boundaries; a code fence open at the end of a part is closed there and reopened in the next."""
    parts: list[str] = []
    rest = text
    while rest.strip():  # blank text left after a cut would make a part that shows nothing
        # Only a rest within the limit is read whole: read at every cut, a long answer took
        # time growing with its length times its number of parts.
        part = close_open_fence(rest) if len(rest) <= limit else rest
        if len(part) <= limit:
            parts.append(part)
            break
        part, rest, fence = _next_part(rest, limit)
        # A fence line too long to repeat in every part is not reopened (then the next part
        # may not render as code, but it stays within the limit and makes progress).
        if fence and len(fence.opening_line) < limit // 4 and rest.strip():
            rest = fence.reopened(rest)
        parts.append(part)
    return parts or [""]


def _next_part(text: str, limit: int) -> tuple[str, str, _CodeFence | None]:
    """The first part of `text` (an open fence closed) within `limit`, the rest of the text,
    and the fence the rest continues inside."""
    budget = limit
    while budget >= limit // 2:
        cut = _cut_point(text, budget)
        part, rest = text[:cut].rstrip("\n"), text[cut:].lstrip("\n")
        fence = _open_fence(part)
        closed = f"{part}\n{fence.closing_line}" if fence else part
        if len(closed) <= limit:
            return closed, rest, fence
        budget -= len(closed) - limit  # cut earlier to make room for the closing fence
    # Fences as long as the limit itself: only a hard cut fits.
    cut = _whole_characters(text, limit)
    return text[:cut], text[cut:], None


def _cut_point(text: str, budget: int) -> int:
    window = text[:budget]
    for separator in ("\n\n", "\n"):
        index = _last_break_before_unindented(text, window, separator, budget // 2)
        if index is not None:
            return index + len(separator)
    for separator in ("\n\n", "\n", " "):
        index = window.rfind(separator)
        if index > budget // 2:
            return index + len(separator)
    return _whole_characters(text, budget)


def _last_break_before_unindented(text: str, window: str, separator: str, after: int) -> int | None:
    """The last `separator` in `window` past `after` whose next line of text is indented less
    than four columns: a message that began with a list item's nested items or later
    paragraphs (indented four) would show them as a code block."""
    index = window.rfind(separator)
    while index > after:
        start = index + len(separator)
        # A cut drops the blank lines after it: before one, the line after them decides, as
        # it did at the last break before it, looked at first.
        indentation = _INDENTATION.match(text, start)
        if indentation and not text.startswith("\n", start) and _indent_width(indentation[0]) < 4:
            return index
        index = window.rfind(separator, 0, index)
    return None


def _whole_characters(text: str, cut: int) -> int:
    """`cut`, or where what it would split starts: an entity (half of `&amp;` in each part
    shows as neither) or a character drawn from several code points (a letter would lose its
    accent, a family emoji fall apart into people)."""
    for entity in _ENTITY.finditer(text, max(0, cut - 10), cut + 10):
        if 0 < entity.start() < cut < entity.end():
            return entity.start()
    start = max(0, cut - _LONGEST_CHARACTER)
    for character in _CHARACTER.finditer(text, start, cut + _LONGEST_CHARACTER):
        if character.start() < cut < character.end():
            return character.start() if character.start() > start else cut
    return cut


def tables_as_code(text: str) -> str:
    """Markdown tables (outside code) as code blocks of aligned columns: Slack's `markdown`
    block shows a table as its raw pipes, while aligned text in a code block reads as one.
    A table too wide to align becomes a list of its rows (see `_listed_table`)."""
    lines = text.split("\n")
    out: list[str] = []
    fence: _CodeFence | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if fence is not None:
            fence = None if fence.closes_at(line) else fence
        elif match := _FENCE_OPENING.match(line):
            fence = _CodeFence.opened_by(match)
        elif "|" in line and index + 1 < len(lines) and _is_delimiter_row(lines[index + 1]):
            end = index + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            table = _table_as_slack_shows_it(lines[index:end])
            # A list (which starts and ends with a blank line, or it would run into the text
            # around it) needs no blank line of its own at either end of the text or beside one.
            if not table[0] and (not out or not out[-1].strip()):
                table = table[1:]
            if not table[-1] and (end == len(lines) or not lines[end].strip()):
                table = table[:-1]
            out.extend(table)
            index = end
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


def _is_delimiter_row(line: str) -> bool:
    """A GFM table's delimiter row: `|---|:--:|`, `--- | ---`. Cell by cell, as one regex over
    the row backtracks in cubic time on a long row that almost matches."""
    if "|" not in line:
        return False
    row = line.strip().removeprefix("|").removesuffix("|")
    return all(_DELIMITER_CELL.fullmatch(cell) for cell in row.split("|"))


def _table_as_slack_shows_it(lines: list[str]) -> list[str]:
    """A table (header, delimiter and body rows) aligned, or listed if too wide to align; as
    written (in a code block, so its rows stay lines) if it has one column (nothing to list),
    if its list would show nothing (no row yet, while it streams, or only empty cells: the
    header is shown only beside a cell) or if its list would be much longer: a wide header
    repeated for every row."""
    header_row, delimiter, *body_rows = lines
    columns = len(_CELL_PIPE.split(delimiter.strip().removeprefix("|").removesuffix("|")))
    header, *body = [_markdown_cells(row, columns) for row in [header_row, *body_rows]]
    aligned = _aligned_table([header, *body])
    if max(map(len, aligned)) <= ALIGNED_TABLE_WIDTH:
        return aligned
    if len(header) > 1:
        listed = _listed_table(header, body)
        if any(listed) and sum(map(len, listed)) <= 2 * sum(map(len, lines)):
            return listed
    return code_block(lines)


def _markdown_cells(row: str, columns: int) -> list[str]:
    """A row's cells as Markdown, `\\|` read as a pipe. A pipe inside a code span (`` `a || b` ``,
    as models write operators) is the code's own where the row then has its table's `columns`
    and would not otherwise: split there, the cells would lose it and show their backticks."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    cells = _CELL_PIPE.split(row)
    if "`" in row and len(cells) != columns:
        in_code = _pipes_outside_code(row)
        cells = in_code if len(in_code) == columns else cells
    return [cell.replace("\\|", "|").strip() for cell in cells]


def _pipes_outside_code(row: str) -> list[str]:
    """`row` split at its pipes that are outside code spans."""
    unescaped = _ESCAPE.sub(lambda escape: escape[0].replace("`", "'"), row)
    spans = iter([(start, end) for start, _, end in _code_spans(unescaped)])
    span = next(spans, None)
    cells, start = [], 0
    for pipe in _CELL_PIPE.finditer(row):
        while span is not None and span[1] <= pipe.start():
            span = next(spans, None)
        if span is None or pipe.start() < span[0]:
            cells.append(row[start : pipe.start()])
            start = pipe.end()
    return [*cells, row[start:]]


def _texts(cells: list[str], *, in_code: bool = False) -> list[str]:
    return [_cell_text(cell, in_code=in_code).strip() for cell in cells]


def _cell_text(cell: str, *, in_code: bool = False) -> str:
    """A cell as it reads: code spans and bold text without their markers (in a code block,
    they would show as written); `in_code` (for a code block, where `&lt;` would show as
    written), its character references outside code spans as their characters too, and its
    `<br>`s as line breaks."""
    if not (
        "`" in cell or "**" in cell or "__" in cell or (in_code and ("&" in cell or "<" in cell))
    ):
        return cell  # most cells: a table of many cells renders in a few milliseconds
    prose = _read_in_code if in_code else _unbolded
    pieces, position = [], 0
    for start, code, end in _code_spans(cell):
        pieces += [prose(cell[position:start]), code]
        position = end
    return "".join([*pieces, prose(cell[position:])])


def _read_in_code(text: str) -> str:
    """`text` (one line, no code) as it reads, for a code block: without the markers of bold
    spans, its character references as their characters (but a line break's: its row would
    break in two), and its `<br>`s as the line breaks they stand for."""
    unbolded = _unbolded(text)
    read = CHARACTER_REFERENCE.sub(lambda reference: character_read(reference[0], "\r\n"), unbolded)
    return HTML_LINE_BREAK.sub("\n", read)


def _code_spans(cell: str) -> Iterator[tuple[int, str, int]]:
    """Each code span's start, text and end: as in Markdown, a run of backticks up to the next
    run of as many. Found from the runs in one pass, where a pattern that tries every length of
    every run takes cubic time on a cell of backticks."""
    runs = list(_BACKTICKS.finditer(cell))
    closing: list[int | None] = [None] * len(runs)  # the next run of the same length
    next_of_length: dict[int, int] = {}
    for index in reversed(range(len(runs))):
        length = len(runs[index][0])
        closing[index] = next_of_length.get(length)
        next_of_length[length] = index
    index = 0
    while index < len(runs):
        close = closing[index]
        if close is None:
            index += 1
            continue
        yield runs[index].start(), cell[runs[index].end() : runs[close].start()], runs[close].end()
        index = close + 1


def _unbolded(text: str) -> str:
    """`text` (one line) without the markers of bold spans (see `bold_markers`)."""
    pieces, position = [], 0
    for marker in bold_markers(text):
        pieces.append(text[position:marker])
        position = marker + 2
    return "".join([*pieces, text[position:]])


def bold_markers(text: str) -> list[int]:
    """Where each marker of a bold span in `text` (a line or a paragraph) starts, in order:
    `**a**`, `__a__` (not inside a word); a lone `**` (`2**10`, `**kwargs`) is none. As in
    Markdown, a closing marker takes the nearest opening before it: `2**10 is **big**` bolds
    `big`."""
    openings = {at.start() for at in _BOLD_OPENING.finditer(text)}
    closings = {at.start() for pattern in _BOLD_CLOSING.values() for at in pattern.finditer(text)}
    open_markers: dict[str, list[int]] = {"**": [], "__": []}
    markers: list[int] = []
    free_from = 0  # a marker's two characters are no other marker's
    for at in sorted(openings | closings):
        if at < free_from:
            continue
        opened = open_markers[text[at : at + 2]]
        if at in closings and opened and opened[-1] + 3 <= at:  # at least one character bold
            markers += [opened.pop(), at]
            free_from = at + 2
        elif at in openings:
            opened.append(at)
            free_from = at + 2
    return sorted(markers)


def _listed_table(header: list[str], body: list[list[str]]) -> list[str]:
    """Each row as its first cell in bold, then a list of its other cells, each after its
    column's header: on a phone or a laptop this reads, where a table wider than the
    screen does not. Cells keep their Markdown (code, links), as they are no longer code."""
    labels = [_bold(f"{label}:") + " " if label else "" for label in _texts(header)]
    listed: list[str] = []
    for first, *cells in body:
        title = _cell_text(first).strip()
        listed += ["", _bold(title)] if title else [""]
        listed += [
            f"- {labels[column] if column < len(labels) else ''}{cell}"
            for column, cell in enumerate(cells, start=1)
            if cell
        ]
    return [*listed, ""]


def _bold(text: str) -> str:
    """Plain text (a header, a row's title) in bold, its Markdown punctuation shown as written."""
    return "**" + _MARKDOWN_PUNCTUATION.sub(r"\\\g<0>", text) + "**"


def _aligned_table(rows: list[list[str]]) -> list[str]:
    """The header and body rows as a code block, each column as wide as its widest cell; a
    cell broken with `<br>` takes as many lines as it has, the others' cells beside it."""
    table = [_texts(cells, in_code=True) for cells in rows]
    columns = max(len(cells) for cells in table)
    table = [cells + [""] * (columns - len(cells)) for cells in table]
    lined = [[[line.strip() for line in cell.split("\n")] for cell in cells] for cells in table]
    widths = [
        max(len(line) for cells in lined for line in cells[column]) for column in range(columns)
    ]

    def lines(cells: list[list[str]]) -> list[str]:
        height = max(map(len, cells))
        return [
            "  ".join(
                (cell[at] if at < len(cell) else "").ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ).rstrip()
            for at in range(height)
        ]

    header, *body = lined
    rule = "  ".join("-" * width for width in widths)
    return code_block([*lines(header), rule, *(line for cells in body for line in lines(cells))])


def code_block(lines: list[str]) -> list[str]:
    """`lines` fenced as code, the fence longer than any run of its character in them, so that
    none (a cell of `` ``` ``) can close it: backticks, as Slack's own code blocks, or tildes
    if the backticks would be long (so that a cell of them is not repeated in the fences)."""
    backticks, tildes = (
        marker * max([3, *(len(run) + 1 for line in lines for run in pattern.findall(line))])
        for marker, pattern in (("`", _BACKTICKS), ("~", _TILDES))
    )
    fence = backticks if len(backticks) <= 10 or len(tildes) >= len(backticks) else tildes
    return [fence, *lines, fence]
