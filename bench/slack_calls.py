"""Figure 4: Slack Web API calls per answer, against the least each answer needs: one
chat.postMessage (the placeholder) and one chat.update (the final text), plus, while an answer
streams, at most one streaming edit per CHORUS_STREAM_UPDATE_SECONDS (1 s by default)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.slack_timeline import MeasuredRound
from bench.table import Row

STREAM_UPDATE_SECONDS = 1.0  # the bot's default


def posts_row(rounds: Sequence[MeasuredRound]) -> Row:
    per_answer = [measured.posts / len(measured.answers) for measured in rounds]
    return _calls_row("4a. chat.postMessage per answer", per_answer, 1, "1 (the minimum)")


def instant_updates_row(rounds: Sequence[MeasuredRound]) -> Row:
    return _calls_row(
        "4b. chat.update per answer, whole answer at once",
        _updates(rounds),
        1,
        "1 (the minimum: the final edit)",
    )


def streaming_updates_row(rounds: Sequence[MeasuredRound], streaming_seconds: float) -> Row:
    """Answers that stream for `streaming_seconds` after their first token."""
    most = 1 + math.floor(streaming_seconds / STREAM_UPDATE_SECONDS) + 1
    return _calls_row(
        f"4c. chat.update per answer, {streaming_seconds:.2f} s stream",
        _updates(rounds),
        most,
        f"≤ {most} (final + 1 a second streaming)",
    )


def _calls_row(figure: str, per_answer: Sequence[float], most: int, target: str) -> Row:
    """Met when no answer (up to the 95th percentile) made more than `most` calls."""
    return Row(
        figure,
        tuple(per_answer),
        "",
        target=target,
        meets=lambda _middle, high: high <= most,
        digits=2,
    )


def _updates(rounds: Sequence[MeasuredRound]) -> list[float]:
    return [float(answer.updates) for measured in rounds for answer in measured.answers]
