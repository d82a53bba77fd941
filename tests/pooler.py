"""A PgBouncer pooling by transaction, in front of the test PostgreSQL server: as the poolers
of managed platforms (Supabase's port 6543, Neon's `-pooler` hosts) hand out connections."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

# What a DATABASE_URL through such a pooler adds: no statement kept prepared on a server
# connection the next transaction may not get.
NO_PREPARED_STATEMENTS = {"statement_cache_size": "0", "prepared_statement_cache_size": "0"}
PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
NO_PGBOUNCER = (
    "pgbouncer is not installed: the pooled PostgreSQL variant skipped (.ci/run installs it)"
)


@contextmanager
def pgbouncer(server_url: str) -> Iterator[int]:
    """A PgBouncer in transaction mode logging in to the server of `server_url` as its user,
    for any database; yields the port it listens on (127.0.0.1)."""
    assert PGBOUNCER is not None, NO_PGBOUNCER
    server = make_url(server_url)
    login = f"host={server.host or '127.0.0.1'} port={server.port or 5432} user={server.username}"
    if server.password:
        login += f" password={server.password}"
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="chorus-pgbouncer-") as folder:
        config = Path(folder, "pgbouncer.ini")
        config.write_text(
            f"[databases]\n* = {login}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            "auth_type = any\npool_mode = transaction\n"
            "max_client_conn = 200\ndefault_pool_size = 20\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        # PgBouncer refuses to run as root: it then runs as PostgreSQL's own user.
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        os.chmod(folder, 0o755)
        process = subprocess.Popen(
            [PGBOUNCER, *as_user, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(port, process)
            yield port
        finally:
            process.terminate()
            process.communicate(timeout=10)


def through(port: int, database_url: str) -> str:
    """`database_url` by way of the PgBouncer at `port`, with what such a URL needs."""
    url = make_url(database_url)
    pooled = url.set(host="127.0.0.1", port=port, query={**url.query, **NO_PREPARED_STATEMENTS})
    return pooled.render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, errors = process.communicate()
            raise RuntimeError(f"pgbouncer stopped: {errors.strip()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen within 10 s")
