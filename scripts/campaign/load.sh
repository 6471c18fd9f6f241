# shellcheck shell=bash disable=SC2034,SC2154,SC2153
# The steady load of scripts/fault-campaign.sh: the lab's swtpm agents (always
# running, real attest-agent processes that retry on 503 / connection errors)
# plus attest-bench's simulated agents when attest-bench is built
# (tools/attest-bench, docs/attest-bench.md).

BENCH_PID=
BENCH_JSON=
BENCH_UNTIL=0 # epoch seconds: no round starts after this

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

# attest-bench's agents still start rounds (its --duration not over).
load_bench_running() {
  [ -n "$BENCH_PID" ] && [ "$(date +%s)" -lt "$BENCH_UNTIL" ] && kill -0 "$BENCH_PID" 2>/dev/null
}

# Stops the load so the final check sees a quiet, drained pipeline.
load_stop() {
  if [ -n "$BENCH_PID" ]; then
    # The run ends by itself after --duration and its drain: wait for it
    # (its JSON is written at the end); on an abort, stop it (TERM: a
    # background job of a script ignores SIGINT).
    if [ "${1:-}" = abort ]; then kill -TERM "$BENCH_PID" 2>/dev/null || true; fi
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

# attest-bench's own accounting (its JSON exists once the run ended).
load_counts() { :; }
load_summary() {
  if [ -z "$BENCH_JSON" ] || [ ! -s "$BENCH_JSON" ]; then
    echo "load stopped"
    return
  fi
  jq -r '"attest-bench: 202s=\(.accepted) refused=\(.refused_total) retries=\(.retries)" +
    " verdicts=\(.verdicts) matched=\(.matched) missing=\(.missing)" +
    " duplicates=\(.duplicates) unexpected=\(.unexpected)" +
    " by result=\(.verdicts_by_result | tostring | gsub("[{}\"]"; ""))" +
    " throttled=\(.throttled | tostring | gsub("[{}\"]"; ""))" +
    " transport_errors=\(.transport_errors)"' "$BENCH_JSON"
}

# attest-bench (docs/attest-bench.md): enrol CAMPAIGN_BENCH_AGENTS simulated
# agents through the registrar's bulk path, then run them for
# CAMPAIGN_BENCH_DURATION seconds (by default fault-campaign.sh's estimate of
# the whole campaign) in the background. An agent attests at most once per interval: agents / interval
# is the offered rate, capped by --rate.
bench_start() {
  local n=${CAMPAIGN_BENCH_AGENTS:-100} interval=${CAMPAIGN_BENCH_INTERVAL:-2}
  local rate=${CAMPAIGN_BENCH_RATE:-50} duration=${CAMPAIGN_BENCH_DURATION:-${BENCH_DURATION_AUTO:-180}}
  "$BENCH" enrol --agents "$n" --registrar "https://127.0.0.1:$REGISTRAR_PORT" \
    --admin-token-file "$RUN/pki/admin.token" --ca-file "$RUN/pki/ca.pem" \
    --state-file "$RUN/bench.state" --ak ecc --interval "$interval" --grace-factor 100 \
    --json "$RUN/bench-enrol.json" >"$LOGS/bench-enrol.log" 2>&1 || {
    log "attest-bench enrol failed (see $LOGS/bench-enrol.log): lab agents only"
    BENCH_JSON=
    LOAD_DESC="$AGENTS lab agents (attest-agent on swtpm), interval ${INTERVAL} s"
    return 0
  }
  "$BENCH" run --state-file "$RUN/bench.state" --gateway "https://127.0.0.1:$GATEWAY_PORT" \
    --ca-file "$RUN/pki/ca.pem" --bootstrap "$KAFKA_BOOTSTRAP" --rate "$rate" \
    --duration "$duration" --max-retries 30 --verdict-timeout "${CAMPAIGN_BENCH_VERDICT_TIMEOUT:-15}" \
    --drain-timeout 60 \
    --json "$BENCH_JSON" >"$LOGS/bench-run.log" 2>&1 &
  BENCH_PID=$!
  BENCH_UNTIL=$(($(date +%s) + duration))
  LOAD_DESC="attest-bench: $n ECC agents, interval ${interval} s, rate <= $rate/s, ${duration} s; plus $AGENTS lab agents (attest-agent on swtpm), interval ${INTERVAL} s"
}
