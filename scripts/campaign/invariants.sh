# shellcheck shell=bash disable=SC2034,SC2154
# Recovery measurement and invariant checks of scripts/fault-campaign.sh.
# Needs the lab's state (ADMIN_DB, KAFKA_BOOTSTRAP, RUN) and the ROWS array.

sql() { psql -X -At -v ON_ERROR_STOP=1 "$ADMIN_DB" -c "$1" 2>/dev/null; }

# The agents under load: every enrolled agent while attest-bench runs, the
# lab's agents only once it has ended (its agents then stay silent).
loaded_agents_sql() {
  if load_bench_running; then
    echo "TRUE"
    return
  fi
  local n var ids=""
  for n in $(seq 1 "${AGENTS:-0}"); do
    var=AGENT${n}_UUID
    ids+="${ids:+,}'${!var}'"
  done
  echo "e.agent_id::text IN (${ids:-''})"
}

# Waits until every agent under load has a pass/resumed verdict committed
# after epoch time T; prints the epoch time it happened. Polls (PostgreSQL
# may be the thing that is down).
wait_all_agents_verdict_after() { # T MAX_SECONDS
  local t=$1 end=$((SECONDS + $2)) left
  while [ $SECONDS -lt $end ]; do
    left=$(sql "SELECT count(*) FROM enrolments e WHERE $(loaded_agents_sql) AND NOT EXISTS (
        SELECT 1 FROM attestation_history h WHERE h.agent_id = e.agent_id
          AND h.attested_at > to_timestamp($t) AND h.result IN ('pass', 'resumed'))") || left=
    if [ "$left" = 0 ]; then
      now
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# agent state sequence ima_offset runtime_policy_id, one line per agent.
snapshot_states() {
  sql "SELECT agent_id, state, sequence, ima_offset, coalesce(runtime_policy_id, 0)
       FROM enrolments ORDER BY agent_id"
}

# Compares the agents with the previous snapshot: same agents, same policies,
# sequence and IMA offset never went back (the lab's agents do not reboot),
# nobody FAILED. Prints "N PASS, k OFFLINE..." or the first violation.
compare_states() { # BEFORE AFTER
  awk -v before="$1" '
    BEGIN { while ((getline l < before) > 0) { split(l, f, "|"); seq[f[1]] = f[3];
              ima[f[1]] = f[4]; pol[f[1]] = f[5]; n0++ } }
    { split($0, f, "|"); n++; count[f[2]]++
      if (!(f[1] in seq)) { bad = bad " new agent " f[1] }
      else if (f[3] + 0 < seq[f[1]] + 0) { bad = bad " sequence went back " f[1] }
      else if (f[4] + 0 < ima[f[1]] + 0) { bad = bad " IMA offset went back " f[1] }
      else if (f[5] != pol[f[1]]) { bad = bad " policy changed " f[1] }
      if (f[2] == "FAILED") { bad = bad " FAILED " f[1] } }
    END { if (n != n0) bad = bad " agents " n0 " -> " n
          s = ""; for (k in count) s = s (s ? ", " : "") count[k] " " k
          if (bad) { print "BROKEN:" bad; exit 1 } print s }' "$2"
}

# Dumps TOPIC from the beginning up to the end offsets it has now, in kcat's
# FORMAT, partition by partition. (kcat -e waits until every partition is at
# its end at the same moment, which a topic under steady load never is.)
dump_topic() { # TOPIC FORMAT FILE
  local topic=$1 format=$2 out=$3 p end n
  : >"$out"
  n=$(kcat -L -b "$KAFKA_BOOTSTRAP" -t "$topic" -m 10 2>/dev/null |
    awk '/^  topic "/ { print $4; exit }')
  [ -n "$n" ] || return 1
  for p in $(seq 0 $((n - 1))); do
    end=$(kcat -Q -b "$KAFKA_BOOTSTRAP" -t "$topic:$p:-1" -m 10 2>/dev/null | awk '{ print $NF; exit }')
    [ "${end:-0}" -gt 0 ] 2>/dev/null || continue
    # Offsets 0 .. end - 1 (nothing is deleted during a campaign).
    kcat -C -q -b "$KAFKA_BOOTSTRAP" -t "$topic" -p "$p" -o beginning -c "$end" \
      -f "$format" >>"$out" 2>/dev/null || return 1
  done
}

# Dumps the evidence topic ("%p %o %S %s\n": framed binary values).
dump_evidence() { dump_topic attestation.evidence '%p %o %S %s\n' "$1"; }

# Waits until the workers' stored offsets cover every record of the dump
# $1 and the outbox rows committed so far are published.
wait_drained() { # EVIDENCE_DUMP MAX_SECONDS
  local want end=$((SECONDS + $2)) behind max_outbox
  want=$(perl -ne 'print "$1 $2\n" if /^(\d+) (\d+) -?\d+ /' "$1" |
    awk '{ if ($2 + 1 > m[$1]) m[$1] = $2 + 1 } END { for (p in m) printf "(%d,%d),", p, m[p] }')
  want=${want%,}
  while [ $SECONDS -lt $end ]; do
    if [ -z "$want" ]; then return 0; fi
    behind=$(sql "SELECT count(*) FROM (VALUES $want) AS w(p, o) LEFT JOIN consumer_offsets c
        ON c.topic = 'attestation.evidence' AND c.partition = w.p
        WHERE coalesce(c.next_offset, 0) < w.o") || behind=
    [ "$behind" = 0 ] && break
    sleep 0.5
  done
  [ "$behind" = 0 ] || return 1
  max_outbox=$(sql "SELECT coalesce(max(id), 0) FROM outbox") || return 1
  while [ $SECONDS -lt $end ]; do
    [ "$(sql "SELECT count(*) FROM outbox WHERE id <= $max_outbox")" = 0 ] && return 0
    sleep 0.5
  done
  return 1
}

# The evidence ids the lab's agents got a 202 for ("evidence ID accepted by").
accepted_ids() {
  cat "$LOGS"/agent*.log 2>/dev/null |
    sed -n 's/.*evidence \([0-9a-f-]\{36\}\) accepted by.*/\1/p' | sort -u
}

# The evidence ids the gateway refused with 503 after producing them (its
# answer names them: "evidence ID of agent UUID not written to Kafka"), as
# the lab's agents and the gateway (its log of 5xx answers: attest-bench's
# agents too) logged them. Such a record may still reach the topic (Kafka's
# "possibly persisted"); it must never get a verdict.
refused_ids() {
  cat "$LOGS"/agent*.log "$LOGS"/gateway.log 2>/dev/null |
    sed -n 's/.*evidence \([0-9a-f-]\{36\}\) of agent [0-9a-f-]* not written to Kafka.*/\1/p' | sort -u
}

check_invariants() { # NAME RECOVERY NOTE [BROKEN]
  local name=$1 recovery=$2 note=$3 broken=${4:-} dir=$RUN/check n=${CHECK_N:-0} states counts rc=0
  CHECK_N=$((n + 1))
  mkdir -p "$dir"
  [ -z "$broken" ] || rc=1
  accepted_ids >"$dir/accepted.$n"
  refused_ids >"$dir/refused.$n"
  dump_evidence "$dir/evidence1.$n" || { note="$note; evidence dump failed"; rc=1; }
  if ! wait_drained "$dir/evidence1.$n" 60; then
    note="$note; NOT DRAINED in 60 s"
    rc=1
  fi
  sql "SELECT agent_id, sequence, result, coalesce(kafka_partition::text, ''),
         coalesce(kafka_offset::text, '') FROM attestation_history" | tr '|' '\t' >"$dir/history.$n"
  dump_topic attestation.verdicts '%s\n' "$dir/verdicts.json.$n" || {
    note="$note; verdict dump failed"
    rc=1
  }
  jq -r '[.agentUuid, .sequence, (.evidenceId // ""), .result] | @tsv' "$dir/verdicts.json.$n" \
    >"$dir/verdicts.$n"
  dump_evidence "$dir/evidence2.$n" || { note="$note; evidence dump failed"; rc=1; }
  counts=$(perl "$REPO/scripts/campaign/check.pl" "$dir/evidence1.$n" "$dir/evidence2.$n" \
    "$dir/verdicts.$n" "$dir/history.$n" "$dir/accepted.$n" "$dir/refused.$n") || rc=1
  snapshot_states >"$dir/states.$n"
  local prev=$RUN/states.0
  [ "$n" -gt 0 ] && prev=$dir/states.$((n - 1))
  states=$(compare_states "$prev" "$dir/states.$n") || rc=1
  [ $rc = 0 ] || FAILED=1
  local load
  load=$(load_counts)
  ROWS+=("| $name | $recovery | ${counts}${load:+; $load} | agents: $states; $note${broken:+; $broken}$([ $rc = 0 ] || echo '; **INVARIANT BROKEN**') |")
  log "$name: recovery $recovery; $counts; agents: $states"
}
