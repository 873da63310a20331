#!/bin/bash
set -euo pipefail
advertised="${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}"
advertised="${advertised%%,*}"
dir="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
mkdir -p "$dir" && cd "$dir"
exec tansu broker --listener-url tcp://0.0.0.0:9092 \
  --advertised-listener-url "tcp://${advertised#*://}" --storage-engine sqlite://tansu.db
