#!/usr/bin/env bash
# mkpki.sh DIR: the lab's keys, certificates and passwords (openssl CLI),
# idempotent. Each component gets a directory of its own secrets (0700,
# files 0600), so a process or container is given only what it needs:
#   ca.pem, revocation.pub.pem   public: agents, attestctl, SOC consumers
#   ek-ca/                       public: registrar EK trust store (filled by
#                                swtpm-node.sh with the swtpm_localca CA)
#   admin.token                  the operator's admin bearer token (attestctl)
#   ca/                          lab TLS CA key (only this script)
#   ek-ca-state/                 EK CA private state (only TPM manufacturing)
#   registrar/                   registrar.pem/.key, admin.token, db.pgpass,
#                                kafka.password
#   gateway/                     gateway.pem/.key, token.key, db.pgpass,
#                                kafka.password
#   worker/                      token.key, revocation.key, db.pgpass,
#                                kafka.password
#   readonly/                    db.password, db.pgpass (dashboards)
#   maintenance/                 db.pgpass (history retention job)
#   db/                          admin.password, admin.pgpass and each role's
#                                <role>.password (database set-up only)
#   kafka/                       admin.password, registrar.password,
#                                gateway.password, worker.password,
#                                soc.password (the broker's SCRAM users;
#                                soc reads verdicts)
# The challenge-token key is one secret shared by gateways and workers; every
# database role and Kafka client has its own password. Server certificates
# name localhost, 127.0.0.1 and the compose service names (registrar,
# gateway); PKI_EXTRA_SANS adds more ("DNS:x,IP:y"). Used by scripts/lab.sh
# and the `pki` service of ops/docker-compose.yml.
set -euo pipefail
dir=${1:?usage: mkpki.sh DIR}
umask 077
mkdir -p "$dir"
cd "$dir"
mkdir -p ca ek-ca registrar gateway worker readonly maintenance db kafka
sans="DNS:localhost,IP:127.0.0.1,DNS:registrar,DNS:gateway"
for i in 1 2 3; do sans+=",DNS:gateway$i,DNS:registrar$i"; done
[ -n "${PKI_EXTRA_SANS:-}" ] && sans+=",$PKI_EXTRA_SANS"

if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=attest lab CA" -keyout ca/ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
for name in registrar gateway; do
  [ -s "$name/$name.pem" ] && continue
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$name/$name.key" -out "$name/$name.csr" 2>/dev/null
  openssl x509 -req -in "$name/$name.csr" -CA ca.pem -CAkey ca/ca.key -CAserial ca/ca.srl \
    -CAcreateserial -days 825 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
      "$sans") -out "$name/$name.pem" 2>/dev/null
  rm -f "$name/$name.csr"
done
[ -s admin.token ] || openssl rand -hex 24 >admin.token
[ -s registrar/admin.token ] || cp admin.token registrar/admin.token
[ -s gateway/token.key ] || openssl rand -hex 32 >gateway/token.key
[ -s worker/token.key ] || cp gateway/token.key worker/token.key
if [ ! -s worker/revocation.key ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out worker/revocation.key
  openssl pkey -in worker/revocation.key -pubout -out revocation.pub.pem
fi

# Database: the superuser's password and one per component login
# (scripts/lab/db-init.sh creates lab_<role> with it). A libpq passfile per
# component (any host, port, database; that login only).
[ -s db/admin.password ] || openssl rand -hex 24 >db/admin.password
printf '*:*:*:attest:%s\n' "$(cat db/admin.password)" >db/admin.pgpass
for role in registrar gateway worker readonly maintenance; do
  [ -s "db/$role.password" ] || openssl rand -hex 24 >"db/$role.password"
  printf '*:*:*:lab_%s:%s\n' "$role" "$(cat "db/$role.password")" >"$role/db.pgpass"
done
cp db/readonly.password readonly/db.password

# Kafka SCRAM users (ops/docker-compose.yml; the lab's Kafka has no
# authentication): the broker gets all, each client its own. The registrar
# reads the evidence topic's partition count.
for user in admin registrar gateway worker soc; do
  [ -s "kafka/$user.password" ] || openssl rand -hex 24 >"kafka/$user.password"
done
cp kafka/registrar.password registrar/kafka.password
cp kafka/gateway.password gateway/kafka.password
cp kafka/worker.password worker/kafka.password

# Public files are world-readable; every secret is its owner's only.
chmod 0755 . ek-ca
chmod 0644 ca.pem revocation.pub.pem
find ek-ca -type f -exec chmod 0644 {} +
chmod 0700 ca registrar gateway worker readonly maintenance db kafka
find ca registrar gateway worker readonly maintenance db kafka -type f -exec chmod 0600 {} +
chmod 0600 admin.token
