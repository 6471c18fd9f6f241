#!/usr/bin/env bash
# db-init.sh ADMIN_CONNINFO MIGRATIONS_DIR [PASSWORD]
# Applies the migrations (attestctl db migrate) and creates one login per
# component in the least-privilege group roles of 008_roles.sql:
# lab_registrar, lab_gateway, lab_worker, lab_readonly (with PASSWORD when
# given; the loopback lab uses trust authentication). Idempotent. Used by
# scripts/lab.sh and the `db-init` service of ops/docker-compose.yml.
set -euo pipefail
db=${1:?usage: db-init.sh ADMIN_CONNINFO MIGRATIONS_DIR [PASSWORD]}
migrations=${2:?MIGRATIONS_DIR}
password=${3:-}
"${ATTESTCTL:-attestctl}" db migrate --database "$db" --migrations "$migrations"
psql -X -q -v ON_ERROR_STOP=1 -v "pw=$password" "$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN IN ROLE %I', u, g)
  FROM (VALUES ('lab_registrar', 'attest_registrar'), ('lab_gateway', 'attest_gateway'),
               ('lab_worker', 'attest_worker'), ('lab_readonly', 'attest_readonly')) AS v(u, g)
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = u) \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', u, :'pw')
  FROM unnest(ARRAY['lab_registrar', 'lab_gateway', 'lab_worker', 'lab_readonly']) AS u
  WHERE :'pw' <> '' \gexec
SQL
