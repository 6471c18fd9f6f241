#!/usr/bin/env bash
# The fault campaign (issue 9 point 3, issue 18 point 4): under a steady load,
# in turn
#   1. SIGKILL a worker              2. SIGKILL + restart the gateway
#   3. restart PostgreSQL            4. disk full under PostgreSQL's tables
#                                       (a tmpfs tablespace; needs root)
# then the broker faults, on the lab's three-node Apache Kafka (KRaft):
#   5. SIGKILL the leader of an evidence partition, start it again later
#   6. SIGKILL another node (the active controller when it is not that
#      leader), start it again later
#   7. the leader of an evidence partition unreachable (SIGSTOP) for longer
#      than the producers' delivery timeouts, then SIGCONT
#   8. restart the whole cluster (every node stopped, started on its data)
#   9. the whole cluster unreachable (SIGSTOP) for longer than the gateway's
#      delivery timeout: 503s, and no verdict for the refused evidence
# (one node: its SIGKILL + start, the restart and the pause of the cluster;
# the dev broker: its old "down + up" fault instead)
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
# functions for restarts, `lab.sh kafka SUB` for the broker faults). The load
# is attest-bench when it is built (simulated agents) plus the lab's swtpm
# agents; without attest-bench only the lab's agents. Environment:
# CAMPAIGN_RUN_DIR (.campaign), CAMPAIGN_BUILD_DIR (build), CAMPAIGN_AGENTS
# (lab agents, 4), CAMPAIGN_INTERVAL (s, 3), CAMPAIGN_KAFKA_NODES (3; 1),
# CAMPAIGN_DEV_BROKER=1 (the dev broker instead of Kafka),
# CAMPAIGN_FAULTS (the faults to run, by name, in order; default all of the
# broker's kind: worker gateway postgres disk kafka-leader kafka-broker
# kafka-pause kafka-restart kafka-cluster-pause), CAMPAIGN_BENCH_AGENTS (100),
# CAMPAIGN_BENCH_RATE (evidence/s, 50), CAMPAIGN_BENCH_DURATION (s; default
# an estimate of the campaign's length, so the load lasts until the last
# fault), CAMPAIGN_DISK=0 (skip the disk fault), CAMPAIGN_KEEP=1 (leave the
# lab running), CAMPAIGN_BROKER_DOWN (s, 5: dev broker, one node),
# CAMPAIGN_NODE_DOWN (s a killed node stays down, 30), CAMPAIGN_PAUSE_NODE
# (s a node is unreachable; default the longer of the gateway's and the
# workers' producer delivery timeouts + 10), CAMPAIGN_PAUSE_CLUSTER (s the
# cluster is unreachable; default the gateway's delivery timeout + 5),
# CAMPAIGN_LEADER_PARTITION (evidence partition whose leader is hit, 0),
# CAMPAIGN_DISK_FULL (s, 15), CAMPAIGN_RECOVERY_MAX (s, 60),
# CAMPAIGN_IMA_PERIOD (s between simulated IMA measurements, 20: see
# docs/faults.md on the lab's IMA race).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LAB_RUN_DIR=${CAMPAIGN_RUN_DIR:-$REPO/.campaign}
export LAB_BUILD_DIR=${CAMPAIGN_BUILD_DIR:-$REPO/build}
export LAB_AGENTS=${CAMPAIGN_AGENTS:-4} LAB_INTERVAL=${CAMPAIGN_INTERVAL:-3} LAB_WORKERS=2
export LAB_SKIP_DEPS=1 LAB_SKIP_BUILD=1 LAB_IMA_PERIOD=${CAMPAIGN_IMA_PERIOD:-20}
# attest-bench enrols its simulated agents through the bulk path (off by default).
export LAB_BULK_ENROLMENT=true
# Apache Kafka on three nodes (scripts/lab.sh: replication factor 3,
# min.insync.replicas 2), or one, or the dev broker.
if [ "${CAMPAIGN_DEV_BROKER:-0}" = 1 ]; then
  export LAB_DEV_BROKER=1
else
  export LAB_DEV_BROKER=0 LAB_KAFKA_NODES=${CAMPAIGN_KAFKA_NODES:-3}
