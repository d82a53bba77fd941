"""A fault run you can repeat: the real bot against the Slack emulator and fake models, with
random provider faults, Slack 429s, retried and doubled event deliveries (and optionally a
replica crash) over a few hundred rounds in many channels and threads. Prints what landed and
exits non-zero unless every answer landed exactly once and nothing is stuck.

    python -m bench.fault_run                         # 1 replica, SQLite
    python -m bench.fault_run --replicas 2 --kill-one  # 2 replicas on PostgreSQL, one crashes
    python -m bench.fault_run --minutes 45 --fault-rate 0.05  # a soak: does memory level off?
    python -m bench.fault_run --minutes 45 --fault-rate 0.05 --memory-snapshots DIR  # what grows

The first replica's resident memory is sampled as the run goes, and its growth after warm-up
printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench.fault_census import (
    AnswerIndex,
    answers_not_shown,
    bot_messages,
    calls_on,
    read_answer_index,
    seconds_to_final,
    seen_messages,
)
from bench.fault_driver import DIRECT_MESSAGES, FaultDriver, Replicas, Traffic
from bench.fault_plan import DeliveryPlan, RandomlyFailingModel, SlackFaults
from bench.fault_sabotage import check_the_counter
from bench.fault_tally import Tally, tally
from bench.memory_trend import MemorySampler, memory_lines
from tests.databases import fresh_postgres_database
from tests.doubles import BotProcess, FakeModelServer, SlackEmulator, SlackEventSender
from tests.doubles.slack_emulator.emulator import REPLY_LOST, ApiCall

MODELS = {  # alias → model, in configured order
    "claude": "anthropic:claude-bench",
    "gpt": "openai:gpt-bench",
    "gemini": "google:gemini-bench",
}
SIGNING_SECRET = "fault-run-signing-secret"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
QUIET_SECONDS = 3.0
PROBLEMS_SHOWN = 25


def bot_settings(
    slack: SlackEmulator, models: FakeModelServer, database_url: str
) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "CHORUS_MODELS": ",".join(MODELS.values()),
        "CHORUS_STREAM_UPDATE_SECONDS": "0.5",
        "CHORUS_PROVIDER_READ_TIMEOUT": "2",
        "CHORUS_PROVIDER_FIRST_TOKEN_TIMEOUT": "2",
        "CHORUS_PROVIDER_MAX_ATTEMPTS": "3",
        "CHORUS_PROVIDER_RETRY_BASE_DELAY": "0.2",
        "CHORUS_STALE_ANSWER_SECONDS": "10",
        "LOG_LEVEL": "INFO",
        **models.env(),
    }


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fault_run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=300, help="rounds to send (default 300)")
    parser.add_argument("--seed", type=int, default=9, help="seed of every random choice")
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=1)
    parser.add_argument("--channels", type=int, default=16, help="public channels (plus 2 DMs)")
    parser.add_argument("--rate", type=float, default=3.0, help="rounds per second")
    parser.add_argument(
        "--minutes", type=float, help="send rounds for this long instead (a soak): sets --rounds"
    )
    parser.add_argument(
        "--memory-every", type=float, default=10.0, help="seconds between memory samples"
    )
    parser.add_argument("--fault-rate", type=float, default=0.25, help="share of model requests")
    parser.add_argument(
        "--kill-one",
        action="store_true",
        help="SIGKILL one replica half-way through and restart it",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CHORUS_TEST_POSTGRES_URL") or POSTGRES_URL,
        help="PostgreSQL server for --replicas 2 (a throwaway database is created on it)",
    )
    parser.add_argument(
        "--memory-snapshots",
        type=Path,
        metavar="DIR",
        help="trace each replica's Python memory, a snapshot in DIR every 5 minutes "
        "(read them with python -m bench.memory_snapshots DIR)",
    )
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra setting for the bot processes (repeatable)",
    )
    arguments = parser.parse_args(argv)
    if arguments.minutes is not None:
        arguments.rounds = max(1, round(arguments.minutes * 60 * arguments.rate))
    return arguments


# Its sitecustomize.py starts tracemalloc in a process that has it on PYTHONPATH.
TRACED_BOT = Path(__file__).parent / "traced_bot"


@contextmanager
def database(replicas: int, postgres_url: str, workdir: Path) -> Iterator[str]:
    """One replica: a SQLite file. Two: a fresh PostgreSQL database, dropped afterwards."""
    if replicas == 1:
        yield f"sqlite+aiosqlite:///{workdir / 'chorus.db'}"
        return
    with fresh_postgres_database(postgres_url) as url:
        yield url


def wait_until_quiet(
    slack: SlackEmulator, replicas: Replicas, database_url: str, timeout: float
) -> float:
    """Wait until no replica is handling anything, Slack has had no call for a while, and
    every answer is shown (a final edit Slack did not take waits for the sweeper); returns
    how long that took."""
    started = time.monotonic()
    calls, quiet_since = -1, time.monotonic()
    while time.monotonic() - started < timeout:
        now_calls = len(slack.calls)
        if now_calls != calls:
            calls, quiet_since = now_calls, time.monotonic()
        busy = sum(_answering(replicas.bots[index]) for index in replicas.live())
        quiet = busy == 0 and time.monotonic() - quiet_since >= QUIET_SECONDS
        if quiet and answers_not_shown(database_url) == 0:
            break
        time.sleep(0.25)
    return time.monotonic() - started


def _answering(bot: BotProcess) -> int:
    try:
        return int(
            httpx.get(f"{bot.base_url}/healthz", timeout=2, trust_env=False).json()["answering"]
        )
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


def model_scripts(seed: int, fault_rate: float) -> dict[str, RandomlyFailingModel]:
    """Each model streams its echo in small pieces and fails a `fault_rate` of its requests."""
    return {
        name: RandomlyFailingModel(
            name=name,
            seed=seed,
            fault_rate=fault_rate,
            chunk_chars=8,
            first_token_delay=0.1,
            chunk_delay=0.05,
        )
        for name in MODELS.values()
    }


def start_replicas(
    stack: ExitStack, settings: dict[str, str], count: int, workdir: Path
) -> Replicas:
    replicas = Replicas(
        [
            BotProcess(
                settings | {"CHORUS_REPLICA_ID": f"replica-{index}"},
                log_path=workdir / f"replica-{index}.log",
            )
            for index in range(count)
        ]
    )
    for bot in replicas.bots:
        stack.callback(bot.stop)
        bot.start()
    return replicas


def memory_tracing(directory: Path) -> dict[str, str]:
    """The settings that make a bot write snapshots of its Python memory into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return {"PYTHONPATH": str(TRACED_BOT), "CHORUS_MEMORY_SNAPSHOTS": str(directory.resolve())}


