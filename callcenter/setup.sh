#!/usr/bin/env bash
# Everything the SIP intake needs on a Debian machine, idempotent (called by
# scripts/setup.sh after .venv exists; `--test` adds what the SIP tests use):
#   - pjsua2 built with call-centre limits (callcenter/pjsua2/build.sh, cached per machine)
#   - espeak-ng + sox, and the placeholder Mandarin greetings in [sip] prompts_dir
#   - with --test: SIPp (Debian package sip-tester)
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "[callcenter] installing system packages: $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

packages=()
command -v espeak-ng >/dev/null || packages+=(espeak-ng)
command -v sox >/dev/null || packages+=(sox)
if [ "${1:-}" = "--test" ]; then
    command -v sipp >/dev/null || packages+=(sip-tester)
fi
if [ ${#packages[@]} -gt 0 ]; then
    apt_install "${packages[@]}"
fi

callcenter/pjsua2/build.sh
.venv/bin/python -m callcenter.prompts
