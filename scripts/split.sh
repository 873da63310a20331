#!/usr/bin/env bash
# Agora split into processes: builds each domain alone (`--no-default-features --features
# <domain>,kafka`), then runs scripts/split_checks.py: seven processes, each on a PostgreSQL
# database of its own, sharing a Kafka-protocol broker (TEST_KAFKA_BROKERS), behind nginx
# (Debian's package, installed when missing) routing by path, and the user journey through it.
#   scripts/split.sh build    the seven binaries, into $CARGO_TARGET_DIR/split
#   scripts/split.sh run      the processes and the journey
#   scripts/split.sh          both
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agora/target}"
BIN_DIR="$CARGO_TARGET_DIR/split"
# The domains are the default features, less the web console (not a domain: it is left out
# of every process here, and served by the monolith).
read -r -a DOMAINS <<<"$(sed -n '/^default = \[/{s/.*\[//;s/\].*//;s/[",]/ /g;s/\bconsole\b//;p;}' Cargo.toml)"

build() {
  # Only this build's binaries: split_checks.py runs one process per file here.
  rm -rf "$BIN_DIR"
  mkdir -p "$BIN_DIR"
  for domain in "${DOMAINS[@]}"; do
    local started=$SECONDS
    cargo build --locked --no-default-features --features "$domain,kafka" --bin agora
    cp "$CARGO_TARGET_DIR/debug/agora" "$BIN_DIR/agora-$domain"
    echo "--- agora-$domain built alone in $((SECONDS - started)) s"
  done
}

# shellcheck source=scripts/nginx.sh
source scripts/nginx.sh

run() {
  ensure_nginx
  : "${TEST_KAFKA_BROKERS:?the split processes share a broker: set TEST_KAFKA_BROKERS}"
  PATH="$PATH:/usr/sbin" python3 scripts/split_checks.py "$BIN_DIR"
}

case "${1:-all}" in
  build) build ;;
  run) run ;;
  all) build; run ;;
  *) echo "usage: $0 [build|run]" >&2; exit 2 ;;
esac
