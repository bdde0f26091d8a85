"""A client created before os.fork() keeps working in the child (multiprocessing's fork method)."""

from __future__ import annotations

import multiprocessing
import sys

import pytest

import tailrace
from conftest import Testbed

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")

_client: "tailrace.Client | None" = None


def child_calls(n: int) -> list:  # type: ignore[type-arg]
    assert _client is not None
    return [_client.get(f"/child?i={i}").status for i in range(n)] + [
        r.status for r in _client.send_many([tailrace.Request("GET", "/child-many")] * 3)  # type: ignore[union-attr]
    ]


def test_client_made_before_fork_works_in_the_child(testbed: Testbed) -> None:
    global _client
    _client = tailrace.Client(hosts=[testbed.url])
    try:
        assert _client.get("/parent").status == 200  # the parent's runtime and pool exist
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            results = pool.map(child_calls, [3, 3, 3, 3])
        assert results == [[200] * 6] * 4
        assert _client.get("/parent-again").status == 200  # the parent is untouched
    finally:
        _client.close()
        _client = None
    assert testbed.wait_idle()["requests"] == 2 + 4 * 6


def test_async_client_made_before_fork_works_in_the_child(testbed: Testbed) -> None:
    ctx = multiprocessing.get_context("fork")
    ac = tailrace.AsyncClient(hosts=[testbed.url])

    def child(q: "multiprocessing.Queue[int]") -> None:
        import asyncio

        async def main() -> int:
            return (await ac.get("/async-child")).status

        q.put(asyncio.run(main()))

    q: "multiprocessing.Queue[int]" = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    assert q.get(timeout=20) == 200
    p.join(20)
    assert p.exitcode == 0
    ac.close()
