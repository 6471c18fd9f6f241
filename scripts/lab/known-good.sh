#!/usr/bin/env bash
# known-good.sh DIR [FILES]: the lab nodes' known-good "image" (deterministic:
# every lab and container computes the same one).
#   DIR/known-good.paths     "path sha256" per file the nodes may run
#   DIR/known-good.ima       the IMA list of a node that ran all of them
#   DIR/runtime-policy.json  `attestctl policy runtime-from-log` of that list
# ATTESTCTL names the attestctl binary (default: attestctl on PATH).
set -euo pipefail
dir=${1:?usage: known-good.sh DIR [FILES]}
files=${2:-120}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dir"
perl -e 'use Digest::SHA qw(sha256_hex);
  printf "/usr/lib/lab/bin%03d %s\n", $_, sha256_hex(sprintf "lab-good-%03d", $_) for 1..$ARGV[0]' \
  "$files" >"$dir/known-good.paths"
"$here/ima-entries.pl" <"$dir/known-good.paths" | cut -f1 >"$dir/known-good.ima"
"${ATTESTCTL:-attestctl}" policy runtime-from-log --log "$dir/known-good.ima" \
  >"$dir/runtime-policy.json.tmp"
mv -f "$dir/runtime-policy.json.tmp" "$dir/runtime-policy.json"
