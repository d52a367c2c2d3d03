//! The wire layer allocates nothing on its hot paths: every message type, compounds, CRC,
//! labels, push/pull, LZW compression (once the compressor has been built and used) and
//! AES-GCM encode into caller-provided buffers, and decoding borrows from the input.
//!
//! Allocations are counted by `allocation-counter`, whose global allocator keeps its counters
//! per thread: each check counts only what its own closure does on the test's thread, so the
//! harness's other threads (and the other tests running beside this one) cannot disturb it.
//! Building the inputs happens outside the measured closures.

use allocation_counter::measure;
use rumor_core::Limits;
use rumor_core::wire::{
    Ack, Alive, Compress, Dead, Encode, EncryptionVersion, ErrResp, IndirectPing, IpBytes, Keyring,
    LZW_ALGO, LZW_DECODER_TABLES, LZW_ENCODER_TABLES, Lzw, Message, Nack, NodeState, Ping,
    PushNodeState, PushPullWriter, SecretKey, Suspect, UserMsg, UserStreamMsg, Vsn, compound_len,
    decode_packet, decode_stream, encode_compound, encode_crc, encode_label, push_pull_len,
    seal_crc_in_place, stream_frame_len, strip_crc, strip_label,
};

const VSN: Vsn = Vsn::from_bytes([1, 5, 2, 0, 0, 0]);
const PORT: u16 = 7946;
const NONCE: [u8; 12] = [7; 12];

/// Runs `f`, failing the test if it allocated; returns what `f` returned.
fn no_alloc<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let mut out = None;
    let info = measure(|| out = Some(f()));
    assert_eq!(
        info.count_total, 0,
        "{what}: {} allocations, {} bytes",
        info.count_total, info.bytes_total
    );
    out.expect("the closure ran")
}

fn ip(i: usize) -> IpBytes {
    IpBytes::new(&[10, 0, (i >> 8) as u8, i as u8]).expect("4 bytes")
}

/// Encodes `msg` into `buf` without allocating; returns the encoded bytes.
fn encode<'b>(what: &str, msg: &impl Encode, buf: &'b mut [u8]) -> &'b [u8] {
    let n = no_alloc(what, || msg.encode(buf)).expect("encode");
    assert_eq!(n, msg.encoded_len(), "{what}");
    &buf[..n]
}

fn packet<'a>(what: &str, bytes: &'a [u8]) -> Message<'a> {
    no_alloc(what, || decode_packet(bytes)).expect("decode_packet")
}

fn stream<'a>(what: &str, bytes: &'a [u8]) -> Message<'a> {
    let (msg, used) =
        no_alloc(what, || decode_stream(bytes, &Limits::DEFAULT)).expect("decode_stream");
    assert_eq!(used, bytes.len(), "{what}");
    msg
}

