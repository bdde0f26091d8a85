# Shared by the benchmark scripts (source it from the repo root): starts testbeds on 127.0.0.1
# and stops them, and removes the scratch directory, when the script exits.
#   start_testbed VAR [testbed flags]...  sets $VAR to the testbed's base URL (http://127.0.0.1:PORT)
#                                         (`start_testbed VAR --nice N [flags]...` runs it at nice N)
#                                         and $testbed_pid to its pid
#   $bench_tmp                            a scratch directory for the script's own files
#   build_c_load                          builds target/bench/c_load (tests/bench/c_load.c) against
#                                         the installed library (after a release build of ffi)
bench_pids=()
bench_tmp=$(mktemp -d)
trap 'kill "${bench_pids[@]}" 2>/dev/null || true; rm -rf "$bench_tmp"' EXIT

start_testbed() {
  local var=$1 portfile launch=()
  shift
  if [ "${1:-}" = --nice ]; then launch=(nice -n "$2"); shift 2; fi
  portfile=$(mktemp -p "$bench_tmp")
  ${launch[@]+"${launch[@]}"} target/release/testbed --port 0 "$@" > "$portfile" &
  testbed_pid=$!
  bench_pids+=("$testbed_pid")
  until [ -s "$portfile" ]; do sleep 0.05; done
  printf -v "$var" 'http://127.0.0.1:%s' "$(head -n1 "$portfile")"
}

build_c_load() {
  bash ffi/install.sh --no-build >/dev/null
  local dist=target/tailrace-dist
  mkdir -p target/bench
  cc -O2 -std=c11 -I"$dist/include" -o target/bench/c_load tests/bench/c_load.c \
    -L"$dist/lib" -ltailrace -lpthread -Wl,-rpath,"$PWD/$dist/lib"
}
