"""The benchmark: `python -m bench.run` prints the six figures as one table.

The real bot (`python -m bot`, HTTP mode, SQLite) runs against the Slack emulator and fake
model servers of tests/doubles, all on this machine; figure 5 runs in-process on the bot's
storage queries, on SQLite and (when a server is given) PostgreSQL.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from functools import partial

from bench.context_cost import (
    BuildTimes,
    context_rows,
    measure_context_cost,
    postgres_database,
    sqlite_database,
)
from bench.memory import measure_memory, memory_rows
from bench.round_overhead import measure_overhead, overhead_rows
from bench.slack_calls import instant_updates_row, posts_row, streaming_updates_row
from bench.steady_streams import (
    SETTINGS_NOTE,
    fan_out_row,
    first_text_rows,
    measure_steady_rounds,
    stream_seconds_after_first_token,
)
from bench.table import Line, format_table, machine_line

SLACK_LATENCY = 0.025  # each Web API call answers after this long, like a nearby Slack
DEFAULT_REPEATS = 10
POSTGRES_VARIABLE = "CHORUS_TEST_POSTGRES_URL"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="rounds measured for figures 1 and 3 (figure 2 measures 3x as many one at a "
        "time, and a batch of 50 at once per 4 repeats); default %(default)s",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run to see that it works (3 repeats)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_VARIABLE, ""),
        help=f"PostgreSQL server for figure 5's second column (default: ${POSTGRES_VARIABLE}); "
        "a throwaway database is created on it and dropped",
    )
    parser.add_argument(
        "--slack-latency",
        type=float,
        default=SLACK_LATENCY,
        help="seconds the Slack emulator takes to answer each call (default %(default)s)",
    )
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.repeats = 3
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")
    return arguments


def run(arguments: argparse.Namespace) -> str:
    repeats, latency = arguments.repeats, arguments.slack_latency
    started = time.monotonic()
    _progress("figures 1, 3, 4c: three steadily streaming models")
    steady = measure_steady_rounds(rounds=repeats, slack_latency=latency)
    _progress("figures 2, 4a, 4b: models that answer at once")
    overhead = measure_overhead(
        sequential_rounds=3 * repeats, batches=math.ceil(repeats / 4), slack_latency=latency
    )
    _progress("figure 5: context build cost")
    contexts, skipped = _context_costs(arguments.postgres_url, builds=3 * repeats)
    _progress("figure 6: memory")
    memory = measure_memory(slack_latency=latency)

    lines: list[Line] = [
        fan_out_row(steady),
        *overhead_rows(overhead),
        *first_text_rows(steady),
        posts_row([*steady.rounds, *overhead.one_at_a_time.rounds]),
        instant_updates_row(overhead.one_at_a_time.rounds),
        streaming_updates_row(steady.rounds, stream_seconds_after_first_token()),
        *context_rows(contexts, skipped),
        *memory_rows(memory),
    ]
    return "\n".join(
        [
            f"chorus-slack benchmark: {repeats} repeats, Slack emulator answering each call "
            f"after {latency * 1000:.0f} ms, took {time.monotonic() - started:.0f} s",
            machine_line(),
            f"settings: the bot's defaults, but {SETTINGS_NOTE}",
            "",
            format_table(lines),
        ]
    )


def _context_costs(postgres_url: str, *, builds: int) -> tuple[list[BuildTimes], list[str]]:
    results = [measure_context_cost(sqlite_database, "SQLite", builds=builds)]
    if not postgres_url:
        return results, [f"PostgreSQL skipped: set --postgres-url or {POSTGRES_VARIABLE}"]
    postgres = partial(postgres_database, postgres_url)
    results.append(measure_context_cost(postgres, "PostgreSQL", builds=builds))
    return results, []


def _progress(what: str) -> None:
    print(f"measuring {what}…", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    print(run(parse_arguments(argv)))


if __name__ == "__main__":
    main()
