#!/usr/bin/env bash
# The fault campaign (issue 9, point 3): under a steady load, in turn
#   1. SIGKILL a worker              2. SIGKILL + restart the gateway
#   3. restart PostgreSQL            4. dev broker nodes down, then up
#   5. disk full under PostgreSQL's tables (a tmpfs tablespace; needs root)
# and after each the invariants (scripts/campaign/check.pl): every evidence
# that got a 202 has exactly one verdict per (agent, sequence), no verdict
# for refused evidence, agents keep their state, the services recover
# without manual action. Prints a table: fault, recovery time, counts.
# See docs/faults.md.
#
#   scripts/fault-campaign.sh            build (unless CAMPAIGN_SKIP_BUILD=1),
#                                        start a lab in .campaign/, run, stop
#
# The services are the lab's (scripts/lab.sh --detach, its start-up
# functions for restarts). The load is attest-bench when it is built
# (simulated agents) plus the lab's swtpm agents; without attest-bench only
# the lab's agents. Environment: CAMPAIGN_RUN_DIR (.campaign),
# CAMPAIGN_BUILD_DIR (build), CAMPAIGN_AGENTS (lab agents, 4),
# CAMPAIGN_INTERVAL (s, 3), CAMPAIGN_BENCH_AGENTS (100), CAMPAIGN_BENCH_RATE
# (evidence/s, 50), CAMPAIGN_BENCH_DURATION (s, 180), CAMPAIGN_DISK=0 (skip the disk fault), CAMPAIGN_KEEP=1
# (leave the lab running), CAMPAIGN_BROKER_DOWN (s, 5), CAMPAIGN_DISK_FULL
# (s, 15), CAMPAIGN_RECOVERY_MAX (s, 60), CAMPAIGN_IMA_PERIOD (s between simulated
# IMA measurements, 20: see docs/faults.md on the lab's IMA race).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LAB_RUN_DIR=${CAMPAIGN_RUN_DIR:-$REPO/.campaign}
export LAB_BUILD_DIR=${CAMPAIGN_BUILD_DIR:-$REPO/build}
export LAB_AGENTS=${CAMPAIGN_AGENTS:-4} LAB_INTERVAL=${CAMPAIGN_INTERVAL:-3} LAB_WORKERS=2
export LAB_SKIP_DEPS=1 LAB_SKIP_BUILD=1 LAB_IMA_PERIOD=${CAMPAIGN_IMA_PERIOD:-20}
# attest-bench enrols its simulated agents through the bulk path (off by default).
export LAB_BULK_ENROLMENT=true
RECOVERY_MAX=${CAMPAIGN_RECOVERY_MAX:-60}
START=$SECONDS

# shellcheck source=scripts/campaign/lablib.sh
source "$REPO/scripts/campaign/lablib.sh"
# shellcheck source=scripts/campaign/faults.sh
source "$REPO/scripts/campaign/faults.sh"
# shellcheck source=scripts/campaign/load.sh
source "$REPO/scripts/campaign/load.sh"
# shellcheck source=scripts/campaign/invariants.sh
source "$REPO/scripts/campaign/invariants.sh"

log() { printf '\033[1mcampaign:\033[0m %s\n' "$*" >&2; }

if [ "${CAMPAIGN_SKIP_BUILD:-0}" != 1 ]; then
  log "building into $LAB_BUILD_DIR"
  cmake -S "$REPO" -B "$LAB_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  local_targets=("${BINARIES[@]}")
  [ -f "$REPO/tools/attest-bench/CMakeLists.txt" ] && local_targets+=(attest-bench)
  ninja -C "$LAB_BUILD_DIR" -j2 "${local_targets[@]}"
fi

cleanup() {
  local rc=$?
  load_stop abort || true
  if [ "${CAMPAIGN_KEEP:-0}" != 1 ]; then
    "$REPO/scripts/lab.sh" stop >/dev/null 2>&1 || true
    disk_cleanup
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the lab in $RUN (logs: $RUN/logs)"
START_LOG=$(mktemp /tmp/attest-campaign-start.XXXXXX)
"$REPO/scripts/lab.sh" --detach >"$START_LOG" 2>&1 ||
  {
    tail -20 "$START_LOG" >&2
    rm -f "$START_LOG"
    exit 1
  }
mv "$START_LOG" "$RUN/logs/campaign-start.log"
load_state
find_binaries
export_template_env
ROWS=()
FAILED=0

DISK=${CAMPAIGN_DISK:-1}
if [ "$DISK" = 1 ] && { [ "$(id -u)" != 0 ] || ! disk_prepare; }; then
  log "disk fault skipped: needs root to mount a tmpfs tablespace"
  DISK=0
fi

load_start
log "load running ($(load_describe)); warming up"
wait_all_agents_verdict_after "$(now)" "$RECOVERY_MAX" >/dev/null ||
  log "warning: not every agent got a verdict during the warm-up"
snapshot_states >"$RUN/states.0"
check_invariants "baseline (no fault)" "-" "-"

run_fault() { # run_fault NAME FUNCTION
  local name=$1 fn=$2 rec
  log "fault: $name"
  "$fn"
  if rec=$(wait_all_agents_verdict_after "$FAULT_T1" "$RECOVERY_MAX"); then
    rec=$(awk -v a="$FAULT_T0" -v b="$rec" 'BEGIN { printf "%.1f s", b - a }')
  else
    rec="not recovered in ${RECOVERY_MAX} s"
    FAILED=1
  fi
  restart_dead_workers
  check_invariants "$name" "$rec" "$FAULT_NOTE"
}

run_fault "worker SIGKILL" fault_worker_sigkill
run_fault "gateway SIGKILL + restart" fault_gateway_sigkill
run_fault "PostgreSQL restart" fault_postgres_restart
run_fault "dev broker down + up" fault_broker_down_up
if [ "$DISK" = 1 ]; then
  run_fault "disk full (tablespace)" fault_disk_full
else
  ROWS+=("| disk full | skipped | - | needs root for a tmpfs tablespace |")
fi

load_stop
check_invariants "end (load stopped, drained)" "-" "$(load_summary)"

printf '\n| fault | recovery | counts checked (cumulative) | notes |\n|---|---|---|---|\n'
printf '%s\n' "${ROWS[@]}"
printf '\ncampaign took %d s; load: %s\n' $((SECONDS - START)) "$(load_describe)"
[ $FAILED = 0 ] || {
  log "an invariant was broken or a service did not recover (see above and $RUN/logs)"
  exit 1
}
