"""多语种: the language of a call, and each caller's last choice

Revision ID: 0027
Revises: 0020
Create Date: 2026-12-06 18:00:00

calls.language: the language the caller chose in the IVR (NULL: 普通话);
caller_languages: the last choice by caller number, the next call's default
(callcenter/languages.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    op.create_table(
        "caller_languages",
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_caller_languages")),
    )


def downgrade() -> None:
    op.drop_table("caller_languages")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("language")
