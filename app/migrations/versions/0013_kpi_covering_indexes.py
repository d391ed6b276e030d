"""KPI inputs on the order and covering indexes for the statistics

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 08:45:00

`answered_at` (first direct answer) and `last_callback_at` (latest 回访 by the centre,
not a citizen's own rating) are filled from the event log; the single-column indexes on
the KPI anchors give way to indexes that also hold every column a period's KPI branch
reads (dispatch.storage.KPI_INDEXES).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import: a migration stays as it was written when the models move on.
KPI_INDEXES = {
    "id": ("id",),
    "created": ("created_at", "state", "answered_at"),
    "dispatched": ("dispatched_at", "accepted_at", "accept_due", "extensions"),
    "replied": ("replied_at", "finish_due", "last_callback_at"),
    "due": ("finish_due", "closed_at"),
    "closed": ("closed_at", "reopen_count"),
}
ANCHOR_INDEXES = {
    "ix_orders_created_at": "created_at",
    "ix_orders_dispatched_at": "dispatched_at",
    "ix_orders_replied_at": "replied_at",
    "ix_orders_closed_at": "closed_at",
    "ix_orders_finish_due": "finish_due",
}


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_callback_at", sa.DateTime(), nullable=True))
    op.execute(
        """
        UPDATE orders SET
          answered_at = (SELECT MIN(e.at) FROM order_events e
                         WHERE e.order_id = orders.id AND e.action = 'answer'),
          last_callback_at = (SELECT MAX(e.at) FROM order_events e
                              WHERE e.order_id = orders.id AND e.action = 'callback'
                                AND e.actor_role <> 'citizen')
        """
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name in ANCHOR_INDEXES:
            batch_op.drop_index(name)
        for name, columns in KPI_INDEXES.items():
            batch_op.create_index(
                f"ix_orders_kpi_{name}", [*columns, "lead_unit_id", "hotline_number"]
            )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name in KPI_INDEXES:
            batch_op.drop_index(f"ix_orders_kpi_{name}")
        for name, column in ANCHOR_INDEXES.items():
            batch_op.create_index(name, [column])
        batch_op.drop_column("last_callback_at")
        batch_op.drop_column("answered_at")
