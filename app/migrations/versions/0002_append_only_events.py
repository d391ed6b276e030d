"""order_events is append-only: the database refuses UPDATE and DELETE

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "order_events is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER order_events_no_{verb.lower()} BEFORE {verb} ON order_events "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION order_events_append_only() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON order_events "
        "FOR EACH ROW EXECUTE FUNCTION order_events_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER order_events_no_update")
        op.execute("DROP TRIGGER order_events_no_delete")
        return
    op.execute("DROP TRIGGER order_events_append_only ON order_events")
    op.execute("DROP FUNCTION order_events_append_only()")
