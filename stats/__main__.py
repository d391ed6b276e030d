"""`python -m stats mark-days [--config FILE] [--now]`: mark every day of the database
for the KPI daily sums (stats/rollup.py) to be computed again — after rows were written
outside the service (a restore, a bulk load) or `[calendar] timezone` changed. The
leader's job computes them within its next rounds; `--now` computes them here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from app.db import create_engine, session_factory
from config import ConfigError, load_settings
from stats import rollup


async def mark_days(url: str, tz: ZoneInfo, now: bool) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        marked = await rollup.mark_all(sessions, tz)
        computed = await rollup.refresh(sessions, tz) if now else 0
    finally:
        await engine.dispose()
    return marked, computed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stats")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("mark-days", help="mark every day for the KPI daily sums")
    cmd.add_argument("--config", type=Path, help="a TOML file over config/default.toml")
    cmd.add_argument("--now", action="store_true", help="compute the days here, now")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        tz = ZoneInfo(settings.calendar.timezone)
        marked, computed = asyncio.run(mark_days(settings.database.url, tz, args.now))
    except (ConfigError, SQLAlchemyError, OSError) as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 1
    print(f"已标记 {marked} 天待重新统计" + (f",已重新统计 {computed} 天" if args.now else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
