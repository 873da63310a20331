#!/usr/bin/env bash
# Three replicas of the server binary on one PostgreSQL database behind nginx (Debian's
# package, installed when missing), rate limits in Redis, a rolling restart and a SIGKILL under
# a mixed load: scripts/replica_checks.py.
#   scripts/replicas.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY="${1:?usage: $0 BINARY}"

# shellcheck source=scripts/nginx.sh
source scripts/nginx.sh
ensure_nginx
PATH="$PATH:/usr/sbin" python3 scripts/replica_checks.py "$BINARY"
