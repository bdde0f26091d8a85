//go:build !dynamic

package tailrace

// Static linking (the default): the release archive built by
//   cargo build --release -p tailrace-ffi
// at the repository root. It is named by path because -ltailrace would pick libtailrace.so from
// the same directory, and the Go binary would then need it at run time. The system libraries
// after it are what `rustc --print native-static-libs` lists for it on glibc.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libtailrace.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"

// LinkInfo says how this build links libtailrace.
const LinkInfo = "static: target/release/libtailrace.a"
