"""Edits handled before the message they edit was recorded: Slack delivered the edit first (a
retried event can come after it), or the message was still on its way to the database (its
author's name being looked up, its files read). The edit is kept, and the round or thread turn
that records the message takes it: the models read the message as it reads in Slack."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, delete
from sqlalchemy.orm import Session

from storage.rows import MessageClaim, insert_or_ignore, insert_or_update
from storage.tables import ClaimedMessage, EarlyEdit

_TAKE = (
    delete(EarlyEdit)
    .where(
        EarlyEdit.team_id == bindparam("team_id"),
        EarlyEdit.channel_id == bindparam("channel_id"),
        EarlyEdit.message_ts == bindparam("message_ts"),
    )
    .returning(EarlyEdit.text)
)


def kept_until_recorded(session: Session, edited: MessageClaim, text: str, now: float) -> bool:
    """Keep the edit for the round or thread turn that will record its message, unless the
    message is claimed already (False: what claimed it is what the edit changes). The message
    is claimed and released at once to find out: that waits for a transaction claiming it
    meanwhile to end, so the edit is either kept before that claim (which then takes it) or
    looked for after it."""
    key = _key(edited)
    claiming = insert_or_ignore(session, ClaimedMessage.__table__)  # type: ignore[arg-type]
    unclaimed = session.execute(
        claiming.returning(ClaimedMessage.message_ts), {**key, "claimed_at": now}
    ).first()
    if unclaimed is None:
        return False
    claim = (getattr(ClaimedMessage, column) == value for column, value in key.items())
    session.execute(delete(ClaimedMessage).where(and_(*claim)))
    session.execute(
        insert_or_update(session, EarlyEdit.__table__),  # type: ignore[arg-type]
        {**key, "text": text, "received_at": now},
    )
    return True


def as_edited(session: Session, claim: MessageClaim, said: dict[str, Any]) -> dict[str, Any]:
    """The columns of a round or turn about to record the message `claim` has just claimed,
    with the text of an edit kept for it, if any (taken: it is kept no longer)."""
    edited = session.execute(_TAKE, _key(claim)).scalar()
    return said if edited is None else {**said, "text": edited}


def forget_early_edits(session: Session, before: float) -> None:
    """Forget edits kept since before `before` whose message never came (nor will: an edit
    of a message never addressed to the bot, or whose event Slack stopped sending)."""
    session.execute(delete(EarlyEdit).where(EarlyEdit.received_at < before))


def _key(message: MessageClaim) -> dict[str, str]:
    return {
        "team_id": message.team_id,
        "channel_id": message.channel_id,
        "message_ts": message.message_ts,
    }
