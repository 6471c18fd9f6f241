#!/usr/bin/env bash
# mkpki.sh DIR: the lab's keys and certificates (openssl CLI), idempotent.
#   ca.pem, ca.key           lab TLS CA (agents and attestctl trust it)
#   registrar.pem/.key       TLS server certificate of the registrar(s)
#   gateway.pem/.key         TLS server certificate of the gateway(s)
#   admin.token              bearer token of the registrar's admin API
#   token.key                challenge-token HMAC key (hex), gateways + workers
#   revocation.key/.pub.pem  ECDSA P-256 key signing revocation events
#   ek-ca/                   registrar EK trust store (filled by swtpm-node.sh
#                            with the swtpm_localca CA that certifies EKs)
# Server certificates name localhost, 127.0.0.1 and the compose service
# names (registrar, gateway); PKI_EXTRA_SANS adds more ("DNS:x,IP:y").
# Used by scripts/lab.sh and the `pki` service of ops/docker-compose.yml.
set -euo pipefail
dir=${1:?usage: mkpki.sh DIR}
mkdir -p "$dir/ek-ca"
umask 077
cd "$dir"
sans="DNS:localhost,IP:127.0.0.1,DNS:registrar,DNS:gateway"
for i in 1 2 3; do sans+=",DNS:gateway$i,DNS:registrar$i"; done
[ -n "${PKI_EXTRA_SANS:-}" ] && sans+=",$PKI_EXTRA_SANS"

if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=attest lab CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
for name in registrar gateway; do
  [ -s "$name.pem" ] && continue
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
      "$sans") -out "$name.pem" 2>/dev/null
  rm -f "$name.csr"
done
[ -s admin.token ] || openssl rand -hex 24 >admin.token
[ -s token.key ] || openssl rand -hex 32 >token.key
if [ ! -s revocation.key ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out revocation.key
  openssl pkey -in revocation.key -pubout -out revocation.pub.pem
fi
# Services may run as other users (containers): the directory is private to
# the lab, so make the files readable by the services that share it.
chmod 0644 ./*.pem ./*.key admin.token 2>/dev/null || true
chmod 0755 . ek-ca
