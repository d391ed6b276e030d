"""agents' softphone credentials for Kamailio

Revision ID: 0023
Revises: 0024
Create Date: 2026-12-06 18:00:00

sip_credentials (callcenter/softphones.py): per agent and realm the digest HA1 values
Kamailio's auth_db checks when a softphone registers (DESIGN §10); never the password.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sip_credentials",
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("realm", sa.String(length=100), nullable=False),
        sa.Column("ha1", sa.String(length=32), nullable=False),
        sa.Column("ha1b", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username", "realm"),
    )


def downgrade() -> None:
    op.drop_table("sip_credentials")
