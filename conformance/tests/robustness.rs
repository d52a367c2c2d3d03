//! Over a million hostile inputs through every decoder a received datagram or stream reaches
//! (`rumor_conformance::robust`, shared with the fuzz targets in `fuzz/`): mutations of every
//! golden vector, truncations at every length, "huge length" edits, splices, pure random
//! bytes, mutated plaintexts re-wrapped in valid compression, encryption, CRC and compound
//! layers, and decompression bombs. It checks that nothing panics and that no single
//! allocation exceeds what the configured [`Limits`] allow, under memberlist's limits and
//! under tight ones.
//!
//! Deterministic: the inputs come from ChaCha8 with a fixed seed, printed (override it with
//! `RUMOR_ROBUST_SEED=<u64>` to explore). Run with `-- --nocapture` to see the counts.

use std::alloc::System;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_conformance::robust::{
    ErrorKind, Scratch, Summary, Tally, exercise_packet, exercise_sealed_packet,
    exercise_sealed_stream, exercise_stream,
};
use rumor_conformance::vectors;
use rumor_core::Limits;
use rumor_core::wire::{LZW_DECODER_TABLES, Lzw, encode_compound, encode_crc, encode_label};
use tracking_allocator::{AllocationGroupId, AllocationRegistry, AllocationTracker, Allocator};

#[global_allocator]
static GLOBAL: Allocator<System> = Allocator::system();

/// Bytes currently allocated (since tracking began).
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Most bytes allocated at once.
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Largest single allocation since the last [`measure`] began.
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Allocations made.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The allocation hook: called for every allocation and deallocation (a `realloc` is an
/// allocation of the new size followed by the deallocation of the old block).
struct Counter;

impl AllocationTracker for Counter {
    fn allocated(&self, _addr: usize, size: usize, _wrapped: usize, _group: AllocationGroupId) {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LARGEST.fetch_max(size, Relaxed);
        let now = CURRENT.fetch_add(size, Relaxed) + size;
        PEAK.fetch_max(now, Relaxed);
    }

    fn deallocated(
        &self,
        _addr: usize,
        size: usize,
        _wrapped: usize,
        _source: AllocationGroupId,
        _current: AllocationGroupId,
    ) {
        CURRENT.fetch_sub(size, Relaxed);
    }
}

const DEFAULT_SEED: u64 = 0x726f_6275_7374_2031;

/// Inputs each path must see at least.
const MIN_INPUTS: u64 = 1_000_000;

/// Bytes that make decoders take another branch: the framing type bytes, the msgpack markers
/// 0xc0..=0xdf (nil, bool, bin, ext, float, uint, int, str8/16/32, array16/32, map16/32),
/// fixint and fixstr edges.
fn interesting_bytes() -> Vec<u8> {
    let mut v = vec![
        0x00, 0x01, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
        0xbf, 0xe0, 0xf4, 0xfe, 0xff,
    ];
    v.extend(0xc0..=0xdf);
    v
}

/// Length and count fields set to huge or limit-edge values: msgpack integers and string,
/// bin, array, map and ext headers, and raw big-endian u16/u32 (compound part lengths, stream
/// frame lengths).
const HUGE: &[&[u8]] = &[
    &[0xce, 0xff, 0xff, 0xff, 0xff],
    &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
    &[0xd2, 0x80, 0, 0, 0],
    &[0xcd, 0xff, 0xff],
    &[0xce, 0x00, 0x10, 0x00, 0x00], // max_push_nodes
    &[0xce, 0x00, 0x10, 0x00, 0x01], // max_push_nodes + 1
    &[0xce, 0x01, 0x40, 0x00, 0x00], // 20 MiB
    &[0xce, 0x01, 0x40, 0x00, 0x01], // 20 MiB + 1
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[0xda, 0xff, 0xff],
    &[0xd9, 0xff],
    &[0xc6, 0xff, 0xff, 0xff, 0xff],
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdf, 0xff, 0xff, 0xff, 0xff],
    &[0xc9, 0xff, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff],
    &[0x01, 0x40, 0x00, 0x00],
    &[0x01, 0x40, 0x00, 0x01],
    &[0xff, 0xff],
];

