#!/usr/bin/env bash
# Makes deploy/secrets/ for docker-compose.yml, once: the Kafka users (SASL PLAIN over
# SASL_PLAINTEXT), the API's tokens (hashes only; the admin token is printed once), the
# token Prometheus scrapes /metrics with, and Grafana's admin password. Needs the venv of
# `bash .ci/setup` (tokens are made by `storemon token create`, the one implementation).
set -euo pipefail
cd "$(dirname "$0")"
out=secrets
if [ -e "$out/tokens.json" ]; then
  echo "deploy/secrets exists: delete it first to make new secrets" >&2
  exit 1
fi
mkdir -p "$out"
chmod 700 "$out"
umask 077
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
broker=$(rand)
client=$(rand)
plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
cat > "$out/kafka.env" <<ENV
KAFKA_LISTENER_NAME_SASL__PLAINTEXT_PLAIN_SASL_JAAS_CONFIG=$plain username="broker" password="$broker" user_broker="$broker" user_storemon="$client";
ENV
cat > "$out/kafka-client.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=$plain username="storemon" password="$client";
PROPS
cat > "$out/storemon.env" <<ENV
STOREMON_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
STOREMON_KAFKA_SASL_MECHANISM=PLAIN
STOREMON_KAFKA_SASL_USERNAME=storemon
STOREMON_KAFKA_SASL_PASSWORD=$client
STOREMON_SESSION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
ENV
storemon=../.venv/bin/storemon
"$storemon" token create --file "$out/tokens.json" --name prometheus --scopes metrics | tail -n 1 > "$out/prometheus-token"
admin=$("$storemon" token create --file "$out/tokens.json" --name admin --scopes admin | tail -n 1)
rand > "$out/grafana-admin-password"
chmod 644 "$out"/*  # read inside the containers, whose users differ; the folder stays 700
echo "deploy/secrets made. The API's admin token (shown once, kept nowhere):"
echo "$admin"
echo "Grafana: user admin, password in deploy/secrets/grafana-admin-password"
