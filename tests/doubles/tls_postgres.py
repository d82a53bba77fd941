"""A PostgreSQL server that speaks SSL, made of the real (plain) server behind a proxy that
takes the encryption on: what a managed PostgreSQL is to a bot given `sslmode=verify-full`."""

from __future__ import annotations

import asyncio
import ssl
from typing import Self

import trustme
from sqlalchemy.engine import make_url

from tests.doubles.postgres_startup import (
    GSS_ENCRYPTION_REQUEST,
    SSL_REQUEST,
    read_start_message,
)
from tests.doubles.tcp_proxy import TcpProxy, tls_server_context


class TlsPostgres(TcpProxy):
    """Answers a client's SSLRequest with "S", completes the TLS handshake as `server_ssl`
    says (its certificate and key), then forwards the connection to the real server at
    `host`:`port`, which sees it in plain. A client that asks for no SSL is turned away, as
    a server allowing only SSL connections does. `encrypted` counts the handshakes completed,
    `rejected` those the client broke off (a certificate it does not accept)."""

    def __init__(self, host: str, port: int, server_ssl: ssl.SSLContext) -> None:
        super().__init__(host, port)
        self._server_ssl = server_ssl
        self.encrypted = 0
        self.rejected = 0

    @classmethod
    def signed_by(cls, ca: trustme.CA, host: str, port: int, *, named: str = "127.0.0.1") -> Self:
        """One in front of `host`:`port` whose certificate, signed by `ca`, is for the
        host `named` (an IP address or a DNS name)."""
        return cls(host, port, tls_server_context(ca, named))

    def verified_url(self, database_url: str) -> str:
        """`database_url` by way of this server, its certificate checked in full."""
        through = make_url(database_url).set(
            host="127.0.0.1", port=self.port, query={"sslmode": "verify-full"}
        )
        return through.render_as_string(hide_password=False)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (code := await read_start_message(reader)) == GSS_ENCRYPTION_REQUEST:
                writer.write(b"N")
            if code != SSL_REQUEST:
                writer.close()
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self._server_ssl)
        except (ssl.SSLError, asyncio.IncompleteReadError, OSError):
            self.rejected += 1
            writer.close()
            return
        self.encrypted += 1
        await super()._forward(reader, writer)
