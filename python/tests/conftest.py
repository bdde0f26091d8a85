"""Fixtures: the testbed (a real HTTP server on 127.0.0.1, started once per run as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import tailrace

REPO = Path(__file__).resolve().parents[2]


def testbed_binary() -> Path:
    path = Path(os.environ.get("TAILRACE_TESTBED", REPO / "target" / "release" / "testbed"))
    if not path.exists():
        pytest.exit(f"testbed binary not found at {path}: run `cargo build --release -p tailrace-testbed`", 2)
    return path


class Testbed:
    """One testbed process: its URL, its stats and event log, reset."""

    __test__ = False  # not a test class

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(testbed_binary()), "--port", "0", "--exit-on-stdin-eof", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"testbed {args} did not start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self, events: bool = True) -> Dict[str, Any]:
        q = "" if events else "?events=0"
        with urllib.request.urlopen(f"{self.url}/__stats{q}", timeout=10) as r:
            return json.load(r)  # type: ignore[no-any-return]

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/__reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def wait_idle(self, timeout: float = 10.0) -> Dict[str, Any]:
        """Stats once nothing is in flight (every finish/cancel is then in the log)."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if s["in_flight"] == 0 or time.monotonic() > deadline:
                return s
            time.sleep(0.01)

    def wait_for(self, pred: Any, timeout: float = 10.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if pred(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"testbed never reached the expected state: {s}")
            time.sleep(0.01)

    def events(self, event: Optional[str] = None, key: Optional[str] = None) -> List[Dict[str, Any]]:
        out = self.stats()["events"]
        return [e for e in out if (event is None or e["event"] == event) and (key is None or e["key"] == key)]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def testbed_session() -> Iterator[Testbed]:
    tb = Testbed()
    yield tb
    tb.stop()


@pytest.fixture
def testbed(testbed_session: Testbed) -> Testbed:
    """The shared testbed, its counters and log reset for this test."""
    testbed_session.wait_idle()
    testbed_session.reset()
    return testbed_session


@pytest.fixture(scope="session")
def slow_testbed() -> Iterator[Testbed]:
    """A second host that holds every request for 5 s (a hedge against it always loses)."""
    tb = Testbed("--latency", "fixed:5000000")
    yield tb
    tb.stop()


@pytest.fixture(scope="session")
def steady_testbed() -> Iterator[Testbed]:
    """A host that answers every request after 100 ms: it wins against slow_testbed, but only
    after the other attempt's request has surely reached slow_testbed (a loser cancelled before
    its request was written never shows at the server at all)."""
    tb = Testbed("--latency", "fixed:100000")
    yield tb
    tb.stop()


@pytest.fixture(scope="session")
def tls_testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """An HTTPS testbed with a throwaway CA; `tls_testbed.ca_file` is the CA's PEM."""
    ca = tmp_path_factory.mktemp("tls") / "ca.pem"
    tb = Testbed("--tls", "--ca-out", str(ca))
    tb.url = f"https://localhost:{tb.port}"
    tb.ca_file = ca  # type: ignore[attr-defined]
    yield tb
    tb.stop()


@pytest.fixture
def url(testbed: Testbed) -> str:
    return testbed.url


@pytest.fixture
def client(testbed: Testbed) -> Iterator[tailrace.Client]:
    with tailrace.Client(hosts=[testbed.url]) as c:
        yield c
