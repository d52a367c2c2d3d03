//! Drives hostile bytes through every decoding path a received datagram or stream can reach,
//! the way a node walks them: label, decryption (and the plaintext fallback), CRC, the message,
//! then compound parts and compressed payloads, touching every decoded field.
//!
//! The fuzz targets in `fuzz/` and the `robustness` test share these functions. Besides "no
//! panic", they check invariants a node relies on, and panic (so the fuzzer and the test
//! report the input) when one breaks:
//! - a decoder never claims more bytes than it was given, nor more than the [`Limits`] allow;
//! - a message a stream decoder accepted decodes the same from exactly its own bytes, and one
//!   byte less reports [`DecodeError::Truncated`] (so a stream reader that waits for more bytes
//!   never aborts a valid stream);
//! - every decoded single message encodes, and its encoding decodes to the same value;
//! - an envelope sealed with the keyring opens to the same plaintext.

use core::fmt;

use rumor_core::Limits;
use rumor_core::wire::{
    Compound, DecodeError, Encode, EncryptionVersion, Keyring, Lzw, MAX_LABEL_LEN, Message,
    MessageType, PushNodeState, PushPull, PushPullHeader, STREAM_HEADER_LEN, UserMsg,
    UserStreamMsg, decode_packet, decode_stream, encode_label, stream_frame_len, strip_crc,
    strip_label,
};

use crate::vectors;

/// How deep a packet's compound parts and compressed payloads are followed. Go recurses
/// without a bound; a node must stop somewhere, and hostile nesting is refused past this.
pub const MAX_PACKET_NESTING: usize = 4;

/// The label [`exercise_sealed_packet`] and [`exercise_sealed_stream`] use for half of their
/// inputs, so the label-as-AAD paths are driven too.
pub const SEAL_LABEL: &[u8] = b"fuzz";

/// The keyring of the drivers: the golden vectors' AES-128 key as primary, and their AES-192
/// and AES-256 keys installed, so every encrypted golden vector (and mutations of it) reaches
/// real decryption attempts with all three key sizes.
pub fn test_keyring() -> Keyring {
    let mut ring = Keyring::new(vectors::key(16));
    ring.add(vectors::key(24));
    ring.add(vectors::key(32));
    ring
}

/// Reusable state of the drivers: the LZW tables, the keyring, and the buffers decrypted and
/// decompressed bytes go into. Reusing it across inputs means a driver allocates only when an
/// input needs a larger buffer than any before it.
#[derive(Debug)]
pub struct Scratch {
    /// The limits every decoder and decompression is held to.
    pub limits: Limits,
    lzw: Lzw,
    keyring: Keyring,
    /// Decrypted bytes.
    plain: Vec<u8>,
    /// Decompressed bytes, one buffer per nesting level.
    inflated: Vec<Vec<u8>>,
    /// Re-encoded messages.
    encoded: Vec<u8>,
    /// Envelopes built by the sealed drivers.
    sealed: Vec<u8>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// Scratch state with [`Limits::default`] (memberlist's limits).
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// Scratch state holding decoders to `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            lzw: Lzw::new(),
            keyring: test_keyring(),
            plain: Vec::new(),
            inflated: (0..MAX_PACKET_NESTING).map(|_| Vec::new()).collect(),
            encoded: Vec::new(),
            sealed: Vec::new(),
        }
    }

    /// The keyring decryption is tried with.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

/// Every kind of [`DecodeError`], with `TooLarge` split by what was too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum ErrorKind {
    Truncated,
    UnknownMessageType,
    UnexpectedMessageType,
    EmptyMessage,
    InvalidType,
    IntegerOutOfRange,
    InvalidUtf8,
    InvalidAddress,
    TooLargeDecompressed,
    TooLargePushNodes,
    TooLargeUserState,
    TooLargeUserMsg,
    TooLargeStreamFrame,
    TooLargeOther,
    CrcMismatch,
    UnknownCompression,
    Decompress,
    UnknownEncryptionVersion,
    Decrypt,
    NotEncryptionEnabled,
    EmptyLabel,
    /// A variant added to `DecodeError` after this list was written.
    Other,
}

