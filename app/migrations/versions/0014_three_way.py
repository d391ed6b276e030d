"""three-way calls with a unit

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 09:15:00

三方通话 on a call record: when a unit's phone first joined the agent's call, and the
SIP URI and unit code of the (last) unit that joined.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("three_way_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("conference_uri", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("conference_unit", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("conference_unit")
        batch_op.drop_column("conference_uri")
        batch_op.drop_column("three_way_at")
