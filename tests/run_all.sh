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
# The C ABI's allocator switch (core/src/alloc.rs): the C suite's valgrind and ASan runs rely on it.
TAILRACE_ALLOCATOR=system cargo test -q -p tailrace-ffi --lib allocator

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

step "Go: ffi/go (go vet; tests plain, -race and cgocheck2; dynamic link; example and bench build)"
# Links target/release/libtailrace.a (built above); the dynamic build uses ffi/install.sh's .pc.
cargo build --release -p tailrace-ffi -p tailrace-testbed
export PKG_CONFIG_PATH="$PWD/target/tailrace-dist/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
go_test() { # go_test LABEL ARGS...: run in ffi/go; print skips and the result, everything on failure
  local label=$1 log; shift; log=$(mktemp)
  if (cd ffi/go && "$@" -count=1 -v ./... >"$log" 2>&1); then
    local skipped; skipped=$(grep -E '^\s*--- SKIP' "$log" | awk '{print $3}' | paste -sd' ' || true)
    if [[ -n $skipped ]]; then
      echo "skipped: $skipped"
      grep -B1 -E '^\s*--- SKIP' "$log" | grep -E '_test\.go:[0-9]+: ' | sed -E 's/^.*_test\.go:[0-9]+: /  because: /' | sort -u
    fi
    echo "go test ($label): $(grep -E '^ok' "$log")"; rm -f "$log"
  else
    cat "$log"; rm -f "$log"; echo "go test ($label) FAILED"; return 1
  fi
}
unformatted=$(gofmt -l ffi/go examples/go tests/bench/go)
if [ -n "$unformatted" ]; then echo "not gofmt-formatted (run gofmt -w): $unformatted"; exit 1; fi
(cd ffi/go && go vet ./...)
go_test plain go test
go_test race go test -race
go_test cgocheck2 env GOEXPERIMENT=cgocheck2 go test
if command -v pkg-config >/dev/null; then
  (cd ffi/go && go vet -tags dynamic ./...)
  go_test "dynamic, libtailrace.so" env LD_LIBRARY_PATH="$PWD/target/tailrace-dist/lib" \
    go test -tags dynamic -run 'TestDoReturnsTheWholeResponse|TestCodeNamesMatchTheLibrary'
else
  echo "pkg-config not installed: skipping the -tags dynamic build (.ci/run installs it)"
fi
(cd examples/go && go vet . && go build -o /dev/null .)
(cd tests/bench/go && go vet . && go build -o /dev/null .)
