#!/usr/bin/env bash
# compose-pki.sh: the `pki` job of ops/docker-compose.yml, the only container
# that sees every secret. Makes the keys, certificates and passwords
# (mkpki.sh) in its private volume PKI_MASTER, manufactures the nodes' TPMs
# (the EK CA's key never leaves PKI_MASTER), then gives each component's
# volume under OUT only its own files:
#   OUT/public      ca.pem, revocation.pub.pem, ek-ca/  (everyone, read-only)
#   OUT/registrar   TLS key, admin token, db passfile, Kafka password
#   OUT/gateway     TLS key, token key, db passfile, Kafka password
#   OUT/worker      token key, revocation key, db passfile, Kafka password
#   OUT/admin       admin.token (the enrol job, attestctl)
#   OUT/db          superuser and per-role passwords (postgres, db-init)
#   OUT/kafka       SCRAM passwords of admin, registrar, gateway, worker, soc (broker,
#                   kafka-init, kafka-topics)
#   OUT/soc         the SCRAM password of soc (the attestctl tool: verdicts tail)
#   OUT/grafana     the read-only login's password (Grafana)
#   OUT/nodeN       node N's manufactured TPM (N = 1..NODE_COUNT)
# Secret volumes are 0700 and their files 0600, owned by the user the
# consuming image runs as (postgres 999, grafana 472, others root).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
master=${PKI_MASTER:-/var/lib/attest-pki}
out=${OUT:-/out}
"$here/mkpki.sh" "$master"
if [ ! -s "$master/ek-ca-state/issuercert.pem" ]; then
  "$here/swtpm-node.sh" manufacture /tmp/ek-ca-seed "$master/ek-ca-state" "$master/ek-ca"
fi
for n in $(seq 1 "${NODE_COUNT:-3}"); do
  [ -f "$out/node$n/tpm/tpm2-00.permall" ] ||
    "$here/swtpm-node.sh" manufacture "$out/node$n" "$master/ek-ca-state" "$master/ek-ca"
done

give() { # give VOLUME OWNER FILE...: VOLUME holds exactly FILE..., private to OWNER
  local dst=$out/$1 owner=$2
  shift 2
  mkdir -p "$dst"
  find "$dst" -mindepth 1 -delete
  cp -a "$@" "$dst/"
  chown -R "$owner" "$dst"
  chmod 0700 "$dst"
  find "$dst" -type f -exec chmod 0600 {} +
}
m=$master
give registrar 0:0 "$m/registrar/registrar.pem" "$m/registrar/registrar.key" \
  "$m/registrar/admin.token" "$m/registrar/db.pgpass" "$m/registrar/kafka.password"
give gateway 0:0 "$m"/gateway/*
give worker 0:0 "$m"/worker/*
give admin 0:0 "$m/admin.token"
give db 999:999 "$m"/db/*
give kafka 0:0 "$m"/kafka/*
give soc 0:0 "$m/kafka/soc.password"
give grafana 472:0 "$m/readonly/db.password"

mkdir -p "$out/public"
find "$out/public" -mindepth 1 -delete
cp -a "$m/ca.pem" "$m/revocation.pub.pem" "$m/ek-ca" "$out/public/"
chown -R 0:0 "$out/public"
chmod 0755 "$out/public" "$out/public/ek-ca"
find "$out/public" -type f -exec chmod 0644 {} +
