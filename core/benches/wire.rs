//! Wire-layer benchmarks: `cargo bench -p rumor-core`.
//!
//! Every encode writes into a buffer sized once outside the timed loop, and every decode
//! borrows from bytes encoded once outside it, so the figures are the codec's own cost (no
//! allocation is made in either direction but LZW's code tables, which a message over 512
//! bytes gets for the call; `tests/alloc_free.rs` proves it). Messages are the
//! sizes a real cluster sends: probes with their `Source*` fields, gossip with metadata, a
//! 20-part compound, and a 1,000-member push/pull. `conformance/interop/codecbench/run.sh`
//! runs the push/pull groups beside Go memberlist's own code on the same members.
//!
//! The configuration keeps a full run under a minute on two cores; pass criterion's own flags
//! after `--` (e.g. `--measurement-time 10`) for tighter figures. The `time:` line criterion
//! prints is its regression slope; the median per iteration is in
//! `target/criterion/<group>/<bench>/new/estimates.json`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rumor_core::Limits;
use rumor_core::wire::{
    Ack, Alive, COMPOUND_HEADER_OVERHEAD, COMPOUND_PART_OVERHEAD, Dead, Encode, EncryptionVersion,
    IpBytes, Keyring, Lzw, Message, NodeState, Ping, PushNodeState, PushPull, PushPullWriter,
    SecretKey, Suspect, Vsn, compound_len, decode_packet, decode_stream, encode_compound,
    push_pull_len,
};

/// What a memberlist 0.2.2 node sends: protocol 1..=5, speaking 2; no delegate versions.
const VSN: Vsn = Vsn::from_bytes([1, 5, 2, 0, 0, 0]);
const PORT: u16 = 7946;
/// Members in the push/pull benchmark.
const MEMBERS: usize = 1_000;
/// Messages compressed in turn by `push_pull1000_lzw/compress_varied`.
const VARIANTS: u32 = 16;
/// Parts in the compound benchmark.
const PARTS: usize = 20;
/// Size of the sealed packet (the envelope: version, nonce, ciphertext, tag).
const SEALED_LEN: usize = 1_400;

fn ip(i: usize) -> IpBytes {
    IpBytes::new(&[10, 0, (i >> 8) as u8, i as u8]).expect("4 bytes")
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("node-{i:04}")).collect()
}

/// A buffer of exactly `msg.encoded_len()` bytes holding `msg`.
fn encoded(msg: &impl Encode) -> Vec<u8> {
    let mut out = vec![0u8; msg.encoded_len()];
    let n = msg.encode(&mut out).expect("encode");
    assert_eq!(n, out.len());
    out
}

/// Many short samples (about 2 ms each) rather than criterion's 100 long ones: on a shared
/// machine a sample that the scheduler interrupts is an outlier, and the median of the rest is
/// the codec's own time. Fewer bootstrap resamples keep the analysis quick.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(500)
        .nresamples(20_000)
        .configure_from_args()
}

/// One message type: encode into a fixed buffer, and `decode_packet` from its bytes.
fn codec<M: Encode>(c: &mut Criterion, name: &str, msg: &M, check: fn(&Message<'_>) -> bool) {
    let bytes = encoded(msg);
    assert!(check(&decode_packet(&bytes).expect("decode")), "{name}");
    let mut out = vec![0u8; bytes.len()];
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| {
        b.iter(|| black_box(msg).encode(black_box(&mut out)).expect("encode"))
    });
    g.bench_function("decode", |b| {
        b.iter(|| match decode_packet(black_box(&bytes)) {
            Ok(m) => black_box(m),
            Err(e) => panic!("{e}"),
        })
    });
    g.finish();
}

