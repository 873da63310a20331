#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script):
#   formatting and lints, unit tests, the integration suite on SQLite and on PostgreSQL,
#   and a build of every domain feature on its own.
# Needs: the Rust toolchain, python3, PostgreSQL on 127.0.0.1:5432 (trust auth, or set
# TEST_POSTGRES_URL). Installs aiosmtpd (the SMTP test server) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Outside the clone, so repeated runs on one machine reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agora/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DOMAINS=(auth mail notifications locations catalog orders files)

step() { printf '\n==> %s\n' "$*"; }

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start 2>/dev/null || true
    done
  fi
  for _ in $(seq 1 30); do
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
    sleep 1
  done
  echo "PostgreSQL is not reachable on 127.0.0.1:5432; start it or set TEST_POSTGRES_URL" >&2
  exit 1
}

ensure_aiosmtpd() {
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
  fi
}

step "prerequisites"
ensure_postgres
ensure_aiosmtpd

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "build the tests once"
cargo test --locked --no-run

step "unit tests and integration suite on SQLite"
cargo test --locked

step "integration suite on PostgreSQL"
TEST_DATABASE_URL="$POSTGRES_URL" cargo test --locked --test api

step "every domain feature builds on its own"
cargo check --locked --no-default-features
for domain in "${DOMAINS[@]}"; do
  echo "--- $domain"
  cargo check --locked --no-default-features --features "$domain"
done
cargo check --locked --features kafka

step "all passed"
