//! Golden wire vectors captured from Go memberlist, and the values they describe.
//!
//! `vectors/memberlist-0.2.2.vectors` is written by the Go program in `interop/vectors`
//! (regenerate with `interop/capture-vectors.sh`). `vectors/memberlist-newest.vectors` and
//! `vectors/memberlist-newest-labels.vectors` were captured from hashicorp/memberlist v0.6.0-7
//! with go-msgpack/v2 (which this machine's Go cannot build, so they are data, copied from
//! `shared/vectors`): the same values as 0.2.2's file, and labels on packets and streams.
//! [`expected`] and [`expected_labelled`] rebuild each vector's value with rumor, so a test can
//! check both directions: Go's bytes decode to the value, and rumor's encoding of the value is
//! Go's bytes (for the newest memberlist, up to [`with_v2_signed_widths`]).

use std::path::{Path, PathBuf};

use rumor_core::wire::{
    Ack, Alive, Dead, Encode, EncodeError, EncryptionVersion, ErrResp, IndirectPing, IpBytes,
    Keyring, Lzw, Message, Nack, NodeState, Ping, PushNodeState, PushPullWriter, SecretKey,
    Suspect, UserMsg, UserStreamMsg, Vsn, compound_len, encode_compound, encode_crc, encode_label,
    push_pull_len,
};

/// One vector: a name, Go's bytes, and what they are.
#[derive(Debug, Clone)]
pub struct Vector {
    /// Stable identifier, shared with the Go capture program.
    pub name: String,
    /// The bytes Go wrote.
    pub bytes: Vec<u8>,
    /// One line saying what the bytes hold.
    pub description: String,
}

/// The directory holding the vector files.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Parses a vectors file: `#` comments, otherwise `<name> <hex> <description>`.
pub fn parse(text: &str) -> Result<Vec<Vector>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.splitn(3, ' ');
        let (Some(name), Some(hex)) = (it.next(), it.next()) else {
            return Err(format!(
                "line {}: expected `<name> <hex> <description>`",
                i + 1
            ));
        };
        let bytes = hex::decode(hex).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(Vector {
            name: name.to_owned(),
            bytes,
            description: it.next().unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}

/// Loads one file of [`vectors_dir`].
pub fn load(file: &str) -> Result<Vec<Vector>, String> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text)
}

/// The versions every vector node advertises unless its description says otherwise.
pub const VSN: Vsn = Vsn::from_bytes([1, 5, 2, 0, 0, 0]);
/// The other version vector the vectors use.
pub const VSN_DELEGATE: Vsn = Vsn::from_bytes([1, 5, 2, 2, 4, 3]);
/// The fixed GCM nonce of the encrypted vectors.
pub const NONCE: [u8; 12] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
];

/// An IPv4 address in its 4-byte form.
pub fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpBytes {
    IpBytes::from(std::net::Ipv4Addr::new(a, b, c, d))
}

/// `::1` (16 bytes).
pub fn ip6_loopback() -> IpBytes {
    IpBytes::from(std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))
}

/// The AES key of `n` bytes the vectors use: `00 01 02 ..`.
pub fn key(n: usize) -> SecretKey {
    let bytes: Vec<u8> = (0..n as u8).collect();
    SecretKey::new(&bytes).expect("16, 24 or 32")
}

