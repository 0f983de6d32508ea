#!/usr/bin/env bash
# Headless Chromium for the HTML-report browser tests (scripts/test.sh fails when this does).
# Idempotent: returns at once when chromium and chromedriver are already installed.
# Debian/Ubuntu only; needs root (or sudo) the first time.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || echo '?')"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then
        SUDO="sudo"
    else
        echo "install_browser.sh: need root (or sudo) to install chromium for the browser tests" >&2
        exit 1
    fi
fi
if ! have apt-get; then
    echo "install_browser.sh: apt-get not found; install chromium and chromedriver by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
echo "installed: $(chromium --version 2>/dev/null || echo chromium)"
