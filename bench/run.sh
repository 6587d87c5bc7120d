#!/usr/bin/env bash
# Every benchmark, or one part of them. Builds nothing: build first (cmake --build build -j2).
#
# usage: bench/run.sh [ack|retrieval|pipeline|memory|startup|model|all] [BUILD_DIR]
#        bench/run.sh BUILD_DIR            (= all)
#   ack        signed webhooks vs a bare cpp-httplib server (bench/ack.sh; needs wrk)
#   retrieval  KbIndex::Search vs stock FTS5 at 10k and 100k chunks (deskpilot_retrieval_bench)
#   pipeline   Pipeline::Run on the built-in adapters at 10k and 100k chunks (deskpilot_pipeline_bench)
#   memory     RSS of `deskpilot serve`, demo KB and 100k chunks (bench/memory.sh)
#   startup    process start → /readyz 200 with an existing database (bench/startup.sh)
#   model      llm classifier + drafter against a 300 ms fake model, 32 workers (deskpilot_model_bench)
# env: RETRIEVAL_ARGS, PIPELINE_ARGS, MODEL_ARGS (extra flags, e.g. "--sizes 10000"), and each
#      script's own (see the scripts and bench/README.md).
# The retrieval and pipeline benchmarks share their KB files under /tmp/deskpilot-bench-kb
# (built once, minutes for 100k chunks; delete the directory to rebuild).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
part=all
if [[ $# -gt 0 && $1 =~ ^(ack|retrieval|pipeline|memory|startup|model|all)$ ]]; then
  part=$1
  shift
fi
build=${1:-build}

run_part() {
  echo
  echo "## $1"
  case $1 in
    ack) "$here/ack.sh" "$build" ;;
    # shellcheck disable=SC2086  # word splitting of the extra flags is wanted
    retrieval) "$build/bench/deskpilot_retrieval_bench" ${RETRIEVAL_ARGS:-} ;;
    # shellcheck disable=SC2086
    pipeline) "$build/bench/deskpilot_pipeline_bench" ${PIPELINE_ARGS:-} ;;
    memory) "$here/memory.sh" "$build" ;;
    startup) "$here/startup.sh" "$build" ;;
    # shellcheck disable=SC2086
    model) "$build/bench/deskpilot_model_bench" ${MODEL_ARGS:-} ;;
  esac
}

if [[ $part == all ]]; then
  for p in ack retrieval pipeline memory startup model; do run_part "$p"; done
else
  run_part "$part"
fi
