#!/usr/bin/env bash
# Start-up: process start → first 200 from /readyz, `deskpilot serve` on the demo defaults
# (bench/serve_common.sh) with an existing, warmed-up database (models trained, KB
# ingested). /readyz is polled with curl every ~2 ms, so each figure is late by up to one
# poll (a few ms on a loaded machine).
#
# usage: bench/startup.sh [BUILD_DIR]     env: RUNS (7)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
runs=${RUNS:-7}
deskpilot=${DESKPILOT:-$build/deskpilot}
[[ -x $deskpilot ]] || { echo "startup.sh: $deskpilot missing; build first" >&2; exit 2; }
work=$(mktemp -d /tmp/deskpilot-start.XXXXXX)
source "$here/serve_common.sh"

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs=$runs"
write_config "$work/demo.toml" "$work/demo.db"
warm_up "$work/demo.toml" "$work"
ms=()
cpu=()
tick_ms=$((1000 / $(getconf CLK_TCK)))
for _ in $(seq "$runs"); do
  t0=$(date +%s%N)
  start_serve "$work/demo.toml"
  wait_ready
  t1=$(date +%s%N)
  ms+=("$(((t1 - t0) / 1000000))")
  # utime + stime so far (fields 14, 15; the command name has no spaces): CPU used to get ready.
  cpu+=("$(awk -v t="$tick_ms" '{print ($14 + $15) * t}' "/proc/$server_pid/stat")")
  stop_serve
done
echo "RESULT startup_ms=$(printf '%s\n' "${ms[@]}" | summarize | tr ' ' '_') cpu_ms=$(printf '%s\n' "${cpu[@]}" | summarize | tr ' ' '_') runs=${ms[*]}"
echo "| start → /readyz 200, wall ms | $(printf '%s\n' "${ms[@]}" | summarize) |"
echo "| CPU used by then (user + sys, ${tick_ms} ms ticks) | $(printf '%s\n' "${cpu[@]}" | summarize) |"