fn messages(c: &mut Criterion) {
    let ping = Ping {
        seq_no: 1_234_567,
        node: "node-0042",
        source_addr: ip(1),
        source_port: PORT,
        source_node: "node-0001",
    };
    codec(
        c,
        "ping",
        &ping,
        |m| matches!(m, Message::Ping(p) if p.node == "node-0042"),
    );

    let ack = Ack {
        seq_no: 1_234_567,
        payload: &[],
    };
    codec(
        c,
        "ack",
        &ack,
        |m| matches!(m, Message::Ack(a) if a.seq_no == 1_234_567),
    );

    let meta = [0x5au8; 64];
    let alive = Alive {
        incarnation: 42,
        node: "node-0042",
        addr: ip(42),
        port: PORT,
        meta: &meta,
        vsn: VSN,
    };
    codec(
        c,
        "alive_meta64",
        &alive,
        |m| matches!(m, Message::Alive(a) if a.meta.len() == 64),
    );
}

/// The gossip a node piggybacks: alive (16 bytes of meta), suspect and dead, in turn.
enum Gossip<'a> {
    Alive(Alive<'a>),
    Suspect(Suspect<'a>),
    Dead(Dead<'a>),
}

impl Gossip<'_> {
    fn encoded_len(&self) -> usize {
        match self {
            Self::Alive(m) => m.encoded_len(),
            Self::Suspect(m) => m.encoded_len(),
            Self::Dead(m) => m.encoded_len(),
        }
    }

    fn encode(&self, out: &mut [u8]) -> usize {
        match self {
            Self::Alive(m) => m.encode(out),
            Self::Suspect(m) => m.encode(out),
            Self::Dead(m) => m.encode(out),
        }
        .expect("encode")
    }
}

fn gossip<'a>(names: &'a [String], meta: &'a [u8]) -> Vec<Gossip<'a>> {
    (0..PARTS)
        .map(|i| {
            let node = names[i * 37 % names.len()].as_str();
            let from = names[(i * 11 + 5) % names.len()].as_str();
            let incarnation = 1_000 + i as u32;
            match i % 3 {
                0 => Gossip::Alive(Alive {
                    incarnation,
                    node,
                    addr: ip(i),
                    port: PORT,
                    meta,
                    vsn: VSN,
                }),
                1 => Gossip::Suspect(Suspect {
                    incarnation,
                    node,
                    from,
                }),
                _ => Gossip::Dead(Dead {
                    incarnation,
                    node,
                    from,
                }),
            }
        })
        .collect()
}

/// Encodes the messages straight into their places in a compound, header first.
fn encode_compound_in_place(msgs: &[Gossip<'_>], out: &mut [u8]) -> usize {
    out[0] = 7;
    out[1] = msgs.len() as u8;
    let mut pos = COMPOUND_HEADER_OVERHEAD + COMPOUND_PART_OVERHEAD * msgs.len();
    for (i, m) in msgs.iter().enumerate() {
        let n = m.encode(&mut out[pos..]);
        out[2 + 2 * i..4 + 2 * i].copy_from_slice(&(n as u16).to_be_bytes());
        pos += n;
    }
    pos
}

fn compound(c: &mut Criterion) {
    let names = names(100);
    let meta = [0x5au8; 16];
    let msgs = gossip(&names, &meta);
    let encoded_parts: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut v = vec![0u8; m.encoded_len()];
            m.encode(&mut v);
            v
        })
        .collect();
    let parts: Vec<&[u8]> = encoded_parts.iter().map(Vec::as_slice).collect();
    let total = compound_len(parts.iter().copied());
    let mut packet = vec![0u8; total];
    assert_eq!(
        encode_compound(&parts, &mut packet).expect("compound"),
        total
    );
    let mut out = vec![0u8; total];
    assert_eq!(encode_compound_in_place(&msgs, &mut out), total);
    assert_eq!(out, packet);
    let mut scratch = vec![0u8; total];

    let mut g = c.benchmark_group("compound20");
    g.throughput(Throughput::Elements(PARTS as u64));
    g.bench_function("encode_parts", |b| {
        b.iter(|| encode_compound(black_box(&parts), black_box(&mut out)).expect("compound"))
    });
    // The 20 messages into a scratch buffer, then `encode_compound` over the slices.
    g.bench_function("encode_msgs_then_compound", |b| {
        b.iter(|| {
            let mut slices: [&[u8]; PARTS] = [&[]; PARTS];
            let mut rest = &mut scratch[..];
            for (slot, m) in slices.iter_mut().zip(black_box(&msgs)) {
                let n = m.encode(rest);
                let (done, more) = rest.split_at_mut(n);
                *slot = done;
                rest = more;
            }
            encode_compound(&slices, black_box(&mut out)).expect("compound")
        })
    });
    // The 20 messages encoded in place behind a compound header: one buffer, no copy.
    g.bench_function("encode_msgs_in_place", |b| {
        b.iter(|| encode_compound_in_place(black_box(&msgs), black_box(&mut out)))
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let Ok(Message::Compound(c)) = decode_packet(black_box(&packet)) else {
                panic!("not a compound");
            };
            for part in c.parts() {
                black_box(decode_packet(part).expect("part"));
            }
        })
    });
    g.finish();
}

