//! Replicated map benchmarks: `cargo bench -p rumor-core --bench kv`.
//!
//! - `set`: one local write into a map of 10,000 keys (applied, versioned and queued as
//!   gossip).
//! - `answer_empty_digest`: a node holding 10,000 keys of 100 bytes answers a digest from a
//!   peer that has nothing: every entry goes out, in chunks of at most 64 KiB (about 1.2 MB).
//! - `digest_100_writers`: encoding this node's digest when 100 writers wrote its 10,000 keys.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rumor_core::{Config, Instant, KvConfig, Memberlist, StreamCommand, StreamInput};

const KEYS: usize = 10_000;

fn node(name: &str) -> Memberlist {
    let config = Config {
        kv: KvConfig::enabled(),
        ..Config::lan()
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], 7946));
    Memberlist::new(config, name, addr, b"", [3; 32], Instant::ZERO).expect("valid config")
}

/// A node with `KEYS` keys of 100 bytes, written by itself.
fn full_node() -> Memberlist {
    let mut m = node("bench");
    // Values that do not compress (LZW compresses stream messages, as memberlist does).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..KEYS {
        let value: Vec<u8> = (0..100)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        m.kv_set(Instant::ZERO, &format!("service/{k:05}"), &value)
            .expect("write");
    }
    drain(&mut m);
    m
}

fn drain(m: &mut Memberlist) -> usize {
    let mut buf = Vec::with_capacity(65536);
    let mut n = 0;
    while let Some(t) = m.poll_transmit(Instant::ZERO, &mut buf) {
        n += t.len;
    }
    // Streams connect at once; what they send is counted.
    while let Some(c) = m.poll_stream() {
        match c {
            StreamCommand::Connect { id, .. } => {
                let _ = m.handle_stream(Instant::ZERO, id, StreamInput::Connected);
            }
            StreamCommand::Send { data, .. } => n += data.len(),
            StreamCommand::Close { .. } => {}
        }
    }
    while m.poll_event().is_some() {}
    n
}

/// A digest packet from `from` (a user message carrying rumor's digest) with one row.
/// `payload` as a user message on a stream, framed by a node that sends it.
fn stream_bytes(payload: &[u8]) -> Vec<u8> {
    let mut sender = node("sender");
    let to = SocketAddr::from(([127, 0, 0, 1], 7946));
    sender
        .send_to_addr(Instant::ZERO, to, payload, true)
        .expect("stream");
    let mut data = Vec::new();
    while let Some(c) = sender.poll_stream() {
        match c {
            StreamCommand::Connect { id, .. } => {
                let _ = sender.handle_stream(Instant::ZERO, id, StreamInput::Connected);
            }
            StreamCommand::Send { data: d, .. } => data.extend_from_slice(&d),
            StreamCommand::Close { .. } => {}
        }
    }
    data
}

fn digest_packet(from: &str, row: Option<(&str, u32, u64)>) -> Vec<u8> {
    let mut p = vec![8, 0xc1, b'r', b'u', 1, 4, 0];
    p.push(from.len() as u8);
    p.extend_from_slice(from.as_bytes());
    match row {
        None => p.extend_from_slice(&0u32.to_be_bytes()),
        Some((name, epoch, wm)) => {
            p.extend_from_slice(&1u32.to_be_bytes());
            p.push(name.len() as u8);
            p.extend_from_slice(name.as_bytes());
            p.extend_from_slice(&epoch.to_be_bytes());
            let mut v = wm;
            while v >= 0x80 {
                p.push((v as u8) | 0x80);
                v >>= 7;
            }
            p.push(v as u8);
            p.push(0);
        }
    }
    p
}

fn kv(c: &mut Criterion) {
    let mut g = c.benchmark_group("kv");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let mut m = full_node();
    let mut i = 0u64;
    g.bench_function("set", |b| {
        b.iter(|| {
            i += 1;
            let key = format!("service/{:05}", i % KEYS as u64);
            m.kv_set(Instant::ZERO, &key, black_box(b"new value"))
                .expect("write");
            drain(&mut m);
        })
    });

    let mut m = full_node();
    let from = SocketAddr::from(([127, 0, 0, 1], 9000));
    // The node answers itself: the digest names a live member (this one) and comes over a
    // stream from its IP (a datagram gets at most three times its size back), and the answer
    // is only drained, never delivered.
    let empty = stream_bytes(&digest_packet("bench", None)[1..]);
    // A second apart each time, so that the per-peer budget never holds an answer back.
    let mut clock = Instant::ZERO;
    let mut ask = |m: &mut Memberlist| {
        clock = clock + Duration::from_secs(1);
        let id = m.accept_stream(clock, from).expect("stream");
        m.handle_stream(clock, id, StreamInput::Data(&empty))
            .expect("digest");
    };
    ask(&mut m);
    let sent = drain(&mut m);
    assert!(sent > KEYS * 100, "the whole map went out ({sent} bytes)");
    println!("answer to an empty digest: {sent} bytes");
    g.bench_function("answer_empty_digest", |b| {
        b.iter(|| {
            ask(black_box(&mut m));
            black_box(drain(&mut m));
        })
    });

    // A node that learned 10,000 keys from 100 writers (100 deltas, each claiming its
    // writer's watermark), then its digest: one row per writer, whatever the key count.
    let mut reader = node("reader");
    for w in 0..100u32 {
        let name = format!("writer-{w:03}");
        let mut p = vec![8, 0xc1, b'r', b'u', 1, 5, 0];
        p.push(name.len() as u8);
        p.extend_from_slice(name.as_bytes());
        p.push(name.len() as u8);
        p.extend_from_slice(name.as_bytes());
        p.extend_from_slice(&w.to_be_bytes());
        // The group claims versions (0, 100]: all of this writer's writes.
        p.extend_from_slice(&0u64.to_be_bytes());
        p.extend_from_slice(&100u64.to_be_bytes());
        p.extend_from_slice(&100u32.to_be_bytes());
        for k in 1..=100u8 {
            let key = format!("w{w}/{k}");
            p.push(key.len() as u8);
            p.extend_from_slice(key.as_bytes());
            p.push(k);
            p.extend_from_slice(&[1, 1, b'v']);
        }
        reader
            .handle_packet(Instant::ZERO, from, &p)
            .expect("delta");
    }
    assert_eq!(reader.kv_len(), KEYS);
    let len = reader.kv_digest_len();
    println!("digest of {KEYS} keys from 100 writers: {len} bytes");
    g.bench_function("digest_100_writers", |b| {
        b.iter(|| black_box(reader.kv_digest_len()))
    });
    g.finish();
}

criterion_group!(benches, kv);
criterion_main!(benches);
