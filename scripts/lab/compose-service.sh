#!/usr/bin/env bash
# compose-service.sh TEMPLATE OUT -- COMMAND ARGS...: starts a Kafka client
# service of ops/docker-compose.yml (registrar, gateway, workers). With
# KAFKA_SASL_USERNAME set, exports KAFKA_PROPERTIES (the template's
# [kafka] properties) for SASL/SCRAM-SHA-512 with the password in
# $SECRETS_DIR/kafka.password, then renders TEMPLATE to OUT (render.sh,
# mode 0600) and execs COMMAND. The password is only in the container's own
# secrets volume and its rendered config.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export KAFKA_PROPERTIES=${KAFKA_PROPERTIES:-}
if [ -n "${KAFKA_SASL_USERNAME:-}" ]; then
  pwfile=${SECRETS_DIR:?SECRETS_DIR}/kafka.password
  pw=$(<"$pwfile")
  # Hex from mkpki.sh: nothing to escape inside a TOML string.
  if ! [[ $pw =~ ^[A-Za-z0-9]+$ && $KAFKA_SASL_USERNAME =~ ^[A-Za-z0-9_-]+$ ]]; then
    echo "compose-service.sh: $pwfile or KAFKA_SASL_USERNAME has unexpected characters" >&2
    exit 2
  fi
  KAFKA_PROPERTIES="\"security.protocol=SASL_PLAINTEXT\", \"sasl.mechanism=SCRAM-SHA-512\""
  KAFKA_PROPERTIES+=", \"sasl.username=$KAFKA_SASL_USERNAME\", \"sasl.password=$pw\""
fi
exec "$here/render.sh" "$@"
