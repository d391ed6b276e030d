"""多语种: the languages an agent speaks, set by an admin

Revision ID: 0032
Revises: 0033
Create Date: 2026-12-06 21:00:00

agents.languages: codes of callcenter/languages.py (NULL: none); the agent takes those
languages' queues besides the queues chosen at login.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("languages", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("languages")
