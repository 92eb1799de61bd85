#!/usr/bin/env bash
# The browser tests' tools: Debian's chromium (apt) and Playwright's Python package (pip).
# Playwright's own browser download (`playwright install`) is never run: the tests launch
# /usr/bin/chromium. Without either tool the browser tests skip; this script says so and
# exits 0, so a machine without root or apt still runs every other test.
#   usage: scripts/install-browser.sh [PYTHON]     (default: python3 on PATH, e.g. the venv's)
set -uo pipefail
PY=${1:-python3}
if ! [ -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium (apt)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null \
            || echo "warning: apt-get install chromium failed; the browser tests will skip" >&2
    else
        echo "warning: no /usr/bin/chromium and no root apt-get; the browser tests will skip" >&2
    fi
fi
if ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
    echo "installing playwright (pip)" >&2
    "$PY" -m pip install -q "playwright>=1.40" \
        || echo "warning: pip install playwright failed; the browser tests will skip" >&2
fi
exit 0
