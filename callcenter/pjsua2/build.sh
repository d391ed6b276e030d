#!/usr/bin/env bash
# Build the pjsua2 Python module with call-centre limits and install it into .venv.
#
# Why not `pip install pjsua2-python`: that wheel is compiled with pjproject's defaults
# (4 calls, 32 players/recorders, 254 conference ports, a 64-handle select() ioqueue).
# We compile pjproject 2.17 with ./config_site.h instead. The source is the vendored
# `git archive` in ../shared/vendor/pjproject/ (override with PJPROJECT_TARBALL); on a
# machine that reaches GitHub the same source is tag `2.17` of
# https://github.com/pjsip/pjproject (commit 5a457451fa2712ba18e12b01738e8ff3af2b26fd).
#
# The wheel is cached outside the work tree, in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/hotline/pjsua2/<key>/
# where <key> hashes the tarball's sha256, config_site.h, the configure flags and
# CFLAGS, the Python ABI and the swig version; a machine builds once (~3-6 min on
# 2 cores) and every later run (a fresh .venv too) installs the cached wheel in ~1 s.
# Running it again with nothing changed does nothing.
#
# Environment: PJPROJECT_TARBALL, PJSUA2_PYTHON (default .venv/bin/python),
# PJSUA2_JOBS (make -j, default nproc), PJSUA2_KEEP_BUILD=1 (keep the build tree),
# PJSUA2_FORCE=1 (rebuild even if cached).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tarball=${PJPROJECT_TARBALL:-$repo/../shared/vendor/pjproject/pjproject-2.17.tar.gz}
python=${PJSUA2_PYTHON:-$repo/.venv/bin/python}
jobs=${PJSUA2_JOBS:-$(nproc)}
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/hotline/pjsua2
# Bump when this script's recipe changes in a way the other inputs do not show.
recipe=1
configure_flags=(
    --disable-shared --disable-sound --disable-video --disable-ssl --enable-epoll
    --disable-upnp --disable-libuuid --disable-libyuv --disable-libwebrtc
    --disable-sdl --disable-ffmpeg --disable-v4l2 --disable-openh264 --disable-vpx
    --disable-opencore-amr --disable-silk --disable-opus --disable-bcg729 --disable-lyra
    --disable-g7221-codec --disable-android-mediacodec --disable-darwin-ssl
)
cflags="-fPIC -O2"
# Build-only Python packages (in a throwaway venv, never in .venv).
build_requirements=(setuptools==80.9.0 wheel==0.45.1)

log() { echo "[pjsua2] $*"; }
die() {
    echo "[pjsua2] error: $*" >&2
    exit 1
}

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing system packages: $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

[ -x "$python" ] || die "no Python at $python (create .venv first, or set PJSUA2_PYTHON)"
[ -f "$tarball" ] || die "pjproject tarball not found: $tarball (set PJPROJECT_TARBALL;
  upstream: tag 2.17 of https://github.com/pjsip/pjproject)"

# --- tools -------------------------------------------------------------------------
missing=()
for tool in gcc g++ make swig; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi
py_include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [ ! -f "$py_include/Python.h" ]; then
    # Debian's own interpreter keeps its headers in python3-dev; a pyenv or
    # self-built Python ships them, so a missing header there is not apt's to fix.
    case "$("$python" -c 'import sys; print(sys.base_prefix)')" in
        /usr) apt_install python3-dev ;;
        *) die "Python.h missing in $py_include; install this Python's headers" ;;
    esac
fi

# --- cache key ---------------------------------------------------------------------
tar_sha=$(sha256sum "$tarball" | cut -d' ' -f1)
abi=$("$python" -c 'import sys, sysconfig; print(sysconfig.get_config_var("SOABI"), sysconfig.get_platform(), sys.version.split()[0])')
swig_version=$(swig -version | sed -n 's/^SWIG Version //p')
key=$(
    {
        echo "recipe=$recipe"
        echo "tarball=$tar_sha"
        echo "configure=${configure_flags[*]}"
        echo "cflags=$cflags"
        echo "abi=$abi"
        echo "swig=$swig_version"
        echo "build=${build_requirements[*]}"
        cat "$here/config_site.h"
    } | sha256sum | cut -c1-16
)
cache_dir=$cache_root/$key
stamp=$(dirname "$(dirname "$python")")/.pjsua2.key
log "cache key $key (pjproject ${tar_sha:0:12}, $abi, swig $swig_version)"

