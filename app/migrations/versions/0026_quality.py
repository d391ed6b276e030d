"""质检: qa_reviews, the recordings sampled for scoring and their checklist scores

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 18:00:00

qa_reviews (quality/storage.py): one row per call under review (sampled for its
agent's ISO week, or a call of an order rated 不满意), pending until a supervisor
scores it against the configured checklist.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qa_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=60), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("reviewer", sa.String(length=60), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_qa_reviews_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_reviews")),
        sa.UniqueConstraint("call_id", name=op.f("uq_qa_reviews_call_id")),
    )
    op.create_index(op.f("ix_qa_reviews_state"), "qa_reviews", ["state"])
    op.create_index("ix_qa_reviews_week_agent", "qa_reviews", ["week", "agent"])
    op.create_index("ix_qa_reviews_agent_scored", "qa_reviews", ["agent", "scored_at"])


def downgrade() -> None:
    op.drop_index("ix_qa_reviews_agent_scored", table_name="qa_reviews")
    op.drop_index("ix_qa_reviews_week_agent", table_name="qa_reviews")
    op.drop_index(op.f("ix_qa_reviews_state"), table_name="qa_reviews")
    op.drop_table("qa_reviews")
