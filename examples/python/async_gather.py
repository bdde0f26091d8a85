"""asyncio: many calls at once with keyed ordering, typed error handling, and cancellation.

- 300 calls for 30 users with `asyncio.gather`: each user's calls carry `order_key=user`, so
  they run one at a time in the order they were made; different users never wait for each other.
- Failures come back as exceptions of one tree (`return_exceptions=True` keeps them in order).
- `asyncio.wait_for` cancels a slow call; the cancel reaches tailrace's runtime, which drops
  the request at once.

Usage: python examples/python/async_gather.py [URL]   (no URL: starts a testbed)
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import tailrace

from _testbed import hosts_from


async def main() -> None:
    hosts = hosts_from(sys.argv[1:], count=1)
    async with tailrace.AsyncClient(hosts=hosts, timeout_ms=2000) as client:
        calls = [
            client.get(f"/users/{i % 30}/events/{i}?delay_ms={i % 7}", order_key=f"user-{i % 30}")
            for i in range(300)
        ]
        calls.append(client.get("/broken?status=404"))
        calls.append(client.get("/too-slow?delay_ms=5000", timeout_ms=100))
        results = await asyncio.gather(*calls, return_exceptions=True)

        outcome: Counter[str] = Counter()
        for r in results:
            if isinstance(r, tailrace.Response):
                outcome[f"HTTP {r.status}"] += 1
            elif isinstance(r, tailrace.Timeout):
                outcome[f"timeout ({r.which})"] += 1
            elif isinstance(r, tailrace.TailraceError):
                outcome[r.kind] += 1
        print("results:", dict(sorted(outcome.items())))

        try:
            await asyncio.wait_for(client.get("/abandoned?delay_ms=10000"), timeout=0.1)
        except asyncio.TimeoutError:
            print("cancelled a slow call after 100 ms")
        stats = client.stats()
        print(f"calls {stats['calls']}, errors {stats['errors']}, p99 {stats['latency_us']['p99']} us")


if __name__ == "__main__":
    asyncio.run(main())
