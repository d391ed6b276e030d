#!/usr/bin/env bash
# Set up (including test-only system tools) and run the checks: ruff, then the whole
# test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test --cluster
.venv/bin/ruff check .
.venv/bin/ruff format --check .
export HOTLINE_REQUIRE_POSTGRES=1 HOTLINE_REQUIRE_SIP=1 HOTLINE_REQUIRE_BROWSER=1
export HOTLINE_REQUIRE_KANNEL=1
# The cluster test (Kamailio, HAProxy from setup.sh --cluster): missing is a failure.
export HOTLINE_REQUIRE_CLUSTER=1
# The evaluation data beside the project (../shared/data): missing is a failure here.
export HOTLINE_REQUIRE_DATA=1
# Two pytest workers (pytest-xdist), a test file each at a time: many tests wait on
# subprocesses (SIPp, PostgreSQL, Chromium), so two keep both cores busy. Every port a
# test takes is a free one, every file is its own (tmp_path); HOTLINE_TEST_WORKERS=0 runs
# in one process (for a debugger or -x).
exec .venv/bin/python -m pytest -q -p no:cacheprovider \
    -n "${HOTLINE_TEST_WORKERS:-2}" --dist loadfile "$@"
