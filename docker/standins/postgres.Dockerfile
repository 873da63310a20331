# Stand-in for the official postgres image: POSTGRES_USER, POSTGRES_DB and
# POSTGRES_PASSWORD(_FILE) on first start, data in /var/lib/postgresql/data, pg_isready.
FROM agora-standin/base:bookworm
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:$PATH
RUN mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