impl ErrorKind {
    /// Number of kinds.
    pub const COUNT: usize = 22;

    /// Every kind, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Truncated,
        Self::UnknownMessageType,
        Self::UnexpectedMessageType,
        Self::EmptyMessage,
        Self::InvalidType,
        Self::IntegerOutOfRange,
        Self::InvalidUtf8,
        Self::InvalidAddress,
        Self::TooLargeDecompressed,
        Self::TooLargePushNodes,
        Self::TooLargeUserState,
        Self::TooLargeUserMsg,
        Self::TooLargeStreamFrame,
        Self::TooLargeOther,
        Self::CrcMismatch,
        Self::UnknownCompression,
        Self::Decompress,
        Self::UnknownEncryptionVersion,
        Self::Decrypt,
        Self::NotEncryptionEnabled,
        Self::EmptyLabel,
        Self::Other,
    ];

    /// The kind of `e`.
    pub fn of(e: &DecodeError) -> Self {
        match e {
            DecodeError::Truncated => Self::Truncated,
            DecodeError::UnknownMessageType(_) => Self::UnknownMessageType,
            DecodeError::UnexpectedMessageType(_) => Self::UnexpectedMessageType,
            DecodeError::EmptyMessage => Self::EmptyMessage,
            DecodeError::InvalidType { .. } => Self::InvalidType,
            DecodeError::IntegerOutOfRange { .. } => Self::IntegerOutOfRange,
            DecodeError::InvalidUtf8 { .. } => Self::InvalidUtf8,
            DecodeError::InvalidAddress { .. } => Self::InvalidAddress,
            DecodeError::TooLarge { what, .. } => match *what {
                "decompressed message" => Self::TooLargeDecompressed,
                "push/pull node count" => Self::TooLargePushNodes,
                "push/pull user state" => Self::TooLargeUserState,
                "user message" => Self::TooLargeUserMsg,
                "encrypted stream frame" => Self::TooLargeStreamFrame,
                _ => Self::TooLargeOther,
            },
            DecodeError::CrcMismatch { .. } => Self::CrcMismatch,
            DecodeError::UnknownCompression(_) => Self::UnknownCompression,
            DecodeError::Decompress => Self::Decompress,
            DecodeError::UnknownEncryptionVersion(_) => Self::UnknownEncryptionVersion,
            DecodeError::Decrypt => Self::Decrypt,
            DecodeError::NotEncryptionEnabled => Self::NotEncryptionEnabled,
            DecodeError::EmptyLabel => Self::EmptyLabel,
            _ => Self::Other,
        }
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Truncated => "Truncated",
            Self::UnknownMessageType => "UnknownMessageType",
            Self::UnexpectedMessageType => "UnexpectedMessageType",
            Self::EmptyMessage => "EmptyMessage",
            Self::InvalidType => "InvalidType",
            Self::IntegerOutOfRange => "IntegerOutOfRange",
            Self::InvalidUtf8 => "InvalidUtf8",
            Self::InvalidAddress => "InvalidAddress",
            Self::TooLargeDecompressed => "TooLarge(decompressed message)",
            Self::TooLargePushNodes => "TooLarge(push/pull node count)",
            Self::TooLargeUserState => "TooLarge(push/pull user state)",
            Self::TooLargeUserMsg => "TooLarge(user message)",
            Self::TooLargeStreamFrame => "TooLarge(encrypted stream frame)",
            Self::TooLargeOther => "TooLarge(other)",
            Self::CrcMismatch => "CrcMismatch",
            Self::UnknownCompression => "UnknownCompression",
            Self::Decompress => "Decompress",
            Self::UnknownEncryptionVersion => "UnknownEncryptionVersion",
            Self::Decrypt => "Decrypt",
            Self::NotEncryptionEnabled => "NotEncryptionEnabled",
            Self::EmptyLabel => "EmptyLabel",
            Self::Other => "Other",
        }
    }
}

