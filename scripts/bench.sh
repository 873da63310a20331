#!/usr/bin/env bash
# Every benchmark with a goal, built once, on SQLite and PostgreSQL (and Kafka when tansu is
# there), then one table of the figures as ratios or bounds: run it on two commits on one
# machine to compare them.
#   bash scripts/bench.sh            all of them
#   bash scripts/bench.sh mail       only the named benchmarks (mail, commerce, checkout, memory)
# Needs what scripts/test.sh needs (PostgreSQL on 127.0.0.1:5432, python3 with aiosmtpd), and
# pgbench for the checkout comparison. Takes about 15 minutes on 2 cores after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agora/target}"
export BENCH_POSTGRES_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
TOOLS="${AGORA_TOOLS_DIR:-$HOME/.cache/agora/tools}"
BENCHES=("$@")
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=(mail commerce checkout memory)

python3 -c 'import aiosmtpd' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
# The read comparison's load generator, a process of its own (Debian's package).
command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null ||
  echo "wrk could not be installed: reads are measured from inside the bench process" >&2

# A broker of its own when tansu was built (scripts/test.sh builds it), for the mail figures
# on Kafka; stopped, and its storage removed, however the script ends.
cleanup() {
  [ -n "${TANSU_PID:-}" ] && kill "$TANSU_PID" 2>/dev/null
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
  return 0
}
trap cleanup EXIT
WORK=$(mktemp -d)
if [ -x "$TOOLS/bin/tansu" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$WORK" && exec "$TOOLS/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "sqlite://tansu.db" \
    >"$WORK/tansu.log" 2>&1) &
  TANSU_PID=$!
  export BENCH_KAFKA_BROKERS="127.0.0.1:$port"
fi

cargo bench --locked --features kafka --no-run
for bench in "${BENCHES[@]}"; do
  echo "==> $bench"
  cargo bench --locked --features kafka --bench "$bench" | tee -a "$WORK/figures"
done

echo
echo "==> figures ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores)"
python3 - "$WORK/figures" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[1]) if l.startswith("FIGURE\t")]
def met(value, goal):
    op, bound = goal.split()
    value, bound = float(value), float(bound)
    return "yes" if (value >= bound if op == ">=" else value <= bound) else "no"
table = [["figure", "setup", "value", "goal", "met"]] + [r + [met(r[2], r[3])] for r in rows]
widths = [max(len(r[i]) for r in table) for i in range(5)]
for r in table:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
PY
