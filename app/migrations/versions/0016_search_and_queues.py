"""order search through trigram indexes; indexes for the work queues' deadline order

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 10:30:00

Search (`q=`, dispatch/search.py) over caller phone, address, title and content (order
numbers go by their unique index: they share their first digits, year and month):
- SQLite: an FTS5 table with the trigram tokenizer whose content is `orders` (external
  content: the text is not stored twice), kept in step by triggers on `orders`. The
  update trigger fires only when a searched column changes, not on every projection
  rewrite. A later migration that rebuilds `orders` in batch mode (copy and rename)
  drops these triggers with the old table and must create them again.
- PostgreSQL: pg_trgm (a trusted extension: the database owner may create it) and one
  GIN index on the searched columns joined into one text; the query repeats the same
  expression (dispatch.search.PG_SEARCH_TEXT).

Work queues page in SQL by the running deadline (accept_due while dispatched,
finish_due otherwise; then created_at): one index per deadline, led by the state. A
unit's lists start from its rows in `order_units`: (unit_id, order_id) replaces the
index on unit_id alone, so those rows are read from the index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copies, not imports: a migration stays as it was written when the code moves on.
SEARCH_TABLE = "orders_search"
COLUMNS = ("caller_phone", "address", "title", "content")
PG_SEARCH_INDEX = "ix_orders_search_trgm"
PG_SEARCH_TEXT = (
    "(coalesce(caller_phone, '') || ' ' || coalesce(address, '') || ' ' || "
    "coalesce(title, '') || ' ' || coalesce(content, ''))"
)
QUEUE_INDEXES = {
    "ix_orders_queue_accept": ["state", "accept_due", "created_at", "id"],
    "ix_orders_queue_finish": ["state", "finish_due", "created_at", "id"],
}


def _fts_row(prefix: str, row: str) -> str:
    """`(orders_search, rowid, cols...) VALUES ('delete', old.id, old.cols...)` and alike."""
    values = ", ".join(f"{row}.{c}" for c in COLUMNS)
    columns = ", ".join(COLUMNS)
    if prefix:
        return (
            f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {columns}) "
            f"VALUES ('{prefix}', {row}.id, {values});"
        )
    return f"INSERT INTO {SEARCH_TABLE} (rowid, {columns}) VALUES ({row}.id, {values});"


def _sqlite_upgrade() -> None:
    op.execute(
        f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5({', '.join(COLUMNS)}, "
        "content='orders', content_rowid='id', tokenize='trigram')"
    )
    insert, delete = _fts_row("", "new"), _fts_row("delete", "old")
    op.execute(f"CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON orders BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON orders BEGIN {delete} END")
    op.execute(
        f"CREATE TRIGGER {SEARCH_TABLE}_update AFTER UPDATE OF {', '.join(COLUMNS)} ON orders "
        f"BEGIN {delete} {insert} END"
    )
    op.execute(f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}) VALUES ('rebuild')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX {PG_SEARCH_INDEX} ON orders USING gin ({PG_SEARCH_TEXT} gin_trgm_ops)"
        )
    for name, columns in QUEUE_INDEXES.items():
        op.create_index(name, "orders", columns)
    op.create_index("ix_order_units_unit_order", "order_units", ["unit_id", "order_id"])
    op.drop_index("ix_order_units_unit_id", "order_units")


def downgrade() -> None:
    op.create_index("ix_order_units_unit_id", "order_units", ["unit_id"])
    op.drop_index("ix_order_units_unit_order", "order_units")
    for name in QUEUE_INDEXES:
        op.drop_index(name, "orders")
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {SEARCH_TABLE}_{verb}")
        op.execute(f"DROP TABLE {SEARCH_TABLE}")
    else:
        op.execute(f"DROP INDEX {PG_SEARCH_INDEX}")
        # pg_trgm stays: other objects may use it by now.
