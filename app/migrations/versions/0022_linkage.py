"""emergency linkage: hand-over records and the call's emergency mark time

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 17:30:00

应急联动 (callcenter/linkage.py): `handovers` (a hand-over to 110/119/120/122 on a call
and/or an order) and `calls.emergency_at` (when the call was first marked).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("emergency_at", sa.DateTime(), nullable=True))
    op.create_table(
        "handovers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=True),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("gateway_uri", sa.String(length=200), nullable=True),
        sa.Column("mode", sa.String(length=12), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_handovers_call_id_calls")),
        sa.ForeignKeyConstraint(
            ["order_number"], ["orders.number"], name=op.f("fk_handovers_order_number_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handovers")),
    )
    op.create_index(op.f("ix_handovers_call_id"), "handovers", ["call_id"], unique=False)
    op.create_index(op.f("ix_handovers_order_number"), "handovers", ["order_number"])


def downgrade() -> None:
    op.drop_index("ix_handovers_order_number", table_name="handovers")
    op.drop_index("ix_handovers_call_id", table_name="handovers")
    op.drop_table("handovers")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("emergency_at")