/// A single msgpack-bodied message of the vector set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Single {
    Ping(Ping<'static>),
    IndirectPing(IndirectPing<'static>),
    Ack(Ack<'static>),
    Nack(Nack),
    Suspect(Suspect<'static>),
    Alive(Alive<'static>),
    Dead(Dead<'static>),
    Err(ErrResp<'static>),
    User(&'static [u8]),
}

impl Single {
    /// True if `msg` is this message.
    pub fn matches(&self, msg: &Message<'_>) -> bool {
        match (*self, *msg) {
            (Self::Ping(a), Message::Ping(b)) => a == b,
            (Self::IndirectPing(a), Message::IndirectPing(b)) => a == b,
            (Self::Ack(a), Message::Ack(b)) => a == b,
            (Self::Nack(a), Message::Nack(b)) => a == b,
            (Self::Suspect(a), Message::Suspect(b)) => a == b,
            (Self::Alive(a), Message::Alive(b)) => a == b,
            (Self::Dead(a), Message::Dead(b)) => a == b,
            (Self::Err(a), Message::Err(b)) => a == b,
            (Self::User(a), Message::User(b)) => a == b,
            _ => false,
        }
    }

    /// rumor's encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let r = match self {
            Self::Ping(m) => m.encode_to_vec(&mut v),
            Self::IndirectPing(m) => m.encode_to_vec(&mut v),
            Self::Ack(m) => m.encode_to_vec(&mut v),
            Self::Nack(m) => m.encode_to_vec(&mut v),
            Self::Suspect(m) => m.encode_to_vec(&mut v),
            Self::Alive(m) => m.encode_to_vec(&mut v),
            Self::Dead(m) => m.encode_to_vec(&mut v),
            Self::Err(m) => m.encode_to_vec(&mut v),
            Self::User(m) => UserMsg(m).encode_to_vec(&mut v),
        };
        r.expect("encoding into a Vec");
        v
    }
}

static META_512: [u8; 512] = [b'x'; 512];

/// The single messages, by vector name.
pub fn single(name: &str) -> Option<Single> {
    let source = |seq_no, node| Ping {
        seq_no,
        node,
        source_addr: ip4(10, 0, 0, 1),
        source_port: 7946,
        source_node: "node-a",
    };
    Some(match name {
        "ping" => Single::Ping(Ping {
            seq_no: 1,
            node: "node-b",
            ..Ping::default()
        }),
        "ping_source" => Single::Ping(source(42, "node-b")),
        "ping_ipv6_source" => Single::Ping(Ping {
            seq_no: u32::MAX,
            node: "",
            source_addr: ip6_loopback(),
            source_port: 65535,
            source_node: "n",
        }),
        "indirect_ping" => Single::IndirectPing(IndirectPing {
            seq_no: 42,
            target: ip4(10, 0, 0, 3),
            port: 7946,
            node: "node-c",
            nack: true,
            source_addr: ip4(10, 0, 0, 1),
            source_port: 7946,
            source_node: "node-a",
        }),
        "indirect_ping_minimal" => Single::IndirectPing(IndirectPing {
            seq_no: 300,
            target: ip4(10, 0, 0, 3),
            port: 80,
            node: "node-c",
            ..IndirectPing::default()
        }),
        "ack" => Single::Ack(Ack {
            seq_no: 42,
            payload: b"",
        }),
        "ack_payload" => Single::Ack(Ack {
            seq_no: 70000,
            payload: b"hi",
        }),
        "nack" => Single::Nack(Nack { seq_no: 42 }),
        "suspect" => Single::Suspect(Suspect {
            incarnation: 3,
            node: "node-c",
            from: "node-a",
        }),
        "suspect_long_name" => Single::Suspect(Suspect {
            incarnation: 200,
            node: "node-with-a-rather-long-name-0123456789",
            from: "node-a",
        }),
        "alive" => Single::Alive(Alive {
            incarnation: 1,
            node: "node-a",
            addr: ip4(10, 0, 0, 1),
            port: 7946,
            meta: b"role=web",
            vsn: VSN,
        }),
        "alive_ipv6" => Single::Alive(Alive {
            incarnation: 70000,
            node: "n1",
            addr: ip6_loopback(),
            port: 65535,
            meta: b"",
            vsn: VSN_DELEGATE,
        }),
        "alive_ipv4_mapped" => Single::Alive(Alive {
            incarnation: 2,
            node: "node-m",
            addr: IpBytes::new(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9])?,
            port: 7946,
            meta: &META_512,
            vsn: VSN,
        }),
        "dead" => Single::Dead(Dead {
            incarnation: 7,
            node: "node-c",
            from: "node-a",
        }),
        "dead_leave" => Single::Dead(Dead {
            incarnation: 3,
            node: "node-a",
            from: "node-a",
        }),
        "err" => Single::Err(ErrResp { error: "boom" }),
        "user" => Single::User(b"hello world"),
        _ => return None,
    })
}

/// The parts of the compound vectors, by name.
pub fn compound_parts(name: &str) -> Option<Vec<Single>> {
    let names: &[&str] = match name {
        "compound" => &["ping", "suspect"],
        "compound_three" => &["ack", "alive", "user"],
        // The input of the `compress` vector.
        "compress" => &["alive", "alive_ipv6", "suspect", "dead"],
        _ => return None,
    };
    names.iter().map(|n| single(n)).collect()
}

/// rumor's compound of `parts`.
pub fn encode_compound_of(parts: &[Single]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = parts.iter().map(Single::encode).collect();
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let mut out = vec![0u8; compound_len(refs.iter().copied())];
    let n = encode_compound(&refs, &mut out).expect("sized by compound_len");
    out.truncate(n);
    out
}

/// An owned node state: name, addr, port, meta, incarnation, state, vsn.
pub type OwnedNodeState = (String, IpBytes, u16, Vec<u8>, u32, NodeState, Vsn);

/// A push/pull vector's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPullValue {
    /// The header's `Join`.
    pub join: bool,
    /// Node states: name, addr, port, meta, incarnation, state, vsn.
    pub nodes: Vec<OwnedNodeState>,
    /// Application state.
    pub user_state: Vec<u8>,
}

impl PushPullValue {
    /// rumor's encoding.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let states: Vec<PushNodeState<'_>> = self
            .nodes
            .iter()
            .map(|(name, addr, port, meta, inc, state, vsn)| PushNodeState {
                name,
                addr: *addr,
                port: *port,
                meta,
                incarnation: *inc,
                state: *state,
                vsn: *vsn,
            })
            .collect();
        let mut out = vec![0u8; push_pull_len(self.join, &states, self.user_state.len())];
        let mut w = PushPullWriter::new(
            &mut out,
            self.join,
            states.len() as u32,
            self.user_state.len(),
        )?;
        for s in &states {
            w.push(s)?;
        }
        let n = w.finish(&self.user_state)?;
        out.truncate(n);
        Ok(out)
    }
}

/// The push/pull vectors, by name.
pub fn push_pull(name: &str) -> Option<PushPullValue> {
    let node_a = || {
        (
            "node-a".to_owned(),
            ip4(10, 0, 0, 1),
            7946,
            b"role=web".to_vec(),
            1,
            NodeState::Alive,
            VSN,
        )
    };
    Some(match name {
        "push_pull" | "compress_stream" => PushPullValue {
            join: false,
            nodes: vec![
                node_a(),
                (
                    "node-b".into(),
                    ip4(10, 0, 0, 2),
                    7947,
                    vec![],
                    5,
                    NodeState::Suspect,
                    VSN,
                ),
                (
                    "node-c".into(),
                    ip4(10, 0, 0, 3),
                    7948,
                    vec![],
                    9,
                    NodeState::Dead,
                    VSN,
                ),
                (
                    "node-d".into(),
                    ip6_loopback(),
                    7949,
                    b"x".to_vec(),
                    200,
                    NodeState::Left,
                    VSN_DELEGATE,
                ),
            ],
            user_state: b"hello".to_vec(),
        },
        "push_pull_join" => PushPullValue {
            join: true,
            nodes: vec![node_a()],
            user_state: vec![],
        },
        "push_pull_large" => PushPullValue {
            join: false,
            nodes: (0..200u32)
                .map(|i| {
                    (
                        format!("node-{i:03}"),
                        ip4(10, 0, (i / 256) as u8, (i % 256) as u8),
                        7946 + i as u16,
                        vec![],
                        i + 1,
                        NodeState::from_u8((i % 4) as u8),
                        VSN,
                    )
                })
                .collect(),
            user_state: (0..40000u32).map(|j| (j % 251) as u8).collect(),
        },
        _ => return None,
    })
}

/// The user message of the stream vectors.
pub const USER_STREAM_PAYLOAD: &[u8] = b"hello world";

/// An encryption vector's parameters: (is it a stream frame, version, key size).
pub fn encryption(name: &str) -> Option<(bool, EncryptionVersion, usize)> {
    let rest = name.strip_prefix("encrypt_")?;
    let (stream, rest) = match rest.split_once('_')? {
        ("packet", r) => (false, r),
        ("stream", r) => (true, r),
        _ => return None,
    };
    let (v, k) = rest.split_once('_')?;
    let version = match v {
        "v0" => EncryptionVersion::V0,
        "v1" => EncryptionVersion::V1,
        _ => return None,
    };
    let key_len = k.strip_prefix('k')?.parse().ok()?;
    Some((stream, version, key_len))
}

/// rumor's bytes for the value a vector describes, or `None` for an unknown name.
///
/// Compressed vectors use rumor's LZW output, which may differ from Go's bytes while decoding
/// to the same content; encrypted vectors use the fixed nonce, so they match Go byte for byte.
pub fn expected(name: &str) -> Option<Vec<u8>> {
    if let Some(s) = single(name) {
        return Some(s.encode());
    }
    let mut lzw = Lzw::new();
    let compress = |lzw: &mut Lzw, inner: &[u8]| {
        let mut out = vec![0u8; inner.len() * 2 + 32];
        let n = lzw
            .compress_message(inner, &mut out)
            .expect("sized generously");
        out.truncate(n);
        out
    };
    Some(match name {
        "compound" | "compound_three" => encode_compound_of(&compound_parts(name)?),
        "compress" => compress(&mut lzw, &encode_compound_of(&compound_parts(name)?)),
        "crc" => {
            let ping = single("ping")?.encode();
            let mut out = vec![0u8; ping.len() + 5];
            encode_crc(&ping, &mut out).ok()?;
            out
        }
        "user_stream" => {
            let mut v = Vec::new();
            UserStreamMsg(USER_STREAM_PAYLOAD)
                .encode_to_vec(&mut v)
                .ok()?;
            v
        }
        "push_pull" | "push_pull_join" | "push_pull_large" => push_pull(name)?.encode().ok()?,
        "compress_stream" => compress(&mut lzw, &push_pull(name)?.encode().ok()?),
        _ => {
            let (stream, version, key_len) = encryption(name)?;
            let ring = Keyring::new(key(key_len));
            let mut out = vec![0u8; 256];
            let n = if stream {
                let plain = expected("user_stream")?;
                ring.seal_stream(version, NONCE, &plain, b"", &mut out)
                    .ok()?
            } else {
                let plain = expected("compound")?;
                ring.seal(version, NONCE, &plain, b"", &mut out).ok()?
            };
            out.truncate(n);
            out
        }
    })
}

/// The label of the labelled vectors.
pub const LABEL: &[u8] = b"prod";

/// The header fields go-msgpack/v2 writes as Go `int`s, in the smallest *signed* form
/// (`d1`, `d2`, `d3`), where go-msgpack 0.5 (memberlist 0.2.2) and rumor write the smallest
/// unsigned one (`cc`, `cd`, `ce`). Every msgpack decoder, Go's old and new and rumor's,
/// accepts both, so the difference never reaches a peer.
pub const V2_SIGNED_FIELDS: [&str; 3] = ["Nodes", "UserStateLen", "UserMsgLen"];

/// `bytes` with the integer after each [`V2_SIGNED_FIELDS`] key rewritten to the width
/// go-msgpack/v2 writes: the one documented difference between rumor's encoding and the newest
/// memberlist's.
pub fn with_v2_signed_widths(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    'scan: while i < bytes.len() {
        for field in V2_SIGNED_FIELDS {
            let key_len = 1 + field.len();
            let is_key = bytes.get(i) == Some(&(0xa0 | field.len() as u8))
                && bytes.get(i + 1..i + key_len) == Some(field.as_bytes());
            let Some((value, used)) = is_key.then(|| read_uint(&bytes[i + key_len..])).flatten()
            else {
                continue;
            };
            out.extend_from_slice(&bytes[i..i + key_len]);
            match value {
                0..=0x7f => out.push(value as u8),
                0x80..=0x7fff => {
                    out.push(0xd1);
                    out.extend_from_slice(&(value as u16).to_be_bytes());
                }
                0x8000..=0x7fff_ffff => {
                    out.push(0xd2);
                    out.extend_from_slice(&(value as u32).to_be_bytes());
                }
                _ => {
                    out.push(0xd3);
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
            i += key_len + used;
            continue 'scan;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A msgpack unsigned integer at the start of `b`: (value, bytes used).
fn read_uint(b: &[u8]) -> Option<(u64, usize)> {
    let be = |n: usize| -> Option<u64> {
        let body = b.get(1..1 + n)?;
        Some(body.iter().fold(0u64, |v, &x| v << 8 | u64::from(x)))
    };
    match *b.first()? {
        v @ 0..=0x7f => Some((u64::from(v), 1)),
        0xcc => Some((be(1)?, 2)),
        0xcd => Some((be(2)?, 3)),
        0xce => Some((be(4)?, 5)),
        0xcf => Some((be(8)?, 9)),
        _ => None,
    }
}

/// The payload length of a `user_msg_header_<len>` vector.
pub fn user_msg_header_len(name: &str) -> Option<usize> {
    name.strip_prefix("user_msg_header_")?.parse().ok()
}

/// rumor's bytes for a vector of `memberlist-newest-labels.vectors`, or `None` for an unknown
/// name. A `user_msg_header_<len>` vector is the header of a stream user message of `len`
/// bytes, without the payload.
pub fn expected_labelled(name: &str) -> Option<Vec<u8>> {
    if let Some(len) = user_msg_header_len(name) {
        let payload = vec![0u8; len];
        let mut v = Vec::new();
        UserStreamMsg(&payload).encode_to_vec(&mut v).ok()?;
        v.truncate(v.len() - len);
        return Some(v);
    }
    let mut out = vec![0u8; 256];
    let mut n = encode_label(LABEL, &mut out).ok()?;
    let ping = single("ping")?.encode();
    let crc = expected("crc")?;
    n += match name {
        "label_packet" => {
            out[n..n + ping.len()].copy_from_slice(&ping);
            ping.len()
        }
        "label_packet_crc" => {
            out[n..n + crc.len()].copy_from_slice(&crc);
            crc.len()
        }
        "label_packet_encrypted_v1_k32" => Keyring::new(key(32))
            .seal(EncryptionVersion::V1, NONCE, &ping, LABEL, &mut out[n..])
            .ok()?,
        "label_packet_crc_encrypted_v1_k16" => Keyring::new(key(16))
            .seal(EncryptionVersion::V1, NONCE, &crc, LABEL, &mut out[n..])
            .ok()?,
        "label_stream_user" => {
            let user = expected("user_stream")?;
            out[n..n + user.len()].copy_from_slice(&user);
            user.len()
        }
        "label_stream_user_encrypted_v1_k32" => Keyring::new(key(32))
            .seal_stream(
                EncryptionVersion::V1,
                NONCE,
                &expected("user_stream")?,
                LABEL,
                &mut out[n..],
            )
            .ok()?,
        _ => return None,
    };
    out.truncate(n);
    Some(out)
}

/// The path of the Go vectors program, built by `interop/build.sh` (never installs packages:
/// `MEMBERLIST_NO_APT=1`). `Err` says why it is not available.
pub fn go_vectors_program() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/build.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("vectors")
        .env("MEMBERLIST_NO_APT", "1")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default();
        return Err(format!("{} failed: {last}", script.display()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.lines().last().unwrap_or_default().trim();
    if path.is_empty() {
        return Err("build.sh printed no path".into());
    }
    Ok(PathBuf::from(path))
}
