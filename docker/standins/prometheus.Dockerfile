# Stand-in for the official Prometheus image: Debian's prometheus, same entrypoint path,
# data in /prometheus, running as nobody.
FROM agora-standin/base:bookworm
RUN mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
