#!/usr/bin/env bash
# swtpm-node.sh manufacture DIR CA_STATE TRUST_STORE
#   Creates a TPM in DIR/tpm with an EK and an EK certificate signed by the
#   lab's EK CA (swtpm_localca with its state in CA_STATE, created on first
#   use), then copies that CA's certificates into TRUST_STORE (the
#   registrar's [ek] trust_store). Run one at a time per CA_STATE.
# swtpm-node.sh run DIR PORT
#   Execs swtpm on 127.0.0.1:PORT (control port PORT+1, as tpm2-tss's swtpm
#   TCTI expects). A new swtpm process is a new boot: PCRs start at zero.
set -euo pipefail
cmd=${1:?usage: swtpm-node.sh manufacture|run ...}
dir=${2:?DIR}
case "$cmd" in
  manufacture)
    ca=${3:?CA_STATE}
    trust=${4:?TRUST_STORE}
    mkdir -p "$dir/tpm" "$ca" "$trust"
    # One CA serial file: nodes sharing a CA manufacture one at a time.
    exec 9>>"$ca/.lock"
    flock 9
    # swtpm_setup reads its and swtpm_localca's config from /etc by default;
    # private copies keep the CA in the lab's run dir.
    cat >"$dir/swtpm_setup.conf" <<EOF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $dir/swtpm-localca.conf
create_certs_tool_options = $dir/swtpm-localca.options
active_pcr_banks = sha256
EOF
    cat >"$dir/swtpm-localca.conf" <<EOF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
EOF
    printf -- '--platform-manufacturer attest\n--platform-version 2.1\n--platform-model lab\n' \
      >"$dir/swtpm-localca.options"
    swtpm_setup --tpm2 --tpmstate "$dir/tpm" --createek --create-ek-cert --create-platform-cert \
      --overwrite --config "$dir/swtpm_setup.conf" >"$dir/swtpm_setup.log" 2>&1 || {
      cat "$dir/swtpm_setup.log" >&2
      exit 1
    }
    for f in swtpm-localca-rootca-cert.pem issuercert.pem; do
      [ -s "$ca/$f" ] && cp "$ca/$f" "$trust/lab-ek-$f"
    done
    chmod 0644 "$trust"/*.pem
    ;;
  run)
    port=${3:?PORT}
    exec swtpm socket --tpm2 --tpmstate "dir=$dir/tpm" \
      --server "type=tcp,port=$port,bindaddr=${SWTPM_BIND:-127.0.0.1}" \
      --ctrl "type=tcp,port=$((port + 1)),bindaddr=${SWTPM_BIND:-127.0.0.1}" \
      --flags not-need-init,startup-clear
    ;;
  *)
    echo "swtpm-node.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
