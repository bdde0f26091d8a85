#!/usr/bin/env bash
# Lay out libtailrace as an installed library under PREFIX, the way C programs consume it:
#   PREFIX/include/tailrace.h
#   PREFIX/lib/libtailrace.so.X.Y.Z, libtailrace.so.X (the SONAME), libtailrace.so, libtailrace.a
#   PREFIX/lib/pkgconfig/tailrace.pc         (shared:  pkg-config --cflags --libs tailrace)
#   PREFIX/lib/pkgconfig/tailrace-static.pc  (static:  pkg-config --cflags --libs tailrace-static)
# Usage: bash ffi/install.sh [PREFIX] [--no-build]     (default PREFIX: target/tailrace-dist)
# Builds the release library first unless --no-build. Uses CARGO_TARGET_DIR if set.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="target/tailrace-dist"
build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) prefix="$arg" ;;
  esac
done
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
target_dir="${CARGO_TARGET_DIR:-target}"

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
major="${version%%.*}"
if [[ $build == 1 ]]; then
  cargo build --release -p tailrace-ffi
fi

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
cp include/tailrace.h "$prefix/include/"
cp "$target_dir/release/libtailrace.so" "$prefix/lib/libtailrace.so.$version"
ln -sf "libtailrace.so.$version" "$prefix/lib/libtailrace.so.$major"
ln -sf "libtailrace.so.$major" "$prefix/lib/libtailrace.so"
cp "$target_dir/release/libtailrace.a" "$prefix/lib/libtailrace.a"

# What the static library needs from the system (rustc --print native-static-libs on glibc).
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
for variant in shared static; do
  if [[ $variant == shared ]]; then name=tailrace; libs='-L${libdir} -ltailrace'; else
    name=tailrace-static; libs="\${libdir}/libtailrace.a $native_libs"; fi
  cat > "$prefix/lib/pkgconfig/$name.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: $name
Description: tailrace: hedged, limited, ordered outbound HTTP calls ($variant library)
Version: $version
Libs: $libs
Cflags: -I\${includedir}
PC
done
echo "installed libtailrace $version under $prefix"
