"""网格: the city's grid cells, the offline gazetteer of maps and 位置 → 地址

Revision ID: 0033
Revises: 0026
Create Date: 2026-12-06 20:50:00

grid_cells (dispatch/geo.py) and the index ix_orders_position.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid_cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("district", sa.String(length=40), nullable=False),
        sa.Column("street", sa.String(length=60), nullable=False),
        sa.Column("ring", sa.JSON(), nullable=False),
        sa.Column("south", sa.Float(), nullable=False),
        sa.Column("west", sa.Float(), nullable=False),
        sa.Column("north", sa.Float(), nullable=False),
        sa.Column("east", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_cells")),
        sa.UniqueConstraint("code", name=op.f("uq_grid_cells_code")),
    )
    op.create_index(op.f("ix_grid_cells_south"), "grid_cells", ["south"])
    # 位置 → 地址: the orders in a small box around a point (dispatch/geo.py)
    op.create_index("ix_orders_position", "orders", ["latitude", "longitude"])


def downgrade() -> None:
    op.drop_index("ix_orders_position", table_name="orders")
    op.drop_index(op.f("ix_grid_cells_south"), table_name="grid_cells")
    op.drop_table("grid_cells")
