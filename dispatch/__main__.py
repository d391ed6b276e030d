"""`python -m dispatch export-training --db URL --out FILE.jsonl`: settled orders as
classifier training data ({"id","title","text","label","unit","correction"}); feed it to
`python -m classifiers train` (with `--field unit` for the unit recommender).

`python -m dispatch import-grid --db URL FILE.geojson`: replace the grid cells (网格,
dispatch/geo.py) with the polygons of a GeoJSON FeatureCollection."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.db import create_engine, session_factory
from app.errors import AppError
from dispatch.geo import import_cells
from dispatch.learning import training_examples


async def export(db: str, out: Path) -> int:
    engine = create_engine(db if "://" in db else f"sqlite+aiosqlite:///{Path(db).resolve()}")
    try:
        async with session_factory(engine)() as session:
            examples = await training_examples(session)
    finally:
        await engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example, ensure_ascii=False) + "\n")
    corrections = sum(e["correction"] for e in examples)
    print(f"导出 {len(examples)} 条训练样本(其中纠错 {corrections} 条): {out}", file=sys.stderr)
    return len(examples)


async def import_grid(db: str, path: Path) -> int:
    doc = json.loads(path.read_text(encoding="utf-8"))
    engine = create_engine(db if "://" in db else f"sqlite+aiosqlite:///{Path(db).resolve()}")
    try:
        async with session_factory(engine)() as session:
            count = await import_cells(session, doc)
    finally:
        await engine.dispose()
    print(f"导入网格 {count} 个: {path}", file=sys.stderr)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatch")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("export-training", help="settled orders as training JSONL")
    cmd.add_argument("--db", required=True, help="database URL or SQLite file")
    cmd.add_argument("--out", required=True, type=Path)
    grid = sub.add_parser("import-grid", help="replace the grid cells from GeoJSON")
    grid.add_argument("--db", required=True, help="database URL or SQLite file")
    grid.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if "://" not in args.db and not Path(args.db).is_file():
        print(f"数据库文件不存在: {args.db}", file=sys.stderr)
        return 1
    try:
        if args.command == "import-grid":
            asyncio.run(import_grid(args.db, args.file))
        else:
            asyncio.run(export(args.db, args.out))
    except AppError as exc:
        print(f"导入失败: {exc.message}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError, ValueError) as exc:
        print(f"导出失败: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
