"""Where the bot's own time goes in a round: `python -m bench.profile` runs rounds of three
instantly answering models against the real bot with py-spy attached, sampling only while the
bot runs Python (holds the GIL), and prints each part's share and the busiest functions.

py-spy reads another process's memory: it needs ptrace (root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.harness import MODEL_IDS, BenchBot, running_bot
from tests.doubles import ModelScript

SAMPLES_PER_SECOND = 500
# The first part a sample's stack touches names it (so the database's own asyncio calls count
# as the database).
PARTS = (
    ("database (SQLAlchemy, storage/)", ("storage/", "sqlalchemy/", "asyncpg/")),
    ("Slack Web API calls (slack_sdk)", ("slack_sdk/",)),
    ("model streams (httpx, providers/)", ("httpx/", "httpcore/", "httpx_sse/", "providers/")),
    ("event intake (aiohttp server, Bolt)", ("slack_bolt/", "aiohttp/web")),
    ("waiting for I/O (selectors)", ("selectors.py",)),
)
OTHER = "other (asyncio loop, the bot's own code)"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--rounds", type=int, default=60, help="rounds (default %(default)s)")
    parser.add_argument(
        "--at-once", action="store_true", help="deliver the rounds in batches of 50 at once"
    )
    parser.add_argument("--slack-latency", type=float, default=0.025)
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks in this file")
    return parser.parse_args(argv)


def profile(arguments: argparse.Namespace) -> str:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed (pip install -e '.[test]' brings it)")
    raw = arguments.raw or Path(tempfile.mkdtemp(prefix="chorus-profile-")) / "stacks.txt"
    scripts = {model_id: ModelScript() for model_id in MODEL_IDS}
    with running_bot(slack_latency=arguments.slack_latency, scripts=scripts) as bench:
        bench.one_round("warm up", answers=len(MODEL_IDS))
        command = [py_spy, "record", "--pid", str(bench.pid), "--gil", "--nonblocking"]
        command += ["--rate", str(SAMPLES_PER_SECOND), "--format", "raw", "--output", str(raw)]
        recorder = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # py-spy attaches
        cpu_before = bench.cpu_seconds()
        _rounds(bench, arguments.rounds, at_once=arguments.at_once)
        cpu_per_round = (bench.cpu_seconds() - cpu_before) / arguments.rounds
        recorder.send_signal(signal.SIGINT)
        _, errors = recorder.communicate(timeout=60)
    if not raw.exists():
        raise SystemExit(f"py-spy recorded nothing: {errors.strip()}")
    stacks = _read_stacks(raw.read_text().splitlines())
    how = "in batches of 50 at once" if arguments.at_once else "one at a time"
    return "\n".join(
        [
            f"{arguments.rounds} rounds {how}, three models answering at once; "
            f"bot CPU {cpu_per_round * 1000:.1f} ms a round; raw stacks in {raw}",
            "",
            *_shares(stacks),
            "",
            "busiest functions (own time):",
            *_busiest(stacks),
        ]
    )


def _rounds(bench: BenchBot, rounds: int, *, at_once: bool) -> None:
    if not at_once:
        for number in range(rounds):
            bench.one_round(f"question {number}", answers=len(MODEL_IDS))
        return
    for start in range(0, rounds, 50):
        texts = [f"question {number}" for number in range(start, min(start + 50, rounds))]
        bench.rounds_at_once(texts, answers_each=len(MODEL_IDS))


def _read_stacks(lines: Iterable[str]) -> Counter[tuple[str, ...]]:
    """py-spy's raw format: `frame;frame;… count`, outermost frame first."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _part(stack: tuple[str, ...]) -> str:
    joined = ";".join(stack)
    return next((name for name, marks in PARTS if any(m in joined for m in marks)), OTHER)


def _shares(stacks: Counter[tuple[str, ...]]) -> list[str]:
    total = sum(stacks.values()) or 1
    parts: Counter[str] = Counter()
    for stack, count in stacks.items():
        parts[_part(stack)] += count
    return [f"{count / total:6.1%}  {name}" for name, count in parts.most_common()]


def _busiest(stacks: Counter[tuple[str, ...]], shown: int = 15) -> list[str]:
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    for stack, count in stacks.items():
        own[_short(stack[-1])] += count
    return [f"{count / total:6.1%}  {frame}" for frame, count in own.most_common(shown)]


def _short(frame: str) -> str:
    """`name (…/site-packages/lib/mod.py:12)` → `name (lib/mod.py:12)`."""
    return re.sub(r"\(.*?(?:site-packages/|python3\.\d+/)", "(", frame)


def main(argv: Sequence[str] | None = None) -> None:
    print(profile(parse_arguments(argv)))


if __name__ == "__main__":
    main()
