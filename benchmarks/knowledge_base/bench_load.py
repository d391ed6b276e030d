"""End to end at scale: import N synthetic entries into SQLite, load the live index,
refresh after one edit.

    .venv/bin/python -m benchmarks.knowledge_base.bench_load [--entries 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from app.db import create_engine, session_factory
from benchmarks.knowledge_base.synthetic import synthetic_documents
from knowledge_base import services
from knowledge_base.live_index import KnowledgeBase
from knowledge_base.records import ImportRecord
from knowledge_base.storage import ensure_schema


async def run(entries: int, directory: Path) -> None:
    records = [ImportRecord(d.external_id, d.content) for d in synthetic_documents(entries)]
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'kb.db'}")
    await ensure_schema(engine)
    sessions = session_factory(engine)
    try:
        started = time.perf_counter()
        await services.import_records(sessions, records)
        print(f"import {entries} entries into SQLite: {time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        kb = await KnowledgeBase.load(sessions)
        print(f"KnowledgeBase.load (read + cold build): {time.perf_counter() - started:.2f} s")

        first = records[0]
        await kb.import_records(
            [
                ImportRecord(
                    first.external_id,
                    first.content.__class__(**{**_fields(first.content), "answer": "改过的答复。"}),
                )
            ]
        )
        started = time.perf_counter()
        await kb.refresh()
        print(f"refresh after 1 change (tokens cached): {time.perf_counter() - started:.2f} s")
    finally:
        await engine.dispose()


def _fields(content) -> dict:
    return {name: getattr(content, name) for name in content.__slots__}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(args.entries, Path(directory)))


if __name__ == "__main__":
    main()
