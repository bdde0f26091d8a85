"""Many threads sharing one Client; waits release the GIL; Ctrl-C interrupts a blocking call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import tailrace
from conftest import Testbed


def test_many_threads_share_one_client(testbed: Testbed) -> None:
    threads, per_thread = 16, 200
    seen: Counter = Counter()  # type: ignore[type-arg]
    errors: list = []  # type: ignore[type-arg]
    with tailrace.Client(hosts=[testbed.url]) as c:

        def work(t: int) -> None:
            try:
                for i in range(per_thread):
                    r = c.get(f"/__echo?t={t}&i={i}")
                    assert r.json()["query"] == f"t={t}&i={i}"  # each thread gets its own answers
                    seen[t] += 1
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, errors[:3]
        assert sum(seen.values()) == threads * per_thread
        assert c.stats()["calls"] == threads * per_thread
    assert testbed.wait_idle()["requests"] == threads * per_thread


def test_a_blocking_call_releases_the_gil(client: tailrace.Client) -> None:
    done = threading.Event()
    ticks = 0

    def call() -> None:
        client.get("/x?delay_ms=300")
        done.set()

    t = threading.Thread(target=call)
    t.start()
    while not done.is_set():  # this thread keeps running Python while the other one waits
        ticks += 1
        time.sleep(0)
    t.join()
    assert ticks > 100


CHILD = textwrap.dedent(
    """
    import sys, tailrace
    c = tailrace.Client(hosts=[sys.argv[1]])
    try:
        c.get("/interrupt-me?delay_ms=60000", headers={"x-key": "sigint"})
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(0)
    sys.exit(1)
    """
)


def test_ctrl_c_interrupts_a_blocking_call_and_cancels_it(testbed: Testbed, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    p = subprocess.Popen([sys.executable, str(script), testbed.url], stdout=subprocess.PIPE, text=True)
    try:
        testbed.wait_for(lambda s: s["in_flight"] == 1)
        sent = time.monotonic()
        os.kill(p.pid, signal.SIGINT)
        out, _ = p.communicate(timeout=20)
        took_ms = (time.monotonic() - sent) * 1000
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "interrupted" in out
    # Signals are checked every 50 ms; interpreter shutdown adds some. The bound is loose on
    # purpose (a loaded 2-core CI machine); a call that ignored Ctrl-C would take 60 s.
    print(f"Ctrl-C to exit: {took_ms:.0f} ms")
    assert took_ms < 5000
    s = testbed.wait_for(lambda s: s["in_flight"] == 0)
    assert [e["event"] for e in s["events"] if e["key"] == "sigint"] == ["start", "cancel"]


WORKERS_CHILD = textwrap.dedent(
    """
    import os, sys, tailrace
    with tailrace.Client(hosts=[sys.argv[1]]) as c:
        c.get("/fast")
        names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    print(names.count("tailrace-worker"))
    """
)


def _runtime_workers(url: str, env_value: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "TAILRACE_WORKER_THREADS"}
    if env_value is not None:
        env["TAILRACE_WORKER_THREADS"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", WORKERS_CHILD, url], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def test_the_runtime_leaves_a_core_to_the_interpreter(testbed: Testbed) -> None:
    cores = len(os.sched_getaffinity(0))
    assert _runtime_workers(testbed.url, None) == max(1, cores - 1)
    assert _runtime_workers(testbed.url, "3") == 3, "TAILRACE_WORKER_THREADS decides when set"
