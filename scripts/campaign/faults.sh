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

# The killed worker is started again (as systemd would) once the campaign
# measured the recovery without it.
restart_dead_workers() {
  local i g
  for i in $(seq 1 "$WORKERS"); do
    g=$(pgid_of "worker$i")
    alive "$g" || start_worker "$i"
  done
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