/// Values written in place of an integer, bool or nil field (`Nodes`, `UserStateLen`,
/// `UserMsgLen`, `SeqNo`, ...).
const FIELD_VALUES: &[&[u8]] = &[
    &[0xce, 0xff, 0xff, 0xff, 0xff],
    &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
    &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
    &[0xd0, 0x80],
    &[0xff],
    &[0xc0],
    &[0x00],
    &[0xc3],
    &[0xcc, 0xff],
    &[0xcd, 0xff, 0xff],
    &[0xce, 0x00, 0x10, 0x00, 0x00],
    &[0xce, 0x00, 0x10, 0x00, 0x01],
    &[0xce, 0x01, 0x40, 0x00, 0x00],
    &[0xce, 0x01, 0x40, 0x00, 0x01],
    &[0xca, 0x7f, 0x80, 0x00, 0x00],
    &[0xa1, b'x'],
    &[0x90],
];

/// String headers written in place of a string field's header (its bytes stay).
const STRING_HEADERS: &[&[u8]] = &[
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[0xdb, 0x00, 0x00, 0x00, 0x00],
    &[0xda, 0xff, 0xff],
    &[0xd9, 0xff],
    &[0xc6, 0xff, 0xff, 0xff, 0xff],
    &[0xc4, 0x00],
    &[0xbf],
    &[0xa0],
    &[0xdc, 0xff, 0xff],
    &[0x94],
];

const INT_KEYS: &[&str] = &[
    "Nodes",
    "UserStateLen",
    "UserMsgLen",
    "SeqNo",
    "Incarnation",
    "Port",
    "SourcePort",
    "Algo",
    "State",
    "Join",
    "Nack",
];

const STR_KEYS: &[&str] = &[
    "Node",
    "From",
    "Name",
    "Buf",
    "Payload",
    "Meta",
    "Addr",
    "Vsn",
    "Error",
    "SourceAddr",
    "SourceNode",
    "Target",
];

/// What was fed, by strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strategy {
    Golden,
    Truncate,
    BitFlip,
    Interesting,
    HugeOverwrite,
    HugeInsert,
    FieldValue,
    StringHeader,
    Framing,
    Splice,
    Havoc,
    Random,
    Sealed,
    Compressed,
    Compound,
    Crc,
    Labelled,
    Bomb,
}

const STRATEGIES: usize = 18;

/// The limits an input runs under, and what it saw.
struct Run {
    name: &'static str,
    scratch: Scratch,
    packet: Tally,
    stream: Tally,
    /// Largest single allocation while a packet / a stream was decoded.
    largest_packet: usize,
    largest_stream: usize,
    /// Largest single allocation that the input's own size does not account for.
    beyond_input: usize,
    by_strategy: [u64; STRATEGIES],
}

impl Run {
    fn new(name: &'static str, limits: Limits) -> Self {
        Self {
            name,
            scratch: Scratch::with_limits(limits),
            packet: Tally::default(),
            stream: Tally::default(),
            largest_packet: 0,
            largest_stream: 0,
            beyond_input: 0,
            by_strategy: [0; STRATEGIES],
        }
    }

    /// Feeds `input` to both paths.
    fn feed(&mut self, strategy: Strategy, input: &[u8]) {
        self.packet(strategy, input, false);
        self.stream(strategy, input, false);
    }

    fn packet(&mut self, strategy: Strategy, input: &[u8], sealed: bool) -> Summary {
        let scratch = &mut self.scratch;
        let (s, largest) = measure(input, || {
            if sealed {
                exercise_sealed_packet(input, scratch)
            } else {
                exercise_packet(input, scratch)
            }
        });
        self.largest_packet = self.largest_packet.max(largest);
        let bound = self.packet_bound();
        self.check(largest, input, bound, "packet");
        self.packet.add(&s);
        self.by_strategy[strategy as usize] += 1;
        s
    }

    fn stream(&mut self, strategy: Strategy, input: &[u8], sealed: bool) -> Summary {
        let scratch = &mut self.scratch;
        let (s, largest) = measure(input, || {
            if sealed {
                exercise_sealed_stream(input, scratch)
            } else {
                exercise_stream(input, scratch)
            }
        });
        self.largest_stream = self.largest_stream.max(largest);
        let bound = self.stream_bound();
        self.check(largest, input, bound, "stream");
        self.stream.add(&s);
        self.by_strategy[strategy as usize] += 1;
        s
    }