#[test]
fn the_counter_sees_allocations() {
    // Guards against a counter that is silently not installed.
    let info = measure(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert_eq!(info.count_total, 1);
    assert_eq!(info.bytes_total, 100);
}

#[test]
fn every_message_type_encodes_and_decodes_without_allocating() {
    let meta = [0x5au8; 64];
    let ping = Ping {
        seq_no: 1_234_567,
        node: "node-0042",
        source_addr: ip(1),
        source_port: PORT,
        source_node: "node-0001",
    };
    let indirect = IndirectPing {
        seq_no: 99,
        target: ip(42),
        port: PORT,
        node: "node-0042",
        nack: true,
        source_addr: ip(1),
        source_port: PORT,
        source_node: "node-0001",
    };
    let ack = Ack {
        seq_no: 1_234_567,
        payload: b"ack payload",
    };
    let ack_nil = Ack {
        seq_no: 1_234_567,
        payload: &[],
    };
    let nack = Nack { seq_no: 99 };
    let suspect = Suspect {
        incarnation: 7,
        node: "node-0042",
        from: "node-0001",
    };
    let alive = Alive {
        incarnation: 8,
        node: "node-0042",
        addr: ip(42),
        port: PORT,
        meta: &meta,
        vsn: VSN,
    };
    let dead = Dead {
        incarnation: 9,
        node: "node-0042",
        from: "node-0001",
    };
    let err = ErrResp {
        error: "unsupported message type",
    };
    let user = UserMsg(b"application bytes");
    let user_stream = UserStreamMsg(b"application bytes");
    let compress = Compress {
        algo: LZW_ALGO,
        buf: &[0x00, 0x01, 0x08, 0x22, 0xe5],
    };

    let mut buf = [0u8; 512];
    let b = encode("encode Ping", &ping, &mut buf);
    assert!(matches!(packet("decode_packet Ping", b), Message::Ping(m) if m == ping));
    assert!(matches!(stream("decode_stream Ping", b), Message::Ping(m) if m == ping));

    let b = encode("encode IndirectPing", &indirect, &mut buf);
    assert!(
        matches!(packet("decode_packet IndirectPing", b), Message::IndirectPing(m) if m == indirect)
    );

    let b = encode("encode Ack", &ack, &mut buf);
    assert!(matches!(packet("decode_packet Ack", b), Message::Ack(m) if m == ack));
    assert!(matches!(stream("decode_stream Ack", b), Message::Ack(m) if m == ack));
    let b = encode("encode Ack (nil payload)", &ack_nil, &mut buf);
    assert!(matches!(packet("decode_packet Ack (nil)", b), Message::Ack(m) if m == ack_nil));

    let b = encode("encode Nack", &nack, &mut buf);
    assert!(matches!(packet("decode_packet Nack", b), Message::Nack(m) if m == nack));

    let b = encode("encode Suspect", &suspect, &mut buf);
    assert!(matches!(packet("decode_packet Suspect", b), Message::Suspect(m) if m == suspect));

    let b = encode("encode Alive", &alive, &mut buf);
    assert!(matches!(packet("decode_packet Alive", b), Message::Alive(m) if m == alive));

    let b = encode("encode Dead", &dead, &mut buf);
    assert!(matches!(packet("decode_packet Dead", b), Message::Dead(m) if m == dead));

    let b = encode("encode ErrResp", &err, &mut buf);
    assert!(matches!(stream("decode_stream ErrResp", b), Message::Err(m) if m == err));

    let b = encode("encode UserMsg", &user, &mut buf);
    assert!(matches!(packet("decode_packet UserMsg", b), Message::User(m) if m == user.0));

    let b = encode("encode UserStreamMsg", &user_stream, &mut buf);
    assert!(
        matches!(stream("decode_stream UserStreamMsg", b), Message::User(m) if m == user_stream.0)
    );

    let b = encode("encode Compress", &compress, &mut buf);
    assert!(matches!(packet("decode_packet Compress", b), Message::Compress(m) if m == compress));
    assert!(matches!(stream("decode_stream Compress", b), Message::Compress(m) if m == compress));
}

#[test]
fn compound_crc_and_label_allocate_nothing() {
    let meta = [0x5au8; 16];
    let names: Vec<String> = (1..=20).map(|i| format!("node-{i:04}")).collect();
    let mut encoded = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut buf = vec![0u8; 256];
        let n = match i % 3 {
            0 => Alive {
                incarnation: i as u32 + 1,
                node: name,
                addr: ip(i),
                port: PORT,
                meta: &meta,
                vsn: VSN,
            }
            .encode(&mut buf),
            1 => Suspect {
                incarnation: i as u32 + 1,
                node: name,
                from: "node-0001",
            }
            .encode(&mut buf),
            _ => Dead {
                incarnation: i as u32 + 1,
                node: name,
                from: "node-0001",
            }
            .encode(&mut buf),
        }
        .expect("encode");
        buf.truncate(n);
        encoded.push(buf);
    }
    let parts: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let mut compound = vec![0u8; compound_len(parts.iter().copied())];
    let n =
        no_alloc("encode_compound", || encode_compound(&parts, &mut compound)).expect("compound");
    assert_eq!(n, compound.len());

    let decoded = no_alloc("decode_packet Compound + every part", || {
        let Ok(Message::Compound(c)) = decode_packet(&compound) else {
            return 0;
        };
        let mut kinds = 0;
        for part in c.parts() {
            match decode_packet(part) {
                Ok(Message::Alive(_) | Message::Suspect(_) | Message::Dead(_)) => kinds += 1,
                _ => return 0,
            }
        }
        kinds
    });
    assert_eq!(decoded, 20);

    let mut crc = vec![0u8; compound.len() + 5];
    let n = no_alloc("encode_crc", || encode_crc(&compound, &mut crc)).expect("crc");
    assert_eq!(n, crc.len());
    let inner = no_alloc("strip_crc", || strip_crc(&crc)).expect("strip_crc");
    assert_eq!(inner, &compound[..]);
    let mut in_place = crc.clone();
    in_place[..5].fill(0);
    no_alloc("seal_crc_in_place", || seal_crc_in_place(&mut in_place)).expect("seal_crc");
    assert_eq!(in_place, crc);

    let mut labelled = vec![0u8; 2 + 4 + crc.len()];
    let h = no_alloc("encode_label", || encode_label(b"prod", &mut labelled)).expect("label");
    labelled[h..].copy_from_slice(&crc);
    let (label, rest) = no_alloc("strip_label", || strip_label(&labelled)).expect("strip");
    assert_eq!((label, rest), (&b"prod"[..], &crc[..]));
}

