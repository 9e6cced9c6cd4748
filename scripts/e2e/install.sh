#!/usr/bin/env bash
# Makes sure the browser test (scripts/e2e/page.mjs) can run: a Chromium
# (Debian's `chromium` package, or the one $CHROMIUM names) and playwright-core
# in the cache, ${XDG_CACHE_HOME:-~/.cache}/simple-nn/e2e (where the tests look
# for it). Idempotent; prints one line per thing it installs and, when it
# cannot, one line on stderr and exits non-zero.
set -euo pipefail

PLAYWRIGHT_VERSION=1.65.1
E2E_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/simple-nn/e2e"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

fail() { echo "e2e install: $*" >&2; exit 1; }

if [ ! -x "$CHROMIUM" ]; then
  command -v apt-get >/dev/null || fail "no Chromium at $CHROMIUM and no apt-get to install one (set CHROMIUM=/path/to/chromium)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo -n"
  echo "installing chromium (Debian package)"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
    || fail "could not install the Debian package chromium (needs root or passwordless sudo)"
  [ -x "$CHROMIUM" ] || fail "chromium installed but $CHROMIUM is missing (set CHROMIUM=/path/to/chromium)"
fi

installed=$(node -p "require('$E2E_DIR/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
  command -v npm >/dev/null || fail "npm is missing; it is needed to install playwright-core"
  echo "installing playwright-core@$PLAYWRIGHT_VERSION in $E2E_DIR"
  mkdir -p "$E2E_DIR"
  npm install --prefix "$E2E_DIR" "playwright-core@$PLAYWRIGHT_VERSION" --save-exact \
    --no-audit --no-fund --loglevel=error >/dev/null \
    || fail "could not install playwright-core@$PLAYWRIGHT_VERSION with npm"
fi
