#!/usr/bin/env bash
# Python benchmark, one run, same fast testbed for every client, closed loop:
#   - AsyncClient vs aiohttp vs httpx.AsyncClient at concurrency 16, 64, 256
#   - sync Client from 16 threads vs requests from 16 threads
#   - Client.send_many of 10,000 calls (median of 5 batches) vs the Rust loadgen (tailrace, c=256):
#     default options (10,000 connections per batch; 1,024 stay idle in the pool), a pool as wide as
#     the fan-out (pool_max_idle_per_host=10000), and a bounded fan-out (max_count=256, which
#     bounds only once the limiter has landed)
# httpx is slow at this (hundreds of requests/s here), so its runs are a tenth as long.
# Installs tailrace, aiohttp, httpx and requests into target/py-bench-venv itself. Each run is its
# own process (tests/bench/python_bench.py prints one JSON line); runs alternate so drift hits all.
# Usage: bash tests/bench/python.sh [requests-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-20000}
ROUNDS=${2:-2}
cargo build --release -q -p tailrace-testbed
venv=target/py-bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/pip" install -q ./python aiohttp httpx requests
py="$venv/bin/python"
bin=target/release
source tests/bench/lib.sh
out="$bench_tmp/out"
start_testbed base --threads 1
url="$base/fast"
run() { "$py" tests/bench/python_bench.py --url "$url" "$@" | tee -a "$out"; }

for r in $(seq "$ROUNDS"); do
  for c in 16 64 256; do
    for client in tailrace-async aiohttp; do run --client $client --concurrency $c --requests "$N"; done
    run --client httpx --concurrency $c --requests "$((N / 10))" --warmup 200
  done
  for client in tailrace-sync requests; do run --client $client --concurrency 16 --requests "$((N / 2))"; done
  run --client tailrace-send-many --requests 10000
  run --client tailrace-send-many --requests 10000 --set pool_max_idle_per_host=10000 --variant wide-pool
  run --client tailrace-send-many --requests 10000 --set max_count=256 --variant max_count=256
  "$bin/loadgen" --url "$url" --concurrency 256 --requests "$N" --warmup 2000 | tee -a "$out"
done

"$py" - "$out" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def rps(client, c=None, variant="plain"):
    xs = [r["rps"] for r in rows
          if r["client"] == client and (c is None or r["concurrency"] == c) and r.get("variant", "plain") == variant]
    return statistics.median(xs) if xs else float("nan")
def p99(client, c=None):
    xs = [r["p99_us"] for r in rows if r["client"] == client and (c is None or r["concurrency"] == c)]
    return statistics.median(xs) if xs else float("nan")
print("\nasyncio, closed loop (medians of rounds)")
print("concurrency  tailrace rps  aiohttp rps  httpx rps  vs aiohttp  vs httpx  p99 us t/a/h")
for c in (16, 64, 256):
    t, a, h = rps("tailrace-async", c), rps("aiohttp", c), rps("httpx", c)
    print(f"{c:>11}  {t:>12.0f}  {a:>11.0f}  {h:>9.0f}  {t/a:>9.2f}x  {t/h:>7.2f}x  "
          f"{p99('tailrace-async', c):.0f}/{p99('aiohttp', c):.0f}/{p99('httpx', c):.0f}")
t, q = rps("tailrace-sync"), rps("requests")
print(f"\nthreads (16): tailrace Client {t:.0f} rps, requests {q:.0f} rps: {t/q:.2f}x")
l = rps("tailrace")
print(f"\nRust loadgen (tailrace, c=256): {l:.0f} rps")
for v in ("plain", "wide-pool", "max_count=256"):
    s = rps("tailrace-send-many", variant=v)
    print(f"send_many of 10,000 ({v}): {s:.0f} rps: {s/l:.2f}x loadgen")
s = max(rps("tailrace-send-many", variant=v) for v in ("plain", "wide-pool", "max_count=256"))
print(f"\ntargets: AsyncClient >= 5x aiohttp at c=64 -> {rps('tailrace-async', 64)/rps('aiohttp', 64):.2f}x; "
      f"send_many >= 0.5x loadgen -> {rps('tailrace-send-many')/l:.2f}x default, {s/l:.2f}x best variant")
PY
