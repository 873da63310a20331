# Stand-in for the official Redis image: Debian's redis-server on 6379, with redis-cli for the
# health check. The compose file passes the options (no persistence, reachable from the
# network), as it does to the official image.
FROM agora-standin/base:bookworm
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server"]
