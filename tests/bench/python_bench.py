"""One closed-loop run of one Python HTTP client against a URL; prints one JSON line.

Run by tests/bench/python.sh, one process per run so runs do not share warm state.

  python python_bench.py --client {tailrace-async,aiohttp,httpx,tailrace-sync,requests,tailrace-send-many}
                         --url URL --concurrency C --requests N [--set name=value]... [--variant NAME]

tailrace-send-many sends batches of N calls with one `send_many` each (all in flight at once) and
reports the median batch; --concurrency is ignored there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from typing import Any, Callable, Dict, List


def closed_loop_async(make_call: Callable[[], Any], concurrency: int, total: int) -> List[float]:
    """`concurrency` workers, each starting its next call when the previous one answered."""
    latencies: List[float] = []
    remaining = [total]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            t = time.perf_counter()
            await make_call()
            latencies.append(time.perf_counter() - t)

    async def run() -> None:
        await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.get_event_loop().run_until_complete(run())
    return latencies


def closed_loop_threads(make_call: Callable[[], Any], concurrency: int, total: int) -> List[float]:
    latencies: List[float] = []
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        call = make_call()
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            t = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - t)

    ts = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return latencies


def bench(client: str, url: str, concurrency: int, total: int, warmup: int, options: Dict[str, str],
          variant: str) -> Dict[str, Any]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    closers: List[Callable[[], Any]] = []

    if client == "tailrace-async":
        import tailrace

        ac = tailrace.AsyncClient(**options)  # type: ignore[arg-type]
        closers.append(ac.close)

        def run(n: int) -> List[float]:
            return closed_loop_async(lambda: ac.get(url), concurrency, n)
    elif client == "aiohttp":
        import aiohttp

        async def make() -> Any:
            return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

        session = loop.run_until_complete(make())
        closers.append(lambda: loop.run_until_complete(session.close()))

        async def aio_get() -> None:
            async with session.get(url) as r:
                await r.read()

        def run(n: int) -> List[float]:
            return closed_loop_async(aio_get, concurrency, n)
    elif client == "httpx":
        import httpx

        hx = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency,
                                                   max_keepalive_connections=concurrency))
        closers.append(lambda: loop.run_until_complete(hx.aclose()))

        def run(n: int) -> List[float]:
            return closed_loop_async(lambda: hx.get(url), concurrency, n)
    elif client == "tailrace-sync":
        import tailrace

        c = tailrace.Client(**options)  # type: ignore[arg-type]
        closers.append(c.close)

        def run(n: int) -> List[float]:
            return closed_loop_threads(lambda: (lambda: c.get(url)), concurrency, n)
    elif client == "requests":
        import requests

        def per_thread() -> Callable[[], Any]:
            s = requests.Session()  # a Session per thread: requests' sessions are not thread-safe
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
            s.mount("http://", adapter)
            return lambda: s.get(url).content

        def run(n: int) -> List[float]:
            return closed_loop_threads(per_thread, concurrency, n)
    elif client == "tailrace-send-many":
        import tailrace

        c = tailrace.Client(**options)  # type: ignore[arg-type]
        closers.append(c.close)
        reqs = [tailrace.Request("GET", url) for _ in range(total)]

        def batch() -> float:
            t = time.perf_counter()
            results = c.send_many(reqs)
            took = time.perf_counter() - t
            bad = [r for r in results if not isinstance(r, tailrace.Response)]
            if bad:
                raise SystemExit(f"send_many: {len(bad)} failed, e.g. {bad[0]!r}")
            return took

        batch()  # warm-up batch
        times = sorted(batch() for _ in range(5))
        closers[0]()
        secs = times[len(times) // 2]
        return {"client": client, "variant": variant, "concurrency": total, "requests": total,
                "secs": round(secs, 4), "rps": round(total / secs, 1), "batches_rps": [round(total / t) for t in times]}
    else:
        raise SystemExit(f"unknown client {client}")

    run(warmup)
    t = time.perf_counter()
    latencies = run(total)
    secs = time.perf_counter() - t
    for close in closers:
        close()
    latencies.sort()

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1e6

    return {
        "client": client,
        "variant": variant,
        "concurrency": concurrency,
        "requests": total,
        "secs": round(secs, 4),
        "rps": round(total / secs, 1),
        "p50_us": round(q(0.5)),
        "p99_us": round(q(0.99)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--set", action="append", default=[], help="tailrace option name=value")
    ap.add_argument("--variant", default="plain")
    a = ap.parse_args()
    options = dict(kv.split("=", 1) for kv in a.set)
    print(json.dumps(bench(a.client, a.url, a.concurrency, a.requests, a.warmup, options, a.variant)), flush=True)


if __name__ == "__main__":
    main()
