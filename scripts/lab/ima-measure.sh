#!/usr/bin/env bash
# ima-measure.sh LIST TCTI PATH [SHA256_HEX]
# Measures PATH as the kernel's IMA would with the ima-ng template: appends
#   10 <sha1(template data)> ima-ng sha256:<digest> <PATH>
# to the ascii list LIST and extends PCR 10's sha256 bank of the TPM at TCTI
# with sha256(template data) (the lab's swtpms have only the sha256 bank).
# Template data: u32le(len) "sha256:\0" digest | u32le(len) PATH "\0".
# SHA256_HEX is the file digest; default: the sha256 of the text "PATH" (a
# stand-in for the file's content). Serialise calls per LIST (flock).
set -euo pipefail
list=${1:?usage: ima-measure.sh LIST TCTI PATH [SHA256_HEX]}
tcti=${2:?TCTI}
path=${3:?PATH}
digest=${4:-$(printf '%s' "$path" | sha256sum | cut -d' ' -f1)}
if ! [[ $digest =~ ^[0-9a-f]{64}$ ]]; then
  echo "ima-measure.sh: digest must be 64 lower-case hex digits" >&2
  exit 2
fi
if [[ $path =~ [[:space:]] ]]; then
  echo "ima-measure.sh: the lab's paths have no white space" >&2
  exit 2
fi
u32le() { printf '%08x' "$1" | sed -E 's/(..)(..)(..)(..)/\4\3\2\1/'; }
algo_hex=$(printf 'sha256:' | xxd -p)00
d_ng="${algo_hex}${digest}"
n_ng="$(printf '%s' "$path" | xxd -p | tr -d '\n')00"
tdata="$(u32le $((${#d_ng} / 2)))${d_ng}$(u32le $((${#n_ng} / 2)))${n_ng}"
sha1=$(printf '%s' "$tdata" | xxd -r -p | sha1sum | cut -d' ' -f1)
sha256=$(printf '%s' "$tdata" | xxd -r -p | sha256sum | cut -d' ' -f1)
exec 9>>"$list.lock"
flock 9
# The kernel extends the PCR before the entry becomes visible in the list;
# a reader that sees the entry can therefore always find it in the quote.
TPM2TOOLS_TCTI=$tcti tpm2_pcrextend "10:sha256=$sha256" >/dev/null
printf '10 %s ima-ng sha256:%s %s\n' "$sha1" "$digest" "$path" >>"$list"
