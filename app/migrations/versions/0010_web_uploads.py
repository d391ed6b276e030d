"""order attachments and inspector reports

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 08:30:00

Files attached to orders (web/storage.py); the inspector's GPS position uses the
existing orders.latitude/longitude columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_attachments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=60), nullable=False),
        sa.Column("uploader_role", sa.String(length=20), nullable=False),
        sa.Column("uploader_unit", sa.String(length=40), nullable=True),
        sa.Column("original_name", sa.String(length=200), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["order_events.id"],
            name=op.f("fk_order_attachments_event_id_order_events"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_attachments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_attachments")),
    )
    op.create_index(
        op.f("ix_order_attachments_order_id"), "order_attachments", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_order_attachments_sha256"), "order_attachments", ["sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_order_attachments_sha256"), table_name="order_attachments")
    op.drop_index(op.f("ix_order_attachments_order_id"), table_name="order_attachments")
    op.drop_table("order_attachments")
