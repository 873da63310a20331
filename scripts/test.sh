#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script):
#   formatting and lints, the dependency policy (scripts/deps.sh), unit tests, the integration
#   suite on SQLite and on PostgreSQL,
#   the API contract fuzzed against a live server (scripts/contract.sh), the web console in
#   Chromium (scripts/console.sh, which installs Debian's chromium when missing), every domain built
#   on its own and run as seven processes behind nginx (scripts/split.sh), three replicas
#   behind nginx through a rolling restart and a SIGKILL (scripts/replicas.sh), and the container
#   image and compose stack
#   (scripts/container.sh, which installs Docker and makes its base images when missing).
# Needs: the Rust toolchain, python3, PostgreSQL on 127.0.0.1:5432 (trust auth, or set
# TEST_POSTGRES_URL), Redis on 127.0.0.1:6379 (or TEST_REDIS_URL). Installs aiosmtpd (the SMTP test server) when it is missing, and tansu
# (a Kafka-protocol broker, built from crates.io once: about 20 minutes on 2 cores) under
# ~/.cache/agora/tools, then runs it for the Kafka tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Outside the clone, so repeated runs on one machine reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agora/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
TOOLS="${AGORA_TOOLS_DIR:-$HOME/.cache/agora/tools}"
TANSU_VERSION=0.6.0

step() { printf '\n==> %s\n' "$*"; }

redis_up() {
  python3 -c 'import socket; socket.create_connection(("127.0.0.1", 6379), 1).close()' 2>/dev/null
}

# Redis keeps the rate limits shared by replicas (tests/api/rate_limit.rs, scripts/replicas.sh).
ensure_redis() {
  if [ -n "${TEST_REDIS_URL:-}" ] || redis_up; then return; fi
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do redis_up && return; sleep 0.2; done
  fi
  echo "Redis is not reachable on 127.0.0.1:6379; start it or set TEST_REDIS_URL" >&2
  exit 1
}

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

ensure_tansu() {
  if "$TOOLS/bin/tansu" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then return; fi
  echo "building tansu $TANSU_VERSION (once; about 20 minutes on 2 cores)"
  cargo install --quiet --locked --root "$TOOLS" tansu --version "$TANSU_VERSION" --features libsql
}

# A broker of its own on a free port, with SQLite storage in a temporary directory;
# stopped when the script exits.
start_tansu() {
  local port dir
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d)
  # tansu reads the SQLite path relative to its working directory.
  (cd "$dir" && exec "$TOOLS/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" >"$dir/tansu.log" 2>&1) &
  TANSU_PID=$!
  TANSU_DIR=$dir
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export TEST_KAFKA_BROKERS="127.0.0.1:$port"
      echo "tansu on $TEST_KAFKA_BROKERS (log: $dir/tansu.log)"
      return
    fi
    sleep 0.2
  done
  echo "tansu did not start; see $dir/tansu.log" >&2
  exit 1
}

# Background work is stopped, and tansu's storage removed, however the script ends.
cleanup() {
  [ -n "${TANSU_PID:-}" ] && kill "$TANSU_PID" 2>/dev/null
  [ -n "${TANSU_DIR:-}" ] && rm -rf "$TANSU_DIR"
  [ -n "${CONTAINER_BUILD:-}" ] && pkill -TERM -P "$CONTAINER_BUILD" 2>/dev/null && kill "$CONTAINER_BUILD" 2>/dev/null
  [ -n "${CONTAINER_LOG:-}" ] && rm -f "$CONTAINER_LOG"
  return 0
}
trap cleanup EXIT

step "prerequisites"
ensure_postgres
ensure_redis
ensure_aiosmtpd
ensure_tansu
start_tansu

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked --features kafka -- -D warnings

step "dependency policy: licences, duplicate crates, sources (scripts/deps.sh, cargo-deny)"
bash scripts/deps.sh

step "build the tests once"
cargo test --locked --features kafka --no-run

# The container image builds beside the test suites, which leave the cores idle much of the
# time; its output is shown at the container step.
CONTAINER_LOG="$(mktemp)"
bash scripts/container.sh build >"$CONTAINER_LOG" 2>&1 &
CONTAINER_BUILD=$!
echo "building the container image in the background (shown at the container step)"

step "unit tests and integration suite on SQLite (Kafka tests on tansu)"
cargo test --locked --features kafka

step "integration suite on PostgreSQL (Kafka tests on tansu)"
TEST_DATABASE_URL="$POSTGRES_URL" cargo test --locked --features kafka --test api

step "the API contract against a live server (schemathesis)"
cargo build --locked --features kafka --bin agora
bash scripts/contract.sh "$CARGO_TARGET_DIR/debug/agora"

step "the web console in Chromium: one journey, every page checked (scripts/console.sh)"
bash scripts/console.sh "$CARGO_TARGET_DIR/debug/agora"

step "three replicas behind nginx: rolling restart and SIGKILL under load (scripts/replicas.sh)"
bash scripts/replicas.sh "$CARGO_TARGET_DIR/debug/agora"

step "every domain built alone, and split into processes behind nginx (scripts/split.sh)"
cargo check --locked --no-default-features
cargo clippy --locked -- -D warnings
bash scripts/split.sh

step "the container image and the compose stack (scripts/container.sh)"
build_status=0
wait "$CONTAINER_BUILD" || build_status=$?
CONTAINER_BUILD=""
cat "$CONTAINER_LOG"
[ "$build_status" = 0 ] || { echo "the container image build failed ($build_status)" >&2; exit 1; }
bash scripts/container.sh run

step "all passed"
