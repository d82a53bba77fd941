"""How much each model has been used: answers, failures, tokens and time (the Home tab)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from bot.chat.in_chat import AnswerStatus
from storage.answers import UNSETTLED_STATUSES
from storage.database import Database
from storage.tables import Answer, ReplacedGeneration


@dataclass(frozen=True, slots=True)
class ModelUsage:
    model: str  # provider:model-id
    answers: int  # settled answers and thread replies, regenerated ones once
    failed: int  # of those, how many ended without text
    input_tokens: int  # as the provider reported them (0 when it did not), regenerated ones' too
    output_tokens: int
    average_seconds: float | None  # of the complete answers, None when there were none


_ANSWERS_COUNTED = func.count()  # not count(id): the index holds no id
_BY_MODEL = (
    select(
        Answer.model,
        _ANSWERS_COUNTED,
        func.sum(case((Answer.status == AnswerStatus.FAILED.value, 1), else_=0)),
        func.coalesce(func.sum(Answer.input_tokens), 0),
        func.coalesce(func.sum(Answer.output_tokens), 0),
        func.avg(
            case((Answer.status == AnswerStatus.DONE.value, Answer.finished_at - Answer.started_at))
        ),
    )
    .where(Answer.started_at >= bindparam("since"), Answer.status.not_in(UNSETTLED_STATUSES))
    .group_by(Answer.model)
    .order_by(_ANSWERS_COUNTED.desc(), Answer.model)
)

# What regenerated answers had spent before: their answers count once, their tokens every time.
_REPLACED_BY_MODEL = (
    select(
        ReplacedGeneration.model,
        func.sum(ReplacedGeneration.input_tokens),
        func.sum(ReplacedGeneration.output_tokens),
    )
    .where(ReplacedGeneration.started_at >= bindparam("since"))
    .group_by(ReplacedGeneration.model)
)


class UsageStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def by_model(self, *, since: float) -> list[ModelUsage]:
        """Per model, the answers started since `since` (Unix seconds), most used first."""
        return await self._database.run(_by_model, since)


def _by_model(session: Session, since: float) -> list[ModelUsage]:
    usage = {used.model: used for used in _answers_by_model(session, since)}
    for model, input_tokens, output_tokens in session.execute(_REPLACED_BY_MODEL, {"since": since}):
        used = usage.get(model, ModelUsage(model, 0, 0, 0, 0, None))
        usage[model] = replace(
            used,
            input_tokens=used.input_tokens + int(input_tokens),
            output_tokens=used.output_tokens + int(output_tokens),
        )
    return list(usage.values())


def _answers_by_model(session: Session, since: float) -> list[ModelUsage]:
    return [
        ModelUsage(
            model,
            answers,
            failed,
            int(input_tokens),
            int(output_tokens),
            float(seconds) if seconds is not None else None,
        )
        for model, answers, failed, input_tokens, output_tokens, seconds in session.execute(
            _BY_MODEL, {"since": since}
        )
    ]