    fn report(&self) {
        let l = &self.scratch.limits;
        println!("--- {} limits: {l:?}", self.name);
        println!("packet path: {}", self.packet);
        println!("stream path: {}", self.stream);
        println!(
            "largest single allocation while decoding: packet {} bytes (bound: max(input + {SEAL_SLACK}, {})), \
             stream {} bytes (bound: max(input + {SEAL_SLACK}, {})); largest not accounted for by the input's size: {} bytes",
            self.largest_packet,
            self.packet_bound(),
            self.largest_stream,
            self.stream_bound(),
            self.beyond_input
        );
        let names = [
            "golden",
            "truncate",
            "bit flip",
            "interesting byte",
            "huge overwrite",
            "huge insert",
            "field value",
            "string header",
            "framing",
            "splice",
            "havoc",
            "random",
            "sealed",
            "compressed",
            "compound",
            "crc",
            "labelled",
            "bomb",
        ];
        let parts: Vec<String> = names
            .iter()
            .zip(self.by_strategy)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!("decoder calls by strategy: {}", parts.join(", "));
    }

    /// The bounds, and why they are honest.
    ///
    /// Decoding allocates nothing by itself: messages borrow from the input, and the only
    /// growing buffers are the caller's (the driver's scratch). Two kinds:
    /// - buffers sized by the bytes received, never by a length the bytes declare: the
    ///   decrypted plaintext (a stream frame is decrypted only once all of it arrived, after
    ///   its declared length was checked against `max_stream_frame`), the envelope the sealed
    ///   drivers build (the input plus at most [`SEAL_SLACK`] bytes), the buffer a decoded
    ///   message is re-encoded into. They are grown with `reserve_exact`, so one allocation
    ///   is at most the input's length plus [`SEAL_SLACK`];
    /// - the decompression output. `Lzw::decompress` refuses output past its limit before
    ///   storing it, and grows its buffer by doubling capped at the limit, so one allocation
    ///   of it is at most `limit` bytes. The limit is
    ///   `max_packet_decompressed` for a packet (a budget for the whole datagram) and
    ///   `max_decompressed` for a stream; the stream's plaintext is also bounded by
    ///   `max_stream_frame`.
    ///
    /// So no single allocation while decoding an input exceeds max(input length +
    /// [`SEAL_SLACK`], the path's bound below), or the LZW decoder's tables
    /// ([`LZW_DECODER_TABLES`], the same for every compressed message, and given back before
    /// its decompression returns). The input itself is built before measuring.
    fn packet_bound(&self) -> usize {
        self.scratch.limits.max_packet_decompressed
    }

    fn stream_bound(&self) -> usize {
        let l = &self.scratch.limits;
        l.max_stream_frame.max(l.max_decompressed)
    }

    fn check(&mut self, largest: usize, input: &[u8], bound: usize, path: &str) {
        let allowed = bound.max(input.len() + SEAL_SLACK).max(LZW_DECODER_TABLES);
        assert!(
            largest <= allowed,
            "{}: decoding a {}-byte input on the {path} path allocated {largest} bytes at once, \
             over max(input + {SEAL_SLACK}, {bound}) (input starts {})",
            self.name,
            input.len(),
            hex::encode(&input[..input.len().min(64)])
        );
        if largest > input.len() + SEAL_SLACK {
            self.beyond_input = self.beyond_input.max(largest);
        }
    }
}

/// What a sealed driver adds to its input: a label header (2 + 255 bytes at most), the
/// stream frame header (5) and the largest envelope overhead (45).
const SEAL_SLACK: usize = 2 + 255 + 5 + 45;

/// Runs `f` (one driver call on `input`), returning its summary and the largest single
/// allocation it made. A panic is reported with the input, then fails the test.
fn measure(input: &[u8], f: impl FnOnce() -> Summary) -> (Summary, usize) {
    LARGEST.store(0, Relaxed);
    let r = catch_unwind(AssertUnwindSafe(f));
    let largest = LARGEST.load(Relaxed);
    match r {
        Ok(s) => (s, largest),
        Err(panic) => {
            let shown = &input[..input.len().min(4096)];
            eprintln!(
                "PANIC on a {}-byte input (first {} bytes): {}",
                input.len(),
                shown.len(),
                hex::encode(shown)
            );
            resume_unwind(panic)
        }
    }
}

