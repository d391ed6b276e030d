"""shared state of a cluster: nodes and per-address rate-limit counts

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-06 18:00:00

cluster_nodes: every running node and when it was last seen (app/leader.py; the leader
cleans up after nodes not seen for a while). address_counts: hits per client address,
limit and time window, so every node counts one limit (app/ratelimit.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_nodes")),
    )
    op.create_table(
        "address_counts",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "address", "window_start", name=op.f("pk_address_counts")),
    )
    op.create_index(
        op.f("ix_address_counts_window_start"), "address_counts", ["window_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_address_counts_window_start"), table_name="address_counts")
    op.drop_table("address_counts")
    op.drop_table("cluster_nodes")
