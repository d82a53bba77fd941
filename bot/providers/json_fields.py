"""Reading the JSON of a provider's stream events: a shape it does not have raises
`UnexpectedShape`, which the stream reports as a malformed stream."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class UnexpectedShape(Exception):
    """Raised by an event reader for data it cannot read; reported as `MalformedStream`."""


def parse_json_object(data: str) -> dict[str, Any]:
    """The JSON object in an event's `data:`."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # nested deeper than the parser goes
        raise UnexpectedShape("data that is not JSON") from None
    if not isinstance(value, dict):
        raise UnexpectedShape("data that is not a JSON object")
    return value


def field(obj: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    """`obj[key]` if it is a `kind`, None if missing or null; `UnexpectedShape` otherwise."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UnexpectedShape(f"{key!r} is not {kind.__name__}")
    return value


def token_count(usage: Mapping[str, Any], key: str) -> int | None:
    """A token count in `usage`, None if missing or not a whole number: counts only inform, so
    one a server writes oddly (`31.0` is read, `"31"` or `true` is not) never fails an answer."""
    value = usage.get(key)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def required(obj: Mapping[str, Any], key: str, kind: type[T]) -> T:
    """`obj[key]`, which must be a `kind`."""
    value = field(obj, key, kind)
    if value is None:
        raise UnexpectedShape(f"{key!r} is missing")
    return value


def objects(items: list[Any], what: str) -> list[dict[str, Any]]:
    """`items`, each of which must be a JSON object."""
    if not all(isinstance(item, dict) for item in items):
        raise UnexpectedShape(f"{what} that is not an object")
    return items
