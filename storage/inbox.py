"""Slack events recorded before they are acknowledged, so none is handled twice or lost.

An event is kept whole only until it is handled (so another replica can take it over if this
one dies); then only its id is kept, as long as Slack might still send it again."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.database import Database
from storage.early_edits import forget_early_edits
from storage.liveness import PreviousLife, left_behind
from storage.rows import SaidAt
from storage.tables import UNRECORDED, ClaimedMessage, HandledEvent, Round, ThreadTurn

FORGET_BATCH = 1000


@dataclass(frozen=True, slots=True)
class PendingEvent:
    event_id: str
    payload: dict[str, Any]


class EventInbox:
    """The one place that writes handled events."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def accept(
        self, event_id: str, payload: dict[str, Any], owner: str, said: SaidAt | None = None
    ) -> bool:
        """Record a new event (and where the message it brings was `said`, if it brings one);
        False when it was already received (a retry, another replica)."""
        try:
            await self._database.run(_accept, event_id, payload, owner, said, self._database.now())
        except IntegrityError:
            return False
        return True

    async def finish(self, event_id: str) -> None:
        """The event is handled: only its id is kept from now on."""
        await self._database.run(_finish, event_id, self._database.now())

    async def forget_handled(self, *, before: float) -> int:
        """Delete (some of) the events handled before `before`, the claims made before it on
        messages that got no round or thread turn (a deletion of chatter, a help reply), and
        the edits kept since before it for messages that never came: Slack sends nothing more
        about them. Returns how many events were deleted."""
        forgotten = await self._database.run(_forget_handled, before)
        await self._database.run(_forget_claims_of_nothing, before)
        await self._database.run(forget_early_edits, before)
        return forgotten

    async def heartbeat(self, owner: str, event_ids: Collection[str]) -> None:
        """This replica is alive and works on these events: they are not to be taken over.
        (Another event it owns but no longer works on is, once its heartbeat is stale.)"""
        if event_ids:
            await self._database.run(_heartbeat, owner, list(event_ids), self._database.now())

    async def any_unfinished(self, owner: str) -> bool:
        """Whether `owner` holds an event not yet handled (or not yet recorded as handled)."""
        return await self._database.run(_any_unfinished, owner)

    async def take_over_unfinished(
        self,
        *,
        owner: str,
        stale_before: float,
        previous_life: PreviousLife | None = None,
        in_hand: Collection[str] = (),
    ) -> list[PendingEvent]:
        """Events whose replica stopped before finishing them (no heartbeat since
        `stale_before`, or left by `previous_life`: this replica's id and when this life
        started), now owned by `owner`; never those `owner` has `in_hand`, however late their
        heartbeat (its event loop held up), as it is handling them."""
        return await self._database.run(
            _take_over_unfinished,
            owner,
            stale_before,
            previous_life,
            self._database.now(),
            sorted(in_hand),
        )


_EVENTS: Table = HandledEvent.__table__  # type: ignore[assignment]
_ACCEPT = insert(_EVENTS)
_FINISH = update(_EVENTS).where(_EVENTS.c.event_id == bindparam("event"))


def _accept(
    session: Session,
    event_id: str,
    payload: dict[str, Any],
    owner: str,
    said: SaidAt | None,
    now: float,
) -> None:
    message = {} if said is None else asdict(said)
    session.execute(
        _ACCEPT,
        {"event_id": event_id, "payload": payload, "owner": owner, "heartbeat_at": now} | message,
    )


def _finish(session: Session, event_id: str, now: float) -> None:
    session.execute(_FINISH, {"event": event_id, "finished_at": now, "payload": {}})


def _forget_handled(session: Session, before: float) -> int:
    # In batches, so that no transaction holds the database for long.
    batch = (
        select(HandledEvent.event_id)
        .where(HandledEvent.finished_at < before)
        .limit(FORGET_BATCH)
        .scalar_subquery()
    )
    deleted = session.execute(delete(HandledEvent).where(HandledEvent.event_id.in_(batch)))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def _forget_claims_of_nothing(session: Session, before: float) -> None:
    """Of the claims made before `before` and not known to be recorded, delete those whose
    message has no round or thread turn and mark the others recorded: each is read once."""
    has_a_record = or_(
        *(
            exists().where(
                table.channel_id == ClaimedMessage.channel_id,
                table.message_ts == ClaimedMessage.message_ts,
            )
            for table in (Round, ThreadTurn)
        )
    )
    batch = session.execute(
        select(
            ClaimedMessage.team_id,
            ClaimedMessage.channel_id,
            ClaimedMessage.message_ts,
            has_a_record,
        )
        # As the partial index reads it: SQLite's `recorded = 0` would not use the index.
        .where(UNRECORDED, ClaimedMessage.claimed_at < before)
        .limit(FORGET_BATCH)
    ).all()
    keys: dict[bool, list[dict[str, str]]] = {True: [], False: []}
    for team_id, channel_id, message_ts, recorded in batch:
        keys[bool(recorded)].append({"team": team_id, "channel": channel_id, "ts": message_ts})
    if keys[False]:
        session.execute(delete(_CLAIMS).where(_THE_CLAIM), keys[False])
    if keys[True]:
        session.execute(update(_CLAIMS).where(_THE_CLAIM).values(recorded=True), keys[True])


# One claim by its key, so that each is found through the primary key (SQLite reads the
# whole table for a list of row values). On the table: the ORM runs no bulk DELETE by key.
_CLAIMS: Table = ClaimedMessage.__table__  # type: ignore[assignment]
_THE_CLAIM = and_(
    _CLAIMS.c.team_id == bindparam("team"),
    _CLAIMS.c.channel_id == bindparam("channel"),
    _CLAIMS.c.message_ts == bindparam("ts"),
)


def _heartbeat(session: Session, owner: str, event_ids: list[str], now: float) -> None:
    session.execute(
        update(HandledEvent)
        .where(
            HandledEvent.event_id.in_(event_ids),
            HandledEvent.owner == owner,
            HandledEvent.finished_at.is_(None),
        )
        .values(heartbeat_at=now)
    )


def _any_unfinished(session: Session, owner: str) -> bool:
    unfinished = select(HandledEvent.event_id).where(
        HandledEvent.finished_at.is_(None), HandledEvent.owner == owner
    )
    return session.scalar(unfinished.limit(1)) is not None


def _take_over_unfinished(
    session: Session,
    owner: str,
    stale_before: float,
    previous_life: PreviousLife | None,
    now: float,
    in_hand: list[str],
) -> list[PendingEvent]:
    unfinished = HandledEvent.finished_at.is_(None)
    whose = left_behind(
        HandledEvent.heartbeat_at,
        HandledEvent.owner,
        stale_before,
        previous_life,
        key=HandledEvent.event_id,
        in_hand=in_hand,
    )
    candidates = session.scalars(
        select(HandledEvent.event_id).where(and_(unfinished, whose)).limit(500)
    ).all()
    if not candidates:
        return []
    # Re-checking the condition in the UPDATE makes each event change hands once.
    rows = session.execute(
        update(HandledEvent)
        .where(HandledEvent.event_id.in_(candidates), unfinished, whose)
        .values(owner=owner, heartbeat_at=now)
        .returning(HandledEvent.event_id, HandledEvent.payload)
    ).all()
    return [PendingEvent(event_id, payload) for event_id, payload in rows]
