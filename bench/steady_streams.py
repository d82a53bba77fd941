"""Figures 1 and 3: three models whose first token comes after 0.3, 0.6 and 0.9 s and that then
stream steadily. How close the whole round comes to the slowest model's own time (fan-out),
and how soon each model's first words are visible in Slack."""

from __future__ import annotations

from collections.abc import Sequence

from bench.harness import MODEL_IDS, direct_stream_seconds, running_bot
from bench.slack_timeline import MeasuredRound
from bench.table import Row, median
from tests.doubles import ModelScript

FIRST_TOKEN_DELAYS = dict(zip(MODEL_IDS, (0.3, 0.6, 0.9), strict=True))
CHUNKS = 40
CHUNK_CHARS = 12
CHUNK_DELAY = 0.05  # 40 chunks: 1.95 s of steady streaming after the first token
REPLY = ("Steady words arrive at an even pace. " * 20)[: CHUNKS * CHUNK_CHARS]
DIRECT_RUNS = 3
FAN_OUT_TARGET = 1.05
# Back-to-back repeats would soon wait for the streaming-edit budget (50 a minute by default),
# which is Slack's rate limit at work, not the bot's latency: it is raised for these rounds.
SETTINGS = {"CHORUS_SLACK_UPDATES_PER_MINUTE": "6000", "CHORUS_SLACK_UPDATE_BURST": "100"}
SETTINGS_NOTE = (
    "figures 1, 3, 4c: CHORUS_SLACK_UPDATES_PER_MINUTE=6000 so back-to-back rounds never wait "
    "for the streaming-edit budget"
)


def scripts() -> dict[str, ModelScript]:
    return {
        model_id: ModelScript(
            reply=REPLY,
            chunk_chars=CHUNK_CHARS,
            first_token_delay=delay,
            chunk_delay=CHUNK_DELAY,
        )
        for model_id, delay in FIRST_TOKEN_DELAYS.items()
    }


def stream_seconds_after_first_token() -> float:
    return (CHUNKS - 1) * CHUNK_DELAY


def measure_steady_rounds(
    *, rounds: int, slack_latency: float
) -> tuple[list[MeasuredRound], float]:
    """`rounds` measured rounds (after one to warm up), and the slowest model's own duration
    streamed straight from its server (median of a few)."""
    with running_bot(slack_latency=slack_latency, scripts=scripts(), settings=SETTINGS) as bench:
        slowest = max(FIRST_TOKEN_DELAYS, key=FIRST_TOKEN_DELAYS.__getitem__)
        direct = median([direct_stream_seconds(bench.models, slowest) for _ in range(DIRECT_RUNS)])
        bench.one_round("warm up", answers=len(MODEL_IDS))
        measured = [
            bench.one_round(f"question {number}", answers=len(MODEL_IDS))
            for number in range(rounds)
        ]
    return measured, direct


def fan_out_row(rounds: Sequence[MeasuredRound], slowest_seconds: float) -> Row:
    return Row(
        f"1. fan-out: round ÷ slowest model alone ({slowest_seconds:.2f} s)",
        tuple(measured.seconds / slowest_seconds for measured in rounds),
        "x",
        target=f"≤ {FAN_OUT_TARGET}",
        meets=lambda middle, _high: middle <= FAN_OUT_TARGET,
        digits=3,
    )


def first_text_rows(rounds: Sequence[MeasuredRound], slack_latency: float) -> list[Row]:
    """Per model: event delivered → first text in Slack, minus its own first-token delay."""
    budget_ms = slack_latency * 1000 + 20
    rows = []
    for position, (model_id, delay) in enumerate(FIRST_TOKEN_DELAYS.items()):
        lags = []
        for measured in rounds:
            shown = measured.answers[position].first_text_at
            if shown is None:
                raise ValueError(f"{model_id} never showed streaming text in {measured.channel}")
            lags.append((shown - measured.delivered_at - delay) * 1000)
        rows.append(
            Row(
                f"3. first text - first-token delay, {model_id} ({delay:.1f} s)",
                tuple(lags),
                "ms",
                target=f"≤ {budget_ms:.0f} ms (1 Slack round trip + 20 ms)",
                meets=lambda middle, _high: middle <= budget_ms,
            )
        )
    return rows