/// What one driver call decoded and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Decoders that accepted their input: messages at every level (compound parts,
    /// decompressed payloads), push/pull node states, labels, CRC headers, decryptions,
    /// decompressions.
    pub ok: u32,
    /// Decoders that refused their input.
    pub err: u32,
    /// `err` by [`ErrorKind`] (index: the kind's position in [`ErrorKind::ALL`]).
    pub errors: [u32; ErrorKind::COUNT],
    /// An outermost message was decoded: a node would have acted on this input.
    pub accepted: bool,
    /// Some key of the keyring opened the input's envelope.
    pub decrypted: bool,
    /// Bytes decompressed in all.
    pub decompressed: usize,
    /// A fold of every decoded field, so no decoding is optimised away (and runs can be
    /// compared).
    pub digest: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            ok: 0,
            err: 0,
            errors: [0; ErrorKind::COUNT],
            accepted: false,
            decrypted: false,
            decompressed: 0,
            digest: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl Summary {
    fn fail(&mut self, e: DecodeError) {
        self.err += 1;
        let kind = ErrorKind::of(&e);
        self.errors[kind as usize] += 1;
        self.mix(kind as u64 + 1);
    }

    fn mix(&mut self, v: u64) {
        self.digest = (self.digest ^ v).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn mix_bytes(&mut self, b: &[u8]) {
        self.mix(b.len() as u64);
        let fold = b.iter().fold(0u64, |h, &x| h.rotate_left(5) ^ u64::from(x));
        self.mix(fold);
    }
}

/// Totals over many driver calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Driver calls.
    pub inputs: u64,
    /// Calls whose input a node would have acted on ([`Summary::accepted`]).
    pub accepted: u64,
    /// Calls whose envelope decrypted.
    pub decrypted: u64,
    /// Decoders that accepted their input.
    pub ok: u64,
    /// Decoders that refused their input.
    pub err: u64,
    /// `err` by [`ErrorKind`].
    pub errors: [u64; ErrorKind::COUNT],
    /// Bytes decompressed in all.
    pub decompressed: u64,
    /// XOR of the summaries' digests.
    pub digest: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            inputs: 0,
            accepted: 0,
            decrypted: 0,
            ok: 0,
            err: 0,
            errors: [0; ErrorKind::COUNT],
            decompressed: 0,
            digest: 0,
        }
    }
}

impl Tally {
    /// Adds one call's summary.
    pub fn add(&mut self, s: &Summary) {
        self.inputs += 1;
        self.accepted += u64::from(s.accepted);
        self.decrypted += u64::from(s.decrypted);
        self.ok += u64::from(s.ok);
        self.err += u64::from(s.err);
        for (t, e) in self.errors.iter_mut().zip(s.errors) {
            *t += u64::from(e);
        }
        self.decompressed += s.decompressed as u64;
        self.digest ^= s.digest.rotate_left((self.inputs % 64) as u32);
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: &Tally) {
        self.inputs += o.inputs;
        self.accepted += o.accepted;
        self.decrypted += o.decrypted;
        self.ok += o.ok;
        self.err += o.err;
        for (t, e) in self.errors.iter_mut().zip(o.errors) {
            *t += e;
        }
        self.decompressed += o.decompressed;
        self.digest ^= o.digest;
    }

    /// Refusals of one kind.
    pub fn count(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "inputs {}, accepted {}, decrypted {}, decoders ok {}, decoders refused {}, \
             decompressed {} bytes, digest {:016x}",
            self.inputs,
            self.accepted,
            self.decrypted,
            self.ok,
            self.err,
            self.decompressed,
            self.digest
        )?;
        for k in ErrorKind::ALL {
            let n = self.count(k);
            if n > 0 {
                writeln!(f, "  {:<34} {n}", k.name())?;
            }
        }
        Ok(())
    }
}

