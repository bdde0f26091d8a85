#!/usr/bin/env bash
# The one command that runs every test in every language that has landed.
# Usage: bash tests/run_all.sh        (from anywhere; a fresh machine needs only Rust, Go, Python)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf '\n=== %s ===\n' "$*"; }

step "Rust: unit, integration and doc tests (core, testbed)"
cargo test --workspace --all-targets
cargo test --workspace --doc

# Later layers (C ABI, Python, Go) add their steps below, each building on the same target dir.

step "C ABI: release library + testbed, header current, C tests (shared, static, ASan, valgrind)"
if ! command -v pkg-config >/dev/null || ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
  apt-get update -qq && apt-get install -y -qq pkg-config g++ make >/dev/null
fi
cargo build --release -p tailrace-ffi -p tailrace-testbed
bash ffi/gen-header.sh --verify
bash ffi/install.sh --no-build
make -s -C tests/c run run-static run-asan run-scenarios
if command -v valgrind >/dev/null; then make -s -C tests/c run-valgrind; else
  echo "valgrind not installed: skipping the valgrind run (.ci/run installs it)"; fi

step "C and C++ examples: build against the installed layout (pkg-config), run against a testbed"
bash examples/run_c_examples.sh

step "Python: pip install ./python into target/py-venv, pytest, mypy --strict on the examples"
cargo build --release -q -p tailrace-testbed          # the server the Python fixtures start
venv=target/py-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/pip" install -q "./python[test]"           # maturin comes from PyPI as the build backend
"$venv/bin/python" -m pytest -q python/tests