/// The mutation engine.
struct Gen {
    rng: ChaCha8Rng,
    golden: Vec<(String, Vec<u8>)>,
    /// Indices into `golden`, weighted: vectors over 4 KiB appear once, others 16 times (a
    /// 56 KiB push/pull is as costly to decode as a thousand small messages).
    weighted: Vec<usize>,
    interesting: Vec<u8>,
}

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.rng.next_u64().is_multiple_of(one_in)
    }

    fn pick_vector(&mut self) -> usize {
        let i = self.below(self.weighted.len());
        self.weighted[i]
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// One AFL-style mutation of `v`.
    fn mutate_once(&mut self, v: &mut Vec<u8>) {
        let op = self.below(13);
        let len = v.len();
        match op {
            0 if len > 0 => {
                let i = self.below(len);
                v[i] ^= 1 << self.below(8);
            }
            1 if len > 0 => {
                let i = self.below(len);
                let k = self.below(self.interesting.len());
                v[i] = self.interesting[k];
            }
            2 if len > 0 => {
                let i = self.below(len);
                v[i] = self.rng.next_u32() as u8;
            }
            3 => {
                let i = self.below(len + 1);
                let n = 1 + self.below(16);
                let bytes = self.random_bytes(n);
                v.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = self.below(len);
                let n = 1 + self.below(16.min(len - i));
                v.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = self.below(len);
                let n = 1 + self.below(32.min(len - i));
                let chunk = v[i..i + n].to_vec();
                let at = self.below(len + 1);
                v.splice(at..at, chunk);
            }
            6 => {
                let p = HUGE[self.below(HUGE.len())];
                let i = self.below(len + 1);
                let end = (i + p.len()).min(len);
                v.splice(i..end, p.iter().copied());
            }
            7 => {
                let p = HUGE[self.below(HUGE.len())];
                let i = self.below(len + 1);
                v.splice(i..i, p.iter().copied());
            }
            8 => {
                let other = self.pick_vector();
                let from = self.below(self.golden[other].1.len() + 1);
                let tail = self.golden[other].1[from..].to_vec();
                let cut = self.below(len + 1);
                v.truncate(cut);
                v.extend_from_slice(&tail);
            }
            9 if len > 0 => {
                let cut = self.below(len);
                v.truncate(cut);
            }
            10 if len > 1 => {
                let i = self.below(len - 1);
                let w: [u16; 5] = [0xffff, 0x8000, 0x7fff, 0x0000, 0x0100];
                let w = w[self.below(w.len())].to_be_bytes();
                v[i..i + 2].copy_from_slice(&w);
            }
            11 if len > 0 => {
                let i = self.below(len);
                v[i] = if self.chance(2) {
                    v[i].wrapping_add(1)
                } else {
                    v[i].wrapping_sub(1)
                };
            }
            12 if len > 0 => {
                // Set a whole msgpack marker class: fixmap/fixarray/fixstr lengths.
                let i = self.below(len);
                v[i] = (v[i] & 0xf0) | (self.rng.next_u32() as u8 & 0x0f);
            }
            _ => {
                let b = self.rng.next_u32() as u8;
                v.push(b);
            }
        }
    }

    /// A golden vector with 1 to 8 stacked mutations.
    fn havoc(&mut self) -> Vec<u8> {
        let i = self.pick_vector();
        let mut v = self.golden[i].1.clone();
        let n = 1 + self.below(8);
        for _ in 0..n {
            self.mutate_once(&mut v);
        }
        v.truncate(70_000);
        v
    }
}

/// Where the value after each occurrence of the map key `key` starts.
fn key_positions(v: &[u8], key: &str) -> Vec<usize> {
    let mut pat = vec![0xa0 | key.len() as u8];
    pat.extend_from_slice(key.as_bytes());
    (0..v.len().saturating_sub(pat.len() - 1))
        .filter(|&i| v[i..].starts_with(&pat))
        .map(|i| i + pat.len())
        .collect()
}

/// Length of the msgpack scalar (integer, bool, nil, float) at `v[i]`, or None.
fn scalar_len(v: &[u8], i: usize) -> Option<usize> {
    let n = match *v.get(i)? {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xca | 0xce | 0xd2 => 5,
        0xcb | 0xcf | 0xd3 => 9,
        _ => return None,
    };
    (i + n <= v.len()).then_some(n)
}

/// Length of the string/bin header at `v[i]` (nil counts as a 1-byte header), or None.
fn string_header_len(v: &[u8], i: usize) -> Option<usize> {
    let n = match *v.get(i)? {
        0xa0..=0xc0 => 1, // fixstr, nil
        0xd9 | 0xc4 => 2,
        0xda | 0xc5 => 3,
        0xdb | 0xc6 => 5,
        _ => return None,
    };
    (i + n <= v.len()).then_some(n)
}

fn replaced(v: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let mut out = v[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&v[at + len..]);
    out
}

