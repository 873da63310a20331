#!/usr/bin/env bash
# The API contract, checked against a live server:
# - SDKs generated from the served document, as users generate them: a Python client
#   (openapi-python-client; any generator warning fails) and TypeScript types
#   (openapi-typescript, used with openapi-fetch, type-checked strictly without
#   skipLibCheck), each driving the main journeys (sdk/python, sdk/typescript);
# - schemathesis fuzzing every operation anonymously, as a user and as an administrator,
#   failing on any server error, undocumented status code or content type, or response
#   that does not match its schema. Prints the figures of each run at the end.
#   scripts/contract.sh [AGORA_BINARY]   (default: the debug build in CARGO_TARGET_DIR)
# Installs schemathesis and openapi-python-client (PyPI) when missing, and the npm packages
# of sdk/typescript (cached in ~/.cache/agora/npm). Nothing generated is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
PYTHON_CLIENT_VERSION=0.29.1
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="${1:-$TARGET/debug/agora}"
# Cases per operation and phase; the seed makes a failure reproducible.
EXAMPLES="${CONTRACT_EXAMPLES:-10}"
SEED="${CONTRACT_SEED:-20261202}"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance

SCRIPTS="$PWD/scripts"
st() { python3 "$SCRIPTS/schemathesis_serial_ast.py" "$@"; }
if ! python3 -m schemathesis.cli --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
if ! python3 -m openapi_python_client --version 2>/dev/null | grep -q "$PYTHON_CLIENT_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "openapi-python-client==$PYTHON_CLIENT_VERSION"
fi
(cd sdk/typescript && npm ci --no-audit --no-fund --prefer-offline --cache "$HOME/.cache/agora/npm" >/dev/null)

# HTTP without curl, which a fresh machine may lack: `http METHOD URL [JSON]` prints the body.
http() {
  python3 - "$@" <<'PY'
import sys, urllib.request
method, url, body = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else None)
request = urllib.request.Request(url, method=method, data=body and body.encode(),
                                 headers={"content-type": "application/json"})
print(urllib.request.urlopen(request, timeout=10).read().decode())
PY
}

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# The embedded defaults, with the limits a fuzzer would trip over turned off and the
# payment webhook configured (unconfigured, it answers its documented 503).
export AGORA__DATA_DIR="$work/data"
export AGORA__SERVER__PORT="$port"
export AGORA__SERVER__RATE_LIMIT__ENABLED=false
export AGORA__AUTH__RATE_LIMIT__ENABLED=false
export AGORA__MAIL__PER_USER_PER_MINUTE=1000000
export AGORA__MAIL__GLOBAL_PER_SECOND=1000000
export AGORA__ORDERS__WEBHOOK_SECRET=contract-secret
export AGORA__LOG__LEVEL=warn
# Cheap password hashing: the fuzzer registers and logs in thousands of times.
export AGORA__AUTH__PASSWORD__MEMORY_KIB=1024
export AGORA__AUTH__PASSWORD__ITERATIONS=1

"$BIN" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  if http GET "$base/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
http GET "$base/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }

password="contract passphrase 42"
printf '%s\n' "$password" >"$work/password"
"$BIN" admin create --email admin@contract.test --password-file "$work/password" >/dev/null
http POST "$base/api/v1/auth/register" \
  "{\"email\":\"user@contract.test\",\"password\":\"$password\",\"name\":\"Contract User\"}" >/dev/null
token() {
  http POST "$base/api/v1/auth/login" "{\"email\":\"$1\",\"password\":\"$password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

echo "--- SDKs generated from the served document"
http GET "$base/api-docs/openapi.json" >"$work/openapi.json"
python3 -m openapi_python_client generate --path "$work/openapi.json" --meta none \
  --output-path "$work/python/agora_client" >"$work/python-client.log" 2>&1 || {
  cat "$work/python-client.log"
  exit 1
}
if grep -qi "warning" "$work/python-client.log"; then
  cat "$work/python-client.log"
  echo "openapi-python-client warned about the document" >&2
  exit 1
fi
python3 sdk/python/journey.py "$base" "$work/python" admin@contract.test "$password"
(
  cd sdk/typescript
  rm -rf generated
  npx openapi-typescript "$work/openapi.json" -o generated/schema.d.ts >/dev/null
  npx tsc -p tsconfig.json
  node generated/dist/journey.js "$base" admin@contract.test "$password"
)

# Logging out would end the session the run authenticates with: those operations are
# fuzzed in the anonymous run and tested in the API suite.
keep_session=(--exclude-operation-id logOut --exclude-operation-id logOutEverywhere
  --exclude-operation-id revokeSession)
status=0
fuzz() {
  local name=$1
  shift
  # From the scratch directory: schemathesis keeps a cache where it runs.
  (cd "$work" && st run "$base/api-docs/openapi.json" --url "$base" --checks "$CHECKS" \
    --max-examples "$EXAMPLES" --seed "$SEED" --no-shrink --workers 4 \
    --phases examples,coverage,fuzzing,stateful --suppress-health-check all \
    --report json --report-json-path "$work/$name.json" "$@") >"$work/$name.txt" 2>&1
}
# The tool itself can crash in its worker threads (CPython 3.11's `ast` is not thread-safe:
# "SystemError: AST constructor recursion depth mismatch"); st() serialises the parses that
# crashed (scripts/schemathesis_serial_ast.py). Should such a crash still happen, a run with no
# failure of the API and only Python errors of the tool is run once more; an API failure
# never is.
tool_crash_only() {
  grep -q '^Errors:' "$1" && ! grep -q '^Failures:' "$1" &&
    grep -q 'SystemError: AST constructor recursion depth mismatch' "$1" &&
    ! grep -qi 'network error\|connection\|timed out\|server error' "$1"
}
run() {
  local name=$1
  shift
  echo "--- schemathesis: $name"
  if ! fuzz "$name" "$@"; then
    if tool_crash_only "$work/$name.txt"; then
      echo "schemathesis crashed inside its own threads (no API failure); running it again"
      fuzz "$name" "$@" || status=1
    else
      status=1
    fi
  fi
  sed -n '/SUMMARY/,$p' "$work/$name.txt"
  if grep -q '^Failures:\|^Errors:' "$work/$name.txt"; then
    # Errors can quote whole tracebacks: the first lines tell enough.
    sed -n '/= FAILURES =\|= ERRORS =/,/= WARNINGS =\|= SUMMARY =/p' "$work/$name.txt" |
      cut -c1-300 | head -200 || true
  fi
}
run anonymous
run user -H "Authorization: Bearer $(token user@contract.test)" "${keep_session[@]}"
run admin -H "Authorization: Bearer $(token admin@contract.test)" "${keep_session[@]}"

echo "--- contract figures"
python3 - "$work" <<'EOF'
import json, sys
for name in ("anonymous", "user", "admin"):
    report = json.load(open(f"{sys.argv[1]}/{name}.json"))
    cases = report["test_cases"]
    failures = ", ".join(f'{f["code"]} {f["title"]}: {f["count"]}' for f in report["failures"]) or "none"
    print(f'{name}: {report["operations"]["tested"]} operations, {cases["generated"]} cases, '
          f'{cases["unique_failures"]} failures ({failures}), {len(report["errors"])} errors, '
          f'{report["running_time"]:.0f} s')
EOF
exit $status
