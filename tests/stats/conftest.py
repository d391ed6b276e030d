"""The API fixture of tests/api with the statistics routes added (until the factory
wires them in)."""

from __future__ import annotations

import pytest

from app.factory import create_app
from app.http import add_routes
from app.keys import ROUTES
from stats import routes as stats_routes
from tests.api.conftest import Api, seed
from tests.conftest import FakeClock, make_settings


async def make_stats_api(aiohttp_client, db_url: str, clock: FakeClock) -> Api:
    app = create_app(make_settings(db_url), now=clock, scanner=False)
    if not any(r.path == "/api/v1/stats/kpis" for r in app[ROUTES]):
        add_routes(app, stats_routes.routes)
    api = Api(await aiohttp_client(app))
    await seed(api)
    return api


@pytest.fixture
async def api(aiohttp_client, sqlite_url: str, clock: FakeClock) -> Api:
    return await make_stats_api(aiohttp_client, sqlite_url, clock)