/// Framing edits by vector kind: compound counts and part lengths, stream frame lengths,
/// label lengths, CRCs, envelope versions.
fn framing_edits(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let set = |at: usize, bytes: &[u8]| {
        let mut m = v.to_vec();
        if at + bytes.len() <= m.len() {
            m[at..at + bytes.len()].copy_from_slice(bytes);
        }
        m
    };
    match v.first() {
        Some(0x07) if v.len() >= 2 => {
            let count = usize::from(v[1]);
            for c in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff, v[1].wrapping_add(1)] {
                out.push(set(1, &[c]));
            }
            for p in 0..count {
                let at = 2 + 2 * p;
                if at + 2 > v.len() {
                    break;
                }
                let len = u16::from_be_bytes([v[at], v[at + 1]]);
                for l in [
                    0u16,
                    1,
                    0xffff,
                    0x8000,
                    len.wrapping_add(1),
                    len.wrapping_sub(1),
                ] {
                    out.push(set(at, &l.to_be_bytes()));
                }
            }
        }
        Some(0x0a) if v.len() >= 5 => {
            let len = u32::from_be_bytes([v[1], v[2], v[3], v[4]]);
            for l in [
                0u32,
                1,
                28,
                29,
                44,
                45,
                len.wrapping_sub(1),
                len + 1,
                20 << 20,
                (20 << 20) + 1,
                u32::MAX,
            ] {
                out.push(set(1, &l.to_be_bytes()));
            }
            for ver in [2u8, 0xff] {
                out.push(set(5, &[ver]));
            }
        }
        Some(0xf4) if v.len() >= 2 => {
            for l in [0u8, 1, v[1].wrapping_add(1), 0xff] {
                out.push(set(1, &[l]));
            }
        }
        Some(0x0c) if v.len() >= 5 => {
            out.push(set(1, &[0, 0, 0, 0]));
            out.push(set(1, &[0xff, 0xff, 0xff, 0xff]));
        }
        Some(0x00 | 0x01) => {
            for ver in [0u8, 1, 2, 0xff] {
                out.push(set(0, &[ver]));
            }
        }
        _ => {}
    }
    out
}

/// A stream `compress` message of `inner`.
fn compressed(lzw: &mut Lzw, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; inner.len() + inner.len() / 2 + 64];
    let n = lzw
        .compress_message(inner, &mut out)
        .expect("sized generously");
    out.truncate(n);
    out
}

fn compound_of(parts: &[&[u8]]) -> Option<Vec<u8>> {
    let len = rumor_core::wire::compound_len(parts.iter().copied());
    let mut out = vec![0u8; len];
    encode_compound(parts, &mut out).ok()?;
    Some(out)
}

fn crc_of(inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; inner.len() + 5];
    encode_crc(inner, &mut out).expect("sized");
    out
}

fn labelled(label: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2 + label.len()];
    let n = encode_label(label, &mut out).expect("a short label");
    out.truncate(n);
    out.extend_from_slice(inner);
    out
}

/// A push/pull message declaring `nodes` states (each a msgpack nil, the smallest struct)
/// and `user` bytes of state, with `present` states actually there.
fn push_pull_of(nodes: u32, present: usize, user: u32) -> Vec<u8> {
    let mut v = vec![0x06, 0x83, 0xa4];
    v.extend_from_slice(b"Join");
    v.push(0xc2);
    v.push(0xa5);
    v.extend_from_slice(b"Nodes");
    v.push(0xce);
    v.extend_from_slice(&nodes.to_be_bytes());
    v.push(0xac);
    v.extend_from_slice(b"UserStateLen");
    v.push(0xce);
    v.extend_from_slice(&user.to_be_bytes());
    v.resize(v.len() + present, 0xc0);
    v.resize(v.len() + user as usize, 0x55);
    v
}

