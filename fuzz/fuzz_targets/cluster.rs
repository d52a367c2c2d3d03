//! The state machine: a cluster of three cores driven by a program of datagrams, stream
//! bytes, closes, commands, crashes and time steps, with its invariants checked after every
//! step (`rumor_conformance::state_fuzz`). Seeds: any bytes; `tests/state_fuzz.rs` runs the
//! same harness on random programs in the test suite.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rumor_conformance::state_fuzz::run(data);
});
