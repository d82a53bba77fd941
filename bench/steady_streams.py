"""Figures 1 and 3: three models whose first token comes after 0.3, 0.6 and 0.9 s and that then
stream steadily. How close the whole round comes to the slowest model's own time (fan-out),
and how soon each model's first words are visible in Slack."""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import MODEL_IDS, direct_stream_seconds, running_bot
from bench.slack_timeline import MeasuredRound
from bench.table import Row, median
from tests.doubles import FakeModelServer, ModelScript

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
    "figures 1, 3, 4c: CHORUS_SLACK_UPDATES_PER_MINUTE=6000 and CHORUS_SLACK_UPDATE_BURST=100 so "
    "back-to-back rounds never wait for the streaming-edit budget"
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


@dataclass(frozen=True)
class SteadyRounds:
    rounds: tuple[MeasuredRound, ...]
    asked_at: tuple[dict[str, float], ...]  # per round: when each model's server got the request
    slowest_alone: float  # seconds the slowest model takes streamed straight from its server
    slack_round_trip: float  # seconds, as a client sees it


def measure_steady_rounds(*, rounds: int, slack_latency: float) -> SteadyRounds:
    """`rounds` measured rounds (after one to warm up), and what they are compared with."""
    with running_bot(slack_latency=slack_latency, scripts=scripts(), settings=SETTINGS) as bench:
        slowest = max(FIRST_TOKEN_DELAYS, key=FIRST_TOKEN_DELAYS.__getitem__)
        alone = median([direct_stream_seconds(bench.models, slowest) for _ in range(DIRECT_RUNS)])
        bench.one_round("warm up", answers=len(MODEL_IDS))
        slack_round_trip = bench.slack_round_trip()
        texts = [f"question {number}" for number in range(rounds)]
        measured = tuple(bench.one_round(text, answers=len(MODEL_IDS)) for text in texts)
        asked_at = tuple(_asked_at(bench.models, text) for text in texts)
    return SteadyRounds(measured, asked_at, alone, slack_round_trip)


def _asked_at(models: FakeModelServer, text: str) -> dict[str, float]:
    """When each model's server received its request to answer `text` (the emulator's clock)."""
    return {
        model_id: next(
            request.at
            for request in models.requests_for(model_id)
            if request.last_user_text().endswith(f": {text}")
        )
        for model_id in FIRST_TOKEN_DELAYS
    }


def fan_out_row(steady: SteadyRounds) -> Row:
    alone = steady.slowest_alone
    return Row(
        f"1. fan-out: round ÷ slowest model alone ({alone:.2f} s)",
        tuple(measured.seconds / alone for measured in steady.rounds),
        "x",
        target=f"≤ {FAN_OUT_TARGET}",
        meets=lambda middle, _high: middle <= FAN_OUT_TARGET,
        digits=3,
    )


def first_text_rows(steady: SteadyRounds) -> list[Row]:
    """Per model: event delivered → first text in Slack, minus its own first-token delay; then
    the part of it the streaming path takes: model asked → first text, minus that delay."""
    round_trip_ms = steady.slack_round_trip * 1000
    event_rows, request_rows = [], []
    for position, (model_id, delay) in enumerate(FIRST_TOKEN_DELAYS.items()):
        from_event, from_request = [], []
        for measured, asked_at in zip(steady.rounds, steady.asked_at, strict=True):
            shown = measured.answers[position].first_text_at
            if shown is None:
                raise ValueError(f"{model_id} never showed streaming text in {measured.channel}")
            from_event.append((shown - measured.delivered_at - delay) * 1000)
            from_request.append((shown - asked_at[model_id] - delay) * 1000)
        event_rows.append(
            _lag_row(
                f"3. first text - first-token delay, {model_id} ({delay:.1f} s)",
                from_event,
                round_trip_ms,
                margin_ms=20,
            )
        )
        request_rows.append(
            _lag_row(
                f"3b. the same, from the model's request on, {model_id}",
                from_request,
                round_trip_ms,
                margin_ms=5,
            )
        )
    return event_rows + request_rows


def _lag_row(figure: str, lags: list[float], round_trip_ms: float, *, margin_ms: int) -> Row:
    budget_ms = round_trip_ms + margin_ms
    return Row(
        figure,
        tuple(lags),
        "ms",
        target=f"≤ {budget_ms:.0f} ms ({round_trip_ms:.0f} ms Slack round trip + {margin_ms})",
        meets=lambda middle, _high: middle <= budget_ms,
    )
