"""`python -m knowledge_base`: import a KB JSONL file, search or evaluate from the shell.

Entrypoint only: parses arguments, calls services, prints results. Every expected
failure is one line on stderr and exit status 1 (2 for usage errors, from argparse).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.db import create_engine, session_factory
from knowledge_base import services
from knowledge_base.exceptions import KnowledgeBaseError, StorageUnavailable
from knowledge_base.live_index import KnowledgeBase
from knowledge_base.records import read_labelled_queries, read_queries, read_records
from knowledge_base.storage import ensure_schema

DB_HELP = (
    "database: sqlite+aiosqlite:///path.db, postgresql+asyncpg://user:pw@host/db, "
    "or a plain file path (SQLite)"
)
SUPPORTED = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
_DRIVERS = {"sqlite://": "sqlite+aiosqlite://", "postgresql://": "postgresql+asyncpg://"}


def database_url(value: str) -> str:
    """Accept full async URLs, their sync spellings, and bare SQLite file paths."""
    for plain, driver in _DRIVERS.items():
        if value.startswith(plain):
            return driver + value[len(plain) :]
    if "://" in value:
        if not value.startswith(SUPPORTED):
            raise StorageUnavailable(
                f"unsupported database URL '{value.split('://', 1)[0]}://...'; "
                "use sqlite+aiosqlite:///FILE, postgresql+asyncpg://... or a file path"
            )
        return value
    return "sqlite+aiosqlite:///" + str(Path(value).expanduser().resolve())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m knowledge_base", description="Knowledge base (知识库) of the hotline."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser(
        "import",
        help="import entries from a JSONL file",
        description=(
            'Import KB entries, one JSON object per line: {"id", "title", "question", '
            '"answer", "category", "unit"} (question may be a list of variants; optional '
            '"hotlines", "valid_from", "valid_to"). Imported entries are PUBLISHED at once, '
            "because an import is an administrator's act. Re-importing an id updates that "
            "entry with a new version; identical content changes nothing. The file is "
            "checked completely before anything is written."
        ),
    )
    importing.add_argument("file", type=Path, help="KB JSONL file")
    importing.add_argument("--db", required=True, help=DB_HELP)
    importing.add_argument("--by", default="import", help="user recorded as author")
    searching = commands.add_parser(
        "search",
        help="search published, currently valid entries",
        description="Search published entries valid today; best first.",
    )
    searching.add_argument("query", nargs="?", help="the question, in any wording")
    searching.add_argument("--queries", type=Path, help='JSONL file of {"q": ...} lines')
    searching.add_argument("--db", required=True, help=DB_HELP)
    searching.add_argument("--top", type=int, default=5, help="number of results (default 5)")
    searching.add_argument("--json", action="store_true", help='print [{"id","title","score"}]')
    searching.add_argument("--category", help="only entries of this category code")
    searching.add_argument("--hotline", help="only entries answering for this hotline")
    evaluating = commands.add_parser(
        "evaluate",
        help="top-1 / top-5 of the search on labelled queries",
        description=(
            'Search each {"q", "id"} line of a JSONL file (id: the entry that answers it) '
            "among published entries valid today, exactly as `search` and the agent "
            "console do, and print the share found first and among the first five."
        ),
    )
    evaluating.add_argument("--data", type=Path, required=True, help='JSONL of {"q", "id"}')
    evaluating.add_argument("--db", required=True, help=DB_HELP)
    evaluating.add_argument("--json", action="store_true", help='print {"n","top1","top5"}')
    return parser


class _ProgressLine:
    """Import progress on stderr, roughly every tenth of a big file."""

    def __init__(self, total: int) -> None:
        self.step = max(total // 10, 1)
        self.next = self.step

    def __call__(self, done: int, total: int) -> None:
        if total >= 2 * services.IMPORT_BATCH and (done >= self.next or done == total):
            print(f"imported {done}/{total} ({100 * done // total}%)", file=sys.stderr)
            self.next = done + self.step


async def _import(args: argparse.Namespace, url: str) -> None:
    records = read_records(args.file)
    engine = create_engine(url)
    try:
        await ensure_schema(engine)
        sessions = session_factory(engine)
        report = await services.import_records(
            sessions, records, by=args.by, progress=_ProgressLine(len(records))
        )
    finally:
        await engine.dispose()
    print(
        f"imported {report.total} entries from {args.file}: {report.created} new, "
        f"{report.updated} updated, {report.unchanged} unchanged (all published)",
        file=sys.stderr,
    )


async def _load(url: str) -> KnowledgeBase:
    engine = create_engine(url)
    try:
        await ensure_schema(engine)
        return await KnowledgeBase.load(session_factory(engine))
    finally:
        await engine.dispose()


async def _evaluate(args: argparse.Namespace, url: str) -> None:
    pairs = read_labelled_queries(args.data)
    if not pairs:
        raise KnowledgeBaseError(f"no queries in {args.data}")
    kb = await _load(url)
    top1 = top5 = 0
    for query, expected in pairs:
        ids = [hit.external_id for hit in kb.search(query, 5)]
        top1 += ids[:1] == [expected]
        top5 += expected in ids
    n = len(pairs)
    result = {"n": n, "top1": round(top1 / n, 4), "top5": round(top5 / n, 4)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"n={n} top1={result['top1']:.3f} top5={result['top5']:.3f}")


async def _search(args: argparse.Namespace, url: str) -> None:
    if (args.query is None) == (args.queries is None):
        raise KnowledgeBaseError("give either a query or --queries FILE, not both or neither")
    if args.top <= 0:
        raise KnowledgeBaseError("--top must be at least 1")
    queries = read_queries(args.queries) if args.queries else [args.query]
    kb = await _load(url)
    for query in queries:
        hits = kb.search(query, args.top, category=args.category, hotline=args.hotline)
        if args.json:
            print(json.dumps([hit.as_json() for hit in hits], ensure_ascii=False))
        else:
            for rank, hit in enumerate(hits, start=1):
                print(f"{rank}. [{hit.external_id}] {hit.title}  ({hit.score:.3f})")
            if not hits:
                print("(no match)")


def _check_sqlite_file(url: str, command: str) -> None:
    """Searching never creates an empty database by accident."""
    if url.startswith("sqlite") and command in ("search", "evaluate"):
        path = url.split(":///", 1)[-1]
        if path and ":memory:" not in path and not Path(path).is_file():
            raise StorageUnavailable(f"database file not found: {path}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        url = database_url(args.db)
        _check_sqlite_file(url, args.command)
        runner = {"import": _import, "search": _search, "evaluate": _evaluate}[args.command]
        asyncio.run(runner(args, url))
    except KnowledgeBaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        # Driver and connection failures: one line, no traceback, no password.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"error: database unavailable ({type(exc).__name__}): {reason}", file=sys.stderr)
        return 1
    return 0
