"""call centre agents and survey calls

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:30:00

Agents (SIP contact, skills, state) for the ACD, the survey-call list, and on `calls`
the IVR's own answer time (`answered_at` is now the agent's) and the emergency mark.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("sip_uri", sa.String(length=200), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("state_since", sa.DateTime(), nullable=True),
        sa.Column("idle_since", sa.DateTime(), nullable=True),
        sa.Column("pause_reason", sa.String(length=40), nullable=True),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_agents_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agents")),
    )
    op.create_table(
        "survey_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_result", sa.String(length=40), nullable=True),
        sa.Column("satisfaction", sa.String(length=20), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_number"], ["orders.number"], name=op.f("fk_survey_calls_order_number_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_calls")),
        sa.UniqueConstraint("order_number", name=op.f("uq_survey_calls_order_number")),
    )
    with op.batch_alter_table("survey_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_calls_state_next", ["state", "next_attempt_at"], unique=False
        )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ivr_answered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("emergency", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Until now `answered_at` was the IVR's answer: keep it there; no agent answered.
    op.execute("UPDATE calls SET ivr_answered_at = answered_at WHERE agent IS NULL")
    op.execute("UPDATE calls SET answered_at = NULL WHERE agent IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("emergency")
        batch_op.drop_column("ivr_answered_at")
    with op.batch_alter_table("survey_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_calls_state_next")
    op.drop_table("survey_calls")
    op.drop_table("agents")
