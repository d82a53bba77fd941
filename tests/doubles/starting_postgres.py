"""A PostgreSQL server that is still starting up, as a bot started beside it meets it."""

from __future__ import annotations

import asyncio
import struct

from tests.doubles.postgres_startup import (
    GSS_ENCRYPTION_REQUEST,
    SSL_REQUEST,
    read_start_message,
)
from tests.doubles.tcp_proxy import TcpProxy


class StartingPostgres(TcpProxy):
    """Answers every connection as a PostgreSQL server starting up does (SQLSTATE 57P03)
    until `come_up()`; then forwards them to the real server at `host`:`port`."""

    def __init__(self, host: str, port: int, *, listen_port: int = 0) -> None:
        super().__init__(host, port, listen_port=listen_port)
        self._up = False
        self.refused = 0

    def come_up(self) -> None:
        self._up = True

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._up:
            await super()._forward(reader, writer)
            return
        try:
            while await read_start_message(reader) in (SSL_REQUEST, GSS_ENCRYPTION_REQUEST):
                writer.write(b"N")
            writer.write(_starting_up_error())
            await writer.drain()
            self.refused += 1
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


def _starting_up_error() -> bytes:
    fields = {"S": "FATAL", "V": "FATAL", "C": "57P03", "M": "the database system is starting up"}
    body = b"".join(kind.encode() + text.encode() + b"\0" for kind, text in fields.items()) + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body
