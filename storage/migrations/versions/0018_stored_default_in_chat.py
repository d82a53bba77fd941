"""rounds.in_chat_answer_id: the default rule's picks stored by the code before 6b579b9 are
cleared, so those rounds follow the default rule as the rounds since do

Until 6b579b9 (the code of revisions 0001 to 0007), every round's In Chat answer was stored
once its answers had settled, whether a person had picked it or the default rule had; since,
only a person's pick is stored, and the default rule is read afresh. Read as a person's pick,
an old stored default held on: a first answer that had failed and was regenerated with
success never became In Chat again, as it does in rounds the bot held since.

A stored answer is taken for the default rule's when it is the one that rule picked then
(the first answer, in model order, that is done) and no answer of the round shows the In Chat
mark (0012): a person's pick made since 0012 shows it. A person's pick made before of the
answer the default rule picks anyway cannot be told from it and is cleared too: it reads the
same unless an answer before it in its round is later regenerated with success.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLEAR_STORED_DEFAULTS = """
UPDATE rounds SET in_chat_answer_id = NULL
WHERE in_chat_answer_id IS NOT NULL
  AND in_chat_answer_id = (
    SELECT a.id FROM answers AS a
    WHERE a.round_id = rounds.id AND a.status = 'done'
    ORDER BY a.position, a.id
    LIMIT 1
  )
  AND NOT EXISTS (
    SELECT 1 FROM answers AS a
    WHERE a.round_id = rounds.id
      AND (a.marked_in_chat OR a.status IN ('pending', 'streaming'))
  )
"""


def upgrade() -> None:
    op.execute(CLEAR_STORED_DEFAULTS)


def downgrade() -> None:
    """The picks cleared read the same under the default rule: nothing to put back."""
