# shellcheck shell=bash disable=SC2034,SC2154
# The faults of scripts/fault-campaign.sh. Each fault_X injects, undoes what a
# supervisor would undo (restart a killed process with the lab's own
# commands), and sets FAULT_T0 (injection) and FAULT_T1 (the fault is over:
# the restart was issued / the broker is back; recovery is measured from
# FAULT_T0 until every agent has a verdict committed after FAULT_T1).
# Needs the lab's functions (lablib.sh) and its state (load_state).

now() { date +%s.%N; }

fault_worker_sigkill() {
  FAULT_T0=$(now)
  "$REPO/scripts/lab.sh" kill-worker >/dev/null 2>&1
  FAULT_T1=$FAULT_T0
  FAULT_NOTE="SIGKILL worker; its partitions move to the survivor"
}

fault_gateway_sigkill() {
  FAULT_T0=$(now)
  kill -KILL -- "-$(pgid_of gateway)"
  sleep "${CAMPAIGN_GATEWAY_DOWN:-1}"
  # The lab's start line (scripts/lab.sh cmd_start).
  spawn gateway "$LOGS/gateway.log" "$BIN_attest_gateway" --config "$RUN/config/gateway.toml" \
    >/dev/null
  FAULT_T1=$(now)
  wait_for 60 "the gateway to be ready again" \
    http_ok "https://127.0.0.1:$GATEWAY_PORT/readyz" "$RUN/pki/ca.pem"
  FAULT_NOTE="SIGKILL gateway, restarted after ${CAMPAIGN_GATEWAY_DOWN:-1} s"
}

fault_postgres_restart() {
  local pg
  pg=$(readlink -f "$RUN/pg")
  FAULT_T0=$(now)
  stop_group "$(pgid_of postgres)" INT # fast shutdown: clients are cut off
  # The lab's start line (scripts/lab.sh start_postgres), same data dir and port.
  spawn postgres "$LOGS/postgres.log" "${AS_PG[@]}" "$PGBIN/postgres" -D "$pg/data" \
    -p "$PG_PORT" -k "$pg" -c listen_addresses=127.0.0.1 -c fsync=off \
    -c synchronous_commit=off -c max_connections=100 >/dev/null
  FAULT_T1=$(now)
  wait_for 30 "PostgreSQL to accept connections again" psql -X -q "$ADMIN_DB" -c 'select 1'
  FAULT_NOTE="fast shutdown + start of PostgreSQL"
}

fault_broker_down_up() {
  local g
  g=$(pgid_of devbroker)
  FAULT_T0=$(now)
  kill -USR1 -- "-$g" # every mock broker down (tools/devbroker/README.md)
  sleep "${CAMPAIGN_BROKER_DOWN:-5}"
  kill -USR2 -- "-$g"
  FAULT_T1=$(now)
  FAULT_NOTE="dev broker nodes down ${CAMPAIGN_BROKER_DOWN:-5} s, then up"
}

