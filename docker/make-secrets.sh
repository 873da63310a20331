#!/usr/bin/env bash
# Makes the stack's secrets in docker/secrets/ (kept out of version control), leaving any
# that already exist: the PostgreSQL password, the database URL that carries it, an Ed25519
# JWT signing key shared by the replicas, and Grafana's admin password.
#
# Compose mounts secret files as they are on the host, so the file each container reads must
# be readable by its user: Agora runs as uid 10001, Grafana as 472. As root this script gives
# each file to its reader (mode 600); otherwise the files are made readable to all (mode 644).
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
umask 077

random() { head -c 32 /dev/urandom | base64 | tr -d '/+=' | head -c 32; }

make() {
  local name=$1 owner=$2
  shift 2
  [ -s "$dir/$name" ] && return
  "$@" >"$dir/$name"
  if [ "$(id -u)" = 0 ]; then chown "$owner" "$dir/$name"; else chmod 644 "$dir/$name"; fi
  echo "made $dir/$name"
}

[ -s "$dir/postgres_password" ] || make postgres_password 0:0 random
password="$(cat "$dir/postgres_password")"
make database_url 10001:10001 printf 'postgres://agora:%s@postgres:5432/agora' "$password"
make jwt_signing_key.pem 10001:10001 openssl genpkey -algorithm ed25519
make grafana_admin_password 472:0 random
