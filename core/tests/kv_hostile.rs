//! Hostile input to the replicated map: malformed or oversized rumor messages get a typed
//! error, and the node keeps running with bounded state.

use core::net::SocketAddr;

use proptest::prelude::*;
use rumor_core::{Config, InputErrorKind, Instant, KvConfig, Memberlist};

fn node() -> Memberlist {
    let config = Config {
        kv: KvConfig {
            max_keys: 64,
            max_writers: 8,
            ..KvConfig::enabled()
        },
        relay_broadcasts: true,
        relay_memory: 16,
        ..Config::lan()
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], 7946));
    Memberlist::new(config, "target", addr, b"", [9; 32], Instant::ZERO).expect("valid config")
}

/// A datagram carrying one user message: rumor's marker, `kind`, then `body`.
fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![8, 0xc1, b'r', b'u', 1, kind];
    p.extend_from_slice(body);
    p
}

fn from() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9999))
}

fn kv_error(r: Result<(), rumor_core::InputError>) -> bool {
    matches!(r, Err(e) if matches!(e.kind, InputErrorKind::Kv(_)))
}

#[test]
fn oversized_counts_and_lengths_are_refused_before_use() {
    let mut m = node();
    let now = Instant::ZERO;
    // Digest: flags, from "x", then a row count of 4 billion.
    let digest = [0u8, 1, b'x', 0xff, 0xff, 0xff, 0xff];
    assert!(kv_error(m.handle_packet(now, from(), &packet(4, &digest))));
    // Writes: a group claiming 4 billion entries.
    let mut group = vec![1, b'w', 0, 0, 0, 1];
    group.extend_from_slice(&[0; 16]);
    group.extend_from_slice(&[0xff; 4]);
    assert!(kv_error(m.handle_packet(now, from(), &packet(3, &group))));
    // Writes: one entry whose value claims 2^40 bytes.
    let mut group = vec![1, b'w', 0, 0, 0, 1];
    group.extend_from_slice(&[0; 16]);
    group.extend_from_slice(&1u32.to_be_bytes());
    group.extend_from_slice(&[1, b'k', 1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert!(kv_error(m.handle_packet(now, from(), &packet(3, &group))));
    // Sync: chunk index past the total.
    let mut sync = vec![1, b'x'];
    sync.extend_from_slice(&[0; 8]);
    sync.extend_from_slice(&5u32.to_be_bytes());
    sync.extend_from_slice(&2u32.to_be_bytes());
    assert!(kv_error(m.handle_packet(now, from(), &packet(6, &sync))));
    // Unknown kind and unknown version.
    assert!(kv_error(m.handle_packet(now, from(), &packet(99, b""))));
    assert!(kv_error(m.handle_packet(
        now,
        from(),
        &[8, 0xc1, b'r', b'u', 2, 3]
    )));
    assert_eq!(m.kv_len(), 0);
    assert!(m.kv_stats().malformed >= 6);
    // The node still works.
    assert!(m.kv_set(now, "k", b"v").is_ok());
}

#[test]
fn writes_beyond_the_bounds_are_refused_not_stored() {
    let mut m = node();
    let now = Instant::ZERO;
    // 20 writers with 10 keys each: only 8 writers and 64 keys fit.
    for w in 0..20u8 {
        let mut group = vec![2, b'w', b'a' + w, 0, 0, 0, 1];
        group.extend_from_slice(&[0; 16]);
        group.extend_from_slice(&10u32.to_be_bytes());
        for k in 0..10u8 {
            group.extend_from_slice(&[2, b'a' + w, b'0' + k, 1, 1, 1, b'v']);
        }
        let _ = m.handle_packet(now, from(), &packet(3, &group));
    }
    assert!(m.kv_len() <= 64);
    assert!(m.kv_stats().refused > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_bodies_never_panic(kind in 0u8..10, body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut m = node();
        let r = m.handle_packet(Instant::ZERO, from(), &packet(kind, &body));
        prop_assert!(r.is_ok() || kv_error(r));
        prop_assert!(m.kv_len() <= 64);
        // Whatever happened, the node keeps answering commands.
        prop_assert!(m.kv_set(Instant::ZERO, "after", b"x").is_ok() || m.kv_len() == 64);
    }
}
