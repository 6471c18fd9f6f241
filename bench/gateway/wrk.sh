#!/usr/bin/env bash
# The gateway measured with wrk, side by side: GET /healthz (the trivial 200)
# and POST evidence (202 after the dev broker acknowledged the record), both
# over keep-alive TLS from wrk on the same machine, against a real
# attest-gateway process producing to attest-devbroker (one mock broker,
# 12 partitions). No PostgreSQL: the evidence path does not read it.
#
#   bench/gateway/wrk.sh [BUILD_DIR]        (default build-gateway)
#   env: SECONDS_EACH=10 CONNS=64 WRK_THREADS=1 IO_THREADS=2 LINGER_MS=1
#        GATEWAY_KAFKA='"queue.buffering.max.messages=200000"' (extra properties)
#
# Needs: ninja -C BUILD_DIR attest-gateway attest-devbroker gateway_evidence_body
# Prints per run: wrk's summary and latency distribution, the load average
# before/after, and the CPU seconds each process (gateway, dev broker, wrk)
# used during the run, as a share of the 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-gateway}
SECONDS_EACH=${SECONDS_EACH:-10}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-1}
IO_THREADS=${IO_THREADS:-2}
LINGER_MS=${LINGER_MS:-1}
GATEWAY_KAFKA=${GATEWAY_KAFKA:-}
find_bin() { find "$BUILD" -maxdepth 3 -type f -perm -u+x -name "$1" | head -1; }
GW=${GW_BIN:-$(find_bin attest-gateway)}  # GW_BIN: compare another build
BROKER=$(find_bin attest-devbroker)
BODY=$(find_bin gateway_evidence_body)
for b in GW BROKER BODY; do
  [ -n "${!b}" ] || { echo "wrk.sh: build $b first (see header)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk.sh: wrk is not installed" >&2; exit 2; }

work=$(mktemp -d /tmp/gateway-wrk.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$BROKER" --brokers 1 --partitions 12 --bootstrap-file "$work/bootstrap" >"$work/broker.log" 2>&1 &
broker_pid=$!
pids+=("$broker_pid")
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
[ -s "$work/bootstrap" ] || { cat "$work/broker.log"; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
head -c 32 /dev/urandom | xxd -p -c 64 >"$work/token.key"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/gateway.toml" <<EOF
gateway_id = "gw-wrk"
[server]
listen = "127.0.0.1:$port"
cert_file = "$work/cert.pem"
key_file = "$work/key.pem"
io_threads = $IO_THREADS
max_connections = 4096
[token]
key_files = ["$work/token.key"]
ttl_seconds = 3600
[database]
conninfo = "host=127.0.0.1 port=1 connect_timeout=1"
[kafka]
bootstrap_servers = "$(cat "$work/bootstrap")"
linger_ms = $LINGER_MS
properties = [$GATEWAY_KAFKA]
[log]
level = "error"
EOF
"$GW" --config "$work/gateway.toml" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
for _ in $(seq 100); do curl -ks "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

uuid=0f8fad5b-d9cb-469f-a165-70867728950e
"$BODY" "$work/token.key" "$uuid" "$work/evidence.bin"
cat >"$work/post.lua" <<EOF
local f = assert(io.open("$work/evidence.bin", "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/x-protobuf"
-- Count answers other than 202 (wrk only counts >= 400 as errors).
local bad = 0
response = function(status, headers, body)
  if status ~= 202 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-202 answers: %d (of %d)\n", bad, summary.requests))
end
EOF
# Make sure evidence is accepted before measuring.
status=$(curl -ks -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
  --data-binary @"$work/evidence.bin" "https://127.0.0.1:$port/v1/agents/$uuid/evidence")
[ "$status" = 202 ] || { echo "evidence answered $status"; cat "$work/gateway.log"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

run() {  # name, wrk args...
  local name=$1
  shift
  echo "=== $name: wrk -t$WRK_THREADS -c$CONNS -d${SECONDS_EACH}s --latency $*"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  local g0 b0 t0
  g0=$(cpu_ticks "$gw_pid")
  b0=$(cpu_ticks "$broker_pid")
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/wrk.time" \
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECONDS_EACH}s" --latency "$@" | tee "$work/$name.out"
  local t1 g1 b1
  t1=$(date +%s.%N)
  g1=$(cpu_ticks "$gw_pid")
  b1=$(cpu_ticks "$broker_pid")
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  read -r wu ws <"$work/wrk.time"
  local reqs
  reqs=$(awk '/requests in/ {print $1}' "$work/$name.out")
  # CPU per request is what counts on a shared machine: the rate only shows
  # the share of the cores these processes got.
  awk -v g=$((g1 - g0)) -v b=$((b1 - b0)) -v wu="$wu" -v ws="$ws" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    -v n="$(nproc)" -v r="${reqs:-0}" 'BEGIN { s = t1 - t0;
      printf "CPU over %.1f s (%% of %d cores): gateway %.1f%%, dev broker %.1f%%, wrk %.1f%%\n", s, n, 100*g/hz/s/n, 100*b/hz/s/n, 100*(wu+ws)/s/n;
      if (r > 0) printf "CPU per request: gateway %.1f us, dev broker %.1f us, wrk %.1f us; all three: %.1f us -> %.0f req/s if they had the %d cores alone\n", 1e6*g/hz/r, 1e6*b/hz/r, 1e6*(wu+ws)/r, 1e6*(g/hz+b/hz+wu+ws)/r, n*r/(g/hz+b/hz+wu+ws), n }'
}

run healthz "https://127.0.0.1:$port/healthz"
run evidence -s "$work/post.lua" "https://127.0.0.1:$port/v1/agents/$uuid/evidence"

rate() { awk '/^Requests\/sec/ {print $2}' "$work/$1.out"; }
h=$(rate healthz)
e=$(rate evidence)
echo "=== side by side: healthz $h req/s, evidence $e req/s, ratio $(awk -v e="$e" -v h="$h" 'BEGIN{printf "%.2f", e/h}')"
