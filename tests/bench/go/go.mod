module example.invalid/tailrace/tests/bench/go

go 1.22

require example.invalid/tailrace/ffi/go v0.0.0

replace example.invalid/tailrace/ffi/go => ../../../ffi/go
