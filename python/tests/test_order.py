"""Keyed ordering and flush, checked in the testbed's log; and the limiter's bound."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, List

import tailrace
from conftest import Testbed


def starts(events: List[Dict[str, Any]], key: str) -> List[int]:
    return [e["seq"] for e in events if e["event"] == "start" and e["key"] == key]


def ends_before_starts(events: List[Dict[str, Any]], key: str) -> bool:
    """Each call with this key started only after the previous one ended."""
    running = 0
    for e in events:
        if e["key"] != key:
            continue
        running += 1 if e["event"] == "start" else -1
        if running > 1:
            return False
    return True


def req(path: str, key: str, seq: int, **kw: Any) -> tailrace.Request:
    return tailrace.Request("GET", path, headers={"x-key": key, "x-seq": str(seq)}, order_key=key, **kw)


def test_send_many_runs_same_key_calls_one_at_a_time_in_list_order(client: tailrace.Client, testbed: Testbed) -> None:
    # Earlier calls are slower, so without ordering they would finish last.
    calls = [req(f"/o?delay_ms={50 - 10 * i}", "A", i) for i in range(5)]
    results = client.send_many(calls)
    assert all(isinstance(r, tailrace.Response) for r in results)
    ev = testbed.wait_idle()["events"]
    assert starts(ev, "A") == [0, 1, 2, 3, 4]
    assert ends_before_starts(ev, "A")


def test_other_keys_never_wait_for_a_slow_key(client: tailrace.Client, testbed: Testbed) -> None:
    client.send_many([req("/slow?delay_ms=300", "A", 0), req("/fast", "B", 1), tailrace.Request(
        "GET", "/nokey", headers={"x-key": "none", "x-seq": "2"})])
    ev = testbed.wait_idle()["events"]
    order = [(e["event"], e["key"]) for e in ev]
    assert order.index(("finish", "B")) < order.index(("finish", "A"))
    assert order.index(("finish", "none")) < order.index(("finish", "A"))


def test_flush_starts_after_every_earlier_call(client: tailrace.Client, testbed: Testbed) -> None:
    client.send_many([
        req("/a?delay_ms=100", "A", 0),
        req("/b?delay_ms=50", "B", 1),
        tailrace.Request("GET", "/flush", headers={"x-key": "F", "x-seq": "2"}, flush=True),
    ])
    ev = testbed.wait_idle()["events"]
    order = [(e["event"], e["key"]) for e in ev]
    assert order.index(("start", "F")) > max(order.index(("finish", "A")), order.index(("finish", "B")))
    assert client.stats()["flush_waits"] == 1


def test_asyncio_gather_submits_in_argument_order(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            await asyncio.gather(*(
                ac.get(f"/g?delay_ms={30 - 5 * i}", order_key="G", headers={"x-key": "G", "x-seq": str(i)})
                for i in range(6)))

    asyncio.run(main())
    ev = testbed.wait_idle()["events"]
    assert starts(ev, "G") == list(range(6)) and ends_before_starts(ev, "G")


def test_submission_order_across_threads_is_the_order_calls_return(client: tailrace.Client, testbed: Testbed) -> None:
    # Threads take turns through a lock: whichever call returns first was submitted first.
    lock = threading.Lock()
    turn = [0]

    def work() -> None:
        for _ in range(5):
            with lock:
                seq = turn[0]
                turn[0] += 1
                client.get("/t?delay_ms=2", order_key="T", headers={"x-key": "T", "x-seq": str(seq)})

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert starts(testbed.wait_idle()["events"], "T") == list(range(20))


def test_the_backend_never_sees_more_than_max_count(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], max_count=4) as c:
        results = c.send_many([tailrace.Request("GET", "/l?delay_ms=20") for _ in range(40)])
        assert all(isinstance(r, tailrace.Response) for r in results)
        assert c.stats()["max_in_flight"] <= 4
    assert testbed.wait_idle()["max_in_flight"] == 4


def test_limit_keys_are_limited_separately(testbed: Testbed) -> None:
    with tailrace.Client(hosts=[testbed.url], max_count=1, max_queue=0) as c:
        results = c.send_many([
            tailrace.Request("GET", "/k1?delay_ms=100", limit_key="k1"),
            tailrace.Request("GET", "/k2?delay_ms=100", limit_key="k2"),
            tailrace.Request("GET", "/k1-again", limit_key="k1"),
        ])
    assert isinstance(results[0], tailrace.Response) and isinstance(results[1], tailrace.Response)
    assert isinstance(results[2], tailrace.LimitQueueFull)
