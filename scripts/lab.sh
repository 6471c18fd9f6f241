#!/usr/bin/env bash
# The one-command lab: the whole pipeline on loopback, on this machine.
#
#   scripts/lab.sh [start] [--detach] [--kafka-nodes 1|3] [--dev-broker]
#                                       install deps, build, start, enrol, then
#                                       show verdicts + status until Ctrl-C
#   scripts/lab.sh stop                 stop a detached lab (everything it started)
#   scripts/lab.sh status               processes, agents' states, last verdicts
#   scripts/lab.sh tamper N [PATH]      measure a binary outside agent N's policy
#                                       (PATH: any bytes but whitespace, e.g. 0xFF)
#   scripts/lab.sh burst N BYTES        grow agent N's IMA list by BYTES of entries
#                                       its policy allows (a list sent in parts)
#   scripts/lab.sh kill-worker          SIGKILL one running worker
#   scripts/lab.sh restart-agent N      stop agent N's process and start it again
#   scripts/lab.sh stop-agent N         stop agent N's process (its node keeps running)
#   scripts/lab.sh start-agent N        start agent N's process again
#   scripts/lab.sh reboot N             reboot node N: agent stopped, TPM power-cycled,
#                                       a new boot (UEFI log, fresh IMA list), agent started
#   scripts/lab.sh kafka SUB [ARGS]     scripts/kafka.sh SUB on the lab's cluster: stop,
#                                       start (every node again, on its data), kill-node ID
#                                       [SIG], start-node ID, pause-node ID, resume-node ID,
#                                       leader TOPIC PARTITION, topics, wait
#
# What runs (all state under the run dir, ports chosen free at run time):
# PostgreSQL (initdb into the run dir, migrated with `attestctl db migrate`),
# Apache Kafka (scripts/kafka.sh: one KRaft node, or three with --kafka-nodes 3,
# in the run dir's kafka/; topics created with their configurations), or the
# dev broker (--dev-broker), or Kafka at $KAFKA_BOOTSTRAP_SERVERS; a lab CA with TLS
# certificates, a registrar, a gateway, two workers, and three agents, each on
# its own swtpm with an EK certificate from the lab's EK CA, a simulated UEFI
# log (scripts/lab/uefi-log.pl, extended into PCRs 0-7 at each boot) and a
# simulated IMA list that grows (appended and extended into PCR 10 as a kernel
# would).
# The agents are enrolled with runtime policies generated from their
# known-good list (`attestctl policy runtime-from-log`).
#
# Environment: LAB_RUN_DIR (default <repo>/.lab), LAB_BUILD_DIR (default
# <repo>/build), LAB_SKIP_BUILD=1 (use the binaries already built),
# LAB_SKIP_DEPS=1 (do not run install-deps.sh), LAB_AGENTS (3), LAB_WORKERS
# (2), LAB_INTERVAL (attestation interval, seconds, 5), LAB_IMA_PERIOD (seconds
# between simulated IMA measurements, 4), LAB_PARTITIONS (evidence partitions,
# 6), LAB_KAFKA_NODES (1 or 3; --kafka-nodes), LAB_DEV_BROKER=1 (--dev-broker:
# attest-devbroker, librdkafka's mock cluster, for a machine without Java),
# KAFKA_BOOTSTRAP_SERVERS (use this Kafka instead of starting one; its
# topics must exist with LAB_PARTITIONS evidence partitions),
# LAB_KAFKA_PROPERTIES (librdkafka properties for that Kafka, TOML strings:
# '"security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", ...'),
# LAB_BULK_ENROLMENT=true (the registrar's bulk path, for attest-bench).
# Secrets: pki/ has one 0700 directory per component (scripts/lab/mkpki.sh);
# each service's config names only its own, and each database login has its
# own password. The lab's processes share one Unix user, so this keeps
# configurations honest rather than isolating them: ops/docker-compose.yml
# gives each container only its own volume.
# BIN_* are assigned by find_binaries (printf -v); state.env is generated.
# shellcheck disable=SC2154,SC1090
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LABLIB=$REPO/scripts/lab
RUN=${LAB_RUN_DIR:-$REPO/.lab}
BUILD=${LAB_BUILD_DIR:-$REPO/build}
AGENTS=${LAB_AGENTS:-3}
WORKERS=${LAB_WORKERS:-2}
INTERVAL=${LAB_INTERVAL:-5}
IMA_PERIOD=${LAB_IMA_PERIOD:-4}
PARTITIONS=${LAB_PARTITIONS:-6}
KAFKA_NODES=${LAB_KAFKA_NODES:-1}
DEV_BROKER=${LAB_DEV_BROKER:-0}
PGBIN=${LAB_PGBIN:-/usr/lib/postgresql/15/bin}
STATE=$RUN/state.env    # ports, addresses, conninfos of the running lab
PIDS=$RUN/pids          # "name pgid" per started process group
LOGS=$RUN/logs
KAFKA_DIR=$RUN/kafka    # scripts/kafka.sh's cluster directory
BINARIES=(attest-registrar attest-gateway attest-worker attest-agent attestctl)
[ "$DEV_BROKER" = 1 ] && BINARIES+=(attest-devbroker)

