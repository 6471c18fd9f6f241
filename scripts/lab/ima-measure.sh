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
while IFS=$'\t' read -r entry sha256 record; do
  [ -n "$entry" ] || continue
  # As the kernel does (ima_add_template_entry): the entry joins the list
  # first, then PCR 10 is extended. The agent quotes and then reads the list,
  # so its list always covers the quoted PCR (the verifier accepts a list that
  # runs ahead of the quote); the other order could send a list shorter than
  # the PCR, a false ima.pcr_mismatch.
  printf '%s\n' "$entry" >>"$list"
  perl -e 'binmode STDOUT; print pack("H*", $ARGV[0])' "$record" >>"$bin"
  if [ "$tcti" != none ]; then
    TPM2TOOLS_TCTI=$tcti tpm2_pcrextend "10:sha256=$sha256" >/dev/null
  fi
done <<<"$entries"
