# shellcheck shell=bash disable=SC2034,SC2154
# The steady load of scripts/fault-campaign.sh: the lab's swtpm agents (always
# running, real attest-agent processes that retry on 503 / connection errors)
# plus attest-bench's simulated agents when attest-bench is built
# (tools/attest-bench, docs/attest-bench.md).

BENCH_PID=
BENCH_JSON=

bench_binary() {
  [ "${CAMPAIGN_BENCH:-1}" = 1 ] || return 1
  find "$LAB_BUILD_DIR" -maxdepth 4 -type f -name attest-bench -perm -u+x 2>/dev/null | head -1 |
    grep . || return 1
}

load_start() {
  local b
  if ! b=$(bench_binary); then
    LOAD_DESC="$AGENTS lab agents (attest-agent on swtpm), interval ${INTERVAL} s"
    return 0
  fi
  BENCH=$b
  BENCH_JSON=$RUN/bench.json
  bench_start
}

load_describe() { echo "${LOAD_DESC:-?}"; }

# Stops the load so the final check sees a quiet, drained pipeline.
load_stop() {
  if [ -n "$BENCH_PID" ]; then
    kill -INT "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=
  fi
  local n
  for n in $(seq 1 "${AGENTS:-0}"); do
    local g
    g=$(pgid_of "agent$n" 2>/dev/null)
    alive "$g" && stop_group "$g"
  done
  return 0
}

# attest-bench's own accounting, when it ran (its JSON).
load_counts() { :; }
load_summary() { echo "load stopped"; }

bench_start() { :; }
