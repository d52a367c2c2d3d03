//! A stream as a node reads it: label, the `encryptMsg` frame length and decryption, the
//! message (push/pull node states iterated, the header decoded alone), one level of
//! decompression and the message inside (`rumor_conformance::robust::exercise_stream`). The
//! same bytes are also sealed into a frame and fed again, so the paths after a successful
//! decryption see them too.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use rumor_conformance::robust::{Scratch, exercise_sealed_stream, exercise_stream};

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

fuzz_target!(|data: &[u8]| {
    SCRATCH.with_borrow_mut(|scratch| {
        exercise_stream(data, scratch);
        exercise_sealed_stream(data, scratch);
    });
});
