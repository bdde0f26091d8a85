#!/usr/bin/env bash
# Transport benchmark: tailrace (loadgen, no options) vs a raw hyper-util pooled client, in the
# same run, against the testbed's fast mode, closed loop at concurrency 16, 64 and 256.
# Prints each run's JSON line, then the ratios. Runs alternate (A B A B) so drift hits both.
# Usage: bash tests/bench/transport.sh [requests-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-40000}
ROUNDS=${2:-3}
cargo build --release -q -p tailrace-testbed
bin=target/release
source tests/bench/lib.sh
out="$bench_tmp/out"
start_testbed base --threads 1
url="$base/fast"
for c in 16 64 256; do
  for r in $(seq "$ROUNDS"); do
    "$bin/loadgen" --client hyper --url "$url" --concurrency "$c" --requests "$N" --warmup 2000 | tee -a "$out"
    "$bin/loadgen" --url "$url" --concurrency "$c" --requests "$N" --warmup 2000 | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# rps moves with whatever else this shared machine runs; client CPU per call (both sides of the
# ratio measured in the same rounds) is steadier, so it is shown too.
print("\nconcurrency  tailrace rps  hyper-util rps  rps ratio  p99 ratio  CPU/call ratio   (medians of rounds)")
for c in sorted({r["concurrency"] for r in rows}):
    t = [r for r in rows if r["concurrency"] == c and r["client"] == "tailrace"]
    h = [r for r in rows if r["concurrency"] == c and r["client"] == "hyper-util"]
    trps, hrps = statistics.median(r["rps"] for r in t), statistics.median(r["rps"] for r in h)
    tp99, hp99 = statistics.median(r["p99_us"] for r in t), statistics.median(r["p99_us"] for r in h)
    tcpu, hcpu = (statistics.median(r["cpu_us_per_call"] for r in rs) for rs in (t, h))
    print(f"{c:>11}  {trps:>12.0f}  {hrps:>14.0f}  {trps/hrps:>9.3f}  {tp99/hp99:>9.3f}"
          f"  {tcpu/hcpu:>14.3f}")
PY
