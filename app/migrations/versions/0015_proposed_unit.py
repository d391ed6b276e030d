"""the agent's proposed unit on an order

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 09:40:00

坐席建议派往: the unit the agent proposed when registering the order, projected from
the `register` event (orders.proposed_unit_id); the dispatcher still dispatches.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Not batch mode: SQLite would copy `orders`, which order_events references (foreign keys
# are on). A nullable column with an inline REFERENCES is a plain ALTER on both databases.
FK = "fk_orders_proposed_unit_id_units"


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("proposed_unit_id", sa.Integer(), sa.ForeignKey("units.id", name=FK)),
        inline_references=True,
    )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("proposed_unit_id")
