#!/usr/bin/env bash
# Peak and current RSS of `deskpilot serve` (bench/serve_common.sh's config), idle after
# /readyz, on the demo KB and on the 100k-chunk synthetic KB of the retrieval benchmark.
#
# usage: bench/memory.sh [BUILD_DIR]     env: RUNS (5), KB_DIR (/tmp/deskpilot-bench-kb)
# The 100k KB is built by deskpilot_retrieval_bench (minutes) when KB_DIR lacks it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
runs=${RUNS:-5}
kb_dir=${KB_DIR:-/tmp/deskpilot-bench-kb}
deskpilot=${DESKPILOT:-$build/deskpilot}
[[ -x $deskpilot ]] || { echo "memory.sh: $deskpilot missing; build first" >&2; exit 2; }
work=$(mktemp -d /tmp/deskpilot-mem.XXXXXX)
source "$here/serve_common.sh"

# rss_mb KEY → VmHWM/VmRSS of the running server in MB
rss_mb() { awk -v k="$1:" '$1 == k {printf "%.1f\n", $2 / 1024}' "/proc/$server_pid/status"; }

# measure NAME CONFIG: RUNS starts, each read 2 s after /readyz
measure() {
  local hwm=() rss=()
  for _ in $(seq "$runs"); do
    start_serve "$2"
    wait_ready
    sleep 2
    hwm+=("$(rss_mb VmHWM)")
    rss+=("$(rss_mb VmRSS)")
    stop_serve
  done
  echo "RESULT kb=$1 peak_rss_mb=$(printf '%s\n' "${hwm[@]}" | summarize | tr ' ' '_') rss_mb=$(printf '%s\n' "${rss[@]}" | summarize | tr ' ' '_')"
  echo "| $1 | $(printf '%s\n' "${hwm[@]}" | summarize) | $(printf '%s\n' "${rss[@]}" | summarize) |"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs=$runs"
write_config "$work/demo.toml" "$work/demo.db"
warm_up "$work/demo.toml" "$work"
kb100k=$kb_dir/kb-100000-stackfaq.db
[[ -e $kb100k ]] || kb100k=$kb_dir/kb-100000.db
if [[ ! -e $kb100k ]]; then
  "$build/bench/deskpilot_retrieval_bench" --sizes 100000 --queries 1 --passes 1 --dir "$kb_dir" >/dev/null
  kb100k=$(ls "$kb_dir"/kb-100000*.db | head -1)
fi
# A copy, so serve's store tables do not land in the benchmarks' KB file.
cp "$kb100k" "$work/kb100k.db"
write_config "$work/kb100k.toml" "$work/kb100k.db"
echo "| KB | peak RSS MB (VmHWM) | RSS MB 2 s after /readyz |"
echo "|---|---|---|"
measure demo "$work/demo.toml"
measure 100k-chunks "$work/kb100k.toml"
