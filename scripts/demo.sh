#!/usr/bin/env bash
# Set up and run the service on SQLite with demo data (var/demo.db); prints the URLs
# and the demo accounts. Extra arguments go to run.py (e.g. --port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python run.py --demo "$@"
