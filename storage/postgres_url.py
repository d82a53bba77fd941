"""A PostgreSQL URL as hosting platforms hand it out (libpq's options) made one asyncpg takes."""

from __future__ import annotations

import shlex
from typing import Any

from sqlalchemy.engine import URL

# Options asyncpg's `connect()` takes as they are.
_ASYNCPG_OPTIONS = frozenset(
    {
        "ssl",
        "direct_tls",
        "timeout",
        "command_timeout",
        "statement_cache_size",
        "prepared_statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
    }
)
# Where to connect, which SQLAlchemy reads from the query as libpq does: a Unix socket's
# folder (Cloud SQL's `host=/cloudsql/…`), or several hosts (`host=h1,h2`, or `host=` again).
_WHERE_TO_CONNECT = frozenset({"host", "port"})
# libpq's names for asyncpg's options.
_RENAMED = {"sslmode": "ssl", "connect_timeout": "timeout"}
# libpq options asyncpg has no use for: it negotiates channel binding by itself.
_IGNORED = frozenset({"channel_binding"})
# libpq's certificate files, which asyncpg reads from the environment only.
_FROM_ENVIRONMENT = {
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
}
_NUMBERS = frozenset({"timeout", "command_timeout"})
# Whole numbers asyncpg takes as such (a URL gives text, which asyncpg would fail on).
_WHOLE_NUMBERS = frozenset(
    {"statement_cache_size", "max_cached_statement_lifetime", "max_cacheable_statement_size"}
)
# Unless the URL says otherwise: seconds to connect, and for one statement. Without them a
# connection stuck mid-way (a hung proxy, a partition) would hold its caller forever.
DEFAULT_TIMEOUTS = {"timeout": 10.0, "command_timeout": 60.0}


class UnusableDatabaseUrl(ValueError):
    """DATABASE_URL carries an option the driver does not take; the message names the option
    (never the URL, which may hold a password)."""


def asyncpg_url(url: URL) -> tuple[URL, dict[str, Any]]:
    """`url` with the asyncpg driver and options, and the connect arguments a URL can't carry
    (`application_name` and `options=-c name=value` become asyncpg's server settings)."""
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+asyncpg")
    query: dict[str, str | tuple[str, ...]] = {}
    server_settings: dict[str, str] = {}
    connect_args: dict[str, Any] = dict(DEFAULT_TIMEOUTS)
    for name, value in url.query.items():
        if name in _WHERE_TO_CONNECT:
            query[name] = value
            continue
        if not isinstance(value, str):
            raise UnusableDatabaseUrl(f"DATABASE_URL option {name!r} is given more than once")
        name = _RENAMED.get(name, name)
        if name in _IGNORED:
            continue
        if name == "application_name":
            server_settings[name] = value
        elif name == "options":
            server_settings |= _server_settings_in(value)
        elif name in _NUMBERS:
            connect_args[name] = _number(name, value)
        elif name in _WHOLE_NUMBERS:
            connect_args[name] = _whole_number(name, value)
        elif name in _ASYNCPG_OPTIONS:
            query[name] = value
        elif name in _FROM_ENVIRONMENT:
            raise UnusableDatabaseUrl(
                f"DATABASE_URL option {name!r} is read by PostgreSQL's driver (asyncpg) from "
                f"the environment only: set {_FROM_ENVIRONMENT[name]} to the file instead"
            )
        else:
            raise UnusableDatabaseUrl(
                f"DATABASE_URL option {name!r} is not one PostgreSQL's driver (asyncpg) takes; "
                "remove it"
            )
    if server_settings:
        connect_args["server_settings"] = server_settings
    return url.set(query=query), connect_args


def _server_settings_in(options: str) -> dict[str, str]:
    """libpq's `options` (`-c search_path=app -c statement_timeout=5000`)."""
    try:
        words = shlex.split(options)
    except ValueError:
        words = ["unbalanced quotes"]
    pairs = list(zip(words[::2], words[1::2], strict=False))
    if len(words) % 2 or any(flag != "-c" or "=" not in setting for flag, setting in pairs):
        raise UnusableDatabaseUrl(
            "DATABASE_URL option 'options' must read '-c name=value' (one or more times)"
        )
    return dict(setting.split("=", 1) for _, setting in pairs)


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UnusableDatabaseUrl(f"DATABASE_URL option {name!r} must be a number") from None


def _whole_number(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UnusableDatabaseUrl(f"DATABASE_URL option {name!r} must be a whole number") from None
