"""Which rows a dead replica left behind: the heartbeat rule shared by answers and events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute

# A replica's earlier life: its id and when its current life started.
PreviousLife = tuple[str, float]


def left_behind(
    heartbeat_at: InstrumentedAttribute[float],
    owner: InstrumentedAttribute[str],
    stale_before: float,
    previous_life: PreviousLife | None,
    *,
    key: InstrumentedAttribute[Any],
    in_hand: Sequence[object],
) -> Any:
    """Rows whose replica sent no heartbeat since `stale_before`, or that this replica's
    previous life left behind (its rows from before this life started); never those (by
    `key`) this process has in hand, however late their heartbeat: it is working on them,
    only slowly (its event loop held up longer than the heartbeats allow)."""
    whose = heartbeat_at < stale_before
    if previous_life is not None:
        replica_id, started_at = previous_life
        whose = or_(whose, and_(owner == replica_id, heartbeat_at < started_at))
    return and_(whose, key.not_in(in_hand)) if in_hand else whose
