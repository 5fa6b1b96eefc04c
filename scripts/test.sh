#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need first (Debian's `prometheus`
# package provides both `prometheus` and `promtool`), so a fresh Debian machine with a Rust
# toolchain needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian_packages() {
    local packages=("$@")
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: missing ${packages[*]}; install them with your package manager" \
             "(the tests that need them fail when CI=true)" >&2
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
            echo "scripts/test.sh: need root or sudo to install ${packages[*]}" >&2
            return 0
        fi
    fi
    echo "scripts/test.sh: installing ${packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null; then
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null
    fi
}

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    install_debian_packages prometheus
fi

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast "$@"
else
    exec cargo test --workspace --no-fail-fast "$@"
fi
