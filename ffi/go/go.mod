module example.invalid/tailrace/ffi/go

go 1.22
