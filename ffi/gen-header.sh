#!/usr/bin/env bash
# Generate include/tailrace.h from ffi/src with the pinned cbindgen (the one place its version is
# set). Installs that cbindgen into ~/.cargo/bin when missing (~80 s once).
#   bash ffi/gen-header.sh            regenerate include/tailrace.h
#   bash ffi/gen-header.sh --verify   fail (and print the diff) when the committed header is stale
set -euo pipefail
CBINDGEN_VERSION=0.29.4
cd "$(dirname "$0")/.."

cbindgen_bin="$(command -v cbindgen || true)"
if [[ -z "$cbindgen_bin" ]] || [[ "$("$cbindgen_bin" --version)" != "cbindgen $CBINDGEN_VERSION" ]]; then
  echo "installing cbindgen $CBINDGEN_VERSION" >&2
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked >&2
  cbindgen_bin="$HOME/.cargo/bin/cbindgen"
fi

out=include/tailrace.h
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$cbindgen_bin" --quiet --config ffi/cbindgen.toml --crate tailrace-ffi --output "$tmp" ffi

# Every exported function must be documented (rustls-ffi's idea): a prototype with no comment
# block right above it fails the build.
awk '
  /^[ \t]*\*\/[ \t]*$/ { documented = 1; next }
  /^[a-z].*[ *]tailrace_[a-z0-9_]+\(/ && !/^typedef/ {
    if (!documented) { print "undocumented function in the header: " $0; bad = 1 }
  }
  /;[ \t]*$/ { documented = 0 }
  END { exit bad }
' "$tmp"

if [[ "${1:-}" == "--verify" ]]; then
  if ! diff -u "$out" "$tmp"; then
    echo "include/tailrace.h is stale: run bash ffi/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "include/tailrace.h is current"
else
  mkdir -p include
  cp "$tmp" "$out"
  echo "wrote $out"
fi