def run(arguments: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="chorus-fault-run-"))
    channels = [f"C0FAULT{number:03d}" for number in range(1, arguments.channels + 1)]
    everywhere = [*channels, *DIRECT_MESSAGES]
    slack_faults = SlackFaults()
    with ExitStack() as stack:
        slack = stack.enter_context(SlackEmulator())
        models = stack.enter_context(FakeModelServer())
        for channel in channels:
            slack.add_channel(channel, channel.lower())
        scripts = model_scripts(arguments.seed, arguments.fault_rate)
        for name, script in scripts.items():
            models.script(name, script)
        url = stack.enter_context(database(arguments.replicas, arguments.postgres_url, workdir))
        extra = dict(setting.split("=", 1) for setting in arguments.bot_env)
        if arguments.memory_snapshots:
            extra |= memory_tracing(arguments.memory_snapshots)
        replicas = start_replicas(
            stack, bot_settings(slack, models, url) | extra, arguments.replicas, workdir
        )
        slack_faults.apply_limits(slack)
        driver = FaultDriver(
            slack,
            SlackEventSender(slack, signing_secret=SIGNING_SECRET),
            replicas,
            seed=arguments.seed,
            models=MODELS,
            channels=channels,
            traffic=Traffic(rate=arguments.rate),
            slack_faults=slack_faults,
            deliveries=DeliveryPlan(),
        )
        sampler = MemorySampler(
            lambda: replicas.bots[0].pid if replicas.bots[0].is_running else None,
            lambda: driver.rounds_sent,
            every=arguments.memory_every,
        )
        started = time.monotonic()
        with sampler:
            crash_at = arguments.rounds // 2 if arguments.kill_one else None
            driver.run(arguments.rounds, crash_at=crash_at)
            sending = time.monotonic() - started
            settling = wait_until_quiet(slack, replicas, url, arguments.settle_timeout)
            sampler.sample()
        slack.clear_faults()

        index = read_answer_index(url)
        seen = seen_messages(bot_messages(slack, everywhere), index, driver.tokens, MODELS.values())
        result = tally(
            driver.expected,
            seen,
            rounds_sent=driver.rounds_sent,
            thread_turns_sent=driver.turns_sent,
        )
        print_report(arguments, result, sending, settling)
        print_faults(scripts, models, slack, driver)
        print_database(index)
        print_answer_times(seconds_to_final(slack.calls), slack.calls)
        print("\n" + "\n".join(memory_lines(sampler.samples)))
        print_problems(result)
        print(f"\nbot logs: {', '.join(str(bot.log_path) for bot in replicas.bots)}")
        counter_ok = check_the_counter(slack, driver, everywhere, index, MODELS.values(), result)
        return 0 if result.clean and counter_ok else 1