say() { printf '\033[1mlab:\033[0m %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# ---------------------------------------------------------------- helpers
bin() { echo "$BUILD/bin/$1"; }

find_binaries() {
  # attest_executable puts binaries in the build tree's bin/ or next to
  # their CMakeLists; accept either.
  local b p
  for b in "${BINARIES[@]}"; do
    p=$(find "$BUILD" -maxdepth 3 -type f -name "$b" -perm -u+x 2>/dev/null | head -1)
    [ -n "$p" ] || return 1
    printf -v "BIN_${b//-/_}" '%s' "$p"
  done
}

free_port() {
  # A port (and port+1 when asked) nobody listens on; random to make races
  # between parallel labs unlikely.
  # Below the kernel's ephemeral range: outgoing connections take their local
  # ports from it, and binding a port one of them holds fails (seen: swtpm
  # "Address already in use"). Ports of every TCP socket count as used.
  local span=${1:-1} p i used lo=32768 hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$lo" -gt 12000 ] || lo=32768
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (lo - 10000 - span)))
    local ok=1
    for ((i = 0; i < span; i++)); do
      if grep -qx "$((p + i))" <<<"$used" || grep -q " $((p + i))\$" "$RUN/ports" 2>/dev/null; then
        ok=0
      fi
    done
    if [ $ok = 1 ]; then
      for ((i = 0; i < span; i++)); do echo "port $((p + i))" >>"$RUN/ports"; done
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2
  shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${t}s waiting for $what"
    sleep 0.3
  done
}

