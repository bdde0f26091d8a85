"""Fan out thousands of calls from plain synchronous Python, hedged across two hosts.

Two backends with a long tail (5% of answers take 100 ms, the rest 1 ms). The same 2,000 calls
run twice, in batches of 100 through `send_many` (each batch all at once, on tailrace's runtime,
with the GIL released): once without hedging and once with an adaptive hedge (a second attempt
after the 90th percentile, at most 10% extra load). The p99 shows what hedging does to the tail.

Usage: python examples/python/fanout_sync.py [URL URL]   (no URLs: starts two testbeds)
"""

from __future__ import annotations

import sys
from typing import Dict, List

import tailrace

from _testbed import hosts_from


def run(hosts: List[str], calls: int, **hedging: float) -> Dict[str, float]:
    with tailrace.Client(hosts=hosts, timeout_ms=5000, **hedging) as client:  # type: ignore[arg-type]
        # A warm-up batch lets the adaptive delay learn the latency distribution.
        client.send_many([tailrace.Request("GET", "/warmup") for _ in range(200)])
        results: List[tailrace.Result] = []
        for start in range(0, calls, 100):
            results += client.send_many([tailrace.Request("GET", f"/items/{i}") for i in range(start, start + 100)])
        failed = [r for r in results if isinstance(r, tailrace.TailraceError)]
        latencies = sorted(r.elapsed for r in results if isinstance(r, tailrace.Response))
        stats = client.stats()
    return {
        "ok": len(latencies),
        "failed": len(failed),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "hedges_sent": stats["hedges_sent"],
        "hedges_won": stats["hedges_won"],
    }


def main() -> None:
    hosts = hosts_from(sys.argv[1:], "--latency", "tail:0.05:1000:100000")
    plain = run(hosts, 2000)
    hedged = run(hosts, 2000, concurrent_calls=2, hedge_percentile=90, hedge_delay_ms=5,
                 hedge_max_extra_load=0.1)
    for name, r in [("no hedging", plain), ("hedged", hedged)]:
        print(f"{name:>10}: {r['ok']:.0f} ok, {r['failed']:.0f} failed, p50 {r['p50_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms, hedges sent {r['hedges_sent']:.0f} won {r['hedges_won']:.0f}")


if __name__ == "__main__":
    main()
