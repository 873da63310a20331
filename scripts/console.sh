#!/usr/bin/env bash
# The web console in a real browser: type-checks the console's TypeScript, then runs its
# browser suite (console/tests, node:test + playwright-core) in Debian's Chromium against the
# given Agora binary, with a real SMTP server (aiosmtpd) and a local tile server.
# Screenshots of every page at desktop and phone width go to console/test-results/screenshots/.
#
#   scripts/console.sh target/debug/agora
#
# Installs Debian's `chromium` when missing (as root; no browser is downloaded by npm), and
# the console's npm packages when node_modules is older than the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:?usage: scripts/console.sh path/to/agora}")"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing $CHROMIUM: install Debian's chromium, or set CHROMIUM" >&2
    exit 1
  fi
  echo "installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
python3 -c 'import aiosmtpd' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check aiosmtpd

cd console
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx tsc --noEmit
AGORA_BIN="$BIN" CHROMIUM="$CHROMIUM" node --test --test-reporter=spec tests/console.test.mjs