installed_ok() {
    # Our wheel installs the module pjsua2.py; PyPI's pjsua2-python a pjsua2/ package.
    [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] &&
        "$python" -c 'import pjsua2, sys; sys.exit(not pjsua2.__file__.endswith("pjsua2.py"))' 2>/dev/null
}
if [ "${PJSUA2_FORCE:-0}" != 1 ] && installed_ok; then
    log "already installed in $(dirname "$(dirname "$python")") - nothing to do"
    exit 0
fi

mkdir -p "$cache_dir"
# One build per key at a time (CI and a developer may run setup together).
exec 9>"$cache_dir/.lock"
flock 9

wheel=$(ls "$cache_dir"/pjsua2-*.whl 2>/dev/null | head -n1 || true)
if [ "${PJSUA2_FORCE:-0}" = 1 ] || [ -z "$wheel" ]; then
    started=$(date +%s)
    build=$cache_dir/build
    rm -rf "$build" "$cache_dir"/pjsua2-*.whl
    mkdir -p "$build"
    log "unpacking $(basename "$tarball") into $build"
    tar xzf "$tarball" -C "$build"
    src=$build/pjproject-2.17
    [ -d "$src" ] || src=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -n1)
    cp "$here/config_site.h" "$src/pjlib/include/pj/config_site.h"

    log "python build env (${build_requirements[*]})"
    "$python" -m venv "$build/pyenv"
    "$build/pyenv/bin/python" -m pip install -q --disable-pip-version-check "${build_requirements[@]}"

    cd "$src"
    log "configure ${configure_flags[*]}"
    CFLAGS="$cflags" CXXFLAGS="$cflags" ./configure "${configure_flags[@]}" >"$build/configure.log" 2>&1 ||
        die "configure failed, see $build/configure.log"
    log "make dep (log: $build/make.log)"
    make dep >"$build/make.log" 2>&1 || die "make dep failed, see $build/make.log"
    log "make lib -j$jobs (the long part: a few minutes)"
    make -j"$jobs" lib >>"$build/make.log" 2>&1 || die "make lib failed, see $build/make.log"

    cd pjsip-apps/src/swig/python
    log "swig + compile the Python extension"
    make PYTHON_EXE="$build/pyenv/bin/python" >>"$build/make.log" 2>&1 ||
        die "swig python build failed, see $build/make.log"
    make wheel PYTHON_EXE="$build/pyenv/bin/python" >>"$build/make.log" 2>&1 ||
        die "swig python wheel failed, see $build/make.log"
    cp dist/pjsua2-*.whl "$cache_dir/"
    cd "$cache_dir"
    {
        echo "built $(date -u +%FT%TZ) in $(($(date +%s) - started)) s"
        echo "tarball $tarball sha256 $tar_sha"
        echo "configure ${configure_flags[*]}"
        echo "cflags $cflags"
        echo "python $abi"
        echo "swig $swig_version"
    } >"$cache_dir/BUILD-INFO"
    cp "$here/config_site.h" "$cache_dir/config_site.h"
    if [ "${PJSUA2_KEEP_BUILD:-0}" != 1 ]; then
        rm -rf "$build"
    fi
    wheel=$(ls "$cache_dir"/pjsua2-*.whl | head -n1)
    log "built $(basename "$wheel") in $(($(date +%s) - started)) s"
else
    log "using cached $wheel"
fi

# The PyPI package installs a `pjsua2/` directory that shadows our `pjsua2` module.
if "$python" -m pip show -q pjsua2-python >/dev/null 2>&1; then
    log "uninstalling pjsua2-python (PyPI build with default limits)"
    "$python" -m pip uninstall -y -q pjsua2-python
fi
"$python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
"$python" -c 'import pjsua2' || die "pjsua2 does not import after installing $wheel"
echo "$key" >"$stamp"
log "installed $(basename "$wheel") into $(dirname "$(dirname "$python")")"