/// Deliberately oversized inputs: decompression bombs (one level and nested under a
/// compound), limit-edge push/pull counts and states, and stream frames declaring the
/// maximum length without carrying it.
fn bombs(run: &mut Run, lzw: &mut Lzw) {
    let l = run.scratch.limits.clone();
    let bomb = |lzw: &mut Lzw, n: usize| {
        let mut inner = vec![0u8; n];
        inner[0] = 0x08; // a user message: valid once decompressed
        compressed(lzw, &inner)
    };

    // Packets: exactly the budget is accepted; one byte more is refused.
    let exact = bomb(lzw, l.max_packet_decompressed);
    let s = run.packet(Strategy::Bomb, &exact, false);
    assert!(
        s.accepted && s.decompressed == l.max_packet_decompressed,
        "{s:?}"
    );
    let over = bomb(lzw, l.max_packet_decompressed + 1);
    let s = run.packet(Strategy::Bomb, &over, false);
    assert_eq!(
        s.errors[ErrorKind::TooLargeDecompressed as usize],
        1,
        "{s:?}"
    );
    assert_eq!(s.decompressed, 0);
    // Eight compressed parts of 60% of the budget each: the second exhausts the budget of
    // the datagram, whatever the nesting.
    let part = bomb(lzw, l.max_packet_decompressed * 3 / 5);
    let parts: Vec<&[u8]> = vec![&part; 8];
    let nested = compound_of(&parts).expect("a small compound");
    let s = run.packet(Strategy::Bomb, &nested, false);
    assert!(s.decompressed <= l.max_packet_decompressed, "{s:?}");
    assert_eq!(
        s.errors[ErrorKind::TooLargeDecompressed as usize],
        7,
        "{s:?}"
    );
    // Compress in compress in compress.
    let mut deep = bomb(lzw, l.max_packet_decompressed / 4);
    for _ in 0..3 {
        deep = compressed(lzw, &deep);
    }
    run.feed(Strategy::Bomb, &deep);
    run.packet(Strategy::Bomb, &deep, true);

    // Streams: exactly max_decompressed is accepted, one byte more refused, encrypted too.
    let exact = bomb(lzw, l.max_decompressed);
    let s = run.stream(Strategy::Bomb, &exact, false);
    assert_eq!(s.decompressed, l.max_decompressed, "{s:?}");
    let over = bomb(lzw, l.max_decompressed + 1);
    let s = run.stream(Strategy::Bomb, &over, false);
    assert_eq!(
        s.errors[ErrorKind::TooLargeDecompressed as usize],
        1,
        "{s:?}"
    );
    if over.len() <= l.max_stream_frame {
        let s = run.stream(Strategy::Bomb, &over, true);
        assert!(s.decrypted, "{s:?}");
    }

    // Push/pull at the node limit, and one over it.
    let max_nodes = u32::try_from(l.max_push_nodes).unwrap_or(u32::MAX);
    let pp = push_pull_of(max_nodes, l.max_push_nodes, 0);
    let s = run.stream(Strategy::Bomb, &pp, false);
    assert!(s.accepted, "{s:?}");
    let pp = push_pull_of(max_nodes.saturating_add(1), 16, 0);
    let s = run.stream(Strategy::Bomb, &pp, false);
    // Refused by decode_stream; `PushPullHeader::decode_body` only decodes.
    assert_eq!(s.errors[ErrorKind::TooLargePushNodes as usize], 1, "{s:?}");
    // User state at its limit, and a declared length over it (with no bytes behind it).
    let user = u32::try_from(l.max_user_state).unwrap_or(u32::MAX);
    let pp = push_pull_of(1, 1, user);
    let s = run.stream(Strategy::Bomb, &pp, false);
    assert!(s.accepted, "{s:?}");
    let mut pp = push_pull_of(1, 1, 0);
    let at = pp.len() - 5;
    pp[at..at + 4].copy_from_slice(&user.saturating_add(1).to_be_bytes());
    pp.pop();
    let s = run.stream(Strategy::Bomb, &pp, false);
    assert_eq!(s.errors[ErrorKind::TooLargeUserState as usize], 1, "{s:?}");

    // A frame declaring the most a stream may carry, with 1 KiB behind the header: nothing
    // is buffered for the declared length.
    let max = u32::try_from(l.max_stream_frame).unwrap_or(u32::MAX);
    for declared in [max, max.saturating_add(1), u32::MAX] {
        let mut frame = vec![0x0a];
        frame.extend_from_slice(&declared.to_be_bytes());
        frame.push(1);
        frame.resize(1024, 0xab);
        let s = run.stream(Strategy::Bomb, &frame, false);
        assert_eq!(s.err, 1, "{s:?}");
    }
}

