"""The API fixture of tests/api (the factory wires the statistics routes)."""

from __future__ import annotations

from tests.api.conftest import api

__all__ = ["api"]
