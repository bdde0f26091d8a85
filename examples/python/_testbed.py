"""Starts throwaway testbed servers for the examples when no URLs are given (needs
`cargo build --release -p tailrace-testbed`). Not part of tailrace: real code has real backends."""

from __future__ import annotations

import atexit
import os
import subprocess
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]


def start(*args: str) -> str:
    """Start a testbed with these flags; returns its URL. It exits with this process."""
    binary = os.environ.get("TAILRACE_TESTBED", str(REPO / "target" / "release" / "testbed"))
    proc = subprocess.Popen([binary, "--port", "0", "--exit-on-stdin-eof", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    atexit.register(proc.kill)
    return f"http://127.0.0.1:{port}"


def hosts_from(argv: List[str], *testbed_args: str, count: int = 2) -> List[str]:
    """The URLs given on the command line, or `count` fresh testbeds started with these flags."""
    return argv if argv else [start(*testbed_args) for _ in range(count)]