/// Feeds one datagram through a node's receive path: the label; decryption with the keyring
/// (into scratch) and, as with `GossipVerifyIncoming = false` or no keyring, the plaintext
/// path as well; the CRC; the message; compound parts and compressed payloads up to
/// [`MAX_PACKET_NESTING`] levels, with at most `limits.max_packet_decompressed` bytes
/// decompressed for the whole datagram on each path (a per-datagram budget, so compound
/// parts and nesting cannot multiply it).
pub fn exercise_packet(buf: &[u8], scratch: &mut Scratch) -> Summary {
    let mut s = Summary::default();
    let Scratch {
        limits,
        lzw,
        keyring,
        plain,
        inflated,
        encoded,
        ..
    } = scratch;
    let (label, rest) = match strip_label(buf) {
        Ok(v) => v,
        Err(e) => {
            s.fail(e);
            return s;
        }
    };
    s.ok += 1;
    s.mix_bytes(label);
    assert!(
        label.len() <= MAX_LABEL_LEN && label.len() + rest.len() <= buf.len(),
        "strip_label grew the input"
    );

    let budget = limits.max_packet_decompressed;
    let mut ctx = Ctx {
        limits,
        lzw,
        encoded,
        s: &mut s,
    };

    sized(plain, rest.len());
    match keyring.open(rest, label, plain) {
        Ok(n) => {
            assert!(
                n <= rest.len(),
                "Keyring::open returned {n} > {}",
                rest.len()
            );
            ctx.s.ok += 1;
            ctx.s.decrypted = true;
            packet_body(&plain[..n], &mut ctx, inflated, budget);
        }
        Err(e) => ctx.s.fail(e),
    }
    // A node without keys, or one falling back to plaintext: a datagram of its own.
    packet_body(rest, &mut ctx, inflated, budget);
    s
}

/// Feeds one stream, from its first byte to its end, through a node's read path: the label;
/// if the first message is an `encryptMsg` frame, its length (checked against
/// `limits.max_stream_frame`) and decryption; the message, with push/pull node states
/// iterated and the push/pull header decoded on its own; for `compress`, one decompression
/// (at most `limits.max_decompressed` bytes) and the message inside.
pub fn exercise_stream(buf: &[u8], scratch: &mut Scratch) -> Summary {
    let mut s = Summary::default();
    let Scratch {
        limits,
        lzw,
        keyring,
        plain,
        inflated,
        encoded,
        ..
    } = scratch;
    let (label, rest) = match strip_label(buf) {
        Ok(v) => v,
        Err(e) => {
            s.fail(e);
            return s;
        }
    };
    s.ok += 1;
    s.mix_bytes(label);
    let mut ctx = Ctx {
        limits,
        lzw,
        encoded,
        s: &mut s,
    };

    if rest.first() == Some(&(MessageType::Encrypt as u8)) {
        let total = match stream_frame_len(rest, ctx.limits.max_stream_frame) {
            Ok(Some(total)) => total,
            Ok(None) => {
                ctx.s.fail(DecodeError::Truncated);
                return s;
            }
            Err(e) => {
                ctx.s.fail(e);
                return s;
            }
        };
        assert!(
            total >= STREAM_HEADER_LEN && total - STREAM_HEADER_LEN <= ctx.limits.max_stream_frame,
            "stream_frame_len let {total} through"
        );
        if rest.len() < total {
            // A reader would wait for the rest of the frame; the stream ended first.
            ctx.s.fail(DecodeError::Truncated);
            return s;
        }
        sized(plain, total - STREAM_HEADER_LEN);
        match keyring.open_stream(rest, label, plain) {
            Ok(n) => {
                assert!(n + STREAM_HEADER_LEN <= total, "open_stream returned {n}");
                ctx.s.ok += 1;
                ctx.s.decrypted = true;
                stream_message(&plain[..n], &mut ctx, inflated, true);
            }
            Err(e) => ctx.s.fail(e),
        }
    } else {
        stream_message(rest, &mut ctx, inflated, true);
    }
    s
}

