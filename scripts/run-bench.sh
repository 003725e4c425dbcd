#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures and the ratio to its anchor.
# IOP_BENCH_SCALE=small runs reduced sizes (a quick look, not the targets).
# Benchmarks write their data under ./var/bench.
set -uo pipefail
cd "$(dirname "$0")/.."
B=build/bench
export IOP_BENCH_DIR=${IOP_BENCH_DIR:-var/bench}
mkdir -p "$IOP_BENCH_DIR"
status=0
run() {
  echo
  echo "=== $*"
  "$@" || { echo "(failed: $*)"; status=1; }
}
[ -x $B/bench_core ] && run $B/bench_core
for b in $B/bench_names $B/bench_fp $B/bench_face $B/bench_face_faiss $B/bench_sbms $B/bench_json $B/bench_audit $B/bench_gen; do
  [ -x "$b" ] && run "$b"
done
# searches over HTTP against the node bench_core loaded
if [ "${IOP_BENCH_SCALE:-}" = small ]; then N=20000; else N=1000000; fi
NODE=$IOP_BENCH_DIR/node-$N
if [ -d "$NODE" ] && [ -x bench/http_prepare.sh ]; then
  run bench/http_prepare.sh "$NODE" "$IOP_BENCH_DIR/population-$N" "$IOP_BENCH_DIR/http"
  [ -f "$IOP_BENCH_DIR/http/token" ] && run bench/http_bench.sh "$NODE" "file:$IOP_BENCH_DIR/http/token" "$IOP_BENCH_DIR/http/queries.jsonl"
fi
exit $status