# Disk full under PostgreSQL: the history and state tables are moved to a
# tablespace on a small tmpfs the campaign mounts (its own, nothing else
# lives there), which is then filled with a file until ENOSPC; after
# CAMPAIGN_DISK_FULL seconds the file is removed. Needs root (mount).
disk_prepare() {
  # Under /tmp: the postgres user may not reach the run dir (see lab.sh).
  DISK_DIR=$(mktemp -d /tmp/attest-campaign-disk.XXXXXX)
  chmod 0755 "$DISK_DIR"
  mount -t tmpfs -o size="${CAMPAIGN_DISK_MB:-64}m" campaign-tmpfs "$DISK_DIR" || return 1
  echo "$DISK_DIR" >"$RUN/disk.mounted"
  mkdir -p "$DISK_DIR/ts"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DISK_DIR/ts"
  psql_lab -c "CREATE TABLESPACE campaign_disk LOCATION '$DISK_DIR/ts'" >/dev/null || return 1
  # Every table the worker writes per evidence.
  local t
  for t in $(psql -X -At "$ADMIN_DB" -c "SELECT c.relname FROM pg_class c
      WHERE c.relkind = 'r' AND (c.relname LIKE 'attestation_history%'
        OR c.relname IN ('enrolments', 'outbox', 'consumer_offsets'))"); do
    psql_lab -c "ALTER TABLE $t SET TABLESPACE campaign_disk" >/dev/null || return 1
  done
}

fault_disk_full() {
  local before after
  before=$(grep -c 'No space left on device' "$LOGS/postgres.log" || true)
  FAULT_T0=$(now)
  dd if=/dev/zero of="$DISK_DIR/fill" bs=1M 2>/dev/null || true # until ENOSPC
  sleep "${CAMPAIGN_DISK_FULL:-15}"
  rm -f "$DISK_DIR/fill"
  FAULT_T1=$(now)
  after=$(grep -c 'No space left on device' "$LOGS/postgres.log" || true)
  # A table only needs new space when its pages are full: at a low rate the
  # fault may not bite; the note says whether PostgreSQL hit ENOSPC.
  FAULT_NOTE="tablespace tmpfs full for ${CAMPAIGN_DISK_FULL:-15} s, then freed; PostgreSQL logged ENOSPC $((after - before)) times"
}

disk_cleanup() { # after the lab stopped
  [ -f "$RUN/disk.mounted" ] || return 0
  local d
  d=$(cat "$RUN/disk.mounted")
  umount "$d" 2>/dev/null || umount -l "$d" || true
  rmdir "$d" 2>/dev/null || true
  rm -f "$RUN/disk.mounted"
}

# ---------------------------------------------------------------- Kafka
# Broker faults on the lab's own Apache Kafka (scripts/kafka.sh through
# `scripts/lab.sh kafka SUB`). On three nodes every topic has replication
# factor 3 and min.insync.replicas 2 (lab.sh create_topics): one node down,
# the two others keep taking acks=all writes, so a single-node fault is
# measured twice: the failover while the node is down (every agent verified
# again without it) and the recovery after it is back.

kafka_lab() { "$REPO/scripts/lab.sh" kafka "$@"; }

secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# "topic partition leader replicas isrs" per partition (kcat's metadata
# lines: "partition 0, leader 1, replicas: 1,2,3, isrs: 1,2,3").
kafka_partitions() {
  kcat -L -b "$KAFKA_BOOTSTRAP" -m 5 2>/dev/null | awk '
    /^  topic "/ { t = $2; gsub(/"/, "", t) }
    /^    partition / { p = $2; l = $4; r = $6; i = $8
      sub(",", "", p); sub(",", "", l); sub(/,$/, "", r); sub(/,$/, "", i)
      print t, p, l, split(r, a, ","), split(i, b, ",") }'
}

# Waits until every partition has a leader and all its replicas in sync
# (a restarted node caught up): the next fault must not meet a cluster that
# already runs on two replicas. Prints the seconds it took.
wait_isr_full() { # MAX_SECONDS
  local t0 end=$((SECONDS + $1)) bad
  t0=$(now)
  while [ $SECONDS -lt $end ]; do
    bad=$(kafka_partitions | awk 'NF == 5 { n++; if ($3 < 0 || $4 != $5) b++ } END { print (n ? b + 0 : "none") }')
    if [ "$bad" = 0 ]; then
      secs_since "$t0"
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# The KRaft quorum's active controller (Kafka's own tool: a JVM, ~2 s).
kafka_active_controller() {
  # Logging as scripts/kafka.sh configures the nodes (reload4j since 3.9).
  java -cp "$REPO/ops/kafka/target/lib/*" \
    -Dlog4j.configuration="file:$RUN/kafka/node-1/log4j.properties" \
    org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
    describe --status 2>/dev/null | awk '$1 == "LeaderId:" { print $2 }'
}

# What node ID does in the cluster, for the notes: "leads 2 of 6 evidence
# partitions, active controller".
kafka_roles() { # ID CONTROLLER
  local led total
  led=$(kafka_partitions | awk -v id="$1" '$1 == "attestation.evidence" && $3 == id' | wc -l)
  total=$(kafka_partitions | awk '$1 == "attestation.evidence"' | wc -l)
  printf 'leader of %d of %d evidence partitions%s' "$led" "$total" \
    "$([ "$1" = "${2:-}" ] && echo ', active controller')"
}

# The gateway's counters, for the notes: "accepted delivery_failed
# produce_refused evidence_503s" (gateway_evidence_total by outcome and
# gateway_http_requests_total of the evidence route with status 503).
gateway_counters() {
  curl -fsS --max-time 5 --cacert "$RUN/pki/ca.pem" "https://127.0.0.1:$GATEWAY_PORT/metrics" 2>/dev/null |
    awk '/^gateway_evidence_total/ && /outcome="accepted"/ { a += $NF }
      /^gateway_evidence_total/ && /outcome="delivery_failed"/ { d += $NF }
      /^gateway_evidence_total/ && /outcome="produce_refused"/ { r += $NF }
      /^gateway_http_requests_total/ && /evidence"/ && /status="503"/ { s += $NF }
      END { printf "%d %d %d %d\n", a, d, r, s }'
}

# "accepted +N, 503 +M (delivery timed out K, producer refused L)" between
# two gateway_counters readings (a restarted gateway starts from 0).
gateway_delta() { # BEFORE AFTER
  awk -v b="$1" -v a="$2" 'BEGIN { split(b, x, " "); split(a, y, " ")
    for (i = 1; i <= 4; i++) d[i] = (y[i] >= x[i]) ? y[i] - x[i] : y[i]
    printf "gateway: 202 +%d, evidence 503 +%d (delivery failed %d, producer refused %d)",
      d[1], d[4], d[2], d[3] }'
}

