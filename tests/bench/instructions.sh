#!/usr/bin/env bash
# Instructions per call, counted by valgrind (callgrind): the one measure of per-call cost that does
# not move with whatever else this shared machine runs (wall-clock rps moves by 20-50% between
# minutes here; instruction counts repeat to within ~2%). Each client runs a closed loop at
# concurrency 64 against the fast testbed twice, with N and 3N calls; the difference divided by 2N
# is its cost per call, start-up excluded. User-space instructions only: syscalls, context switches
# and cache misses are not in it (the wall-clock benchmarks show those).
#
#   raw hyper-util (loadgen --client hyper), tailrace from Rust (loadgen) plain, with the limiter
#   (max_count=32), with order keys (--order-keys 1000), with both, and through the C ABI:
#   completion queue and callbacks (tests/bench/c_load.c).
#
# Usage: bash tests/bench/instructions.sh [N]   (default 1000; needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)"; exit 1; }
cargo build --release -q -p tailrace-testbed -p tailrace-ffi
source tests/bench/lib.sh
build_c_load
start_testbed base --threads 1
url="$base/fast"

# count LABEL COMMAND...: runs COMMAND under callgrind with N and 3N calls (the argument @N@).
count() {
  local label=$1 runs=() n total arg args
  shift
  for n in "$N" $((3 * N)); do
    args=()
    for arg in "$@"; do [[ $arg == @N@ ]] && args+=("$n") || args+=("$arg"); done
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "${args[@]}" \
      >/dev/null 2>"$bench_tmp/cg.err" || { cat "$bench_tmp/cg.err"; exit 1; }
    total=$(grep -o 'Collected : [0-9]*' "$bench_tmp/cg.err" | awk '{print $3}')
    runs+=("$total")
  done
  echo "$label $(( (runs[1] - runs[0]) / (2 * N) ))" | tee -a "$bench_tmp/counts"
}
lg=(target/release/loadgen --url "$url" --concurrency 64 --warmup 500 --requests @N@)
count hyper-util "${lg[@]}" --client hyper
count tailrace "${lg[@]}"
limit=(--set max_count=32 --set max_queue=1000)
count tailrace-limit "${lg[@]}" "${limit[@]}"
count tailrace-keys "${lg[@]}" --order-keys 1000
count tailrace-both "${lg[@]}" "${limit[@]}" --order-keys 1000
count c-abi-queue target/bench/c_load "$url" 64 @N@ 500 queue
count c-abi-callback target/bench/c_load "$url" 64 @N@ 500 callback

python3 - "$bench_tmp/counts" <<'PY'
import sys
rows = dict(l.split() for l in open(sys.argv[1]))
rows = {k: int(v) for k, v in rows.items()}
hyper, rust = rows["hyper-util"], rows["tailrace"]
print("\nclient             instructions/call   vs raw hyper-util   vs tailrace (Rust)")
for k, v in rows.items():
    print(f"{k:<18} {v:>17}   {v / hyper:>17.3f}   {v / rust:>18.3f}")
PY