fi
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

log() { printf '\033[1mcampaign:\033[0m [%s, +%d s] %s\n' "$(date +%T)" $((SECONDS - START)) "$*" >&2; }

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

log "starting the lab in $RUN (logs: $RUN/logs; $([ "$LAB_DEV_BROKER" = 1 ] && echo "dev broker" || echo "Apache Kafka, $LAB_KAFKA_NODES node(s)"))"
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

# The producers' delivery timeouts the broker faults must outlast: the
# gateway's kafka.delivery_timeout_ms (ingest-gateway/config.h, default 10 s:
# then 503) and the workers' verdict producer (no key in
# verifier-workers/config.h: common/kafka/producer.h's default 30 s, unless
# the lab's properties set message.timeout.ms).
config_ms() { # FILE PATTERN DEFAULT
  local v
  v=$(sed -n "s/.*$2 *[=] *\([0-9][0-9]*\).*/\1/p" "$1" 2>/dev/null | head -1)
  echo "${v:-$3}"
}
GATEWAY_TIMEOUT_MS=$(config_ms "$RUN/config/gateway.toml" delivery_timeout_ms 10000)
WORKER_TIMEOUT_MS=$(config_ms "$RUN/config/worker1.toml" message.timeout.ms 30000)
PAUSE_NODE=${CAMPAIGN_PAUSE_NODE:-$(((GATEWAY_TIMEOUT_MS > WORKER_TIMEOUT_MS ? GATEWAY_TIMEOUT_MS : WORKER_TIMEOUT_MS) / 1000 + 10))}
PAUSE_CLUSTER=${CAMPAIGN_PAUSE_CLUSTER:-$((GATEWAY_TIMEOUT_MS / 1000 + 5))}
NODE_DOWN=${CAMPAIGN_NODE_DOWN:-30}
export CAMPAIGN_NODE_DOWN=$NODE_DOWN

case "$KAFKA_MODE" in
  dev) DEFAULT_FAULTS="worker gateway postgres disk devbroker" ;;
  kafka)
    if [ "$KAFKA_NODES" = 3 ]; then
      DEFAULT_FAULTS="worker gateway postgres disk kafka-leader kafka-broker kafka-pause kafka-restart kafka-cluster-pause"
    else
      DEFAULT_FAULTS="worker gateway postgres disk kafka-node kafka-restart kafka-cluster-pause"
    fi
    ;;
  *) DEFAULT_FAULTS="worker gateway postgres disk" ;; # an external Kafka: not ours to break
esac
FAULTS=${CAMPAIGN_FAULTS:-$DEFAULT_FAULTS}

# How long each fault takes with its check, roughly (a 2-core machine): the
# load must last until the last one (CAMPAIGN_BENCH_DURATION overrides).
estimate() {
  case $1 in
    worker | gateway | postgres | devbroker) echo 25 ;;
    disk) echo 35 ;;
    kafka-leader | kafka-broker) echo $((NODE_DOWN + 25)) ;;
    kafka-pause) echo $((PAUSE_NODE + 20)) ;;
    kafka-node | kafka-restart) echo 40 ;;
    kafka-cluster-pause) echo $((PAUSE_CLUSTER + 30)) ;;
    *) echo 0 ;;
  esac
}
BENCH_DURATION_AUTO=40 # warm-up and baseline
for f in $FAULTS; do BENCH_DURATION_AUTO=$((BENCH_DURATION_AUTO + $(estimate "$f"))); done

DISK=${CAMPAIGN_DISK:-1}
[[ " $FAULTS " == *" disk "* ]] || DISK=0
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

# Services that exited by themselves (not the worker fault's own victim):
# they must recover unattended, so that breaks the campaign; a supervisor
# would restart them, and so does the campaign, to go on.
services_check() { # EXPECTED_DEAD_WORKER(0|1)
  local i g dead=""
  for i in $(seq 1 "$WORKERS"); do
    g=$(pgid_of "worker$i")
    if ! alive "$g"; then
      [ "$1" = 1 ] || dead+="${dead:+, }worker $i"
      start_worker "$i"
    fi
  done
  for name in gateway registrar; do
    g=$(pgid_of "$name")
    alive "$g" || dead+="${dead:+, }$name (not restarted)"
  done
  [ -z "$dead" ] || echo "exited by itself: $dead"
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }

