"""KPI daily sums: kpi_daily, kpi_days, kpi_marks, and the orders not accepted

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-07 16:10:00

stats/rollup.py keeps `kpi_daily` (one row per local day, unit and hotline with the
KPI measures) current from `kpi_marks` (days to compute again); `kpi_days` lists the
days computed. Every day that may hold rows of an existing database is marked here:
the leader's job computes them after the upgrade, and until it has, the KPI query
reads those days from the raw rows as before. The days are UTC dates widened by one on
each side (the local days are the centre's time zone, which a migration does not know).
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = (
    "registered",
    "direct",
    "dispatched",
    "accept_judged",
    "accepted_on_time",
    "extended",
    "replied",
    "replied_with_due",
    "replied_on_time",
    "called_back",
    "due",
    "due_closed",
    "closed",
    "closed_reopened",
    "dispatch_events",
    "return_events",
    "rated",
    "rated_satisfied",
    "rated_resolved",
)


def upgrade() -> None:
    op.create_table(
        "kpi_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("hotline", sa.String(length=20), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in MEASURES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_daily")),
    )
    op.create_index("ix_kpi_daily_day", "kpi_daily", ["day", "unit_id", "hotline"])
    op.create_table(
        "kpi_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_kpi_days")),
    )
    op.create_table(
        "kpi_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_marks")),
    )
    op.create_index(op.f("ix_kpi_marks_day"), "kpi_marks", ["day"])
    op.create_index(
        "ix_orders_unaccepted",
        "orders",
        ["dispatched_at", "accept_due", "lead_unit_id", "hotline_number"],
        sqlite_where=sa.text("accepted_at IS NULL"),
        postgresql_where=sa.text("accepted_at IS NULL"),
    )
    bind = op.get_bind()
    first = bind.execute(sa.text("SELECT MIN(created_at) FROM orders")).scalar()
    if first is None:
        return
    latest = [
        bind.execute(sa.text(f"SELECT MAX({column}) FROM {table}")).scalar()
        for table, column in (
            ("orders", "created_at"),
            ("orders", "finish_due"),
            ("order_events", "at"),
        )
    ]
    day = _date(first) - timedelta(days=1)
    end = max(_date(at) for at in latest if at is not None) + timedelta(days=1)
    marks = []
    while day <= end:
        marks.append({"day": day})
        day += timedelta(days=1)
    op.bulk_insert(sa.table("kpi_marks", sa.column("day", sa.Date())), marks)


def _date(value: datetime | str) -> date:
    if isinstance(value, str):  # SQLite gives the stored text
        value = datetime.fromisoformat(value)
    return value.date()


def downgrade() -> None:
    op.drop_index("ix_orders_unaccepted", table_name="orders")
    op.drop_table("kpi_days")
    op.drop_index(op.f("ix_kpi_marks_day"), table_name="kpi_marks")
    op.drop_table("kpi_marks")
    op.drop_index("ix_kpi_daily_day", table_name="kpi_daily")
    op.drop_table("kpi_daily")
