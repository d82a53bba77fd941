"""A TCP proxy a test can cut, as a network partition would cut a bot from its database."""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Self

import trustme


def tls_server_context(ca: trustme.CA, named: str = "127.0.0.1") -> ssl.SSLContext:
    """A server's TLS settings with a certificate from `ca` for the host `named` (an IP
    address or a DNS name)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(named).configure_cert(context)
    return context


class TcpProxy:
    """Forwards 127.0.0.1:`listen_port` (any free one by default: `port` tells) to the
    target from a daemon thread until `cut()`; `freeze()` keeps the connections open but
    passes nothing more (a hung proxy, a silent partition) until `thaw()`. With `tls`, it
    takes TLS on with those settings and passes the plain bytes on (as a proxy that
    re-signs TLS does, or a TLS-terminating load balancer)."""

    def __init__(
        self, host: str, port: int, *, listen_port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self._target = (host, port)
        self._listen_port = listen_port
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    def start(self) -> Self:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), name="tcp proxy", daemon=True).start()
        if not ready.wait(5):
            raise RuntimeError("the TCP proxy did not start")
        return self

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        """Pass on again what `freeze()` held, and what follows."""
        self._loop.call_soon_threadsafe(self._flowing.set)

    def cut(self) -> None:
        """Close the listening socket and every connection through it."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(5)

    def reopen(self) -> None:
        """Listen again, on the same port, after `cut()`: the network back."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._forward, "127.0.0.1", self.port or self._listen_port, ssl=self._tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    async def _cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()

    async def _shut_down(self) -> None:
        await self._cut()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
