#!/usr/bin/env bash
# Build the C and C++ examples against target/tailrace-dist (ffi/install.sh) and run each against
# a testbed subprocess. Used by tests/run_all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -C examples/c
make -s -C examples/cpp
coproc TESTBED { exec target/release/testbed --port 0 --exit-on-stdin-eof; }
read -r port <&"${TESTBED[0]}"
trap 'exec {TESTBED[1]}>&-; wait "$TESTBED_PID" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
echo "--- get";        target/examples/get "$base/items/1?body_bytes=12"
echo "--- fanout";     target/examples/fanout "$base,$base" 300 | head -c 400; echo
echo "--- fanout (static)"; target/examples/fanout_static "$base" 100 | head -1
echo "--- futures";    target/examples/futures "$base"
echo "examples: 4 passed, 0 failed"