/// The push/pull members; `variant` shifts every incarnation (0 for the benchmark's message,
/// 1.. for the others of `compress_varied`). Go: `rumorBenchStates` in conformance/interop/codecbench.
fn states<'a>(names: &'a [String], meta: &'a [u8], variant: u32) -> Vec<PushNodeState<'a>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| PushNodeState {
            name,
            addr: ip(i),
            port: PORT,
            meta,
            incarnation: 1 + (i as u32 * 7 + variant * 37) % 300,
            state: match i % 50 {
                0 => NodeState::Suspect,
                1 => NodeState::Dead,
                2 => NodeState::Left,
                _ => NodeState::Alive,
            },
            vsn: VSN,
        })
        .collect()
}

fn encode_push_pull(states: &[PushNodeState<'_>], out: &mut [u8]) -> usize {
    let mut w = PushPullWriter::new(out, false, states.len() as u32, 0).expect("header");
    for s in states {
        w.push(s).expect("state");
    }
    w.finish(&[]).expect("finish")
}

fn push_pull(c: &mut Criterion) {
    let names = names(MEMBERS);
    let meta = [0x5au8; 16];
    let states = states(&names, &meta, 0);
    let len = push_pull_len(false, &states, 0);
    let mut out = vec![0u8; len];
    assert_eq!(encode_push_pull(&states, &mut out), len);
    let bytes = out.clone();
    let limits = Limits::DEFAULT;
    {
        let Ok((Message::PushPull(pp), n)) = decode_stream(&bytes, &limits) else {
            panic!("not a push/pull");
        };
        assert_eq!(n, len);
        assert!(
            pp.nodes
                .map(|s| s.expect("state"))
                .eq(states.iter().copied())
        );
    }

    let mut g = c.benchmark_group("push_pull1000");
    g.throughput(Throughput::Elements(MEMBERS as u64));
    g.bench_function("encode", |b| {
        b.iter(|| encode_push_pull(black_box(&states), black_box(&mut out)))
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let Ok((Message::PushPull(pp), n)) = decode_stream(black_box(&bytes), &limits) else {
                panic!("not a push/pull");
            };
            for s in pp.nodes {
                black_box(s.expect("state"));
            }
            n
        })
    });
    // One pass into a reused vector, as the node merges remote state.
    let mut into = Vec::with_capacity(MEMBERS);
    g.bench_function("decode_into", |b| {
        b.iter(|| {
            into.clear();
            let parts = PushPull::decode_body_into(black_box(&bytes[1..]), &limits, &mut into)
                .expect("push/pull");
            black_box(&into);
            parts.used
        })
    });
    g.finish();

    // LZW, as a stream sender with compression on does to the whole message.
    let mut lzw = Lzw::new();
    let mut packed = vec![0u8; len * 2 + 64];
    let n = lzw.compress_message(&bytes, &mut packed).expect("compress");
    packed.truncate(n);
    let Ok(Message::Compress(compressed)) = decode_packet(&packed) else {
        panic!("not a compress message");
    };
    let mut plain = Vec::with_capacity(len);
    lzw.decompress(&compressed, len, &mut plain)
        .expect("decompress");
    assert_eq!(plain, bytes);
    let mut packed_out = vec![0u8; len * 2 + 64];
    // conformance/interop/codecbench/run.sh passes Go's bytes for the same message.
    if let Some(dir) = std::env::var_os("RUMOR_GO_DUMP") {
        let dir = std::path::Path::new(&dir);
        let go_message = std::fs::read(dir.join("push_pull.bin")).expect("Go's push/pull");
        let go_packed = std::fs::read(dir.join("push_pull.lzw")).expect("Go's compress message");
        assert!(go_message == bytes, "the push/pull differs from Go's");
        assert!(
            go_packed == packed,
            "the compress message differs from Go's"
        );
        eprintln!("push/pull and its compress message: byte for byte Go's");
    }

    let mut g = c.benchmark_group("push_pull1000_lzw");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("compress", |b| {
        b.iter(|| {
            lzw.compress_message(black_box(&bytes), black_box(&mut packed_out))
                .expect("compress")
        })
    });
    // The same message over and over lets the CPU learn its branches (where each LZW string
    // ends): on this machine that took the compressor from about 220 us to 90 us, figures no
    // node sees, as it compresses each push/pull once. So also: 16 messages in turn, whose
    // incarnations differ (as Go's side does).
    let varied: Vec<Vec<u8>> = (0..VARIANTS)
        .map(|k| {
            let members = crate::states(&names, &meta, k);
            let mut out = vec![0u8; push_pull_len(false, &members, 0)];
            encode_push_pull(&members, &mut out);
            out
        })
        .collect();
    let mut next = 0;
    g.bench_function("compress_varied", |b| {
        b.iter(|| {
            next = (next + 1) % varied.len();
            lzw.compress_message(black_box(&varied[next]), black_box(&mut packed_out))
                .expect("compress")
        })
    });
    g.bench_function("decompress", |b| {
        b.iter(|| {
            plain.clear();
            lzw.decompress(black_box(&compressed), len, &mut plain)
                .expect("decompress");
            plain.len()
        })
    });
    g.finish();
}

