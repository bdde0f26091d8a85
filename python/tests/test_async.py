"""AsyncClient: the same calls awaited, 10,000 at once, cancel reaching the runtime, many loops."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import warnings
from typing import Any, Callable, Coroutine, Iterator, TypeVar

import pytest

import tailrace
from conftest import Testbed

T = TypeVar("T")

# Every test here runs on asyncio's own loop and on uvloop (libuv), the loop many services use:
# the bridge relies only on what both provide (add_reader, call_soon, futures' done callbacks).
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
if sys.platform != "win32":  # uvloop is in the test extras wherever it exists
    import uvloop

    LOOPS["uvloop"] = uvloop.new_event_loop

_loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop


@pytest.fixture(autouse=True, params=list(LOOPS))
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    global _loop_factory
    _loop_factory = LOOPS[request.param]
    yield request.param
    _loop_factory = asyncio.new_event_loop


def new_loop() -> asyncio.AbstractEventLoop:
    return _loop_factory()


def run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(coro)


def test_every_verb_and_argument_awaited(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            for verb in ["get", "head", "options", "delete", "post", "put", "patch"]:
                r = await getattr(ac, verb)("/__echo")
                assert r.status == 200
            r = await ac.post("/__echo", headers={"x-a": "1"}, content=b"body", order_key="k", flush=True,
                              limit_key="l", idempotent=True, timeout_ms=5000)
            e = r.json()
            assert e["headers"]["x-a"] == "1" and e["body"] == "body"
            r = await ac.request("PUT", "/__echo", content="s")
            assert r.json()["method"] == "PUT"
            assert (await ac.send(tailrace.Request("GET", "/x"))).status == 200
            assert ac.stats()["calls"] == 10
        assert ac.closed

    run(main())


def test_errors_are_raised_on_await(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            with pytest.raises(tailrace.Timeout):
                await ac.get("/x?delay_ms=5000", timeout_ms=20)
            with pytest.raises(tailrace.InvalidRequest):
                await ac.get("ftp://x/")
            with pytest.raises(TypeError, match="content"):
                await ac.post("/x", content=5)  # type: ignore[arg-type]
        with pytest.raises(tailrace.ClientClosed):
            await ac.get("/x")

    run(main())


def test_gather_of_10000_calls(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url], http2_prior_knowledge=True) as ac:
            rs = await asyncio.gather(*(ac.get(f"/g?i={i}") for i in range(10_000)))
        assert len(rs) == 10_000
        assert all(r.status == 200 for r in rs)

    run(main())
    assert testbed.wait_idle()["requests"] == 10_000


def test_send_many_awaited_keeps_list_order(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            reqs = [tailrace.Request("GET", f"/__echo?i={i}&delay_ms={20 - i}") for i in range(20)]
            reqs.append(tailrace.Request("GET", "ftp://bad/"))
            results = await ac.send_many(reqs)
        assert [r.json()["query"].split("&")[0] for r in results[:20]] == [f"i={i}" for i in range(20)]  # type: ignore[union-attr]
        assert isinstance(results[20], tailrace.InvalidRequest)

    run(main())


def test_cancelling_the_task_cancels_the_call_in_the_runtime(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            task = asyncio.ensure_future(ac.get("/slow?delay_ms=30000", headers={"x-key": "cancel-me"}))
            while testbed.stats(events=False)["in_flight"] == 0:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The cancel reached the testbed: the request's connection was dropped.
            s = await asyncio.get_running_loop().run_in_executor(
                None, lambda: testbed.wait_for(lambda s: s["in_flight"] == 0))
            kinds = [e["event"] for e in s["events"] if e["key"] == "cancel-me"]
            assert kinds == ["start", "cancel"]
            assert ac.stats()["errors"].get("cancelled") == 1

    run(main())


def test_cancelling_a_submitted_future_cancels_the_call(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            fut = ac.submit(tailrace.Request("GET", "/slow?delay_ms=30000", headers={"x-key": "f"}))
            while testbed.stats(events=False)["in_flight"] == 0:
                await asyncio.sleep(0.01)
            fut.cancel()
            # Still inside `async with`: the client is open, so only the cancel can end the call.
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: testbed.wait_for(lambda s: [e["event"] for e in s["events"]] == ["start", "cancel"]))
            while ac.stats()["in_flight"]:
                await asyncio.sleep(0.01)
            assert ac.stats()["errors"] == {"cancelled": 1}
            assert not ac.closed

    run(main())


async def _start_slow_call(ac: tailrace.AsyncClient, testbed: Testbed) -> None:
    """Submit a slow call with order key "K" and return once the testbed has it, leaving its
    future pending (nobody awaits it)."""
    ac.submit(tailrace.Request("GET", "/slow?delay_ms=30000", order_key="K", headers={"x-key": "first"}))
    await asyncio.get_running_loop().run_in_executor(None, lambda: testbed.wait_for(lambda s: s["in_flight"] == 1))


def _next_call_in_a_new_loop_is_prompt(ac: tailrace.AsyncClient, testbed: Testbed) -> None:
    """The same order key from a new loop: it must not wait for the abandoned call's 30 s."""
    async def second() -> int:
        r = await asyncio.wait_for(ac.get("/next", order_key="K", headers={"x-key": "second"}), 10)
        return r.status

    t0 = time.monotonic()
    assert run(second()) == 200
    assert time.monotonic() - t0 < 5
    ev = testbed.wait_idle()["events"]
    assert [e["event"] for e in ev if e["key"] == "first"] == ["start", "cancel"]
    assert ac.stats()["errors"] == {"cancelled": 1}


