#!/usr/bin/env bash
# Set up and run the service on SQLite with demo data (var/demo.db); prints the URLs
# and the demo accounts. Extra arguments go to run.py (e.g. --port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The category model and the duplicates' problem vectors are built from the TipDM data
# beside the project when present (once, about a minute each); without them the service
# runs without category/unit suggestions and with the weaker duplicate pair model.
tipdm=../shared/data/tipdm2020
if [ ! -f var/models/category/metadata.json ] && [ -f "$tipdm/labelled.jsonl" ]; then
    .venv/bin/python -m classifiers train --data "$tipdm/labelled.jsonl" \
        --out var/models/category --cv-folds 0
fi
if [ ! -f var/models/duplicate_vectors.npz ] && [ -f "$tipdm/unlabelled.jsonl" ]; then
    .venv/bin/python -m dispatch.duplicate_vectors --out var/models/duplicate_vectors.npz \
        "$tipdm/unlabelled.jsonl" "$tipdm/replies.jsonl" "$tipdm/labelled.jsonl"
fi
# The demo is plain HTTP on this machine: the session cookie cannot be HTTPS-only there.
HOTLINE_COOKIE_SECURE="${HOTLINE_COOKIE_SECURE:-false}" exec .venv/bin/python run.py --demo "$@"
