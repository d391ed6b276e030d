"""检索: what an agent types into a list's search box (`q=`), as an indexed SQL condition.

An agent finds an order by its number (whole, or its first digits), the caller's phone
(the whole number or its last digits), or any fragment of its address, title or
content. A `LIKE '%...%'` would read every order; instead each term of three
characters or more goes through a trigram index made by migration 0016:

- SQLite: the FTS5 table `orders_search` (tokenizer `trigram`, external content on
  `orders`, kept in step by triggers); a term is an FTS5 phrase, i.e. a substring.
- PostgreSQL: a pg_trgm GIN index on one text made of those columns; a term is an
  `ILIKE '%term%'` on exactly that expression, which the index answers. pg_trgm only
  sees Chinese characters as letters when the database's LC_CTYPE is not `C` (use
  `C.UTF-8` or `zh_CN.UTF-8`); with `C` the results are the same, only slower.

Order numbers are not in the trigram index: they all begin with the year and month,
so their trigrams would be in every order and make every digit query read them all. A
run of digits matches the numbers it begins (a range on their unique index) besides
the phones, addresses and contents containing it.

A trigram index cannot answer a term shorter than three characters: short digits
only match the start of order numbers; any other short term is an escaped LIKE over
address, title and content, cheap next to an indexed term but a read of the whole
table when it stands alone.

Every LIKE pattern escapes `\\`, `%` and `_`: they match themselves.
"""

from __future__ import annotations

from sqlalchemy import Integer, and_, column, literal_column, or_, select, table, text, union_all
from sqlalchemy.sql import ColumnElement

from dispatch.storage import SEARCH_TABLE, Order

TRIGRAM = 3
MAX_TERMS = 8
# The indexed expression, written out so the planner recognises it (no bound literals);
# migration 0016 creates the index on the same text.
PG_SEARCH_TEXT = (
    "(coalesce(caller_phone, '') || ' ' || coalesce(address, '') || ' ' || "
    "coalesce(title, '') || ' ' || coalesce(content, ''))"
)
NUMBER_LENGTH = 20  # Order.number is String(20)
ESCAPE = "\\"

_fts = table(SEARCH_TABLE, column("rowid", Integer))


def terms(q: str) -> list[str]:
    """The words of a query (split on white space); every one of them must match."""
    return q.split()[:MAX_TERMS]


def like_escaped(term: str) -> str:
    """`%term%` where the term's own `\\`, `%` and `_` are plain characters."""
    plain = term.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{plain}%"


def fts_phrase(term: str) -> str:
    """An FTS5 phrase (a substring, with the trigram tokenizer); quotes doubled."""
    return '"' + term.replace('"', '""') + '"'


def _number_prefix(term: str) -> ColumnElement[bool]:
    """Numbers beginning with these digits: every one sorts between the two bounds."""
    return and_(Order.number >= term, Order.number <= term + "9" * (NUMBER_LENGTH - len(term)))


def _short(term: str, dialect: str) -> ColumnElement[bool]:
    if term.isdigit():
        return _number_prefix(term)
    pattern = like_escaped(term)
    columns = (Order.address, Order.title, Order.content)
    if dialect == "postgresql":
        return or_(*(c.ilike(pattern, escape=ESCAPE) for c in columns))
    return or_(*(c.like(pattern, escape=ESCAPE) for c in columns))


def _long(term: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        found = literal_column(PG_SEARCH_TEXT).ilike(like_escaped(term), escape=ESCAPE)
        return or_(_number_prefix(term), found) if term.isdigit() else found
    ids = select(_fts.c.rowid).where(
        text(f"{SEARCH_TABLE} MATCH :phrase").bindparams(phrase=fts_phrase(term))
    )
    if term.isdigit():  # one list of ids: the orders numbered so, and the text matches
        numbered = Order.__table__.alias("numbered")
        ids = union_all(
            ids,
            select(numbered.c.id).where(
                numbered.c.number >= term,
                numbered.c.number <= term + "9" * (NUMBER_LENGTH - len(term)),
            ),
        )
    return Order.id.in_(ids)


def matches(q: str, dialect: str) -> ColumnElement[bool] | None:
    """Orders matching every term of `q` (None when `q` has no term)."""
    words = terms(q)
    if not words:
        return None
    return and_(*(_long(w, dialect) if len(w) >= TRIGRAM else _short(w, dialect) for w in words))
