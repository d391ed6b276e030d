from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run from anywhere, not only `python -m pytest`
    sys.path.insert(0, str(ROOT))

from app.db import create_engine, session_factory  # noqa: E402
from knowledge_base.storage import ensure_schema  # noqa: E402


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    await ensure_schema(engine)
    yield session_factory(engine)
    await engine.dispose()
