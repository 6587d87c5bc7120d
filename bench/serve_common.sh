# Shared by memory.sh and startup.sh (sourced): a `deskpilot serve` on the demo defaults
# (no [classifier]/[retriever]/[drafter] sections: the built-in adapters on the sample
# models and sample KB), one sandbox help desk on a closed port, one worker, log level warn.
#
# Needs: $deskpilot (binary), $work (scratch directory). Provides: write_config, start_serve
# (sets server_pid, port), wait_ready, stop_serve, warm_up, summarize.

# On exit: stop a server still running and remove $work. `|| true`: the server is usually
# stopped already, and under `set -e` a failed kill would end the trap before the work
# directory is removed (and fail the script).
server_pid=
trap 'if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# write_config FILE DB
write_config() {
  cat >"$1" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
path = "$2"
[workers]
threads = 1
[[helpdesk]]
name = "bench"
type = "sandbox"
base_url = "http://127.0.0.1:9"
api_token_env = "DESKPILOT_BENCH_API_TOKEN"
webhook_secret_env = "DESKPILOT_BENCH_WEBHOOK_SECRET"
[logging]
level = "warn"
TOML
}
export DESKPILOT_BENCH_API_TOKEN=unused DESKPILOT_BENCH_WEBHOOK_SECRET=unused

# start_serve CONFIG → server_pid, port (once "listening on" is printed)
start_serve() {
  local out=$work/serve.out
  : >"$out"
  "$deskpilot" serve --config "$1" >"$out" 2>"$work/serve.err" &
  server_pid=$!
  port=
  for _ in $(seq 6000); do
    port=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$out" | grep -oE '[0-9]+$' || true)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "deskpilot serve did not start:" >&2
  cat "$work/serve.err" >&2
  exit 1
}

wait_ready() {
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]; do sleep 0.002; done
}

stop_serve() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}

# warm_up CONFIG DB_DIR: the first start trains the sample models (cached in DB_DIR/models)
# and, on an empty KB, ingests the sample KB; measured runs start after that.
warm_up() {
  start_serve "$1"
  wait_ready
  for _ in $(seq 1200); do
    (($(find "$2/models" -name '*.model' 2>/dev/null | wc -l) >= 4)) && break
    sleep 0.5
  done
  sleep 1
  stop_serve
}

# stdin numbers → "median [min–max]"
summarize() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "n/a"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.4g [%.4g–%.4g]\n", m, v[1], v[NR] }'
}
