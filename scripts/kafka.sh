#!/usr/bin/env bash
# Apache Kafka (KRaft, combined broker+controller nodes) on loopback, for the
# tests, the lab and the fault campaign. The broker comes from Maven Central
# through ops/kafka/pom.xml (version pinned there; docs/kafka.md says why).
#
#   scripts/kafka.sh fetch                      jars into ops/kafka/target/lib (idempotent)
#   scripts/kafka.sh start DIR [NODES]          format + start 1 or 3 nodes, wait until ready;
#                                               prints the bootstrap list (also in DIR/bootstrap)
#   scripts/kafka.sh fresh DIR [NODES]          stop what DIR holds, wipe it, start (CTest's fixture)
#   scripts/kafka.sh stop DIR                   stop every node (SIGTERM, SIGKILL after 10 s)
#   scripts/kafka.sh restart DIR                stop every node, start them again on their data
#   scripts/kafka.sh kill-node DIR ID [SIG]     signal one node (default KILL) and wait for it
#   scripts/kafka.sh start-node DIR ID          start one node again with its data; wait until up
#   scripts/kafka.sh pause-node DIR ID / resume-node DIR ID   SIGSTOP / SIGCONT (unreachable node)
#   scripts/kafka.sh leader DIR TOPIC PARTITION node id leading that partition
#   scripts/kafka.sh create-topic DIR NAME PARTITIONS RF [key=value ...]
#   scripts/kafka.sh topics DIR                 describe every topic (Kafka's own tool)
#   scripts/kafka.sh wait DIR                   wait until every node is in the metadata
#
# Ports are chosen free at run time. Environment: KAFKA_HEAP (default 512m),
# KAFKA_READY_SECONDS (default 90), KAFKA_STOP_SECONDS (default 10), JAVA (default: java on PATH).
# Exit codes: 0 ok, 1 failure (a message on stderr), 2 usage.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POM=$ROOT/ops/kafka/pom.xml
LIB=$ROOT/ops/kafka/target/lib
JAVA=${JAVA:-java}
HEAP=${KAFKA_HEAP:-512m}
READY_SECONDS=${KAFKA_READY_SECONDS:-90}
STOP_SECONDS=${KAFKA_STOP_SECONDS:-10}

die() { echo "kafka.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -e/p' "$0" | grep '^#' >&2; exit 2; }

fetch() {
  # Re-fetch only when the pom changed since the last successful fetch. Each
  # pom's jars get their own directory (target/lib-<sha>, target/lib points
  # at the current one) and nodes run from the resolved path: a re-fetch
  # never pulls jars from under a running node.
  local stamp=$LIB/.pom.sha256 want
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && compgen -G "$LIB/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (scripts/install-deps.sh installs maven)"
  echo "kafka.sh: fetching Apache Kafka with Maven ($POM)" >&2
  if [ -L "$LIB" ]; then rm -f "$LIB"; else rm -rf "$LIB"; fi
  rm -rf "$LIB-$want"
  mvn -q -B -f "$POM" package >&2 || die "mvn could not fetch the broker (see above)"
  echo "$want" >"$LIB/.pom.sha256"
  mv "$LIB" "$LIB-$want"
  ln -s "lib-$want" "$LIB"
}

classpath() {
  compgen -G "$LIB/kafka_2.13-*.jar" >/dev/null || fetch
  echo "$(readlink -f "$LIB")/*"
}

free_port() {
  # Below the ephemeral range (outgoing connections take ports from it) and
  # not used by any TCP socket nor handed out earlier by this script.
  local lo=32768 hi p used
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$lo" -gt 12000 ] || lo=32768
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 1 500); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! grep -qx "$p" <<<"$used" && ! grep -qx "$p" "$DIR/ports" 2>/dev/null; then
      echo "$p" >>"$DIR/ports"
      echo "$p"
      return 0
    fi
  done
  die "no free port"
}

