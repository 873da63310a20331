# Agora in one image: every domain, with the Kafka queue backend compiled in, so the same
# image serves the embedded default (SQLite, database queue, mail to files) and a stack on
# PostgreSQL and Kafka. Builds with BuildKit and with the legacy builder.
#
#   docker build -t agora .
#   docker run -p 8080:8080 -v agora-data:/data agora

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20
ARG DEBIAN_RELEASE=bookworm

# The web console (console/, TypeScript): bundled here, compiled into the binary below.
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY console/index.html console/build.mjs console/tsconfig.json ./
COPY console/src src
RUN node build.mjs /console/dist

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# librdkafka is built from source and linked statically (the `kafka` feature).
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make perl pkg-config python3 zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# The dependencies first, against placeholder sources: this layer is rebuilt only when
# Cargo.toml or Cargo.lock change, not on every code change. Every bench Cargo.toml names
# gets a placeholder too, since cargo refuses a manifest whose targets are missing.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/api \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/api/main.rs \
    && awk '/^\[\[bench\]\]/ { b = 1; next } b && /^name/ { gsub(/"/, "", $3); print $3; b = 0 }' Cargo.toml \
        | while read -r bench; do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked --features kafka \
    && rm -rf src

COPY config config
COPY migrations migrations
COPY --from=console /console/dist console-dist
# build.rs takes the console built above instead of running npm (no Node.js in this stage).
ENV AGORA_CONSOLE_DIST=/src/console-dist
COPY build.rs build.rs
COPY src src
# Newer than the placeholders' build, whatever times the build context carried.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --features kafka \
    && install -D --strip target/release/agora /out/agora

FROM debian:${DEBIAN_RELEASE}-slim
# Stamped by the build: `--build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD)
# --build-arg SOURCE=<where the code is published>`.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="Agora" \
      org.opencontainers.image.description="A small business's whole backend in one binary: accounts, shop, mail, notifications, locations." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# CA roots for SMTP over TLS, webhooks and Nominatim; nothing else: the health check is the
# binary itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin agora \
    && mkdir -p /data \
    && chown agora:agora /data

COPY --from=build /out/agora /usr/local/bin/agora
COPY config /etc/agora

# Compiled-in defaults, then /etc/agora/{AGORA_ENV}.toml, then AGORA__* variables.
ENV AGORA_CONFIG_DIR=/etc/agora \
    AGORA__DATA_DIR=/data \
    AGORA__SERVER__HOST=0.0.0.0 \
    AGORA__SERVER__PORT=8080

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["agora", "healthcheck"]
ENTRYPOINT ["agora"]
CMD ["serve"]
