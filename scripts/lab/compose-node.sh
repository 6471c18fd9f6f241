#!/usr/bin/env bash
# compose-node.sh: one simulated node of ops/docker-compose.yml: a swtpm
# (manufactured by the pki job, EK certificate from the lab's EK CA), a fresh IMA list
# per container start (a new swtpm process is a new boot), the list growing
# every LAB_IMA_PERIOD seconds, and attest-agent in the foreground.
# Environment: AGENT_UUID, PKI_DIR, AGENT_REGISTRARS, AGENT_VERIFIERS,
# ATTEST_INTERVAL, LAB_IMA_PERIOD (4), LAB_BOOT_ENTRIES (8), NODE_DIR
# (/var/lib/attest-node). scripts/lab.sh does the same with one process each.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${NODE_DIR:-/var/lib/attest-node}
port=2321
mkdir -p "$dir/state"
# Manufactured by the `pki` job, which alone holds the EK CA's key: a node
# never sees it (nor any service's secret).
if [ ! -f "$dir/tpm/tpm2-00.permall" ]; then
  echo "compose-node.sh: no TPM in $dir/tpm (the pki job manufactures it)" >&2
  exit 1
fi
"$here/known-good.sh" "$dir/image" >/dev/null
"$here/swtpm-node.sh" run "$dir" "$port" &
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$((port + 1))) 2>/dev/null && break
  sleep 0.1
done
tcti="swtpm:host=127.0.0.1,port=$port"
list=$dir/ascii_runtime_measurements
: >"$list"
# The firmware's measurements (PCRs 0-7) and its UEFI log, as lab.sh boots.
# shellcheck disable=SC2046 # one argument per extend
TPM2TOOLS_TCTI=$tcti tpm2_pcrextend $("$here/uefi-log.pl" "$dir/binary_bios_measurements") >/dev/null
head -n "${LAB_BOOT_ENTRIES:-8}" "$dir/image/known-good.paths" | "$here/ima-measure.sh" "$list" "$tcti"
tail -n "+$((${LAB_BOOT_ENTRIES:-8} + 1))" "$dir/image/known-good.paths" |
  while read -r p d; do
    sleep "${LAB_IMA_PERIOD:-4}"
    "$here/ima-measure.sh" "$list" "$tcti" "$p" "$d"
  done &
AGENT_DIR=$dir AGENT_TCTI=$tcti AGENT_BOOT_TIME=$(date +%s) \
  "$here/render.sh" "$here/config/agent.toml" "$dir/agent.toml"
exec attest-agent --config "$dir/agent.toml"
