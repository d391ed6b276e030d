"""`python -m quality sample --week 2026-W49 [--db URL] [--config FILE] [--per-agent N]`: write the
week's 质检 reviews (the deterministic sample per agent plus every call of an order
rated 不满意 that week). Rerunning a week adds nothing that is already there.
Without --week: the previous ISO week (run it on Monday morning)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from app.db import create_engine, session_factory
from app.errors import InvalidInput
from config import ConfigError, load_settings
from quality.domain import IsoWeek
from quality.services import SampleResult, sample_week


async def sample(db: str, week: IsoWeek, per_agent: int, tz: ZoneInfo) -> SampleResult:
    engine = create_engine(db)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await sample_week(session, week, per_agent, tz, datetime.now(tz))
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quality")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("sample", help="write a week's quality-inspection reviews")
    cmd.add_argument("--week", help="ISO week, e.g. 2026-W49 (default: last week)")
    cmd.add_argument("--db", help="database URL or SQLite file (default: the configuration's)")
    cmd.add_argument("--config", help="TOML file overriding config/default.toml")
    cmd.add_argument("--per-agent", type=int, help="default: [quality] sample_per_agent_week")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"配置错误: {exc}", file=sys.stderr)
        return 1
    tz = ZoneInfo(settings.calendar.timezone)
    db = args.db or settings.database.url
    if "://" not in db:
        if not Path(db).is_file():
            print(f"数据库文件不存在: {db}", file=sys.stderr)
            return 1
        db = f"sqlite+aiosqlite:///{Path(db).resolve()}"
    per_agent = settings.quality.sample_per_agent_week
    if args.per_agent is not None:
        per_agent = args.per_agent
    if per_agent < 0:
        print("--per-agent 不能为负数", file=sys.stderr)
        return 2
    try:
        week = IsoWeek.parse(args.week) if args.week else IsoWeek.of(datetime.now(tz)).previous()
        result = asyncio.run(sample(db, week, per_agent, tz))
    except InvalidInput as exc:
        print(exc.message, file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as exc:
        print(f"抽检失败: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"{result.week}: 随机抽检 {result.sampled} 条,差评工单通话 {result.bad_rating} 条")
    return 0


if __name__ == "__main__":
    sys.exit(main())
