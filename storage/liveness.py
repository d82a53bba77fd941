"""Which rows a dead replica left behind: the heartbeat rule shared by answers and events."""

from __future__ import annotations

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
) -> Any:
    """Rows whose replica sent no heartbeat since `stale_before`, or that this replica's
    previous life left behind (its rows from before this life started)."""
    stale = heartbeat_at < stale_before
    if previous_life is None:
        return stale
    replica_id, started_at = previous_life
    return or_(stale, and_(owner == replica_id, heartbeat_at < started_at))