/// Seals `plain` into a packet envelope with the keyring's primary key (version 1 for an
/// even length, 0 for an odd one; with [`SEAL_LABEL`] as label and AAD when the length's
/// second bit is set) and feeds it to [`exercise_packet`]: the paths after a successful
/// decryption then see arbitrary bytes too, which mutated ciphertexts never reach.
///
/// Panics if the envelope does not open.
pub fn exercise_sealed_packet(plain: &[u8], scratch: &mut Scratch) -> Summary {
    let (version, label) = seal_params(plain);
    let mut sealed = core::mem::take(&mut scratch.sealed);
    sized(
        &mut sealed,
        2 + label.len() + version.encrypted_len(plain.len()),
    );
    sealed.clear();
    let at = label_header(label, &mut sealed);
    sealed.resize(at + version.encrypted_len(plain.len()), 0);
    let n = scratch
        .keyring
        .seal(version, vectors::NONCE, plain, label, &mut sealed[at..])
        .expect("sized by encrypted_len");
    sealed.truncate(at + n);
    let s = exercise_packet(&sealed, scratch);
    scratch.sealed = sealed;
    assert!(s.decrypted, "a sealed packet did not open");
    s
}

/// Like [`exercise_sealed_packet`] for a stream: `plain` in an `encryptMsg` frame (with the
/// label header before it when a label is used) fed to [`exercise_stream`].
///
/// Panics if the frame does not open, unless the frame is over `limits.max_stream_frame`.
pub fn exercise_sealed_stream(plain: &[u8], scratch: &mut Scratch) -> Summary {
    let (version, label) = seal_params(plain);
    let mut sealed = core::mem::take(&mut scratch.sealed);
    let frame = STREAM_HEADER_LEN + version.encrypted_len(plain.len());
    sized(&mut sealed, 2 + label.len() + frame);
    sealed.clear();
    let at = label_header(label, &mut sealed);
    sealed.resize(at + frame, 0);
    let n = scratch
        .keyring
        .seal_stream(version, vectors::NONCE, plain, label, &mut sealed[at..])
        .expect("sized by encrypted_len");
    sealed.truncate(at + n);
    let s = exercise_stream(&sealed, scratch);
    let fits = n - STREAM_HEADER_LEN <= scratch.limits.max_stream_frame;
    scratch.sealed = sealed;
    assert!(s.decrypted || !fits, "a sealed stream frame did not open");
    s
}

/// Makes `buf` exactly `len` zero bytes, growing it to exactly `len` if it must grow: a
/// buffer sized by the input never costs more than the input.
fn sized(buf: &mut Vec<u8>, len: usize) {
    buf.clear();
    buf.reserve_exact(len);
    buf.resize(len, 0);
}

fn seal_params(plain: &[u8]) -> (EncryptionVersion, &'static [u8]) {
    let version = if plain.len().is_multiple_of(2) {
        EncryptionVersion::V1
    } else {
        EncryptionVersion::V0
    };
    let label = if plain.len() & 2 != 0 {
        SEAL_LABEL
    } else {
        b""
    };
    (version, label)
}

fn label_header(label: &[u8], out: &mut Vec<u8>) -> usize {
    let mut header = [0u8; 2 + MAX_LABEL_LEN];
    let n = encode_label(label, &mut header).expect("a short label");
    out.extend_from_slice(&header[..n]);
    n
}

/// What the recursive helpers share.
struct Ctx<'c> {
    limits: &'c Limits,
    lzw: &'c mut Lzw,
    encoded: &'c mut Vec<u8>,
    s: &'c mut Summary,
}

/// After the label and decryption: the CRC, then the message, with `budget` bytes to
/// decompress.
fn packet_body(bytes: &[u8], ctx: &mut Ctx<'_>, inflated: &mut [Vec<u8>], mut budget: usize) {
    match strip_crc(bytes) {
        Ok(inner) => {
            assert!(inner.len() <= bytes.len());
            if inner.len() != bytes.len() {
                ctx.s.ok += 1;
            }
            if packet_message(inner, 0, ctx, inflated, &mut budget) {
                ctx.s.accepted = true;
            }
        }
        Err(e) => ctx.s.fail(e),
    }
}