#[test]
fn push_pull_of_1000_members_allocates_nothing() {
    let names: Vec<String> = (1..=1000).map(|i| format!("node-{i:04}")).collect();
    let meta = [0x5au8; 16];
    let states: Vec<PushNodeState<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| PushNodeState {
            name,
            addr: ip(i),
            port: PORT,
            meta: &meta,
            incarnation: i as u32 * 7 + 1,
            state: if i % 10 == 0 {
                NodeState::Suspect
            } else {
                NodeState::Alive
            },
            vsn: VSN,
        })
        .collect();
    let user_state = b"delegate local state";
    let len = push_pull_len(true, &states, user_state.len());
    let mut buf = vec![0u8; len];
    let n = no_alloc("PushPullWriter, 1000 states", || {
        let mut w = PushPullWriter::new(&mut buf, true, states.len() as u32, user_state.len())?;
        for s in &states {
            w.push(s)?;
        }
        w.finish(user_state)
    })
    .expect("push/pull");
    assert_eq!(n, len);

    let same = no_alloc("decode_stream PushPull + every state", || {
        let Ok((Message::PushPull(pp), used)) = decode_stream(&buf, &Limits::DEFAULT) else {
            return false;
        };
        used == len
            && pp.join
            && pp.user_state == user_state
            && pp.nodes.len() == states.len()
            && pp.nodes.zip(&states).all(|(d, s)| d.as_ref() == Ok(s))
    });
    assert!(same);
}

#[test]
fn lzw_compresses_without_allocating_once_warm() {
    // Ping-sized (at most 512 bytes): the compressor's tables are on the stack.
    let text: Vec<u8> = (0..128u32).flat_map(|i| (i % 97).to_be_bytes()).collect();
    let mut lzw = Lzw::new();
    let mut out = vec![0u8; text.len() * 2 + 64];
    // Warm-up, as a node's first message would be.
    lzw.compress_message(&text, &mut out).expect("compress");
    let n = no_alloc("Lzw::compress_message (warm)", || {
        lzw.compress_message(&text, &mut out)
    })
    .expect("compress");
    let Ok(Message::Compress(c)) = decode_packet(&out[..n]) else {
        panic!("not a compress message");
    };
    // The decoder's tables exist only while a message is decompressed: nothing is kept
    // afterwards, and nothing but the tables is allocated.
    let mut plain = Vec::with_capacity(text.len());
    let info = measure(|| {
        lzw.decompress(&c, text.len(), &mut plain)
            .expect("decompress");
    });
    assert_eq!(plain, text);
    assert_eq!(info.count_current, 0, "decompress keeps nothing");
    // The tables: about 56 KB, the largest allocation of them LZW_DECODER_TABLES.
    assert!(
        info.bytes_max <= 2 * LZW_DECODER_TABLES as u64,
        "{} bytes at most",
        info.bytes_max
    );
}

