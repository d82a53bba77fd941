"""How long the bot's text paths take on the worst text others can hand it.

`python -m bench.untrusted_text` runs, in-process, every path that reads text the bot does not
write (a model's answer rendered for Slack, as a whole and as a streaming edit; the `+model`
picks peeled off a person's message; a person's message made readable for the models; a
provider's error body made into one line; a log line cleared of Slack secrets) on each of many
shapes of Slack's longest message (40,000 characters of one piece repeated: runs of markdown
markers, unclosed links and fences, table pipes, angle brackets…), and again on half of it.

Per path it prints the slowest shape and its time, and how much that time grows when the text
doubles: about 2 for a path that reads the text once; 4 for one whose time grows with the
square of the length, as a pattern that retries from every position does, which would hold up
the whole bot on a long enough text. Targets: growth ≤ 3 and at most 250 ms at 40,000
characters on every shape."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.table import machine_line
from bot.chat.model_choice import split_model_picks
from bot.providers.errors import refusal
from bot.slack.inbound import readable_text
from bot.slack.log_secrets import without_slack_secrets
from bot.slack.rendering import final_messages, streaming_message

LONGEST = 40_000  # Slack's longest message, in characters
MOST_MILLISECONDS = 250.0
MOST_GROWTH = 3.0
NOISE_SECONDS = 0.005
TIMINGS = 3  # the fastest of these is taken: noise only ever adds time

# Each is repeated to the length measured: markdown's markers alone and opening what they never
# close, links and images left open, fences, tables, quotes, Slack's <…> markup, key-like words.
PIECES = (
    *"*_`~|<>[]():.+#-\\!@& \n\t",
    *("*a", "**a", "_a", "`a", "``a", "```\n", "~~a", "[[", "((", "](", "[a]", "[a](", "![a]("),
    *("[a](<", '[a](x "', "[a](http://x ", "\\*", "\\[", "<http://", "http://", "https://a.b/"),
    *("| a ", "|\n", "\n|", "| --- ", "a\n---\n", "a\n=\n", "> ", "\n> ", "1. ", "- ", "# "),
    *("<@U1", "<@U1>", "<#C1|", "<!", "<!here>", "@here", "a|", "&lt;", "&#", ":a:", "\r\n"),
    *("key:", "xoxb-", "sk-", "+a", "+a.", "$$"),
)


class _NoNames:
    """Names as Slack would give them back, without asking Slack."""

    async def user_name(self, user_id: str) -> str:
        return user_id

    async def channel_name(self, channel_id: str) -> str:
        return channel_id


def _readable(text: str) -> object:
    return asyncio.run(readable_text(text, bot_user_id="U0BOT", names=_NoNames()))


PATHS: dict[str, Callable[[str], object]] = {
    "a finished answer rendered": lambda text: final_messages("Model", text, "footer"),
    "a streaming edit rendered": lambda text: streaming_message("Model", text),
    "a person's message made readable": _readable,
    "+model picks peeled off": lambda text: split_model_picks("+" + text),
    "a provider's error made one line": lambda text: refusal("Provider", text),
    "a log line cleared of secrets": without_slack_secrets,
}


@dataclass(frozen=True)
class Slowest:
    """A path's slowest shape: seconds on half the longest text and on all of it."""

    path: str
    piece: str
    half_seconds: float
    full_seconds: float

    @property
    def growth(self) -> float:
        return self.full_seconds / max(self.half_seconds, 1e-9)

    @property
    def grows_too_fast(self) -> bool:
        # Below a few milliseconds the ratio is mostly the machine's noise.
        return self.full_seconds >= NOISE_SECONDS and self.growth > MOST_GROWTH

    @property
    def met(self) -> bool:
        return self.full_seconds * 1000 <= MOST_MILLISECONDS and not self.grows_too_fast


def repeated(piece: str, length: int) -> str:
    return (piece * (length // len(piece) + 1))[:length]


def fastest_seconds(path: Callable[[str], object], text: str, timings: int = TIMINGS) -> float:
    best = float("inf")
    for _ in range(timings):
        started = time.perf_counter()
        path(text)
        best = min(best, time.perf_counter() - started)
    return best


def slowest_shape(name: str, path: Callable[[str], object], length: int = LONGEST) -> Slowest:
    """The shape `path` takes longest on, and its growth: the worst growth of any shape is
    reported with it when another shape than the slowest grows more."""
    measured = [
        Slowest(
            name,
            piece,
            fastest_seconds(path, repeated(piece, length // 2)),
            fastest_seconds(path, repeated(piece, length)),
        )
        for piece in PIECES
    ]
    slowest = max(measured, key=lambda shape: shape.full_seconds)
    growing = [shape for shape in measured if shape.grows_too_fast]
    return max(growing, key=lambda shape: shape.growth) if growing else slowest


def report(results: Sequence[Slowest]) -> str:
    header = ("path", "slowest shape", "ms at 20k", "ms at 40k", "growth", "met?")
    rows = [
        (
            result.path,
            repr(result.piece),
            f"{result.half_seconds * 1000:.1f}",
            f"{result.full_seconds * 1000:.1f}",
            f"{result.growth:.1f}",
            "yes" if result.met else "NO",
        )
        for result in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(
        [
            f"untrusted text: {len(PIECES)} shapes of {LONGEST:,} characters per path; targets: "
            f"≤ {MOST_MILLISECONDS:.0f} ms and growth ≤ {MOST_GROWTH:.0f} when the text doubles",
            machine_line(),
            "",
            *(line.rstrip() for line in lines),
        ]
    )


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.untrusted_text", description=__doc__)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    parse_arguments(argv)
    print(report([slowest_shape(name, path) for name, path in PATHS.items()]))


if __name__ == "__main__":
    main()
