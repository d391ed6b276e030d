"""Shared fixtures: settings on a temporary database, a controllable clock, an API client."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import Settings, load_settings

# Passwords follow the policy (accounts/policy.py): 12+ characters, not common, no username.
ADMIN_PASSWORD = "Lantern-Harbour-42"
PASSWORD = "Granite-Orchid-17"
# What an admin sets for a new user, changed by the user at the first login.
INITIAL_PASSWORD = "Temporary-Kiwi-Ladder-9"
# Monday 23 November 2026, 10:00 in Shanghai: a plain working day.
MONDAY_10AM = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class FakeClock:
    """The service's `now`, moved by the test."""

    def __init__(self, at: datetime = MONDAY_10AM) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(db_url: str) -> Settings:
    # Tests move the clock by days: tokens must outlive that. A cheap argon2 cost keeps
    # the suite fast; the production cost is in config/default.toml.
    settings = load_settings(
        environ={
            "HOTLINE_DB_URL": db_url,
            "HOTLINE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "HOTLINE_TOKEN_TTL_HOURS": "100000",
        }
    )
    settings.auth.argon2_time_cost, settings.auth.argon2_memory_kib = 1, 64
    # Tests never pick up a model trained in var/ by a developer; they train their own.
    settings.classifiers.category_model = "/dev/null/no-model"
    # No worker processes per test app (tests/dispatch/test_reading_pool.py starts them).
    settings.classifiers.reading_workers = 0
    # One pjsua endpoint per process: only tests/callcenter start the SIP intake.
    settings.sip.enabled = False
    # The test clients and browsers talk plain HTTP, like the local demo.
    settings.web.cookie_secure = False
    return settings


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return make_settings(sqlite_url)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TZ", "UTC")


@pytest.fixture(scope="session")
def postgres_server():
    from tests.postgres import local_server

    with local_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The same test on the embedded SQLite and on a local PostgreSQL server."""
    if request.param == "sqlite":
        return sqlite_url
    from tests.postgres import create_database

    return await create_database(request.getfixturevalue("postgres_server"))
