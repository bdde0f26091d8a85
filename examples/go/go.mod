module example.invalid/tailrace/examples/go

go 1.22

require example.invalid/tailrace/ffi/go v0.0.0

replace example.invalid/tailrace/ffi/go => ../../ffi/go