# Sleeps until epoch time T.
sleep_until() {
  local left
  left=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.2f", (d > 0 ? d : 0) }')
  sleep "$left"
}

# One node out (SIGKILL or SIGSTOP) for DOWN seconds, then back (start-node
# on its data, or SIGCONT). FAULT_FAILOVER: every agent verified again while
# it was out; the recovery proper is measured by run_fault after FAULT_T1
# (the node is back).
kafka_node_out() { # ID kill|pause DOWN WHAT
  local id=$1 how=$2 down=$3 what=$4 t gw0 isr back
  gw0=$(gateway_counters)
  FAULT_T0=$(now)
  case $how in
    kill) kafka_lab kill-node "$id" KILL >/dev/null ;;
    pause) kafka_lab pause-node "$id" >/dev/null ;;
  esac
  if t=$(wait_all_agents_verdict_after "$FAULT_T0" "$down"); then
    FAULT_FAILOVER=$(awk -v a="$FAULT_T0" -v b="$t" 'BEGIN { printf "%.1f s", b - a }')
  else
    FAULT_FAILOVER="none in ${down} s"
  fi
  sleep_until "$(awk -v a="$FAULT_T0" -v d="$down" 'BEGIN { printf "%.3f", a + d }')"
  back=$(now)
  case $how in
    kill) kafka_lab start-node "$id" >/dev/null ;; # waits until every node is in the metadata
    pause) kafka_lab resume-node "$id" >/dev/null ;;
  esac
  FAULT_T1=$(now)
  isr=$(wait_isr_full 120) || {
    isr="not within 120"
    FAULT_BROKEN="replicas not in sync 120 s after the fault"
  }
  local out_s up_s
  out_s=$(awk -v a="$FAULT_T0" -v b="$back" 'BEGIN { printf "%.0f", b - a }')
  up_s=$(awk -v a="$back" -v b="$FAULT_T1" 'BEGIN { printf "%.1f", b - a }')
  if [ "$how" = kill ]; then
    FAULT_NOTE="$what: SIGKILL, down $out_s s, started again on its data (in the metadata after $up_s s)"
  else
    FAULT_NOTE="$what: SIGSTOP, unreachable $out_s s, then SIGCONT"
  fi
  FAULT_NOTE="$FAULT_NOTE; every replica in sync $isr s later; $(gateway_delta "$gw0" "$(gateway_counters)")"
}

fault_kafka_leader_kill() {
  local p=${CAMPAIGN_LEADER_PARTITION:-0} id ctl
  id=$(kafka_lab leader attestation.evidence "$p")
  ctl=$(kafka_active_controller)
  kafka_node_out "$id" kill "${CAMPAIGN_NODE_DOWN:-30}" \
    "node $id ($(kafka_roles "$id" "$ctl"), among them evidence/$p)"
}

