#!/usr/bin/env bash
# A whole centre on loopback (DESIGN §10): PostgreSQL, N service nodes, Kamailio,
# HAProxy. See scripts/cluster.py.
#   scripts/cluster.sh start DIR [--nodes N]   (writes DIR/cluster.json, prints the URLs)
#   scripts/cluster.sh stop DIR
# `start` first installs what is missing, as scripts/setup.sh --cluster does
# (HOTLINE_CLUSTER_SETUP=0 skips that, e.g. in the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "start" ] && [ "${HOTLINE_CLUSTER_SETUP:-1}" != "0" ]; then
    scripts/setup.sh --cluster >&2
fi
exec .venv/bin/python scripts/cluster.py "$@"