def test_calls_pending_when_their_loop_closes_are_cancelled(testbed: Testbed) -> None:
    # asyncio.run cancels pending tasks, but a bare future from `submit` stays pending as the loop
    # closes: the call must not run on in the runtime, holding order key "K", with nobody to
    # hear its answer.
    ac = tailrace.AsyncClient(hosts=[testbed.url])
    run(_start_slow_call(ac, testbed))
    _next_call_in_a_new_loop_is_prompt(ac, testbed)
    ac.close()


def test_calls_pending_on_a_loop_dropped_without_closing_are_cancelled(
    testbed: Testbed, event_loop_kind: str
) -> None:
    if event_loop_kind == "uvloop":
        # uvloop never frees a loop that was not closed while a reader is registered on it (its
        # libuv handle keeps the reader's callback, and so the loop, alive): such a loop's calls
        # run to their end like the rest of it. Closing it (asyncio.run and uvloop.run do)
        # cancels them: the test above.
        pytest.skip("uvloop keeps an unclosed loop with readers alive forever")
    ac = tailrace.AsyncClient(hosts=[testbed.url])
    loop = new_loop()
    loop.run_until_complete(_start_slow_call(ac, testbed))
    loop.run_until_complete(loop.shutdown_default_executor())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # "unclosed event loop": the point here
        del loop
        gc.collect()
    _next_call_in_a_new_loop_is_prompt(ac, testbed)
    ac.close()


def test_a_failure_resolving_a_future_reaches_its_awaiter(testbed: Testbed, monkeypatch: pytest.MonkeyPatch) -> None:
    # Turning the call's error into an exception fails: the awaiter gets that failure, rather than
    # a future left pending forever (and the failure on the unraisable hook).
    class Broken(tailrace.TailraceError):
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("cannot build the exception")

    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url]) as ac:
            monkeypatch.setattr(tailrace.errors, "Timeout", Broken)
            with pytest.raises(RuntimeError, match="cannot build"):
                await asyncio.wait_for(ac.get("/x?delay_ms=5000", timeout_ms=20), 10)
            with pytest.raises(RuntimeError, match="cannot build"):
                await asyncio.wait_for(ac.send_many([tailrace.Request("GET", "/x?delay_ms=5000", timeout_ms=20)]), 10)
            monkeypatch.undo()
            assert (await ac.get("/x")).status == 200

    run(main())


def test_a_lowercase_method_is_sent_upper_cased(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url], concurrent_calls=2) as ac:
            r = await ac.request("get", "/__echo")
            assert r.json()["method"] == "GET" and r.attempts == 2  # GET: idempotent, so hedged

    run(main())


def test_cancel_while_the_limiter_is_full_gives_the_slot_back(testbed: Testbed) -> None:
    async def main() -> None:
        async with tailrace.AsyncClient(hosts=[testbed.url], max_count=1, max_queue=1,
                                        queue_timeout_ms=20000) as ac:
            holder = asyncio.ensure_future(ac.get("/hold?delay_ms=30000", headers={"x-key": "holder"}))
            while testbed.stats(events=False)["in_flight"] == 0:
                await asyncio.sleep(0.01)
            waiter = asyncio.ensure_future(ac.get("/waiter", headers={"x-key": "waiter"}))
            await asyncio.sleep(0.05)
            assert ac.stats()["queued"] == 1
            # The queue is full: a third call is rejected at once.
            with pytest.raises(tailrace.LimitQueueFull):
                await ac.get("/third")
            holder.cancel()
            # The waiter gets the freed slot well before its 20 s queue timeout.
            r = await waiter
            assert r.status == 200
            s = ac.stats()
            assert (s["in_flight"], s["queued"]) == (0, 0)

    run(main())


def test_one_client_serves_several_event_loops(testbed: Testbed) -> None:
    ac = tailrace.AsyncClient(hosts=[testbed.url])

    async def one() -> int:
        return (await ac.get("/x")).status

    assert run(one()) == 200
    assert run(one()) == 200  # a new loop: a new bridge
    ac.close()


def test_submit_without_a_running_loop_is_an_error(testbed: Testbed) -> None:
    ac = tailrace.AsyncClient(hosts=[testbed.url])
    with pytest.raises(RuntimeError, match="loop"):
        ac.submit(tailrace.Request("GET", "/x"))
    ac.close()
