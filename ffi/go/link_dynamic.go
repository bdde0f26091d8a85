//go:build dynamic

package tailrace

// Dynamic linking (go build -tags dynamic): libtailrace.so found by pkg-config, e.g. after
//   bash ffi/install.sh /usr/local     (or PKG_CONFIG_PATH=target/tailrace-dist/lib/pkgconfig)
// The binary then needs libtailrace.so at run time (LD_LIBRARY_PATH or the system's paths).

// #cgo pkg-config: tailrace
import "C"

// LinkInfo says how this build links libtailrace.
const LinkInfo = "dynamic: libtailrace.so via pkg-config"
