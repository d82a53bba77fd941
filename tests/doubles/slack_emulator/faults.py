"""Failures a test asks for: one-off injected errors and sustained per-method rate limits."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

RATE_LIMIT_WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class InjectedFault:
    """An answer that replaces a method's real one: HTTP status, Slack error, Retry-After;
    when `carried_out`, the call is done all the same (as when Slack fails after acting)."""

    status: int
    error: str
    # Whole seconds as Slack sends them; a str as a proxy in front of it may (RFC 9110 dates).
    retry_after: int | str | None = None
    carried_out: bool = False
    # A body that is not the Web API's JSON (a proxy's or load balancer's error page), sent
    # instead of {"ok": false, "error"} with `page_type` as its Content-Type.
    page: str | None = None
    page_type: str = "text/html"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.error == "missing_scope":  # as Slack says it: the scope needed, those granted
            body |= {"needed": "chat:write", "provided": "app_mentions:read,channels:history"}
        return body

    def headers(self) -> dict[str, str]:
        if self.status == 429 and self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        return {}


@dataclass(frozen=True)
class LostReply:
    """A call whose connection drops `after_seconds` in, before any reply: done by the
    workspace first when `carried_out`, or never done at all."""

    after_seconds: float
    carried_out: bool


RATE_LIMITED = InjectedFault(status=429, error="ratelimited", retry_after=1)


class FaultPlan:
    """Decides, call by call, whether a method answers with a fault. Not thread-safe by itself."""

    def __init__(self) -> None:
        self._lost_replies: dict[str, deque[LostReply]] = {}
        self._injected: dict[str, deque[InjectedFault | None]] = {}
        self._limits: dict[str, int] = {}
        self._accepted_at: dict[str, deque[float]] = {}
        self._delays: dict[tuple[str, str | None], float] = {}

    def inject(self, method: str, fault: InjectedFault, times: int, *, after: int = 0) -> None:
        """`fault` for `times` calls of `method`, once those queued and `after` more passed."""
        self._injected.setdefault(method, deque()).extend([None] * after + [fault] * times)

    def lose_replies(self, method: str, lost: LostReply, times: int) -> None:
        self._lost_replies.setdefault(method, deque()).extend([lost] * times)

    def lost_reply(self, method: str) -> LostReply | None:
        """How this call's reply is lost (None: it is sent); consumes one."""
        queued = self._lost_replies.get(method)
        return queued.popleft() if queued else None

    def delay(self, method: str, seconds: float, ts: str | None) -> None:
        self._delays[(method, ts)] = seconds

    def delay_for(self, method: str, params: dict[str, Any]) -> float:
        """How late this call is acted on: its message's own delay, else its method's."""
        return self._delays.get((method, params.get("ts")), self._delays.get((method, None), 0.0))

    def set_rate_limit(self, method: str, per_second: int | None) -> None:
        if per_second is None:
            self._limits.pop(method, None)
        else:
            self._limits[method] = per_second
        self._accepted_at.pop(method, None)

    def clear(self) -> None:
        self._lost_replies.clear()
        self._injected.clear()
        self._limits.clear()
        self._accepted_at.clear()
        self._delays.clear()

    def fault_for(self, method: str, now: float) -> InjectedFault | None:
        """The fault this call gets, if any; consumes injected faults and rate-limit budget."""
        queued = self._injected.get(method)
        injected = queued.popleft() if queued else None
        if injected is not None:
            return injected
        limit = self._limits.get(method)
        if limit is None:
            return None
        accepted = self._accepted_at.setdefault(method, deque())
        while accepted and now - accepted[0] >= RATE_LIMIT_WINDOW_SECONDS:
            accepted.popleft()
        if len(accepted) >= limit:
            return RATE_LIMITED
        accepted.append(now)
        return None
