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

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
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


def _long(term: str, dialect: str, dense: bool = False) -> ColumnElement[bool]:
    if dialect == "postgresql":
        # dense: the same text with `|| ''`, which the trigram index does not answer
        searched = literal_column(PG_SEARCH_TEXT + (" || ''" if dense else ""))
        found = searched.ilike(like_escaped(term), escape=ESCAPE)
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


@dataclass(frozen=True)
class OrderSearch:
    """A query `q` as SQL for a list of orders.

    On SQLite the terms the FTS5 table answers alone (three characters or more, not
    digits) are one MATCH joined to `orders`: the matches come in rowid (= id) order,
    so a newest-first page reads 50 of them, not all, and a list with no other
    condition counts them in the FTS5 index alone. Every other term is a condition.
    """

    conditions: tuple[ColumnElement[bool], ...] = ()
    fts_match: str | None = None
    # PostgreSQL, a page newest first: whether its terms were counted in more orders
    # than the count reads (None: not counted yet).
    dense: bool | None = None

    def _match(self) -> ColumnElement[bool]:
        return text(f"{SEARCH_TABLE} MATCH :fts_match").bindparams(fts_match=self.fts_match)

    def apply(self, stmt: Select) -> Select:
        """`stmt` (a select from `orders`) narrowed to the matching orders."""
        if self.fts_match is not None:
            stmt = stmt.join(_fts, _fts.c.rowid == Order.id).where(self._match())
        return stmt.where(*self.conditions)

    def count(self, conditions: list[ColumnElement[bool]], cap: int | None = None) -> Select:
        """How many orders match and meet `conditions`; with `cap`, at most cap + 1 of
        them are read (more than `cap` then stands for "more than that")."""
        alone = self.fts_match is not None and not conditions and not self.conditions
        if cap is None:
            if alone:
                return select(func.count()).select_from(_fts).where(self._match())
            return self.apply(select(func.count(Order.id)).where(*conditions))
        if alone:
            found = select(_fts.c.rowid).where(self._match())
        else:
            found = self.apply(select(Order.id).where(*conditions))
        return select(func.count()).select_from(found.limit(cap + 1).subquery())

    def newest_first(self) -> list[ColumnElement[Any]]:
        """Latest registered first: id order, the FTS5 table's own order when joined.
        (`id + 0` is the same order, which the primary key does not give: see `parse`.)"""
        if self.fts_match is not None:
            return [_fts.c.rowid.desc()]
        return [(Order.id + 0).desc() if self.dense is False else Order.id.desc()]


def parse(q: str | None, dialect: str, dense: bool | None = None) -> OrderSearch:
    """The search for `q`: every term must match (no term: every order).

    On PostgreSQL, `dense` (what the count found: more matches than it reads) picks
    the plan of a newest-first page, which the planner cannot: pg_trgm estimates a
    term's matches at a fixed share of the table, whether it is in 500 orders of 1M or
    in 140,000. A dense term is met within the newest rows: the primary key read
    backwards, each row filtered (the index's condition hidden by `dense` in `_long`;
    through the trigram index, every match and its row would be read to sort them:
    0.3 s). A sparse one is read from the trigram index and sorted (`id + 0` in
    `newest_first`; backwards, 80–130 ms went by filtering rows that do not match).
    """
    words = terms(q or "")
    if dialect == "postgresql":
        return OrderSearch(tuple(_condition(w, dialect, bool(dense)) for w in words), dense=dense)
    alone = [w for w in words if len(w) >= TRIGRAM and not w.isdigit()]
    rest = tuple(_condition(w, dialect) for w in words if w not in alone)
    return OrderSearch(rest, " ".join(map(fts_phrase, alone)) if alone else None)


def _condition(term: str, dialect: str, dense: bool = False) -> ColumnElement[bool]:
    return _long(term, dialect, dense) if len(term) >= TRIGRAM else _short(term, dialect)
