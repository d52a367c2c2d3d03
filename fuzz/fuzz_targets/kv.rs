//! A datagram carrying one user message with rumor's marker, as a node with the replicated
//! map and relay on receives it: digests, deltas, full-state chunks, writes, relays. Bad input
//! must give a typed error, never a panic, and the map must stay within its bounds.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use rumor_core::{Config, Instant, KvConfig, Memberlist};

fn node() -> Memberlist {
    let config = Config {
        kv: KvConfig {
            max_keys: 256,
            max_writers: 16,
            ..KvConfig::enabled()
        },
        relay_broadcasts: true,
        relay_memory: 64,
        ..Config::lan()
    };
    let addr = ([127, 0, 0, 1], 7946).into();
    Memberlist::new(config, "target", addr, b"", [7; 32], Instant::ZERO).expect("valid config")
}

thread_local! {
    static NODE: RefCell<(Memberlist, Vec<u8>)> = RefCell::new((node(), Vec::new()));
}

fuzz_target!(|data: &[u8]| {
    NODE.with_borrow_mut(|(m, packet)| {
        packet.clear();
        packet.extend_from_slice(&[8, 0xc1, b'r', b'u', 1]);
        packet.extend_from_slice(data);
        let from = ([127, 0, 0, 1], 9999).into();
        let _ = m.handle_packet(Instant::ZERO, from, packet);
        assert!(m.kv_len() <= 256);
        let mut out = Vec::new();
        while m.poll_transmit(Instant::ZERO, &mut out).is_some() {}
        while m.poll_stream().is_some() {}
        while m.poll_event().is_some() {}
    });
});
