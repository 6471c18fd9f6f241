#!/usr/bin/env bash
# compose-attestctl.sh ARGS...: attestctl as ops/docker-compose.yml runs it
# (the `attestctl` tool service, the `kafka-topics` job). Adds to the command
# line what the compose network needs, unless the caller gave it:
#   agents ...          --ca-file $ATTEST_CA_FILE (the lab CA that signed the
#                       registrar's certificate); the registrar and the token
#                       come from $ATTEST_REGISTRAR and $ATTEST_ADMIN_TOKEN_FILE
#   verdicts tail ...,  the SASL/SCRAM-SHA-512 login $KAFKA_SASL_USERNAME with
#   kafka topics ...    the password in $KAFKA_PASSWORD_FILE (--kafka-property);
#                       Kafka's address is $KAFKA_BOOTSTRAP_SERVERS
# then execs attestctl. The password is read from the container's own
# secrets volume; it is on attestctl's command line inside the container
# only (one process: attestctl has no property-file flag).
set -euo pipefail
args=("$@")

given() { # given FLAG: the caller passed FLAG (or FLAG=...)
  local a
  for a in "${args[@]}"; do [[ $a == "$1" || $a == "$1="* ]] && return 0; done
  return 1
}

# n: how many leading words name the command; the flags go right after them.
n=0 kafka=0
extra=()
case "${1:-}/${2:-}/${3:-}" in
  agents/[a-z]*)
    n=2
    if [ -n "${ATTEST_CA_FILE:-}" ] && ! given --ca-file; then
      extra+=(--ca-file "$ATTEST_CA_FILE")
    fi
    ;;
  verdicts/tail/*) n=2 kafka=1 ;;
  kafka/topics/[a-z]*) n=3 kafka=1 ;;
esac
if [ $kafka = 1 ] && [ -n "${KAFKA_SASL_USERNAME:-}" ]; then
  pwfile=${KAFKA_PASSWORD_FILE:?KAFKA_PASSWORD_FILE (the SASL password file)}
  pw=$(<"$pwfile")
  # mkpki.sh makes hex passwords: anything else is a broken volume.
  if ! [[ $pw =~ ^[A-Za-z0-9]+$ && $KAFKA_SASL_USERNAME =~ ^[A-Za-z0-9_-]+$ ]]; then
    echo "compose-attestctl.sh: $pwfile or KAFKA_SASL_USERNAME has unexpected characters" >&2
    exit 2
  fi
  extra+=(--kafka-property security.protocol=SASL_PLAINTEXT
    --kafka-property sasl.mechanism=SCRAM-SHA-512
    --kafka-property "sasl.username=$KAFKA_SASL_USERNAME"
    --kafka-property "sasl.password=$pw")
fi
exec "${ATTESTCTL:-attestctl}" "${args[@]:0:n}" "${extra[@]}" "${args[@]:n}"