/// One packet message at nesting `depth`; `inflated` holds the decompression buffers of the
/// levels below. Returns whether the message decoded.
fn packet_message(
    msg: &[u8],
    depth: usize,
    ctx: &mut Ctx<'_>,
    inflated: &mut [Vec<u8>],
    budget: &mut usize,
) -> bool {
    let m = match decode_packet(msg) {
        Ok(m) => m,
        Err(e) => {
            ctx.s.fail(e);
            return false;
        }
    };
    ctx.s.ok += 1;
    touch(&m, ctx.s);
    round_trip(&m, false, ctx);
    if depth + 1 >= MAX_PACKET_NESTING {
        return true;
    }
    match m {
        Message::Compound(c) => {
            for part in c.parts() {
                packet_message(part, depth + 1, ctx, inflated, budget);
            }
        }
        Message::Compress(c) => {
            let Some((out, deeper)) = inflated.split_first_mut() else {
                return true;
            };
            out.clear();
            match ctx.lzw.decompress(&c, *budget, out) {
                Ok(()) => {
                    assert!(out.len() <= *budget, "decompressed past the limit");
                    *budget -= out.len();
                    ctx.s.ok += 1;
                    ctx.s.decompressed += out.len();
                    packet_message(out, depth + 1, ctx, deeper, budget);
                }
                Err(e) => {
                    assert!(out.is_empty(), "a refused decompression kept bytes");
                    ctx.s.fail(e);
                }
            }
        }
        _ => {}
    }
    true
}

/// One stream message; `outer` is false for the message inside a `compress` (streams
/// decompress one level only).
fn stream_message(bytes: &[u8], ctx: &mut Ctx<'_>, inflated: &mut [Vec<u8>], outer: bool) {
    if bytes.first() == Some(&(MessageType::PushPull as u8)) {
        // A reader may check the header against its limits before waiting for the rest.
        match PushPullHeader::decode_body(&bytes[1..]) {
            Ok((h, used)) => {
                assert!(used < bytes.len());
                ctx.s.ok += 1;
                ctx.s
                    .mix(u64::from(h.nodes) ^ (u64::from(h.user_state_len) << 32));
                ctx.s.mix(u64::from(h.join));
            }
            Err(e) => ctx.s.fail(e),
        }
    }
    let (m, used) = match decode_stream(bytes, ctx.limits) {
        Ok(v) => v,
        Err(e) => {
            ctx.s.fail(e);
            return;
        }
    };
    ctx.s.ok += 1;
    if outer {
        ctx.s.accepted = true;
    }
    assert!(
        used >= 1 && used <= bytes.len(),
        "decode_stream used {used} of {}",
        bytes.len()
    );
    // A message is self-delimiting: its own bytes decode to it, one byte less must wait.
    match decode_stream(&bytes[..used], ctx.limits) {
        Ok((_, again)) => assert_eq!(again, used, "decode_stream of its own bytes"),
        Err(e) => panic!("a message decoded from {used} bytes fails on them alone: {e}"),
    }
    let short = decode_stream(&bytes[..used - 1], ctx.limits);
    assert!(
        matches!(short, Err(DecodeError::Truncated)),
        "one byte short of a {used}-byte message: {short:?}, not Truncated"
    );
    touch(&m, ctx.s);
    round_trip(&m, true, ctx);
    match m {
        Message::PushPull(pp) => {
            assert!(pp.nodes.len() <= ctx.limits.max_push_nodes);
            assert!(pp.user_state.len() <= ctx.limits.max_user_state);
        }
        Message::User(u) => assert!(u.len() <= ctx.limits.max_user_msg),
        Message::Compress(c) if outer => {
            let Some((out, _)) = inflated.split_first_mut() else {
                return;
            };
            out.clear();
            match ctx.lzw.decompress(&c, ctx.limits.max_decompressed, out) {
                Ok(()) => {
                    assert!(out.len() <= ctx.limits.max_decompressed);
                    ctx.s.ok += 1;
                    ctx.s.decompressed += out.len();
                    stream_message(out, ctx, &mut [], false);
                }
                Err(e) => {
                    assert!(out.is_empty(), "a refused decompression kept bytes");
                    ctx.s.fail(e);
                }
            }
        }
        _ => {}
    }
}