#[test]
fn a_million_hostile_inputs_through_every_decoder() {
    let seed = std::env::var("RUMOR_ROBUST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("seed {seed} (RUMOR_ROBUST_SEED to change)");
    let started = Instant::now();

    AllocationRegistry::set_global_tracker(Counter).expect("the only tracker");
    AllocationRegistry::enable_tracking();

    let mut golden = Vec::new();
    for file in [
        "memberlist-0.2.2.vectors",
        "memberlist-newest.vectors",
        "memberlist-newest-labels.vectors",
    ] {
        for v in vectors::load(file).expect("vectors") {
            golden.push((v.name, v.bytes));
        }
    }
    let weighted = (0..golden.len())
        .flat_map(|i| std::iter::repeat_n(i, if golden[i].1.len() > 4096 { 1 } else { 16 }))
        .collect();
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        golden,
        weighted,
        interesting: interesting_bytes(),
    };
    let mut lzw = Lzw::new();

    let mut run = Run::new("memberlist", Limits::default());
    let golden = g.golden.clone();

    // Every vector as it is, and every systematic edit of it.
    for (_, v) in &golden {
        run.feed(Strategy::Golden, v);
        let small = v.len() <= 4096;
        // Truncation at every length (for the large push/pull: its first and last 256 bytes
        // and 64 random cuts), and the suffixes after every cut of the first 64 bytes.
        let cuts: Vec<usize> = if small {
            (0..v.len()).collect()
        } else {
            (0..256)
                .chain(v.len() - 256..v.len())
                .chain((0..64).map(|_| g.below(v.len())))
                .collect()
        };
        for cut in cuts {
            run.feed(Strategy::Truncate, &v[..cut]);
        }
        for cut in 1..v.len().min(64) {
            run.feed(Strategy::Truncate, &v[cut..]);
        }
        // Positions to edit: all of them, or 64 random ones of the large push/pull.
        let positions: Vec<usize> = if small {
            (0..v.len()).collect()
        } else {
            (0..64).map(|_| g.below(v.len())).collect()
        };
        for &i in &positions {
            for bit in 0..8 {
                let mut m = v.clone();
                m[i] ^= 1 << bit;
                run.feed(Strategy::BitFlip, &m);
            }
            for k in 0..g.interesting.len() {
                let b = g.interesting[k];
                if v[i] != b {
                    let mut m = v.clone();
                    m[i] = b;
                    run.feed(Strategy::Interesting, &m);
                }
            }
            for p in HUGE {
                let end = (i + p.len()).min(v.len());
                run.feed(Strategy::HugeOverwrite, &replaced(v, i, end - i, p));
                run.feed(Strategy::HugeInsert, &replaced(v, i, 0, p));
            }
        }
        // Field-aware edits: integer fields and string headers replaced.
        for key in INT_KEYS {
            for at in key_positions(v, key) {
                if let Some(n) = scalar_len(v, at) {
                    for with in FIELD_VALUES {
                        run.feed(Strategy::FieldValue, &replaced(v, at, n, with));
                    }
                }
            }
        }
        for key in STR_KEYS {
            for at in key_positions(v, key) {
                if let Some(n) = string_header_len(v, at) {
                    for with in STRING_HEADERS {
                        run.feed(Strategy::StringHeader, &replaced(v, at, n, with));
                    }
                }
            }
        }
        for m in framing_edits(v) {
            run.feed(Strategy::Framing, &m);
        }
    }
    let systematic = run.packet.inputs;
    println!(
        "systematic edits: {systematic} inputs ({:.1?})",
        started.elapsed()
    );

    // Splices of two vectors: a prefix of one and a suffix of another, one inside another,
    // one after another.
    for _ in 0..60_000 {
        let a = g.pick_vector();
        let b = g.pick_vector();
        let (va, vb) = (&golden[a].1, &golden[b].1);
        let m = match g.below(3) {
            0 => {
                let (i, j) = (g.below(va.len() + 1), g.below(vb.len() + 1));
                [&va[..i], &vb[j..]].concat()
            }
            1 => {
                let i = g.below(va.len() + 1);
                [&va[..i], &vb[..], &va[i..]].concat()
            }
            _ => [&va[..], &vb[..]].concat(),
        };
        run.feed(Strategy::Splice, &m);
    }
    println!(
        "+ splices: {} ({:.1?})",
        run.packet.inputs,
        started.elapsed()
    );

    // Pure random bytes: mostly short, half of them starting with a valid type byte.
    const TYPES: [u8; 15] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 244];
    for _ in 0..150_000 {
        let n = if g.chance(16) {
            g.below(2048)
        } else {
            g.below(64)
        };
        let mut m = g.random_bytes(n);
        if !m.is_empty() && g.chance(2) {
            m[0] = TYPES[g.below(TYPES.len())];
        }
        run.feed(Strategy::Random, &m);
    }
    println!(
        "+ random: {} ({:.1?})",
        run.packet.inputs,
        started.elapsed()
    );

    // Mutated plaintexts behind valid outer layers: sealed (so decryption succeeds),
    // compressed, inside a compound, behind a valid CRC, behind a label.
    for _ in 0..40_000 {
        let h = g.havoc();
        match g.below(6) {
            0 => {
                run.packet(Strategy::Sealed, &h, true);
                run.stream(Strategy::Sealed, &h, true);
            }
            1 | 2 => run.feed(Strategy::Compressed, &compressed(&mut lzw, &h)),
            3 => {
                let other = &golden[g.pick_vector()].1;
                let parts: Vec<&[u8]> = if g.chance(2) {
                    vec![&h, other]
                } else {
                    vec![other, &h]
                };
                if let Some(c) = compound_of(&parts) {
                    run.feed(Strategy::Compound, &c);
                    if g.chance(2) {
                        run.feed(Strategy::Compressed, &compressed(&mut lzw, &c));
                    }
                }
            }
            4 => run.feed(Strategy::Crc, &crc_of(&h)),
            _ => run.feed(Strategy::Labelled, &labelled(b"prod", &h)),
        }
    }
    println!(
        "+ wrapped: {} ({:.1?})",
        run.packet.inputs,
        started.elapsed()
    );

    // Stacked random mutations of the vectors until both paths have seen a million inputs.
    while run.packet.inputs < MIN_INPUTS || run.stream.inputs < MIN_INPUTS {
        let h = g.havoc();
        run.feed(Strategy::Havoc, &h);
    }

    println!("+ havoc: {} ({:.1?})", run.packet.inputs, started.elapsed());
    bombs(&mut run, &mut lzw);
    let main_elapsed = started.elapsed();

    // The same kinds of input under tight limits: the bounds follow the configuration.
    // Limits fields added later keep their defaults.
    #[allow(clippy::needless_update)]
    let tight = Limits {
        max_push_nodes: 16,
        max_user_state: 1024,
        max_user_msg: 1024,
        max_stream_frame: 4096,
        max_decompressed: 8192,
        max_packet_decompressed: 4096,
        ..Limits::default()
    };
    let mut small = Run::new("tight", tight);
    for _ in 0..20_000 {
        let h = g.havoc();
        small.feed(Strategy::Havoc, &h);
        small.feed(Strategy::Compressed, &compressed(&mut lzw, &h));
    }
    bombs(&mut small, &mut lzw);

    run.report();
    small.report();
    let mut all = run.packet;
    all.merge(&run.stream);
    all.merge(&small.packet);
    all.merge(&small.stream);
    println!(
        "decoder inputs in all: {} ({} accepted); allocations {}, peak heap {} bytes \
         (test harness included); {:.1?} for the million, {:.1?} in all",
        all.inputs,
        all.accepted,
        ALLOCATIONS.load(Relaxed),
        PEAK.load(Relaxed),
        main_elapsed,
        started.elapsed()
    );

    assert!(run.packet.inputs >= MIN_INPUTS && run.stream.inputs >= MIN_INPUTS);
    // The mutations reach deep: the inputs are accepted often enough, and every limit is hit.
    assert!(run.packet.accepted > 10_000 && run.stream.accepted > 10_000);
    assert!(run.packet.decrypted > 1_000 && run.stream.decrypted > 1_000);
    for kind in [
        ErrorKind::Truncated,
        ErrorKind::UnknownMessageType,
        ErrorKind::UnexpectedMessageType,
        ErrorKind::EmptyMessage,
        ErrorKind::InvalidType,
        ErrorKind::IntegerOutOfRange,
        ErrorKind::InvalidUtf8,
        ErrorKind::InvalidAddress,
        ErrorKind::TooLargeDecompressed,
        ErrorKind::TooLargePushNodes,
        ErrorKind::TooLargeUserState,
        ErrorKind::TooLargeUserMsg,
        ErrorKind::TooLargeStreamFrame,
        ErrorKind::CrcMismatch,
        ErrorKind::UnknownCompression,
        ErrorKind::Decompress,
        ErrorKind::UnknownEncryptionVersion,
        ErrorKind::Decrypt,
        ErrorKind::EmptyLabel,
    ] {
        assert!(
            all.count(kind) > 0,
            "no input was refused with {}",
            kind.name()
        );
    }
    // The bounds are checked for every input as it is fed (`Run::check`). The bombs took
    // allocations up to the limits themselves: the limits, not small inputs, held them down.
    let l = &run.scratch.limits;
    assert!(
        run.beyond_input >= l.max_decompressed,
        "{}",
        run.beyond_input
    );
    assert!(run.largest_packet >= l.max_packet_decompressed);
}
