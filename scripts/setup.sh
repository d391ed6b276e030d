#!/usr/bin/env bash
# Set up everything the service needs on a fresh Debian machine: a virtualenv with the
# locked Python dependencies. With --test, also the system tools the tests use
# (PostgreSQL server, SIPp, Chromium); with --cluster, what scripts/cluster.sh runs
# (PostgreSQL server, Kamailio with its PostgreSQL module, HAProxy). Safe to run again:
# it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

test=0
cluster=0
for arg in "$@"; do
    case "$arg" in
        --test) test=1 ;;
        --cluster) cluster=1 ;;
        *)
            echo "usage: scripts/setup.sh [--test] [--cluster]" >&2
            exit 2
            ;;
    esac
done

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "Python 3.11 is required (found: $("$python" --version 2>&1)); set PYTHON=..." >&2
    exit 1
fi

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing system packages: $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
    echo "$want" > "$stamp"
fi

# The SIP intake: pjsua2 built with call-centre limits (cached per machine), espeak-ng and
# sox for the greeting prompts; with --test also SIPp.
if [ "$test" = 1 ]; then
    callcenter/setup.sh --test
else
    callcenter/setup.sh
fi

# Maps in the web pages: Debian's Leaflet, served by the app at /web/static/leaflet/ (never
# a CDN; [web] leaflet_dir).
if [ ! -f /usr/share/javascript/leaflet/leaflet.js ]; then
    apt_install libjs-leaflet
fi

if [ "$test" = 1 ] || [ "$cluster" = 1 ]; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        apt_install postgresql
    fi
fi
if [ "$test" = 1 ]; then
    # Browser tests drive Debian's Chromium (never a downloaded browser); the font makes
    # Chinese legible in the screenshots.
    if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi wqy; then
        apt_install --no-install-recommends chromium fonts-wqy-microhei
    fi
    # SMS tests: Kannel's bearerbox and smsbox, and its fake SMSC (kannel-extras); no
    # daemon is started by the packages, the tests run their own on loopback.
    if [ ! -x /usr/sbin/bearerbox ] || [ ! -x /usr/lib/kannel/test/fakesmsc ]; then
        apt_install kannel kannel-extras
    fi
fi
if [ "$cluster" = 1 ]; then
    packages=()
    [ -x /usr/sbin/kamailio ] || packages+=(kamailio)
    ls /usr/lib/*/kamailio/modules/db_postgres.so >/dev/null 2>&1 ||
        packages+=(kamailio-postgres-modules)
    [ -x /usr/sbin/haproxy ] || packages+=(haproxy)
    if [ ${#packages[@]} -gt 0 ]; then
        apt_install "${packages[@]}"
    fi
fi
