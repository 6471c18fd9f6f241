#!/usr/bin/env bash
# ima-measure.sh LIST TCTI [PATH SHA256_HEX]
# Measures files as the kernel's IMA would with the ima-ng template: for each
# "PATH SHA256_HEX" (the arguments, or lines on stdin) appends
#   10 <sha1(template data)> ima-ng sha256:<digest> <PATH>
# to the ascii list LIST and the same entry's record to the binary list next
# to it (LIST with "ascii_runtime_measurements" replaced by
# "binary_runtime_measurements", or LIST.bin), then extends PCR 10's sha256
# bank of the TPM at TCTI with sha256(template data)
# (scripts/lab/ima-entries.pl computes all three). The lab's swtpms have only
# the sha256 bank. TCTI "none" only appends to the lists. An empty LIST is a
# new boot: the binary list starts over too. Calls on one LIST are serialised
# (flock on LIST.lock).
set -euo pipefail
list=${1:?usage: ima-measure.sh LIST TCTI [PATH SHA256_HEX]}
tcti=${2:?TCTI}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $list in
  *ascii_runtime_measurements) bin=${list%ascii_runtime_measurements}binary_runtime_measurements ;;
  *) bin=$list.bin ;;
esac
if [ $# -ge 4 ]; then
  entries=$(printf '%s %s\n' "$3" "$4" | "$here/ima-entries.pl")
else
  entries=$("$here/ima-entries.pl")
fi
exec 9>>"$list.lock"
flock 9
# Whoever truncated LIST for a new boot (lab.sh, compose-node.sh) may not
# know the binary list: keep the two the same entries.
[ -s "$list" ] || : >"$bin"
# Entries go in batches: one append per list and one tpm2_pcrextend (which
# extends its arguments in order) per 256 entries, so a burst of thousands of
# measurements takes seconds, not a process per entry.
ascii=""
records=""
extends=()
flush() {
  [ ${#extends[@]} -gt 0 ] || return 0
  printf '%s' "$ascii" >>"$list"
  printf '%s' "$records" | perl -ne 'chomp; binmode STDOUT; print pack("H*", $_)' >>"$bin"
  if [ "$tcti" != none ]; then
    TPM2TOOLS_TCTI=$tcti tpm2_pcrextend "${extends[@]}" >/dev/null
  fi
  ascii=""
  records=""
  extends=()
}
while IFS=$'\t' read -r entry sha256 record; do
  [ -n "$entry" ] || continue
  # As the kernel does (ima_add_template_entry): the entry joins the list
  # first, then PCR 10 is extended. The agent quotes and then reads the list,
  # so its list always covers the quoted PCR (the verifier accepts a list that
  # runs ahead of the quote); the other order could send a list shorter than
  # the PCR, a false ima.pcr_mismatch.
  ascii+="$entry"$'\n'
  records+="$record"$'\n'
  extends+=("10:sha256=$sha256")
  [ ${#extends[@]} -lt 256 ] || flush
done <<<"$entries"
flush
