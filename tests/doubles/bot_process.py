"""The bot under test as its own process, started the way it is deployed: `python -m bot`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

import httpx

from tests.doubles.waiting import DEFAULT_TIMEOUT_SECONDS, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
# Only these come from the test runner's environment, so no real key can leak into the bot.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG")
HEALTH_POLL_SECONDS = 0.02
LOG_TAIL_CHARS = 4_000


class BotProcessError(RuntimeError):
    """The bot process did not come up healthy."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class BotProcess:
    """Runs `python -m bot` in HTTP mode on 127.0.0.1 with exactly the given settings.

    `launcher` goes between the interpreter and `-m bot`, e.g. `("-m", "pyinstrument")` to
    run the bot under a profiler.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        port: int | None = None,
        log_path: Path | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.log_path = log_path or Path(tempfile.mkdtemp(prefix="chorus-bot-")) / "bot.log"
        self.launcher = tuple(launcher)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/slack/events"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def environment(self) -> dict[str, str]:
        """The whole environment the bot gets: a minimal base, `env`, then HOST and PORT."""
        base = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        base.setdefault("LANG", "C.UTF-8")
        base |= {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        return {**base, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}

    def start(self, timeout: float = 60.0) -> Self:
        """Launch the bot and wait until GET /healthz answers 200 (a restart appends to the log)."""
        if self.is_running:
            raise BotProcessError("the bot is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, *self.launcher, "-m", "bot"],
            cwd=REPO_ROOT,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_healthy(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the bot has not exited after `timeout` seconds."""
        if self.is_running:
            assert self._process is not None
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close_log()

    def stop_at_once(self) -> float:
        """SIGTERM, then SIGINT once the first is taken: the bot stops at once, cleanly (the
        answers it was writing marked interrupted). When the first signal was sent
        (monotonic)."""
        assert self._process is not None and self.is_running
        self._process.send_signal(signal.SIGTERM)
        first_signal = time.monotonic()
        wait_until(lambda: "shutting down" in self.logs(), message="the first signal taken")
        self._process.send_signal(signal.SIGINT)
        wait_until(lambda: not self.is_running, timeout=30, message="the bot stopped")
        self._close_log()
        assert self.returncode == 0
        assert "Traceback" not in self.logs()
        return first_signal

    def kill(self) -> None:
        """SIGKILL: the bot dies mid-work, as in a crash."""
        if self.is_running:
            assert self._process is not None
            self._process.kill()
            self._process.wait()
        self._close_log()

    def wait_until_idle(
        self,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        interval: float = 0.02,
        client: httpx.Client | None = None,
    ) -> None:
        """Wait until the bot has no work on events left (it has recorded all it showed), as a
        person would before pressing a button on an answer they have just seen finish.
        `client`: a kept-alive connection to poll over, instead of one per poll."""
        wait_until(
            lambda: self.tasks_in_flight(client) == 0,
            timeout=timeout,
            interval=interval,
            message=f"the bot idle within {timeout} s",
        )

    def tasks_in_flight(self, client: httpx.Client | None = None) -> int:
        """The work the bot has in hand, as its health check counts it (`answering`): events,
        commands, button presses, recovery passes."""
        health = f"{self.base_url}/healthz"
        if client is not None:
            response = client.get(health)
        else:
            response = httpx.get(health, timeout=10.0, trust_env=False)
        in_flight: int = response.json()["answering"]
        return in_flight

    def logs(self) -> str:
        """Everything the bot wrote to stdout and stderr so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running:
                self._close_log()
                raise BotProcessError(
                    f"the bot exited with code {self.returncode} before it was healthy:\n"
                    f"{self._log_tail()}"
                )
            if self._answers_health_check():
                return
            time.sleep(HEALTH_POLL_SECONDS)
        self.stop()
        raise BotProcessError(f"the bot was not healthy within {timeout} s:\n{self._log_tail()}")

    def _answers_health_check(self) -> bool:
        try:
            response = httpx.get(f"{self.base_url}/healthz", timeout=1.0, trust_env=False)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def _log_tail(self) -> str:
        return self.logs()[-LOG_TAIL_CHARS:]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
