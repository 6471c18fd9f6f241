#!/usr/bin/env bash
# compose-enrol.sh UUID...: enrols the nodes of ops/docker-compose.yml with
# the runtime policy of the lab's known-good image (retrying until each has
# registered). Environment: ATTEST_REGISTRAR, PKI_DIR (public files),
# ATTEST_ADMIN_TOKEN_FILE (the admin token, from its own volume), ATTEST_INTERVAL.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/known-good.sh" "$work"
for uuid in "$@"; do
  for attempt in $(seq 1 120); do
    if attestctl agents enrol "$uuid" --registrar "$ATTEST_REGISTRAR" \
      --token-file "${ATTEST_ADMIN_TOKEN_FILE:?}" --ca-file "$PKI_DIR/ca.pem" \
      --runtime-policy "$work/runtime-policy.json" --interval "${ATTEST_INTERVAL:-10}"; then
      break
    fi
    [ "$attempt" -lt 120 ] || exit 1
    sleep 2
  done
done
