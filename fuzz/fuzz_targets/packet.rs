//! A datagram as a node receives it: label, decryption with a test keyring and the plaintext
//! fallback, CRC, the message, compound parts and compressed payloads
//! (`rumor_conformance::robust::exercise_packet`). The same bytes are also sealed with the
//! keyring and fed again, so the paths after a successful decryption see them too.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use rumor_conformance::robust::{Scratch, exercise_packet, exercise_sealed_packet};

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

fuzz_target!(|data: &[u8]| {
    SCRATCH.with_borrow_mut(|scratch| {
        exercise_packet(data, scratch);
        exercise_sealed_packet(data, scratch);
    });
});
