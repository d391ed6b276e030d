"""Errors of the statistics package (mapped to HTTP by the shared error middleware)."""

from __future__ import annotations

from app.errors import Forbidden, InvalidInput, TooLarge


class InvalidStatsQuery(InvalidInput):
    """400: a period or grouping the statistics cannot answer."""

    code = "invalid_stats_query"


class NoStatsScope(Forbidden):
    """403: a unit account without a unit has nothing it may see."""

    code = "no_stats_scope"


class ExportTooLarge(TooLarge):
    """413: more orders than one export file may hold."""

    code = "export_too_large"
