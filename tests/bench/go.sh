#!/usr/bin/env bash
# Go binding benchmark: tailrace's Go package vs Go's net/http (Transport tuned with
# MaxIdleConnsPerHost = concurrency), in the same run, closed loop on the testbed's fast mode at
# concurrency 16, 64 and 256 (rounds alternate; the Rust loadgen in the same rounds shows the
# ceiling any binding could reach here); then the cost of one call on its own (serial,
# vs Rust on the runtime) and of one bare cgo crossing.
# Usage: bash tests/bench/go.sh [requests-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-40000}
ROUNDS=${2:-3}
cargo build --release -q -p tailrace-ffi -p tailrace-testbed
(cd tests/bench/go && go run . -requests "$N" -rounds "$ROUNDS")
echo
echo "cgo crossings and in-library costs (go test -bench in ffi/go):"
(cd ffi/go && go test -run '^$' -bench 'CgoCrossing|SubmitRejected|RoundTrip' -benchtime 1s . | grep -E '^Benchmark|SKIP')