run_fault() { # run_fault NAME FUNCTION
  local name=$1 fn=$2 rec t bench=""
  [ -z "$BENCH_PID" ] || load_bench_running || bench=" (attest-bench had ended: lab agents only)"
  FAULT_FAILOVER="" FAULT_BROKEN="" FAULT_NOTE=""
  log "fault: $name"
  "$fn"
  if t=$(wait_all_agents_verdict_after "$FAULT_T1" "$RECOVERY_MAX"); then
    rec=$(elapsed "$FAULT_T0" "$t")
    # A single node out: the failover while it was out, then every agent
    # verified again after its return (from the return).
    [ -z "$FAULT_FAILOVER" ] || rec="failover $FAULT_FAILOVER; $(elapsed "$FAULT_T1" "$t") after its return"
  else
    rec="not recovered in ${RECOVERY_MAX} s${FAULT_FAILOVER:+ (failover $FAULT_FAILOVER)}"
    FAULT_BROKEN+="${FAULT_BROKEN:+; }not recovered"
  fi
  local dead
  dead=$(services_check "$([ "$fn" = fault_worker_sigkill ] && echo 1 || echo 0)")
  [ -z "$dead" ] || FAULT_BROKEN+="${FAULT_BROKEN:+; }$dead"
  check_invariants "$name" "$rec" "$FAULT_NOTE$bench" "$FAULT_BROKEN"
}

for f in $FAULTS; do
  case $f in
    worker) run_fault "worker SIGKILL" fault_worker_sigkill ;;
    gateway) run_fault "gateway SIGKILL + restart" fault_gateway_sigkill ;;
    postgres) run_fault "PostgreSQL restart" fault_postgres_restart ;;
    disk)
      if [ "$DISK" = 1 ]; then
        run_fault "disk full (tablespace)" fault_disk_full
      else
        ROWS+=("| disk full | skipped | - | needs root for a tmpfs tablespace |")
      fi
      ;;
    devbroker) run_fault "dev broker down + up" fault_broker_down_up ;;
    kafka-leader) run_fault "Kafka: leader of an evidence partition SIGKILL, back later" fault_kafka_leader_kill ;;
    kafka-broker) run_fault "Kafka: another node SIGKILL, back later" fault_kafka_broker_kill ;;
    kafka-pause) run_fault "Kafka: a leader unreachable (SIGSTOP ${PAUSE_NODE} s)" fault_kafka_pause_node ;;
    kafka-node) run_fault "Kafka: the node SIGKILL + start" fault_kafka_single_kill ;;
    kafka-restart) run_fault "Kafka: whole cluster restart" fault_kafka_restart ;;
    kafka-cluster-pause) run_fault "Kafka: whole cluster unreachable (SIGSTOP ${PAUSE_CLUSTER} s)" fault_kafka_cluster_pause ;;
    *)
      log "unknown fault '$f' in CAMPAIGN_FAULTS"
      exit 2
      ;;
  esac
done

load_stop
check_invariants "end (load stopped, drained)" "-" "$(load_summary)"

printf '\n| fault | recovery | counts checked (cumulative) | notes |\n|---|---|---|---|\n'
printf '%s\n' "${ROWS[@]}"
printf '\ncampaign took %d s; load: %s\n' $((SECONDS - START)) "$(load_describe)"
if [ "$KAFKA_MODE" = kafka ]; then
  printf 'Kafka: %s node(s); producer delivery timeouts: gateway %d ms, workers %d ms; node down %d s, node unreachable %d s, cluster unreachable %d s\n' \
    "$KAFKA_NODES" "$GATEWAY_TIMEOUT_MS" "$WORKER_TIMEOUT_MS" "$NODE_DOWN" "$PAUSE_NODE" "$PAUSE_CLUSTER"
else
  printf 'Kafka: %s (%s)\n' "$KAFKA_MODE" "$KAFKA_BOOTSTRAP"
fi
[ $FAILED = 0 ] || {
  log "an invariant was broken or a service did not recover (see above and $RUN/logs)"
  exit 1
}