# http_ok URL [CA]: GET answers 200. curl when installed, else openssl
# s_client / bash's /dev/tcp (curl's CLI is not in install-deps.sh).
http_ok() {
  local url=$1 ca=${2:-}
  if command -v curl >/dev/null; then
    curl -fsS ${ca:+--cacert "$ca"} -o /dev/null "$url"
    return
  fi
  local rest=${url#*://} hostport path
  hostport=${rest%%/*}
  path=/${rest#*/}
  local req="GET $path HTTP/1.1\r\nHost: $hostport\r\nConnection: close\r\n\r\n"
  if [[ $url == https://* ]]; then
    printf "$req" | timeout 5 openssl s_client -quiet -verify_return_error ${ca:+-CAfile "$ca"} \
      -connect "$hostport" 2>/dev/null | head -1 | grep -q ' 200 '
  else
    (
      exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
      printf "$req" >&3
      head -1 <&3 | grep -q ' 200 '
    )
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# initdb and postgres refuse to run as root: drop to the postgres user.
HELPERS=() # the foreground mode's own tail/sleep
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
as_pg() { "${AS_PG[@]}" "$@"; }

# spawn NAME LOGFILE COMMAND...: starts COMMAND in its own session (so its
# whole process group can be stopped) with output to LOGFILE.
spawn() {
  local name=$1 log=$2
  shift 2
  setsid "$@" </dev/null >>"$log" 2>&1 &
  local pid=$!
  echo "$name $pid" >>"$PIDS"
  echo "$pid"
}

pgid_of() { awk -v n="$1" '$1 == n {p = $2} END {print p}' "$PIDS" 2>/dev/null; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# stop_groups SIGNAL PGID...: signal every group at once, wait up to 15 s
# for all of them to exit, then SIGKILL what is left.
stop_groups() {
  local sig=$1 g left
  shift
  for g in "$@"; do kill "-$sig" -- "-$g" 2>/dev/null || true; done
  for _ in $(seq 1 75); do
    left=()
    for g in "$@"; do kill -0 -- "-$g" 2>/dev/null && left+=("$g"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.2
  done
  say "process groups ${left[*]} did not stop within 15 s: SIGKILL"
  for g in "${left[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
}

stop_group() { stop_groups "${2:-TERM}" "$1"; }

# The lab's Kafka nodes are not in $PIDS: `lab.sh kafka` restarts them under
# new pids; scripts/kafka.sh keeps each node's pid in its directory.
kafka_started() { [ -f "$KAFKA_DIR/nodes" ]; }

stop_all() {
  [ -f "$PIDS" ] || kafka_started || return 0
  # Agents and services together, then the broker (workers close their
  # consumers against it), then PostgreSQL (fast shutdown).
  local name g services=() broker=() postgres=()
  if [ -f "$PIDS" ]; then
    while read -r name g; do
      alive "$g" || continue
      case "$name" in
        postgres) postgres+=("$g") ;;
        devbroker) broker+=("$g") ;;
        *) services+=("$g") ;;
      esac
    done <"$PIDS"
  fi
  [ ${#services[@]} -eq 0 ] || stop_groups TERM "${services[@]}"
  [ ${#broker[@]} -eq 0 ] || stop_groups TERM "${broker[@]}"
  if kafka_started; then
    "$REPO/scripts/kafka.sh" stop "$KAFKA_DIR" || say "scripts/kafka.sh stop $KAFKA_DIR failed"
  fi
  [ ${#postgres[@]} -eq 0 ] || stop_groups INT "${postgres[@]}"
  if [ -f "$RUN/pg.external" ]; then
    rm -rf "$(cat "$RUN/pg.external")"
    rm -f "$RUN/pg.external"
  fi
  rm -f "$PIDS"
  say "stopped"
}

load_state() {
  [ -f "$STATE" ] || die "no lab state in $RUN (start one with scripts/lab.sh --detach)"
  # shellcheck disable=SC1090
  source "$STATE"
}

ctl() { "$BIN_attestctl" "$@"; }

agents_cmd() { # attestctl agents SUB ... against the lab's registrar
  local sub=$1
  shift
  ctl agents "$sub" --registrar "https://127.0.0.1:$REGISTRAR_PORT" \
    --token-file "$RUN/pki/admin.token" --ca-file "$RUN/pki/ca.pem" "$@"
}

psql_lab() { psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_DB" "$@"; }

# ---------------------------------------------------------------- start
prepare() {
  if [ "${LAB_SKIP_DEPS:-0}" != 1 ]; then
    say "installing missing Debian packages (scripts/install-deps.sh)"
    "$REPO/scripts/install-deps.sh"
  fi
  if [ "${LAB_SKIP_BUILD:-0}" != 1 ]; then
    say "building into $BUILD"
    cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ninja -C "$BUILD" "${BINARIES[@]}"
  fi
  find_binaries || die "binaries missing in $BUILD (need ${BINARIES[*]})"
}

start_postgres() {
  local pg=$RUN/pg
  mkdir -p "$pg"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$pg"
    # A repo under /root is not reachable for the postgres user: keep the
    # cluster in a private temp dir then (removed by stop).
    if ! as_pg test -w "$pg"; then
      rmdir "$pg"
      pg=$(mktemp -d /tmp/attest-lab-pg.XXXXXX)
      chown postgres:postgres "$pg"
      ln -s "$pg" "$RUN/pg"
      echo "$pg" >"$RUN/pg.external"
    fi
  fi
  # Passwords over TCP (each component its own login and password, from its
  # own passfile); trust only on the cluster's private Unix socket.
  install -m 0600 "$RUN/pki/db/admin.password" "$pg/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pg/pwfile"
  as_pg "$PGBIN/initdb" -D "$pg/data" -U attest --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$pg/pwfile" -E UTF8 --no-locale --no-sync \
    --no-instructions >"$LOGS/initdb.log" 2>&1 || die "initdb failed: see $LOGS/initdb.log"
  rm -f "$pg/pwfile"
  # A port taken by someone else between free_port and postgres's bind makes
  # postgres exit at once: then try another port (a busy machine may also
  # need a while to start it).
  local attempt end
  for attempt in 1 2 3; do
    PG_PORT=$(free_port)
    spawn postgres "$LOGS/postgres.log" "${AS_PG[@]}" "$PGBIN/postgres" -D "$pg/data" -p "$PG_PORT" -k "$pg" \
      -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
      -c max_connections=100 >/dev/null
    ADMIN_DB="host=127.0.0.1 port=$PG_PORT user=attest dbname=postgres passfile=$RUN/pki/db/admin.pgpass"
    end=$((SECONDS + 90))
    until psql -X -q "$ADMIN_DB" -c 'select 1' >/dev/null 2>&1; do
      alive "$(pgid_of postgres)" || break
      [ $SECONDS -lt $end ] || die "timed out after 90s waiting for PostgreSQL (see $LOGS/postgres.log)"
      sleep 0.3
    done
    psql -X -q "$ADMIN_DB" -c 'select 1' >/dev/null 2>&1 && break
    [ "$attempt" -lt 3 ] || die "PostgreSQL did not start (see $LOGS/postgres.log)"
    echo "lab: PostgreSQL exited (port $PG_PORT taken?); trying another port" >&2
  done
  psql_lab -c 'CREATE DATABASE attest' >/dev/null
  ADMIN_DB="host=127.0.0.1 port=$PG_PORT user=attest dbname=attest passfile=$RUN/pki/db/admin.pgpass"
  # Migrations, then one login per component in the least-privilege roles,
  # each with its own password (pki/db/<component>.password).
  ATTESTCTL=$BIN_attestctl "$LABLIB/db-init.sh" "$ADMIN_DB" "$REPO/schemas/sql" "$RUN/pki/db" \
    >"$LOGS/db-init.log" 2>&1 || die "database set-up failed: see $LOGS/db-init.log"
}

# KAFKA_MODE (state.env): kafka (the lab's own cluster in $KAFKA_DIR),
# dev (attest-devbroker) or external ($KAFKA_BOOTSTRAP_SERVERS).
start_kafka() {
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    KAFKA_MODE=external
    KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP_SERVERS
    say "using Kafka at $KAFKA_BOOTSTRAP"
  elif [ "$DEV_BROKER" = 1 ]; then
    KAFKA_MODE=dev
    spawn devbroker "$LOGS/devbroker.log" "$BIN_attest_devbroker" --partitions "$PARTITIONS" \
      --bootstrap-file "$RUN/kafka.bootstrap" >/dev/null
    wait_for 30 "the dev broker" test -s "$RUN/kafka.bootstrap"
    KAFKA_BOOTSTRAP=$(cat "$RUN/kafka.bootstrap")
    say "dev broker (librdkafka's mock cluster) at $KAFKA_BOOTSTRAP"
  else
    KAFKA_MODE=kafka
    say "starting Apache Kafka, $KAFKA_NODES node(s) (scripts/kafka.sh; logs in $KAFKA_DIR/node-*/)"
    KAFKA_BOOTSTRAP=$("$REPO/scripts/kafka.sh" start "$KAFKA_DIR" "$KAFKA_NODES" 2>"$LOGS/kafka.log") ||
      die "Kafka did not start: see $LOGS/kafka.log and $KAFKA_DIR/node-*/kafka.log"
    create_topics
    # The dev broker's file, for whoever reads the bootstrap list from there.
    echo "$KAFKA_BOOTSTRAP" >"$RUN/kafka.bootstrap"
  fi
}

# The pipeline's topics on the lab's cluster, with the configurations of
# common/kafka/topics.h (docs/kafka.md): on three nodes every record on every
# node and acks=all writes committed on two of them.
create_topics() {
  local rf=1
  [ "$KAFKA_NODES" = 3 ] && rf=3
  ctl kafka topics create --bootstrap-servers "$KAFKA_BOOTSTRAP" --partitions "$PARTITIONS" \
    --replication-factor "$rf" >>"$LOGS/kafka.log" 2>&1 ||
    die "attestctl kafka topics create failed: see $LOGS/kafka.log"
}

# Common environment of the config templates (scripts/lab/config/).
export_template_env() {
  export PKI_DIR=$RUN/pki EVIDENCE_PARTITIONS=$PARTITIONS KAFKA_BOOTSTRAP
  export REGISTRAR_LISTEN=127.0.0.1 REGISTRAR_PORT GATEWAY_LISTEN="127.0.0.1:$GATEWAY_PORT"
  # Each component logs in with its own password, from its own secrets
  # directory (scripts/lab/mkpki.sh); templates get SECRETS_DIR per component.
  local conn="host=127.0.0.1 port=$PG_PORT dbname=attest"
  export REGISTRAR_DATABASE="$conn user=lab_registrar passfile=$RUN/pki/registrar/db.pgpass"
  export GATEWAY_DATABASE="$conn user=lab_gateway passfile=$RUN/pki/gateway/db.pgpass"
  export WORKER_DATABASE="$conn user=lab_worker passfile=$RUN/pki/worker/db.pgpass"
  # Bulk enrolment (no EK check) only when asked for (attest-bench, the
  # fault campaign's load); extra librdkafka properties for an external Kafka
  # with authentication, e.g. '"security.protocol=SASL_SSL", ...'.
  export REGISTRAR_BULK_ENROLMENT=${LAB_BULK_ENROLMENT:-false}
  export KAFKA_PROPERTIES=${LAB_KAFKA_PROPERTIES:-}
  export CHALLENGE_PCRS=${LAB_CHALLENGE_PCRS:-10} VERDICT_ENCODING=json ATTEST_INTERVAL=$INTERVAL
  export AGENT_REGISTRARS="\"https://127.0.0.1:$REGISTRAR_PORT\""
  export AGENT_VERIFIERS="\"https://127.0.0.1:$GATEWAY_PORT\""
}

start_worker() { # start_worker I
  local i=$1 port
  port=$(free_port)
  WORKER_ID=lab-w$i METRICS_LISTEN=127.0.0.1:$port SECRETS_DIR=$RUN/pki/worker \
    "$LABLIB/render.sh" "$LABLIB/config/worker.toml" "$RUN/config/worker$i.toml"
  spawn "worker$i" "$LOGS/worker$i.log" "$BIN_attest_worker" --config "$RUN/config/worker$i.toml" \
    >/dev/null
  echo "WORKER${i}_METRICS=$port" >>"$STATE"
}

start_agent_process() { # start_agent_process N (the agent only; its swtpm runs)
  local n=$1
  spawn "agent$n" "$LOGS/agent$n.log" "$BIN_attest_agent" --config "$RUN/config/agent$n.toml" \
    >/dev/null
}

# boot_node DIR TCTI: what a node's boot leaves on a freshly started TPM:
# the firmware's UEFI log (extended into PCRs 0-7) and an IMA list that
# starts over with the first LAB_BOOT_ENTRIES files of the known-good image.
boot_node() {
  local dir=$1 tcti=$2
  : >"$dir/ascii_runtime_measurements"
  : >"$dir/binary_runtime_measurements"
  local extends
  extends=$("$LABLIB/uefi-log.pl" "$dir/binary_bios_measurements")
  # shellcheck disable=SC2086 # one argument per extend
  TPM2TOOLS_TCTI=$tcti tpm2_pcrextend $extends >/dev/null
  head -n "${LAB_BOOT_ENTRIES:-8}" "$RUN/known-good.paths" |
    "$LABLIB/ima-measure.sh" "$dir/ascii_runtime_measurements" "$tcti"
}

# start_ima_grower N TCTI: the rest of the image is "executed" over time:
# the list grows.
start_ima_grower() {
  spawn "ima$1" "$LOGS/ima$1.log" bash -c '
    tail -n +$(( ${LAB_BOOT_ENTRIES:-8} + 1 )) "$1" | while read -r p d; do
      sleep "$2"; "$3/ima-measure.sh" "$4" "$5" "$p" "$d"
    done; sleep infinity' grower "$RUN/known-good.paths" "$IMA_PERIOD" "$LABLIB" \
    "$RUN/agents/$1/ascii_runtime_measurements" "$2" >/dev/null
}

start_agent() { # start_agent N: swtpm, boot, config, agent, IMA grower
  local n=$1 port uuid
  local dir=$RUN/agents/$n
  mkdir -p "$dir/state"
  port=$(free_port 2)
  spawn "swtpm$n" "$LOGS/swtpm$n.log" "$LABLIB/swtpm-node.sh" run "$dir" "$port" >/dev/null
  wait_for 20 "swtpm of agent $n" port_open $((port + 1))
  local tcti="swtpm:host=127.0.0.1,port=$port"
  uuid=$(cat /proc/sys/kernel/random/uuid)
  boot_node "$dir" "$tcti"
  AGENT_DIR=$dir AGENT_TCTI=$tcti AGENT_UUID=$uuid AGENT_BOOT_TIME=$(date +%s) \
    "$LABLIB/render.sh" "$LABLIB/config/agent.toml" "$RUN/config/agent$n.toml"
  {
    echo "AGENT${n}_UUID=$uuid"
    echo "AGENT${n}_TCTI='$tcti'"
  } >>"$STATE"
  start_agent_process "$n"
  start_ima_grower "$n" "$tcti"
}

known_good_image() {
  # The files the lab's nodes may run, the list of a node that ran them all,
  # and the runtime policy generated from that list.
  ATTESTCTL=$BIN_attestctl "$LABLIB/known-good.sh" "$RUN" "${LAB_IMAGE_FILES:-120}" ||
    die "attestctl policy runtime-from-log failed"
}

enrol_agents() {
  local n uuid var
  for n in $(seq 1 "$AGENTS"); do
    var=AGENT${n}_UUID
    uuid=${!var}
    local end=$((SECONDS + 60)) out
    until out=$(agents_cmd enrol "$uuid" --runtime-policy "$RUN/runtime-policy.json" \
      --interval "$INTERVAL" 2>&1); do
      # The agent may not have finished registration + activation yet.
      [ $SECONDS -lt $end ] || die "enrolling agent $n ($uuid) failed: $out"
      sleep 1
    done
    say "enrolled agent $n ($uuid)"
  done
}

start_verdict_tail() {
  # kcat first: its output format is fixed ('%k %s'); the lab's workers
  # publish JSON. attestctl verdicts tail when kcat is missing. -E: kcat
  # exits when every broker is down (`lab.sh kafka stop`) unless told not to.
  if command -v kcat >/dev/null; then
    spawn verdicts "$LOGS/verdicts.log" kcat -E -q -u -C -b "$KAFKA_BOOTSTRAP" \
      -t attestation.verdicts -f '%k %s\n' >/dev/null
    spawn revocations "$LOGS/revocations.log" kcat -E -q -u -C -b "$KAFKA_BOOTSTRAP" \
      -t attestation.revocations -f '%k %s\n' >/dev/null
  elif "$BIN_attestctl" --help 2>/dev/null | grep -qE '^ +verdicts( |$)'; then
    spawn verdicts "$LOGS/verdicts.log" "$BIN_attestctl" verdicts tail \
      --bootstrap-servers "$KAFKA_BOOTSTRAP" >/dev/null
  else
    say "neither kcat nor attestctl verdicts tail: no verdict stream (install kcat)"
  fi
}

cmd_start() {
  local detach=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --detach) detach=1 ;;
      --kafka-nodes)
        [ $# -ge 2 ] || die "--kafka-nodes needs 1 or 3"
        KAFKA_NODES=$2
        shift
        ;;
      --kafka-nodes=*) KAFKA_NODES=${1#*=} ;;
      --dev-broker)
        DEV_BROKER=1
        BINARIES+=(attest-devbroker)
        ;;
      *) die "unknown flag $1" ;;
    esac
    shift
  done
  case "$KAFKA_NODES" in 1 | 3) ;; *) die "--kafka-nodes / LAB_KAFKA_NODES must be 1 or 3" ;; esac
  if [ -f "$PIDS" ] && alive "$(pgid_of postgres)"; then
    die "a lab is already running in $RUN (scripts/lab.sh stop)"
  fi
  prepare
  [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1 && die "no postgres user (install postgresql)"
  # Kafka nodes a crashed lab left running in this run dir (their data is
  # about to be removed).
  if kafka_started; then "$REPO/scripts/kafka.sh" stop "$KAFKA_DIR" || true; fi
  rm -rf "$RUN"
  mkdir -p "$RUN" "$LOGS" "$RUN/config"
  chmod 0755 "$RUN" "$LOGS"
  : >"$STATE"
  if [ $detach = 0 ]; then
    # Our own helpers (tail, sleep) are jobs of this shell; services have
    # their own sessions and are stopped in order by stop_all.
    trap 'trap - INT TERM EXIT; echo; kill "${HELPERS[@]}" 2>/dev/null; stop_all; exit 0' INT TERM
    trap 'stop_all' EXIT
  else
    # A failed detached start leaves nothing running.
    trap 'rc=$?; [ $rc = 0 ] || stop_all' EXIT
  fi
  say "run dir $RUN, logs in $LOGS/"
  "$LABLIB/mkpki.sh" "$RUN/pki"
  start_postgres
  start_kafka
  REGISTRAR_PORT=$(free_port)
  GATEWAY_PORT=$(free_port)
  export_template_env
  cat >>"$STATE" <<EOF
PG_PORT=$PG_PORT
ADMIN_DB='$ADMIN_DB'
KAFKA_BOOTSTRAP='$KAFKA_BOOTSTRAP'
KAFKA_MODE=$KAFKA_MODE
KAFKA_NODES=$KAFKA_NODES
REGISTRAR_PORT=$REGISTRAR_PORT
GATEWAY_PORT=$GATEWAY_PORT
AGENTS=$AGENTS
WORKERS=$WORKERS
BUILD=$BUILD
EOF
  known_good_image
  # The registrar's EK trust store must hold the EK CA before it starts:
  # manufacture every TPM first (sequentially: one CA serial file).
  local n i
  for n in $(seq 1 "$AGENTS"); do
    mkdir -p "$RUN/agents/$n"
  done
  SECRETS_DIR=$RUN/pki/registrar \
    "$LABLIB/render.sh" "$LABLIB/config/registrar.toml" "$RUN/config/registrar.toml"
  GATEWAY_ID=lab-gw1 SECRETS_DIR=$RUN/pki/gateway \
    "$LABLIB/render.sh" "$LABLIB/config/gateway.toml" "$RUN/config/gateway.toml"
  for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done
  for i in $(seq 1 "$WORKERS"); do
    local var=WORKER${i}_METRICS
    source "$STATE"
    wait_for 60 "worker $i (see $LOGS/worker$i.log)" http_ok "http://127.0.0.1:${!var}/healthz"
  done
  spawn gateway "$LOGS/gateway.log" "$BIN_attest_gateway" --config "$RUN/config/gateway.toml" \
    >/dev/null
  wait_for 60 "the gateway to be ready (see $LOGS/gateway.log)" \
    http_ok "https://127.0.0.1:$GATEWAY_PORT/readyz" "$RUN/pki/ca.pem"
  # Manufacture TPMs (fills pki/ek-ca) before the registrar loads its trust store.
  for n in $(seq 1 "$AGENTS"); do
    "$LABLIB/swtpm-node.sh" manufacture "$RUN/agents/$n" "$RUN/pki/ek-ca-state" \
      "$RUN/pki/ek-ca" || die "swtpm_setup failed for agent $n"
  done
  spawn registrar "$LOGS/registrar.log" "$BIN_attest_registrar" --no-migrate \
    --config "$RUN/config/registrar.toml" >/dev/null
  wait_for 60 "the registrar to be ready (see $LOGS/registrar.log)" \
    http_ok "https://127.0.0.1:$REGISTRAR_PORT/readyz" "$RUN/pki/ca.pem"
  start_verdict_tail
  for n in $(seq 1 "$AGENTS"); do start_agent "$n"; done
  source "$STATE"
  enrol_agents
  say "lab is up: registrar https://127.0.0.1:$REGISTRAR_PORT, gateway https://127.0.0.1:$GATEWAY_PORT"
  say "kafka $KAFKA_BOOTSTRAP; database psql '$ADMIN_DB'"
  say "verdicts: $LOGS/verdicts.log; try: scripts/lab.sh tamper 1 | kill-worker | restart-agent 2 | status"
  if [ $detach = 1 ]; then
    trap - EXIT
    say "detached; stop with: scripts/lab.sh stop"
    return 0
  fi
  say "Ctrl-C stops the lab"
  tail -n +1 -F "$LOGS/verdicts.log" 2>/dev/null &
  HELPERS[0]=$!
  local ticks=0
  while true; do
    # wait (not a foreground sleep) lets SIGTERM run the trap at once.
    sleep 5 &
    HELPERS[1]=$!
    wait $! || true
    # `scripts/lab.sh stop` from another shell removed the pid file: done.
    if [ ! -f "$PIDS" ]; then
      kill "${HELPERS[0]}" 2>/dev/null || true
      say "the lab was stopped from another shell"
      exit 0
    fi
    ticks=$((ticks + 1))
    if [ $((ticks % 6)) = 0 ]; then cmd_status || true; fi
  done
}

# ---------------------------------------------------------------- commands
cmd_status() {
  load_state
  find_binaries || die "binaries missing in $BUILD"
  printf '%-12s %-8s %s\n' PROCESS PID STATE
  local name g id
  while read -r name g; do
    if alive "$g"; then
      printf '%-12s %-8s %s\n' "$name" "$g" running
    else
      printf '%-12s %-8s %s\n' "$name" "$g" stopped
    fi
  done <"$PIDS"
  if kafka_started; then
    for id in $(seq 1 "$(cat "$KAFKA_DIR/nodes")"); do
      g=$(cat "$KAFKA_DIR/node-$id/pid" 2>/dev/null || true)
      if alive "$g"; then
        printf '%-12s %-8s %s\n' "kafka-$id" "$g" running
      else
        printf '%-12s %-8s %s\n' "kafka-$id" "${g:--}" stopped
      fi
    done
  fi
  echo
  psql_lab -P pager=off -c "SELECT r.agent_id, coalesce(e.state::text, 'registered') AS state,
        e.sequence, date_trunc('second', now() - e.last_attestation_at) AS since_last,
        e.state_reason
      FROM registrations r LEFT JOIN enrolments e USING (agent_id) ORDER BY 1" 2>/dev/null ||
    agents_cmd list || true
  psql_lab -P pager=off -c 'SELECT * FROM agents_by_state' 2>/dev/null || true
}

cmd_tamper() {
  local n=${1:?usage: lab.sh tamper N}
  load_state
  local var=AGENT${n}_TCTI
  [ -n "${!var:-}" ] || die "no agent $n"
  local path=${2:-}
  [ -n "$path" ] || path=/tmp/evil-$(date +%s)-$RANDOM
  "$LABLIB/ima-measure.sh" "$RUN/agents/$n/ascii_runtime_measurements" "${!var}" "$path" \
    "$(printf 'evil %s' "$path" | sha256sum | cut -d' ' -f1)"
  say "agent $n measured $(printf '%q' "$path") (not in its policy): expect FAIL and a revocation"
}

cmd_burst() {
  local n=${1:?usage: lab.sh burst N BYTES} bytes=${2:?usage: lab.sh burst N BYTES}
  load_state
  local var=AGENT${n}_TCTI
  [ -n "${!var:-}" ] || die "no agent $n"
  local list=$RUN/agents/$n/ascii_runtime_measurements
  local before
  before=$(stat -c %s "$list")
  # The known-good files again and again (allowed by the policy) until the
  # ascii list grew by BYTES: a host that just ran a large job.
  perl -e 'my @l = <STDIN>; my ($want, $sum) = @ARGV; my $i = 0;
    while ($sum < $want) { print $l[$i++ % @l]; $sum += 140 }' "$bytes" 0 \
    <"$RUN/known-good.paths" | "$LABLIB/ima-measure.sh" "$list" "${!var}"
  say "agent $n: IMA list grew by $(($(stat -c %s "$list") - before)) bytes of allowed entries"
}

cmd_kill_worker() {
  load_state
  local i g
  for i in $(seq 1 "$WORKERS"); do
    g=$(pgid_of "worker$i")
    if alive "$g"; then
      kill -KILL -- "-$g"
      say "SIGKILLed worker $i (pid $g): its partitions move to the others"
      return 0
    fi
  done
  die "no running worker"
}

cmd_restart_agent() {
  local n=${1:?usage: lab.sh restart-agent N}
  load_state
  find_binaries || die "binaries missing in $BUILD"
  [ -f "$RUN/config/agent$n.toml" ] || die "no agent $n"
  stop_group "$(pgid_of "agent$n")"
  start_agent_process "$n"
  say "restarted agent $n"
}

cmd_stop_agent() {
  local n=${1:?usage: lab.sh stop-agent N}
  load_state
  [ -f "$RUN/config/agent$n.toml" ] || die "no agent $n"
  stop_group "$(pgid_of "agent$n")"
  say "stopped agent $n (its node runs on: IMA measures, the TPM extends)"
}

cmd_start_agent() {
  local n=${1:?usage: lab.sh start-agent N}
  load_state
  find_binaries || die "binaries missing in $BUILD"
  [ -f "$RUN/config/agent$n.toml" ] || die "no agent $n"
  alive "$(pgid_of "agent$n")" && die "agent $n is running"
  start_agent_process "$n"
  say "started agent $n"
}

# A reboot of node N as its TPM sees it: power off (agent and IMA stopped),
# TPM2_Init (swtpm_ioctl -i: PCRs reset, resetCount advances) and
# TPM2_Startup(CLEAR), the firmware and the kernel measure again (boot_node),
# the agent starts with the new boot time.
cmd_reboot() {
  local n=${1:?usage: lab.sh reboot N}
  load_state
  find_binaries || die "binaries missing in $BUILD"
  local var=AGENT${n}_TCTI config=$RUN/config/agent$n.toml
  [ -n "${!var:-}" ] && [ -f "$config" ] || die "no agent $n"
  local tcti=${!var} port
  port=${tcti##*port=}
  stop_groups TERM "$(pgid_of "agent$n")" "$(pgid_of "ima$n")"
  swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -i >/dev/null || die "swtpm_ioctl -i failed for agent $n"
  local out
  out=$(TPM2TOOLS_TCTI=$tcti tpm2_startup -c 2>&1) || die "TPM2_Startup(CLEAR) failed: $out"
  boot_node "$RUN/agents/$n" "$tcti"
  # The agent tells a new boot by its boot time: a later second than the last.
  local boot last
  last=$(sed -n 's/^boot_time = //p' "$config")
  boot=$(date +%s)
  [ "$boot" -gt "${last:-0}" ] || boot=$((last + 1))
  sed -i "s/^boot_time = .*/boot_time = $boot/" "$config"
  start_agent_process "$n"
  start_ima_grower "$n" "$tcti"
  say "rebooted node $n (boot time $boot)"
}

# scripts/kafka.sh SUB on the lab's own cluster (broker faults: the fault
# campaign, or by hand). `start` starts every node again on its data (the
# cluster is formatted once, when the lab starts).
cmd_kafka() {
  local sub=${1:-}
  [ -n "$sub" ] || die "usage: scripts/lab.sh kafka SUB [ARGS] (see scripts/lab.sh --help)"
  shift
  load_state
  [ "${KAFKA_MODE:-}" = kafka ] && kafka_started ||
    die "this lab does not run its own Kafka (${KAFKA_MODE:-dev broker}: $KAFKA_BOOTSTRAP)"
  case "$sub" in
    start) sub=restart ;;
    stop | restart | kill-node | start-node | pause-node | resume-node | leader | topics | wait) ;;
    *) die "lab.sh kafka $sub: not a scripts/kafka.sh command for a running lab" ;;
  esac
  "$REPO/scripts/kafka.sh" "$sub" "$KAFKA_DIR" "$@"
}

cmd_stop() {
  [ -f "$PIDS" ] || kafka_started || {
    say "no lab running in $RUN"
    return 0
  }
  stop_all
}

main() {
  local sub=${1:-start}
  case "$sub" in
    start)
      shift || true
      cmd_start "$@"
      ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    tamper) cmd_tamper "${2:-}" "${3:-}" ;;
    burst) cmd_burst "${2:-}" "${3:-}" ;;
    kill-worker) cmd_kill_worker ;;
    restart-agent) cmd_restart_agent "${2:-}" ;;
    stop-agent) cmd_stop_agent "${2:-}" ;;
    start-agent) cmd_start_agent "${2:-}" ;;
    reboot) cmd_reboot "${2:-}" ;;
    kafka)
      shift
      cmd_kafka "$@"
      ;;
    -h | --help | help) sed -n '2,/^# Secrets:/{/^# Secrets:/d;p}' "$0" | sed 's/^# \{0,1\}//' ;;
    --*) cmd_start "$@" ;;
    *) die "unknown command $sub (see scripts/lab.sh --help)" ;;
  esac
}

main "$@"
