//! The testbed server's behaviour, seen from raw clients (not the tailrace crate).

mod binary;
mod counting;
mod protocols;
mod responses;
mod support;
