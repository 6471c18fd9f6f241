#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a
# bounded time over its seed corpus (copied, so the tree is not modified).
#   FUZZ_SECONDS=60 ./scripts/fuzz.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
SECONDS_EACH=${FUZZ_SECONDS:-60}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DATTEST_FUZZ=ON -DATTEST_BUILD_TESTS=OFF -DATTEST_BUILD_BENCH=OFF >/dev/null
# Build only the fuzz targets (and what they link), not the whole tree.
targets=$(awk 'NF {print $1}' "$BUILD_DIR/fuzzers.txt")
if [ $# -gt 0 ]; then targets="$*"; fi
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$(nproc)" --target $targets
# libtss2-mu logs every malformed input it sees; fuzzing feeds nothing else.
export TSS2_LOG=all+NONE
status=0
while read -r name corpus; do
  [ -n "$name" ] || continue
  if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then continue; fi
  work=$(mktemp -d)
  for d in $corpus; do cp -r "$d"/. "$work"/ 2>/dev/null || cp "$d" "$work"/ 2>/dev/null || true; done
  echo "fuzz: $name for ${SECONDS_EACH}s (seeds: $(ls "$work" | wc -l))"
  if ! "$BUILD_DIR/$(find "$BUILD_DIR" -name "$name" -type f -perm -u+x -printf '%P\n' | head -1)" \
      -max_total_time="$SECONDS_EACH" -max_len=2162688 -rss_limit_mb=4096 "$work" \
      > "$BUILD_DIR/$name.log" 2>&1; then
    echo "fuzz: $name FAILED, see $BUILD_DIR/$name.log"; tail -40 "$BUILD_DIR/$name.log"; status=1
  else
    grep -E "^Done|stat::number_of_executed_units" "$BUILD_DIR/$name.log" | tail -1 || true
  fi
  rm -rf "$work"
done < "$BUILD_DIR/fuzzers.txt"
exit $status
