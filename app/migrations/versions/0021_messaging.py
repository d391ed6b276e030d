"""SMS (Kannel) and the hotline mailbox

Revision ID: 0021
Revises: 0028
Create Date: 2026-12-08 12:00:00

unit_sms_contacts (the numbers a unit is alerted on), sms_inbound (citizens' SMS: new
orders and SMS survey answers), inbound_mail (messages of the hotline mailbox).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unit_sms_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_sms_contacts_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_sms_contacts")),
        sa.UniqueConstraint("unit_id", "phone", name=op.f("uq_unit_sms_contacts_unit_id")),
    )
    op.create_index(
        op.f("ix_unit_sms_contacts_unit_id"), "unit_sms_contacts", ["unit_id"], unique=False
    )
    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=30), nullable=True),
        sa.Column("hotline", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_number"], ["orders.number"], name=op.f("fk_sms_inbound_order_number_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_inbound")),
    )
    op.create_index(
        op.f("ix_sms_inbound_order_number"), "sms_inbound", ["order_number"], unique=False
    )
    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=300), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("attachments", sa.Integer(), nullable=False),
        sa.Column("refused_files", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_number"], ["orders.number"], name=op.f("fk_inbound_mail_order_number_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_mail")),
    )
    op.create_index(
        op.f("ix_inbound_mail_message_id"), "inbound_mail", ["message_id"], unique=False
    )
    op.create_index(
        op.f("ix_inbound_mail_order_number"), "inbound_mail", ["order_number"], unique=False
    )


def downgrade() -> None:
    op.drop_table("inbound_mail")
    op.drop_table("sms_inbound")
    op.drop_table("unit_sms_contacts")
