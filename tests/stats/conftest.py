"""The API fixture of tests/api (the factory wires the statistics routes)."""

from __future__ import annotations

from tests.api.conftest import api, make_api

make_stats_api = make_api
__all__ = ["api", "make_stats_api"]
