#!/usr/bin/env bash
# C ABI benchmark: a C closed loop on the completion queue (c_load.c) vs loadgen (Rust, tailrace)
# vs loadgen --client hyper (raw hyper-util), in the same run, same fast testbed, closed loop at
# concurrency 16, 64 and 256. Runs alternate so drift hits all; medians of the rounds.
# Prints each JSON line, then the ratios and the C boundary's cost per call in microseconds.
# Target: C (completion queue) >= 0.9x raw hyper-util requests/s. Also shown: the same C loop
# driven by callbacks (each callback sends the next call), which needs no thread of the caller's.
# Usage: bash tests/bench/c_abi.sh [requests-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-40000}
ROUNDS=${2:-3}
cargo build --release -q -p tailrace-testbed -p tailrace-ffi
bin=target/release
source tests/bench/lib.sh
build_c_load
out="$bench_tmp/out"
start_testbed base --threads 1
url="$base/fast"
for c in 16 64 256; do
  for r in $(seq "$ROUNDS"); do
    "$bin/loadgen" --client hyper --url "$url" --concurrency "$c" --requests "$N" --warmup 2000 | tee -a "$out"
    "$bin/loadgen" --url "$url" --concurrency "$c" --requests "$N" --warmup 2000 | tee -a "$out"
    target/bench/c_load "$url" "$c" "$N" 2000 | tee -a "$out"
    target/bench/c_load "$url" "$c" "$N" 2000 callback | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("\nconcurrency  c-abi rps  tailrace rps  hyper rps  C/hyper  C/tailrace  C p99/hyper p99"
      "  boundary us/call (submit + drain)  extra latency us vs Rust  C callbacks/hyper")
for c in sorted({r["concurrency"] for r in rows}):
    pick = lambda name: [r for r in rows if r["concurrency"] == c and r["client"] == name]
    cr, tr, hr, cb = pick("c-abi"), pick("tailrace"), pick("hyper-util"), pick("c-abi-callback")
    crps, trps, hrps = med(cr, "rps"), med(tr, "rps"), med(hr, "rps")
    boundary = med(cr, "submit_us_per_call") + med(cr, "drain_us_per_call")
    # In a closed loop each call occupies one of c slots for c/rps seconds; the C loop's extra
    # latency per call over the Rust loop (grows with c: every call waits for the others' turns
    # on the caller's one thread) is the boundary's cost as the caller sees it.
    extra = (c / crps - c / trps) * 1e6
    print(f"{c:>11}  {crps:>9.0f}  {trps:>12.0f}  {hrps:>9.0f}  {crps/hrps:>7.3f}  {crps/trps:>10.3f}"
          f"  {med(cr,'p99_us')/med(hr,'p99_us'):>15.3f}  {boundary:>33.2f}  {extra:>23.2f}"
          f"  {med(cb, 'rps') / hrps:>17.3f}")
PY