/// Reads every field of a decoded message (push/pull node states included) into the digest.
fn touch(m: &Message<'_>, s: &mut Summary) {
    s.mix(m.message_type() as u64);
    match *m {
        Message::Ping(p) => {
            s.mix(u64::from(p.seq_no));
            s.mix_bytes(p.node.as_bytes());
            s.mix_bytes(p.source_addr.as_bytes());
            s.mix(u64::from(p.source_addr.ip().is_some()));
            s.mix(u64::from(p.source_port));
            s.mix_bytes(p.source_node.as_bytes());
        }
        Message::IndirectPing(p) => {
            s.mix(u64::from(p.seq_no));
            s.mix_bytes(p.target.as_bytes());
            s.mix(u64::from(p.target.ip().is_some()));
            s.mix(u64::from(p.port));
            s.mix_bytes(p.node.as_bytes());
            s.mix(u64::from(p.nack));
            s.mix_bytes(p.source_addr.as_bytes());
            s.mix(u64::from(p.source_port));
            s.mix_bytes(p.source_node.as_bytes());
        }
        Message::Ack(a) => {
            s.mix(u64::from(a.seq_no));
            s.mix_bytes(a.payload);
        }
        Message::Suspect(x) => {
            s.mix(u64::from(x.incarnation));
            s.mix_bytes(x.node.as_bytes());
            s.mix_bytes(x.from.as_bytes());
        }
        Message::Dead(x) => {
            s.mix(u64::from(x.incarnation));
            s.mix_bytes(x.node.as_bytes());
            s.mix_bytes(x.from.as_bytes());
            s.mix(u64::from(x.is_leave()));
        }
        Message::Alive(a) => {
            s.mix(u64::from(a.incarnation));
            s.mix_bytes(a.node.as_bytes());
            s.mix_bytes(a.addr.as_bytes());
            s.mix(u64::from(a.addr.ip().is_some()));
            s.mix(u64::from(a.port));
            s.mix_bytes(a.meta);
            s.mix_bytes(&a.vsn.to_bytes());
        }
        Message::PushPull(pp) => touch_push_pull(pp, s),
        Message::Compound(c) => touch_compound(c, s),
        Message::User(u) => s.mix_bytes(u),
        Message::Compress(c) => {
            s.mix(u64::from(c.algo));
            s.mix_bytes(c.buf);
        }
        Message::Nack(n) => s.mix(u64::from(n.seq_no)),
        Message::Err(e) => s.mix_bytes(e.error.as_bytes()),
        // `Message` is non-exhaustive: a new variant is still counted.
        _ => s.mix(u64::MAX),
    }
}

fn touch_compound(c: Compound<'_>, s: &mut Summary) {
    let count = c.count();
    let truncated = c.truncated();
    let parts = c.parts().map(|p| s.mix_bytes(p)).count();
    assert!(count <= 255, "a compound of {count} parts");
    assert_eq!(
        parts + truncated,
        count,
        "compound parts + truncated != count"
    );
    s.mix(count as u64);
    s.mix(truncated as u64);
}

fn touch_push_pull(pp: PushPull<'_>, s: &mut Summary) {
    s.mix(u64::from(pp.join));
    s.mix_bytes(pp.user_state);
    let declared = pp.nodes.len();
    let mut seen = 0;
    for state in pp.nodes {
        seen += 1;
        match state {
            Ok(n) => {
                s.ok += 1;
                touch_state(&n, s);
            }
            Err(e) => s.fail(e),
        }
    }
    assert!(
        seen <= declared,
        "{seen} node states of {declared} declared"
    );
}

