# The Debian packages every stand-in image uses, installed once (scripts/container.sh).
FROM debian:bookworm-slim
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates nginx postgresql-15 prometheus python3 python3-aiosmtpd wget \
    && rm -rf /var/lib/apt/lists/*
