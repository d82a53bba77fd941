"""The storage through a connection pooler in transaction mode (PgBouncer), as managed
PostgreSQL platforms offer it: each transaction may run on another server connection, so
nothing may rest on a session (prepared statements, locks, settings). A sample of the storage
tests, run through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from storage.database import connect
from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.databases import fresh_postgres_database
from tests.pooler import NO_PGBOUNCER, PGBOUNCER, pgbouncer, through
from tests.storage import test_conversation_store as conversations
from tests.storage import test_in_chat_marks as marks
from tests.storage.test_conversation_store import Stores, stores_over

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES),
    pytest.mark.skipif(PGBOUNCER is None, reason=NO_PGBOUNCER),
]

# Claims raced by replicas, a thread's isolated context, work taken over from a silent
# replica, Regenerate pressed at once, the In Chat mark: what leans on transactions most.
SAMPLE = [
    conversations.test_concurrent_deliveries_of_one_message_make_exactly_one_round,
    conversations.test_thread_turns_never_reach_channel_context,
    conversations.test_a_thread_sees_its_round_its_answer_and_earlier_rounds_but_not_later_ones,
    conversations.test_interrupted_answers_are_taken_over_exactly_once_and_then_owed_to_slack,
    conversations.test_each_final_edit_owed_is_handed_to_one_replica,
    conversations.test_concurrent_presses_regenerate_an_answer_once,
    marks.test_a_pick_moves_the_mark_and_undoing_it_moves_it_back,
    marks.test_answers_shown_at_once_leave_one_mark_between_them,
]


@pytest.fixture(scope="module")
def pooler_port() -> Iterator[int]:
    with pgbouncer(POSTGRES_URL) as port:
        yield port


@pytest.fixture
def pooled_url(pooler_port: int) -> Iterator[str]:
    """A new database, by way of the pooler."""
    with fresh_postgres_database(POSTGRES_URL) as database_url:
        yield through(pooler_port, database_url)


@pytest.fixture
async def pooled_stores(pooled_url: str) -> AsyncIterator[Stores]:
    database = await connect(pooled_url)
    try:
        yield stores_over(database)
    finally:
        await database.close()


@pytest.mark.parametrize("storage_test", SAMPLE, ids=lambda test: test.__name__[5:])
async def test_storage_through_a_transaction_pooler(pooled_stores: Stores, storage_test) -> None:
    await storage_test(pooled_stores)
