"""The first message of a PostgreSQL connection, as a server reads it: one asking for
encryption (answered "S", go ahead, or "N", none) or the start-up message itself."""

from __future__ import annotations

import asyncio
import struct

SSL_REQUEST = 80877103
GSS_ENCRYPTION_REQUEST = 80877104


async def read_start_message(reader: asyncio.StreamReader) -> int:
    """The request code (or protocol version) of the client's next start-up message."""
    length, code = struct.unpack("!ii", await reader.readexactly(8))
    await reader.readexactly(length - 8)
    return int(code)
