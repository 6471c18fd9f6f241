#!/usr/bin/env bash
# db-init.sh ADMIN_CONNINFO MIGRATIONS_DIR [PASSWORD_DIR]
# Applies the migrations (attestctl db migrate) and creates one login per
# component in the least-privilege group roles of 008_roles.sql and
# 020_history_maintenance_role.sql: lab_registrar, lab_gateway, lab_worker,
# lab_readonly, lab_maintenance. Each login gets its own password, read from
# PASSWORD_DIR/<component>.password (scripts/lab/mkpki.sh writes them to
# DIR/db); without PASSWORD_DIR the logins have none. Idempotent. Used by
# scripts/lab.sh and the `db-init` service of ops/docker-compose.yml.
set -euo pipefail
db=${1:?usage: db-init.sh ADMIN_CONNINFO MIGRATIONS_DIR [PASSWORD_DIR]}
migrations=${2:?MIGRATIONS_DIR}
pwdir=${3:-}
roles=(registrar gateway worker readonly maintenance)
"${ATTESTCTL:-attestctl}" db migrate --database "$db" --migrations "$migrations"
args=()
for r in "${roles[@]}"; do
  pw=
  if [ -n "$pwdir" ]; then
    [ -s "$pwdir/$r.password" ] || { echo "db-init.sh: no $pwdir/$r.password" >&2; exit 1; }
    pw=$(<"$pwdir/$r.password")
  fi
  args+=(-v "pw_$r=$pw")
done
psql -X -q -v ON_ERROR_STOP=1 "${args[@]}" "$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN IN ROLE %I', u, g)
  FROM (VALUES ('lab_registrar', 'attest_registrar'), ('lab_gateway', 'attest_gateway'),
               ('lab_worker', 'attest_worker'), ('lab_readonly', 'attest_readonly'),
               ('lab_maintenance', 'attest_maintenance')) AS v(u, g)
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = u) \gexec
-- One password per login (NULL: none, for a trust-authenticated cluster).
SELECT format('ALTER ROLE %I PASSWORD %L', u, NULLIF(p, ''))
  FROM (VALUES ('lab_registrar', :'pw_registrar'), ('lab_gateway', :'pw_gateway'),
               ('lab_worker', :'pw_worker'), ('lab_readonly', :'pw_readonly'),
               ('lab_maintenance', :'pw_maintenance')) AS v(u, p) \gexec
SQL
