"""An HTTP forward proxy, as HTTP_PROXY and HTTPS_PROXY name one, that records what went
through it."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.doubles.tcp_proxy import TcpProxy

_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ProxiedRequest:
    """One request the proxy passed on: its method, the `host:port` it went to, and its path
    (without the query: a Socket Mode URL's carries a ticket), None inside a CONNECT tunnel."""

    method: str
    target: str
    path: str | None


class ForwardProxy(TcpProxy):
    """Passes on absolute-form requests for `http://` (and `ws://`) targets, each request of a
    kept-alive connection recorded, and opens CONNECT tunnels (`https://`, `wss://`), recorded
    as one CONNECT to `host:port`; from a daemon thread, as `TcpProxy` does (`url` names it)."""

    def __init__(self) -> None:
        super().__init__("", 0)  # no one target: each request names its own
        self._recorded: list[ProxiedRequest] = []
        self._records_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[ProxiedRequest]:
        """Every request passed on so far, in the order they came."""
        with self._records_lock:
            return list(self._recorded)

    def paths_to(self, target: str) -> list[str]:
        """The paths of the requests passed on to `target` (`host:port`), in order."""
        return [r.path for r in self.requests() if r.target == target and r.path is not None]

    def _record(self, method: str, target: str, path: str | None) -> None:
        with self._records_lock:
            self._recorded.append(ProxiedRequest(method, target, path))

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            head = await reader.readuntil(_HEAD_END)
            method, target = _request_line(head)
            if method == "CONNECT":
                await self._tunnel(target, reader, writer)
            else:
                await self._pass_on(head, reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ValueError):
            writer.close()
        except asyncio.CancelledError:
            # The proxy stopping. Ended here, not cancelled: Python 3.11's stream server logs
            # a handler that ends cancelled as an unhandled error, traceback and all.
            writer.close()

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port = target.rpartition(":")
        self._record("CONNECT", target, None)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        self._writers.append(upstream_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pass_on(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Each request of the connection on to the one origin its first named (clients keep a
        connection to a proxy per origin), its answers piped back as they come."""
        origin = _origin(_request_line(head)[1])
        host, _, port = origin.rpartition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        self._writers.append(upstream_writer)
        answers = asyncio.ensure_future(self._pipe(upstream_reader, writer))
        try:
            while head:
                method, target = _request_line(head)
                if _origin(target) != origin:
                    raise ValueError(f"one connection, two origins: {origin}, {target}")
                url = urlsplit(target)
                self._record(method, origin, url.path)
                upstream_writer.write(_in_origin_form(head, url.path, url.query))
                if b"\r\nupgrade:" in head.lower():  # a WebSocket: bytes both ways from now
                    await self._pipe(reader, upstream_writer)
                    break
                await _pass_on_body(head, reader, upstream_writer)
                head = await _next_head(reader)
        finally:
            upstream_writer.close()
            answers.cancel()  # the client is gone, or nothing more comes: its pipe closes it


def _request_line(head: bytes) -> tuple[str, str]:
    method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    return method, target


def _origin(absolute_url: str) -> str:
    url = urlsplit(absolute_url)
    return f"{url.hostname}:{url.port or 80}"


def _in_origin_form(head: bytes, path: str, query: str) -> bytes:
    method, _target, rest = head.split(b" ", 2)
    origin_form = (path or "/") + (f"?{query}" if query else "")
    return b" ".join([method, origin_form.encode("latin-1"), rest])


async def _next_head(reader: asyncio.StreamReader) -> bytes:
    """The next request's head on a kept-alive connection, or b"" once the client closes it."""
    try:
        return await reader.readuntil(_HEAD_END)
    except asyncio.IncompleteReadError as closed:
        if closed.partial:
            raise
        return b""


async def _pass_on_body(
    head: bytes, reader: asyncio.StreamReader, sink: asyncio.StreamWriter
) -> None:
    """The request body that follows `head` (a Content-Length's worth, or chunks), unchanged."""
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (
            line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:] if line
        )
    }
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            sink.write(size_line)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                sink.write(await reader.readuntil(b"\r\n"))  # no trailers: the closing line
                break
            sink.write(await reader.readexactly(size + 2))
    else:
        sink.write(await reader.readexactly(int(headers.get("content-length", "0"))))
    await sink.drain()