fn touch_state(n: &PushNodeState<'_>, s: &mut Summary) {
    s.mix_bytes(n.name.as_bytes());
    s.mix_bytes(n.addr.as_bytes());
    s.mix(u64::from(n.addr.ip().is_some()));
    s.mix(u64::from(n.port));
    s.mix_bytes(n.meta);
    s.mix(u64::from(n.incarnation));
    s.mix(u64::from(n.state.to_u8()));
    s.mix_bytes(&n.vsn.to_bytes());
    s.mix(n.encoded_len() as u64);
}

/// Encodes a decoded single message and checks that the encoding decodes to the same value.
fn round_trip(m: &Message<'_>, stream: bool, ctx: &mut Ctx<'_>) {
    fn encode<E: Encode>(e: &E, out: &mut Vec<u8>) {
        out.clear();
        // Exactly the message's length: a hostile message costs no more than its own size.
        out.reserve_exact(e.encoded_len());
        e.encode_to_vec(out)
            .expect("a decoded message always encodes");
    }
    let out = &mut *ctx.encoded;
    match *m {
        Message::Ping(x) => encode(&x, out),
        Message::IndirectPing(x) => encode(&x, out),
        Message::Ack(x) => encode(&x, out),
        Message::Suspect(x) => encode(&x, out),
        Message::Alive(x) => encode(&x, out),
        Message::Dead(x) => encode(&x, out),
        Message::Nack(x) => encode(&x, out),
        Message::Err(x) => encode(&x, out),
        Message::Compress(x) => encode(&x, out),
        Message::User(u) if stream => encode(&UserStreamMsg(u), out),
        Message::User(u) => encode(&UserMsg(u), out),
        // Compound and push/pull have no single value to re-encode.
        _ => return,
    }
    let again = if stream {
        decode_stream(out, ctx.limits).map(|(m, used)| {
            assert_eq!(used, out.len(), "re-encoded stream message length");
            m
        })
    } else {
        decode_packet(out)
    };
    let again = again.unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"));
    let same = match (*m, again) {
        (Message::Ping(a), Message::Ping(b)) => a == b,
        (Message::IndirectPing(a), Message::IndirectPing(b)) => a == b,
        (Message::Ack(a), Message::Ack(b)) => a == b,
        (Message::Suspect(a), Message::Suspect(b)) => a == b,
        (Message::Alive(a), Message::Alive(b)) => a == b,
        (Message::Dead(a), Message::Dead(b)) => a == b,
        (Message::Nack(a), Message::Nack(b)) => a == b,
        (Message::Err(a), Message::Err(b)) => a == b,
        (Message::Compress(a), Message::Compress(b)) => a == b,
        (Message::User(a), Message::User(b)) => a == b,
        _ => false,
    };
    assert!(same, "round trip changed {m:?} into {again:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_golden_vector_is_accepted_on_its_path() {
        let mut scratch = Scratch::new();
        for file in [
            "memberlist-0.2.2.vectors",
            "memberlist-newest.vectors",
            "memberlist-newest-labels.vectors",
        ] {
            for v in vectors::load(file).expect("vectors") {
                let p = exercise_packet(&v.bytes, &mut scratch);
                let s = exercise_stream(&v.bytes, &mut scratch);
                if v.name == "push_pull_header_v2" {
                    // A header alone: it decodes, the message it announces is cut short.
                    assert_eq!(s.errors[ErrorKind::Truncated as usize], 1);
                    assert!(!s.accepted && s.ok >= 2, "{s:?}");
                } else {
                    assert!(p.accepted || s.accepted, "{} accepted nowhere", v.name);
                }
                if v.name.starts_with("encrypt_") {
                    assert!(p.decrypted || s.decrypted, "{} did not decrypt", v.name);
                }
                exercise_sealed_packet(&v.bytes, &mut scratch);
                exercise_sealed_stream(&v.bytes, &mut scratch);
            }
        }
    }

    #[test]
    fn error_kinds_are_listed_in_index_order() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }
}
