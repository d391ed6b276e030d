"""integrations: outbox claims, webhooks, unit-bound API keys, editable hotlines

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:00:00

- outbox: `claimed_by`/`claimed_until` (a worker's claim on a message), `event_id`
  (unique per webhook delivery) and `webhook_id`.
- webhooks: partner URLs, secrets and the events they hear (DESIGN §8).
- api_keys: `unit_id` (the key acts for that unit), `revoked_at`, and the fixed-window
  request counter `window_start`/`window_count`.
- hotlines: `handoff_unit_id` (mode external); hotline_changes: who changed what, when.

Not batch mode for outbox/api_keys/hotlines: SQLite would copy the tables, and
`hotlines` is referenced by orders (foreign keys are on). Nullable columns with an inline
REFERENCES are a plain ALTER on both databases.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("hotline_number", sa.String(length=20), nullable=True),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hotline_number"],
            ["hotlines.number"],
            name=op.f("fk_webhooks_hotline_number_hotlines"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_webhooks_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "hotline_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=60), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number"], ["hotlines.number"], name=op.f("fk_hotline_changes_number_hotlines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_changes")),
    )
    op.create_index(op.f("ix_hotline_changes_number"), "hotline_changes", ["number"], unique=False)
    op.add_column("outbox", sa.Column("claimed_by", sa.String(length=100), nullable=True))
    op.add_column("outbox", sa.Column("claimed_until", sa.DateTime(), nullable=True))
    op.add_column("outbox", sa.Column("event_id", sa.String(length=64), nullable=True))
    op.add_column(
        "outbox",
        sa.Column(
            "webhook_id",
            sa.Integer(),
            sa.ForeignKey("webhooks.id", name="fk_outbox_webhook_id_webhooks"),
            nullable=True,
        ),
        inline_references=True,
    )
    # A unique index (not a constraint): both databases can add it to an existing table.
    op.create_index(op.f("ix_outbox_event_id"), "outbox", ["event_id"], unique=True)
    op.add_column(
        "api_keys",
        sa.Column(
            "unit_id",
            sa.Integer(),
            sa.ForeignKey("units.id", name="fk_api_keys_unit_id_units"),
            nullable=True,
        ),
        inline_references=True,
    )
    op.add_column("api_keys", sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.add_column("api_keys", sa.Column("window_start", sa.DateTime(), nullable=True))
    op.add_column(
        "api_keys",
        sa.Column("window_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "hotlines",
        sa.Column(
            "handoff_unit_id",
            sa.Integer(),
            sa.ForeignKey("units.id", name="fk_hotlines_handoff_unit_id_units"),
            nullable=True,
        ),
        inline_references=True,
    )


def downgrade() -> None:
    with op.batch_alter_table("hotlines", schema=None) as batch_op:
        batch_op.drop_column("handoff_unit_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in ("window_count", "window_start", "revoked_at", "unit_id"):
            batch_op.drop_column(column)
    op.drop_index(op.f("ix_outbox_event_id"), table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ("webhook_id", "event_id", "claimed_until", "claimed_by"):
            batch_op.drop_column(column)
    op.drop_index(op.f("ix_hotline_changes_number"), table_name="hotline_changes")
    op.drop_table("hotline_changes")
    op.drop_table("webhooks")
