#!/usr/bin/env bash
# Webhook-ack benchmark: signed ~2 KB webhooks posted with wrk to a bare cpp-httplib 202
# server and to `deskpilot serve` (durable enqueue, synchronous=FULL), alternated in every
# run so each deskpilot figure has a bare baseline taken moments before it.
#
# usage: bench/ack.sh [BUILD_DIR]      (default: build; builds nothing itself; also
#        run by bench/run.sh ack|all)
# env:   RUNS (5)  DURATION (10s)  CONNECTIONS ("16 64")  DESKPILOT (BUILD_DIR/deskpilot)
#        THREADS — HTTP threads of both servers (default: deskpilot's default, [server] threads)
#        RATE_CONNECTIONS (16)  RATE_DELAY_MS (31)   — the paced (~500 req/s) latency run
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
runs=${RUNS:-5}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16 64}
deskpilot=${DESKPILOT:-$build/deskpilot}
ack_server=$build/bench/deskpilot_bench_ack_server
signer=$build/bench/deskpilot_sign_webhooks
rate_connections=${RATE_CONNECTIONS:-16}
rate_delay_ms=${RATE_DELAY_MS:-31}
threads=${THREADS:-}

if ! command -v wrk >/dev/null; then
  echo "bench/ack.sh: wrk is not installed; run: sudo apt-get install wrk" >&2
  exit 2
fi
for f in "$deskpilot" "$ack_server" "$signer"; do
  [[ -x $f ]] || { echo "bench/ack.sh: $f missing; build first: cmake --build $build -j2" >&2; exit 2; }
done

work=$(mktemp -d /tmp/deskpilot-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export DESKPILOT_BENCH_WEBHOOK_SECRET=bench-secret-$RANDOM$RANDOM
export DESKPILOT_BENCH_API_TOKEN=unused
# 400k distinct event ids: more than any one 10 s run sends, so no delivery is a duplicate.
"$signer" "$DESKPILOT_BENCH_WEBHOOK_SECRET" 400000 "$(date +%s)" "$work/signed.txt"
export BENCH_SIGNED=$work/signed.txt BENCH_PATH=/webhooks/bench

cat >"$work/deskpilot.toml" <<TOML
[server]
listen = "127.0.0.1:0"
${threads:+threads = $threads}
[storage]
path = "$work/deskpilot.db"
[workers]
# One worker; the help desk below is a closed port, so each job is leased, fails its fetch
# and is requeued with backoff: a realistic background writer beside the enqueues.
threads = 1
[[helpdesk]]
name = "bench"
type = "sandbox"
base_url = "http://127.0.0.1:9"
api_token_env = "DESKPILOT_BENCH_API_TOKEN"
webhook_secret_env = "DESKPILOT_BENCH_WEBHOOK_SECRET"
signature_tolerance_seconds = 86400
[logging]
# info logs one line per accepted webhook; this measures the ack path, not stderr.
level = "warn"
TOML

# start_server KIND → sets $port and $server_pid
start_server() {
  local out=$work/$1.out
  : >"$out"
  if [[ $1 == bare ]]; then
    "$ack_server" ${threads:+"$threads"} >"$out" 2>"$work/$1.err" &
  else
    rm -f "$work"/deskpilot.db*
    cp "$work/template.db" "$work/deskpilot.db"
    "$deskpilot" serve --config "$work/deskpilot.toml" >"$out" 2>"$work/$1.err" &
  fi
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 300); do
    port=$(grep -oE '[0-9]+$' "$out" | head -1 || true)
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "$1 did not start:" >&2; cat "$work/$1.err" >&2; exit 1; }
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}

# run_wrk KIND CONNECTIONS [DELAY_MS] → prints the RESULT line
run_wrk() {
  start_server "$1"
  BENCH_DELAY_MS=${3:-0} wrk -t1 -c"$2" -d"$duration" -s "$here/webhook.lua" \
    "http://127.0.0.1:$port" | grep '^RESULT' | sed "s/^RESULT/RESULT kind=$1 c=$2/"
  stop_server
}

# Warm-up: the first start trains the sample models (cached under $work/models) and ingests
# the sample knowledge base, both in the background after the listener is up. Measured runs
# must not share the CPU with that, so they start from a copy of the warmed-up database.
"$deskpilot" serve --config "$work/deskpilot.toml" >"$work/warmup.out" 2>"$work/warmup.err" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 600); do
  (( $(find "$work/models" -name '*.model' 2>/dev/null | wc -l) >= 4 )) && break
  sleep 0.5
done
sleep 2
stop_server
[[ -e $work/deskpilot.db-wal ]] && { echo "warm-up left a WAL file; cannot copy the database" >&2; exit 1; }
cp "$work/deskpilot.db" "$work/template.db"

results=$work/results.txt
: >"$results"
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs=$runs duration=$duration"
echo "# deskpilot: $deskpilot"
for c in $connections; do
  for r in $(seq "$runs"); do
    run_wrk bare "$c" | tee -a "$results"
    run_wrk deskpilot "$c" | tee -a "$results"
  done
done
for r in $(seq "$runs"); do
  run_wrk deskpilot-rate "$rate_connections" "$rate_delay_ms" | tee -a "$results"
done

# field KIND C NAME → that field of every matching RESULT line, in run order
field() {
  grep " kind=$1 c=$2 " "$results" | grep -oE " $3=[0-9.]+" | cut -d= -f2
}
# stdin numbers → "median [min–max]"
summarize() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "n/a"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.4g [%.4g–%.4g]\n", m, v[1], v[NR] }'
}

echo
echo "| server | c | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
for c in $connections; do
  for kind in bare deskpilot; do
    echo "| $kind | $c | $(field $kind "$c" rps | summarize) | $(field $kind "$c" p50_ms | summarize) | $(field $kind "$c" p99_ms | summarize) |"
  done
  echo "| deskpilot/bare | $c | $(paste <(field deskpilot "$c" rps) <(field bare "$c" rps) | awk '{print $1 / $2}' | summarize) | | |"
done
echo "| deskpilot, paced ($rate_connections conn., ${rate_delay_ms} ms delay) | $rate_connections | $(field deskpilot-rate "$rate_connections" rps | summarize) | $(field deskpilot-rate "$rate_connections" p50_ms | summarize) | $(field deskpilot-rate "$rate_connections" p99_ms | summarize) |"