# Another node than the leader of evidence/P: the active controller when it
# is not that leader, else the next node.
fault_kafka_broker_kill() {
  local p=${CAMPAIGN_LEADER_PARTITION:-0} leader ctl id
  leader=$(kafka_lab leader attestation.evidence "$p")
  ctl=$(kafka_active_controller)
  if [ -n "$ctl" ] && [ "$ctl" != "$leader" ]; then
    id=$ctl
  else
    id=$((leader % KAFKA_NODES + 1))
  fi
  kafka_node_out "$id" kill "${CAMPAIGN_NODE_DOWN:-30}" \
    "node $id, not the leader of evidence/$p ($(kafka_roles "$id" "$ctl"))"
}

# The leader of evidence/P unreachable (SIGSTOP: its sockets stay open, so
# clients learn nothing until their own timeouts) for longer than the
# producers' timeouts.
fault_kafka_pause_node() {
  local p=${CAMPAIGN_LEADER_PARTITION:-0} id ctl
  id=$(kafka_lab leader attestation.evidence "$p")
  ctl=$(kafka_active_controller)
  kafka_node_out "$id" pause "$PAUSE_NODE" \
    "node $id ($(kafka_roles "$id" "$ctl"), among them evidence/$p)"
}

# The only node of a one-node cluster: down and back (T1 = back).
fault_kafka_single_kill() {
  local gw0 isr
  gw0=$(gateway_counters)
  FAULT_T0=$(now)
  kafka_lab kill-node 1 KILL >/dev/null
  sleep "${CAMPAIGN_BROKER_DOWN:-5}"
  kafka_lab start-node 1 >/dev/null
  FAULT_T1=$(now)
  isr=$(wait_isr_full 120) || {
    isr="not within 120"
    FAULT_BROKEN="replicas not in sync 120 s after the fault"
  }
  FAULT_NOTE="the only node SIGKILLed, started again after ${CAMPAIGN_BROKER_DOWN:-5} s (serving $(secs_since "$FAULT_T0") s after the kill); $(gateway_delta "$gw0" "$(gateway_counters)")"
}

fault_kafka_restart() {
  local gw0 isr took
  gw0=$(gateway_counters)
  FAULT_T0=$(now)
  kafka_lab restart >/dev/null # SIGTERM to all, SIGKILL after 10 s, all started, wait
  FAULT_T1=$(now)
  took=$(awk -v a="$FAULT_T0" -v b="$FAULT_T1" 'BEGIN { printf "%.1f", b - a }')
  isr=$(wait_isr_full 120) || {
    isr="not within 120"
    FAULT_BROKEN="replicas not in sync 120 s after the fault"
  }
  FAULT_NOTE="every node stopped (SIGTERM; SIGKILL after 10 s) and started again on its data: serving again after $took s, every replica in sync after $isr s; $(gateway_delta "$gw0" "$(gateway_counters)")"
}

# Every node unreachable (SIGSTOP) for longer than the gateway's delivery
# timeout: evidence must be answered 503, and none of it may get a verdict
# (check.pl's refused_verdict, from the 503 answers the lab's agents logged).
fault_kafka_cluster_pause() {
  local gw0 gw1 id isr
  gw0=$(gateway_counters)
  FAULT_T0=$(now)
  for id in $(seq 1 "$KAFKA_NODES"); do kafka_lab pause-node "$id" >/dev/null; done
  sleep "$PAUSE_CLUSTER"
  for id in $(seq 1 "$KAFKA_NODES"); do kafka_lab resume-node "$id" >/dev/null; done
  FAULT_T1=$(now)
  gw1=$(gateway_counters)
  isr=$(wait_isr_full 120) || {
    isr="not within 120"
    FAULT_BROKEN="replicas not in sync 120 s after the fault"
  }
  FAULT_NOTE="all $KAFKA_NODES nodes SIGSTOPped ${PAUSE_CLUSTER} s, then SIGCONT; every replica in sync after $isr s; $(gateway_delta "$gw0" "$gw1")"
  # The point of the fault is the 503: say so when it did not bite.
  [ "$(awk -v b="$gw0" -v a="$gw1" 'BEGIN { split(b, x, " "); split(a, y, " "); print y[4] - x[4] }')" -gt 0 ] ||
    FAULT_NOTE="$FAULT_NOTE; NO 503 during the pause"
}
