"""An aiohttp application served from a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")

# Handlers still running at shutdown (a deliberately hung stream) are cancelled after this long.
SHUTDOWN_GRACE_SECONDS = 0.2


class ServerThread:
    """Serves `app` on 127.0.0.1 from a daemon thread so synchronous tests can talk to it."""

    def __init__(self, app: web.Application, *, port: int = 0, name: str = "server") -> None:
        self._app = app
        self._requested_port = port
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self._name} is not running")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:43123."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()
        try:
            self._port = self.run(self._open(), timeout=10.0)
        except BaseException:
            self.stop()  # e.g. the port is taken: leave no loop thread behind
            raise
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run `coro` in the server's loop and wait for its result (thread-safe)."""
        if self._loop is None or not self.is_running:
            coro.close()
            raise RuntimeError(f"{self._name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Close the listening socket and open connections, then end the loop thread."""
        if self._loop is None or self._thread is None:
            return
        if self._thread.is_alive():
            self.run(self._close(), timeout=10.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
        self._loop = None
        self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _open(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self._requested_port))
        except OSError:
            listener.close()
            raise
        self._runner = web.AppRunner(
            self._app, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
        )
        await self._runner.setup()
        await web.SockSite(self._runner, listener).start()
        port: int = listener.getsockname()[1]
        return port

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


class BackgroundServer:
    """Base of the test doubles served from a `ServerThread`: `start()`/`stop()` or `with`."""

    def __init__(self, app: web.Application, *, port: int, name: str) -> None:
        self._server = ServerThread(app, port=port, name=name)

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:43123."""
        return self._server.url
