# Stand-in for the official Kafka image: tansu, a Kafka-protocol broker, on 9092 with the
# first of KAFKA_ADVERTISED_LISTENERS advertised, SQLite storage in KAFKA_LOG_DIRS, and the
# health check script path the official image has.
FROM agora-standin/base:bookworm
COPY tansu /usr/local/bin/tansu
COPY kafka-entrypoint.sh /usr/local/bin/kafka-entrypoint.sh
COPY kafka-broker-api-versions.sh /opt/kafka/bin/kafka-broker-api-versions.sh
RUN mkdir -p /var/lib/kafka/data
EXPOSE 9092
ENTRYPOINT ["/usr/local/bin/kafka-entrypoint.sh"]