#[test]
fn lzw_lets_go_of_the_tables_a_large_input_grew() {
    // A push/pull-sized input gets tables of its own for the call (LZW_ENCODER_TABLES bytes,
    // 96 KB); nothing is kept.
    let text: Vec<u8> = (0..20_000u32)
        .flat_map(|i| (i % 997).to_be_bytes())
        .collect();
    let mut lzw = Lzw::new();
    let mut out = vec![0u8; text.len() * 2 + 64];
    let info = measure(|| {
        lzw.compress_message(&text, &mut out).expect("compress");
    });
    assert!(
        info.bytes_current == 0,
        "{} bytes kept after compressing {} bytes",
        info.bytes_current,
        text.len()
    );
    assert!(
        info.bytes_max <= LZW_ENCODER_TABLES as u64,
        "{} bytes at most",
        info.bytes_max
    );
}

#[test]
fn encryption_allocates_nothing() {
    let mut ring = Keyring::new(SecretKey::new(&[1; 16]).expect("key"));
    let other = Keyring::new(SecretKey::new(&[2; 32]).expect("key"));
    ring.add(SecretKey::new(&[2; 32]).expect("key"));
    let plaintext: Vec<u8> = (0..1371).map(|i| (i * 31 % 251) as u8).collect();
    let mut plain = vec![0u8; 1500];

    for version in [EncryptionVersion::V1, EncryptionVersion::V0] {
        let mut sealed = vec![0u8; version.encrypted_len(plaintext.len())];
        let n = no_alloc("Keyring::seal", || {
            ring.seal(version, NONCE, &plaintext, b"prod", &mut sealed)
        })
        .expect("seal");
        assert_eq!(n, sealed.len());
        let m =
            no_alloc("Keyring::open", || ring.open(&sealed, b"prod", &mut plain)).expect("open");
        assert_eq!(&plain[..m], &plaintext[..]);

        let mut in_place = vec![0u8; sealed.len()];
        in_place[13..13 + plaintext.len()].copy_from_slice(&plaintext);
        no_alloc("Keyring::seal_in_place", || {
            ring.seal_in_place(version, NONCE, plaintext.len(), b"prod", &mut in_place)
        })
        .expect("seal_in_place");
        assert_eq!(in_place, sealed);

        // Sealed with a key that is not the primary: open falls through to it.
        let n = other
            .seal(version, NONCE, &plaintext, b"", &mut sealed)
            .expect("seal");
        let m = no_alloc("Keyring::open (second key)", || {
            ring.open(&sealed[..n], b"", &mut plain)
        })
        .expect("open");
        assert_eq!(&plain[..m], &plaintext[..]);

        let mut frame = vec![0u8; 5 + version.encrypted_len(plaintext.len())];
        let n = no_alloc("Keyring::seal_stream", || {
            ring.seal_stream(version, NONCE, &plaintext, b"prod", &mut frame)
        })
        .expect("seal_stream");
        assert_eq!(n, frame.len());
        let total =
            no_alloc("stream_frame_len", || stream_frame_len(&frame, 20 << 20)).expect("frame len");
        assert_eq!(total, Some(n));
        let m = no_alloc("Keyring::open_stream", || {
            ring.open_stream(&frame, b"prod", &mut plain)
        })
        .expect("open_stream");
        assert_eq!(&plain[..m], &plaintext[..]);
    }
}