node_count() { cat "$DIR/nodes"; }
bootstrap() { cat "$DIR/bootstrap"; }
pid_of() { cat "$DIR/node-$1/pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

write_config() {
  local n=$1 id=$2 voters=$3 bport=$4 cport=$5 rf isr
  rf=$((n < 3 ? n : 3))
  isr=$((n < 2 ? 1 : 2))
  mkdir -p "$DIR/node-$id/data"
  cat >"$DIR/node-$id/server.properties" <<EOF
# Written by scripts/kafka.sh: node $id of $n (combined broker+controller).
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/node-$id/data
# Topics are created explicitly, with the configurations the pipeline needs.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
unclean.leader.election.enable=false
# A consumer group forms at once (tests and the lab start workers together).
group.initial.rebalance.delay.ms=0
# Evidence records reach 2 MiB + headers (ingest-gateway message_max_bytes).
message.max.bytes=4194304
replica.fetch.max.bytes=4194304
# A loopback cluster: shut down fast, notice a dead peer fast.
controlled.shutdown.max.retries=1
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
EOF
  cat >"$DIR/node-$id/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c{1})%n
log4j.logger.kafka=INFO
log4j.logger.kafka.server=INFO
log4j.logger.kafka.log=WARN
log4j.logger.kafka.cluster=WARN
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.org.apache.kafka.coordinator=INFO
log4j.logger.state.change.logger=WARN
EOF
}

launch() {
  local id=$1 cp
  cp=$(classpath)
  # setsid: the node survives the shell that started it (tests, the lab) and
  # is signalled by its own pid.
  setsid "$JAVA" -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$DIR/node-$id/log4j.properties" \
    -cp "$cp" kafka.Kafka "$DIR/node-$id/server.properties" \
    >>"$DIR/node-$id/kafka.log" 2>&1 </dev/null &
  echo $! >"$DIR/node-$id/pid"
}

brokers_in_metadata() {
  # Number of brokers node $1 reports, asked on its own port; empty when it
  # does not answer (so a restarted node counts only once it serves).
  kcat -b "127.0.0.1:$(cat "$DIR/node-$1/port")" -L -m 3 2>/dev/null |
    awk '/ brokers:$/ {print $1; exit}' || true
}

wait_ready() {
  # Every node that should run answers on its own port and sees all of them.
  local want deadline=$((SECONDS + READY_SECONDS)) id
  want=$(grep -lx up "$DIR"/node-*/wanted | wc -l)
  while [ $SECONDS -lt $deadline ]; do
    for id in $(seq 1 "$(node_count)"); do
      if [ -f "$DIR/node-$id/pid" ] && ! alive "$id" && [ "$(cat "$DIR/node-$id/wanted" 2>/dev/null)" = up ]; then
        tail -30 "$DIR/node-$id/kafka.log" >&2
        die "node $id exited during start-up (log: $DIR/node-$id/kafka.log)"
      fi
    done
    local ready=1
    for id in $(seq 1 "$(node_count)"); do
      if [ "$(cat "$DIR/node-$id/wanted" 2>/dev/null)" = up ] && [ "$(brokers_in_metadata "$id")" != "$want" ]; then
        ready=0
      fi
    done
    [ $ready = 0 ] || return 0
    sleep 0.5
  done
  die "cluster in $DIR not ready after ${READY_SECONDS}s (logs: $DIR/node-*/kafka.log)"
}

cmd_start() {
  local n=${1:-1} id voters="" bootstrap_list="" cluster_id cp
  case "$n" in 1 | 3) ;; *) die "NODES must be 1 or 3" ;; esac
  command -v "$JAVA" >/dev/null || die "java not found (scripts/install-deps.sh installs a JDK)"
  command -v kcat >/dev/null || die "kcat not found (scripts/install-deps.sh installs it)"
  mkdir -p "$DIR"
  [ ! -f "$DIR/nodes" ] || die "$DIR already holds a cluster (stop it, or use another directory)"
  cp=$(classpath)
  echo "$n" >"$DIR/nodes"
  declare -a bports cports
  for id in $(seq 1 "$n"); do
    bports[$id]=$(free_port)
    cports[$id]=$(free_port)
    voters+="${voters:+,}$id@127.0.0.1:${cports[$id]}"
    bootstrap_list+="${bootstrap_list:+,}127.0.0.1:${bports[$id]}"
  done
  echo "$bootstrap_list" >"$DIR/bootstrap"
  cluster_id=$("$JAVA" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  [ -n "$cluster_id" ] || die "StorageTool random-uuid failed"
  for id in $(seq 1 "$n"); do
    write_config "$n" "$id" "$voters" "${bports[$id]}" "${cports[$id]}"
    echo "${bports[$id]}" >"$DIR/node-$id/port"
    "$JAVA" -cp "$cp" -Dlog4j.configuration="file:$DIR/node-$id/log4j.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$DIR/node-$id/server.properties" \
      >>"$DIR/node-$id/kafka.log" 2>&1 || { tail -20 "$DIR/node-$id/kafka.log" >&2; die "format of node $id failed"; }
  done
  for id in $(seq 1 "$n"); do
    echo up >"$DIR/node-$id/wanted"
    launch "$id"
  done
  wait_ready
  bootstrap
}

