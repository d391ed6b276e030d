#!/usr/bin/env bash
# Set up and run the service on SQLite with demo data (var/demo.db); prints the URLs
# and the demo accounts. Extra arguments go to run.py (e.g. --port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The category model is trained from the TipDM data beside the project when present
# (2 s); without it the service runs, just without category/unit suggestions.
data=../shared/data/tipdm2020/labelled.jsonl
if [ ! -f var/models/category/metadata.json ] && [ -f "$data" ]; then
    .venv/bin/python -m classifiers train --data "$data" --out var/models/category --cv-folds 0
fi
# The demo is plain HTTP on this machine: the session cookie cannot be HTTPS-only there.
HOTLINE_COOKIE_SECURE="${HOTLINE_COOKIE_SECURE:-false}" exec .venv/bin/python run.py --demo "$@"
