"""Every example in examples/python runs against the testbed, and mypy --strict accepts them
against the package's stubs (the typed sample the stubs are checked with)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from conftest import REPO, Testbed

EXAMPLES = REPO / "examples" / "python"


@pytest.mark.parametrize("name,expect", [
    ("fanout_sync", ["no hedging: 2000 ok, 0 failed", "hedged: 2000 ok, 0 failed"]),
    ("async_gather", ["'HTTP 200': 300", "'HTTP 404': 1", "'timeout (call)': 1", "cancelled a slow call"]),
])
def test_example_runs(name: str, expect: list, testbed: Testbed, slow_testbed: Testbed) -> None:  # type: ignore[type-arg]
    hosts = [testbed.url, testbed.url] if name == "fanout_sync" else [testbed.url]
    out = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *hosts], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for line in expect:
        assert line in out.stdout, out.stdout


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_examples_pass_mypy_strict_against_the_stubs() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "."], cwd=EXAMPLES,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
