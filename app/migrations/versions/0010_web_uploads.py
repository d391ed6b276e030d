"""order attachments and inspector reports

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 08:30:00

Reserved for web uploads (issue 5); empty until it has tables to add.
"""

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