fn crypto(c: &mut Criterion) {
    let plain_len = SEALED_LEN - EncryptionVersion::V1.overhead();
    let plaintext: Vec<u8> = (0..plain_len).map(|i| (i * 31 % 251) as u8).collect();
    let nonce = [7u8; 12];
    let label = b"";
    for key_len in [16usize, 32] {
        let ring = Keyring::new(SecretKey::new(&vec![0x42; key_len]).expect("key"));
        let mut sealed = vec![0u8; SEALED_LEN];
        let n = ring
            .seal(EncryptionVersion::V1, nonce, &plaintext, label, &mut sealed)
            .expect("seal");
        assert_eq!(n, SEALED_LEN);
        let envelope = sealed.clone();
        let mut opened = vec![0u8; SEALED_LEN];
        let m = ring.open(&envelope, label, &mut opened).expect("open");
        assert_eq!(&opened[..m], &plaintext[..]);

        let mut g = c.benchmark_group(format!("aes{}_gcm_{SEALED_LEN}B", key_len * 8));
        g.throughput(Throughput::Bytes(SEALED_LEN as u64));
        g.bench_function("seal", |b| {
            b.iter(|| {
                ring.seal(
                    EncryptionVersion::V1,
                    nonce,
                    black_box(&plaintext),
                    label,
                    black_box(&mut sealed),
                )
                .expect("seal")
            })
        });
        g.bench_function("open", |b| {
            b.iter(|| {
                ring.open(black_box(&envelope), label, black_box(&mut opened))
                    .expect("open")
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = wire;
    config = config();
    targets = messages, compound, push_pull, crypto
}
criterion_main!(wire);