def print_report(
    arguments: argparse.Namespace, result: Tally, sending: float, settling: float
) -> None:
    database_name = "SQLite" if arguments.replicas == 1 else "PostgreSQL"
    crash = ", one replica SIGKILLed half-way and restarted" if arguments.kill_one else ""
    print(
        f"fault run: {arguments.rounds} rounds at {arguments.rate:g}/s, seed {arguments.seed}, "
        f"{arguments.channels} channels + {len(DIRECT_MESSAGES)} DMs, {arguments.replicas} "
        f"replica(s) on {database_name}{crash}"
    )
    if arguments.bot_env:
        print(f"bot settings changed: {' '.join(arguments.bot_env)}")
    if arguments.memory_snapshots:
        print(
            f"Python memory traced (slower): python -m bench.memory_snapshots "
            f"{arguments.memory_snapshots}"
        )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; sent in {sending:.0f} s, settled in {settling:.0f} s\n"
    )
    width = max(len(label) for label, _ in result.rows())
    for label, value in result.rows():
        print(f"{label:<{width}}  {value:>6}")


def print_faults(
    scripts: dict[str, RandomlyFailingModel],
    models: FakeModelServer,
    slack: SlackEmulator,
    driver: FaultDriver,
) -> None:
    served: Counter[str] = Counter()
    requests = 0
    for name, script in scripts.items():
        count = len(models.requests_for(name))
        requests += count
        served += script.faults_served(count)
    print(f"\nmodel requests: {requests}, faults: {sum(served.values())}")
    for fault, count in served.most_common():
        print(f"  {fault}: {count}")
    limited = Counter(call.method for call in slack.calls if call.status == 429)
    print("Slack 429s: " + ", ".join(f"{method} {n}" for method, n in sorted(limited.items())))
    lost = Counter(call.method for call in slack.calls if call.status == REPLY_LOST)
    print("Slack replies lost: " + ", ".join(f"{method} {n}" for method, n in sorted(lost.items())))
    print("event deliveries:")
    for what, count in sorted(driver.delivered.counts.items()):
        print(f"  {what}: {count}")


def print_database(index: AnswerIndex) -> None:
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(index.statuses.items()))
    print(f"answer rows in the bot's database: {statuses}")


def print_answer_times(
    times: list[tuple[float, tuple[str, str]]], calls: Sequence[ApiCall]
) -> None:
    if not times:
        return
    seconds = [time for time, _ in times]
    median, (slowest, message) = seconds[len(seconds) // 2], times[-1]
    p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
    print(
        f"placeholder to final text: median {median:.1f} s, 95th percentile {p95:.1f} s, "
        f"slowest {slowest:.1f} s"
    )
    timeline = calls_on(message, calls)
    start = timeline[0].at
    print(
        f"  the slowest, {message[1]} in {message[0]}: "
        + ", ".join(
            f"{call.method.removeprefix('chat.')} {call.status} at {call.at - start:.1f} s"
            for call in timeline
        )
    )


def print_problems(result: Tally) -> None:
    if result.problems:
        print(f"\nproblems (first {PROBLEMS_SHOWN} of {len(result.problems)}):")
        for line in result.problems[:PROBLEMS_SHOWN]:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(parse_arguments(argv)))


if __name__ == "__main__":
    main()
