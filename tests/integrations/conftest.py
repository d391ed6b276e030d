"""Shared fixtures of the integration tests.

Kannel tests skip when Kannel or its fake SMSC is missing, unless
HOTLINE_REQUIRE_KANNEL=1 (scripts/test.sh sets it after scripts/setup.sh --test), where
they fail.
"""

from __future__ import annotations

import os

import pytest

from tests.api.conftest import api
from tests.integrations.kannel import Kannel, kannel_available

__all__ = ["api"]

REQUIRE_KANNEL = os.environ.get("HOTLINE_REQUIRE_KANNEL") == "1"


@pytest.fixture
def kannel(tmp_path):
    """Kannel's ports and directory; the test configures and starts it once the app's
    address is known, and it is stopped afterwards."""
    if not kannel_available():
        reason = "Kannel is not installed (apt-get install kannel kannel-extras)"
        if REQUIRE_KANNEL:
            pytest.fail(f"{reason} (HOTLINE_REQUIRE_KANNEL=1)")
        pytest.skip(reason)
    box = Kannel(tmp_path / "kannel")
    yield box
    box.close()