stop_node() {
  local id=$1 sig=${2:-TERM} wait_s=${3:-20} p
  echo down >"$DIR/node-$id/wanted"
  p=$(pid_of "$id")
  [ -n "$p" ] || return 0
  kill -CONT "$p" 2>/dev/null || true
  kill -"$sig" "$p" 2>/dev/null || return 0
  for _ in $(seq 1 $((wait_s * 10))); do
    kill -0 "$p" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null || true
  while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
}

cmd_stop() {
  [ -f "$DIR/nodes" ] || return 0
  local id p deadline=$((SECONDS + STOP_SECONDS)) left
  # All at once, then SIGKILL what is left after KAFKA_STOP_SECONDS: the last
  # nodes of a cluster being stopped wait for a controller quorum that is
  # gone, and acks=all data is already on every in-sync replica's log.
  for id in $(seq 1 "$(node_count)"); do
    echo down >"$DIR/node-$id/wanted"
    p=$(pid_of "$id")
    [ -n "$p" ] && { kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; }
  done
  while :; do
    left=0
    for id in $(seq 1 "$(node_count)"); do alive "$id" && left=1; done
    [ $left = 1 ] || return 0
    [ $SECONDS -lt $deadline ] || break
    sleep 0.2
  done
  for id in $(seq 1 "$(node_count)"); do stop_node "$id" KILL 10; done
}

cmd_leader() {
  local topic=$1 part=$2
  kcat -b "$(bootstrap)" -L -t "$topic" -m 5 2>/dev/null |
    awk -v p="$part" '$1 == "partition" && $2 == p"," {for (i = 1; i <= NF; i++) if ($i == "leader") {sub(",", "", $(i+1)); print $(i+1); exit}}'
}

cmd_create_topic() {
  local name=$1 parts=$2 rf=$3 cp args=()
  shift 3
  for kv in "$@"; do args+=(--config "$kv"); done
  cp=$(classpath)
  "$JAVA" -cp "$cp" -Dlog4j.configuration="file:$DIR/node-1/log4j.properties" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" --create --if-not-exists \
    --topic "$name" --partitions "$parts" --replication-factor "$rf" "${args[@]}" >&2
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
if [ "$cmd" = fetch ]; then fetch; exit 0; fi
[ $# -ge 1 ] || usage
DIR=$(mkdir -p "$1" && cd "$1" && pwd)
shift
case "$cmd" in
  start) cmd_start "$@" ;;
  stop) cmd_stop ;;
  fresh)
    cmd_stop
    find "$DIR" -mindepth 1 -delete
    cmd_start "$@"
    ;;
  restart)
    cmd_stop
    for id in $(seq 1 "$(node_count)"); do echo up >"$DIR/node-$id/wanted"; launch "$id"; done
    wait_ready
    ;;
  wait) wait_ready ;;
  kill-node) [ $# -ge 1 ] || usage; stop_node "$1" "${2:-KILL}" 30 ;;
  start-node)
    [ $# -ge 1 ] || usage
    alive "$1" || { echo up >"$DIR/node-$1/wanted"; launch "$1"; }
    wait_ready
    ;;
  pause-node) [ $# -ge 1 ] || usage; kill -STOP "$(pid_of "$1")" ;;
  resume-node) [ $# -ge 1 ] || usage; kill -CONT "$(pid_of "$1")" ;;
  leader) [ $# -eq 2 ] || usage; cmd_leader "$1" "$2" ;;
  create-topic) [ $# -ge 3 ] || usage; cmd_create_topic "$@" ;;
  topics)
    "$JAVA" -cp "$(classpath)" -Dlog4j.configuration="file:$DIR/node-1/log4j.properties" \
      org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" --describe
    ;;
  *) usage ;;
esac
