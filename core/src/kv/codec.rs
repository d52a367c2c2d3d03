//! rumor's own messages, carried as memberlist user messages and inside push/pull user state.
//! Every one starts with [`MARKER`], whose first byte (0xc1) is one msgpack never uses, so a
//! rumor node never mistakes them for application data. Lengths are bounded before use.
//!
//! ```text
//! marker   c1 72 75 01
//! relay    02 | id u64 | 08 | payload          an application broadcast, relayed once
//! writes   03 | group*                         fresh writes, gossiped
//! digest   04 | flags | from | rows            "send me what I lack" (pull, push/pull)
//! delta    05 | flags | from | [rows] | group* entries the receiver lacks
//! sync     06 | from | id u64 | index u32 | total u32 | rows | group*   a full exchange
//! state    07 | len u32 | from | rows | count u32 | name* | app state   push/pull user state
//!          (name*: the members the sender knows to run rumor)
//! rows     count u32 | (name, epoch u32, watermark varint, purged varint)*
//! group    name, epoch u32, from u64, to u64, count u32, (key, version varint, value)*
//!          (a claim: these are all the writer's live writes in versions (from, to]; to = 0
//!          claims nothing)
//! value    00 (tombstone) | 01 len varint bytes
//! string   len varint, UTF-8 bytes
//! ```

use alloc::vec::Vec;
use core::fmt;

/// The first bytes of every rumor message (version 1).
pub(crate) const MARKER: [u8; 4] = [0xc1, b'r', b'u', 1];

/// Where the application payload starts in a relay envelope queued as a user message (type
/// byte, marker, kind, id): from there on it is a plain user message for memberlist peers.
pub(crate) const RELAY_PLAIN_AT: usize = 1 + MARKER.len() + 1 + 8;

/// Most bytes of a node name in rumor messages (memberlist has no limit; 512 is generous).
pub(crate) const MAX_NAME: usize = 512;

/// Kinds of rumor message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Relay = 2,
    Writes = 3,
    Digest = 4,
    Delta = 5,
    Sync = 6,
    State = 7,
}

/// Digest flag: the sender wants, with the delta, the replier's rows (push/pull).
pub(crate) const WANT_ROWS: u8 = 1;
/// Digest flag: the answer is too large for a datagram request; ask again over a stream
/// (whose handshake proves where the request came from).
pub(crate) const ASK_STREAM: u8 = 2;
/// Delta flag: rows follow, and the receiver should send back what the sender lacks.
pub(crate) const HAS_ROWS: u8 = 1;

/// Why a rumor message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvDecodeError {
    /// The message ended early.
    Truncated,
    /// A length or count exceeds its bound.
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        limit: usize,
    },
    /// A name or key is not UTF-8.
    NotUtf8,
    /// An unknown message kind or value tag.
    Unknown(u8),
    /// Bytes left over after a complete message.
    Trailing,
}

impl fmt::Display for KvDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("rumor message truncated"),
            Self::TooLarge { what, len, limit } => {
                write!(f, "rumor message: {what} of {len} exceeds {limit}")
            }
            Self::NotUtf8 => f.write_str("rumor message: name or key is not UTF-8"),
            Self::Unknown(b) => write!(f, "rumor message: unknown kind or tag {b:#04x}"),
            Self::Trailing => f.write_str("rumor message: trailing bytes"),
        }
    }
}

impl core::error::Error for KvDecodeError {}

type R<T> = Result<T, KvDecodeError>;

/// A bounded reader over one message.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }
    pub(crate) fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.buf.len() {
            return Err(KvDecodeError::Truncated);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub(crate) fn varint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(KvDecodeError::TooLarge {
            what: "varint",
            len: 11,
            limit: 10,
        })
    }
    pub(crate) fn bytes(&mut self, what: &'static str, limit: usize) -> R<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > limit {
            return Err(KvDecodeError::TooLarge { what, len, limit });
        }
        self.take(len)
    }
    pub(crate) fn str(&mut self, what: &'static str, limit: usize) -> R<&'a str> {
        core::str::from_utf8(self.bytes(what, limit)?).map_err(|_| KvDecodeError::NotUtf8)
    }
    /// A count of items each at least `min_size` bytes long: bounded by what is left.
    pub(crate) fn count(&mut self, what: &'static str, min_size: usize) -> R<usize> {
        let n = self.u32()? as usize;
        let limit = self.buf.len() / min_size.max(1);
        if n > limit {
            return Err(KvDecodeError::TooLarge {
                what,
                len: n,
                limit,
            });
        }
        Ok(n)
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Starts a rumor message of `kind`.
pub(crate) fn start(out: &mut Vec<u8>, kind: Kind) {
    out.extend_from_slice(&MARKER);
    out.push(kind as u8);
}

/// Splits a user payload into a rumor message's kind and body, or `None` if it is not one.
pub(crate) fn classify(payload: &[u8]) -> Option<Result<(Kind, &[u8]), KvDecodeError>> {
    let body = payload.strip_prefix(&MARKER[..3])?;
    let (&version, body) = body.split_first()?;
    if version != MARKER[3] {
        return Some(Err(KvDecodeError::Unknown(version)));
    }
    let (&kind, body) = match body.split_first() {
        Some(x) => x,
        None => return Some(Err(KvDecodeError::Truncated)),
    };
    let kind = match kind {
        2 => Kind::Relay,
        3 => Kind::Writes,
        4 => Kind::Digest,
        5 => Kind::Delta,
        6 => Kind::Sync,
        7 => Kind::State,
        other => return Some(Err(KvDecodeError::Unknown(other))),
    };
    Some(Ok((kind, body)))
}

/// One row of a digest: a writer and how far this node has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row<'a> {
    pub(crate) name: &'a str,
    pub(crate) epoch: u32,
    pub(crate) watermark: u64,
    pub(crate) purged: u64,
}

/// Smallest encoded row: empty name, epoch, two one-byte varints.
const MIN_ROW: usize = 1 + 4 + 1 + 1;

pub(crate) fn put_row(out: &mut Vec<u8>, r: &Row<'_>) {
    put_bytes(out, r.name.as_bytes());
    out.extend_from_slice(&r.epoch.to_be_bytes());
    put_varint(out, r.watermark);
    put_varint(out, r.purged);
}

/// Reads `count u32, row*`, calling `f` for each row.
pub(crate) fn read_rows<'a>(
    r: &mut Reader<'a>,
    max_rows: usize,
    mut f: impl FnMut(Row<'a>),
) -> R<()> {
    let n = r.count("digest rows", MIN_ROW)?;
    if n > max_rows {
        return Err(KvDecodeError::TooLarge {
            what: "digest rows",
            len: n,
            limit: max_rows,
        });
    }
    for _ in 0..n {
        let name = r.str("writer name", MAX_NAME)?;
        let epoch = r.u32()?;
        let watermark = r.varint()?;
        let purged = r.varint()?;
        f(Row {
            name,
            epoch,
            watermark,
            purged,
        });
    }
    Ok(())
}

/// A group header: the writer, the version range it claims complete (`to == 0`: none) and
/// the entry count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupHead<'a> {
    pub(crate) name: &'a str,
    pub(crate) epoch: u32,
    /// The group holds every live write of its writer in versions `(from, to]`: a receiver
    /// whose watermark is at least `from` may raise it to `to`.
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) count: usize,
}

/// One entry of a group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireEntry<'a> {
    pub(crate) key: &'a str,
    pub(crate) version: u64,
    pub(crate) value: Option<&'a [u8]>,
}

/// Smallest encoded entry: empty key, version, tombstone tag.
const MIN_ENTRY: usize = 3;

/// Bounds applied while reading groups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryLimits {
    pub(crate) max_key: usize,
    pub(crate) max_value: usize,
}

pub(crate) fn read_group_head<'a>(r: &mut Reader<'a>) -> R<GroupHead<'a>> {
    let name = r.str("writer name", MAX_NAME)?;
    let epoch = r.u32()?;
    let from = r.u64()?;
    let to = r.u64()?;
    let count = r.count("group entries", MIN_ENTRY)?;
    Ok(GroupHead {
        name,
        epoch,
        from,
        to,
        count,
    })
}

pub(crate) fn read_entry<'a>(r: &mut Reader<'a>, l: EntryLimits) -> R<WireEntry<'a>> {
    let key = r.str("key", l.max_key)?;
    let version = r.varint()?;
    let value = match r.u8()? {
        0 => None,
        1 => Some(r.bytes("value", l.max_value)?),
        t => return Err(KvDecodeError::Unknown(t)),
    };
    Ok(WireEntry {
        key,
        version,
        value,
    })
}

/// Encoded size of an entry.
pub(crate) fn entry_len(key: &str, version: u64, value: Option<&[u8]>) -> usize {
    varint_len(key.len() as u64)
        + key.len()
        + varint_len(version)
        + 1
        + value.map_or(0, |v| varint_len(v.len() as u64) + v.len())
}

pub(crate) fn put_entry(out: &mut Vec<u8>, key: &str, version: u64, value: Option<&[u8]>) {
    put_bytes(out, key.as_bytes());
    put_varint(out, version);
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_bytes(out, v);
        }
    }
}

/// Encoded size of a group header.
pub(crate) fn group_head_len(name: &str) -> usize {
    varint_len(name.len() as u64) + name.len() + 4 + 8 + 8 + 4
}

/// Writes a group header claiming nothing, with no entries; returns where to patch it.
pub(crate) fn put_group_head(out: &mut Vec<u8>, name: &str, epoch: u32) -> usize {
    put_bytes(out, name.as_bytes());
    out.extend_from_slice(&epoch.to_be_bytes());
    let at = out.len();
    out.extend_from_slice(&[0; 20]);
    at
}

/// Sets a group header's claim `(from, to]` and entry count.
pub(crate) fn patch_group_head(out: &mut [u8], at: usize, from: u64, to: u64, count: u32) {
    out[at..at + 8].copy_from_slice(&from.to_be_bytes());
    out[at + 8..at + 16].copy_from_slice(&to.to_be_bytes());
    out[at + 16..at + 20].copy_from_slice(&count.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_bounds() {
        let mut out = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            out.clear();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(Reader::new(&out).varint(), Ok(v));
        }
        // A length larger than the bound is refused before anything is read.
        out.clear();
        put_varint(&mut out, 1 << 40);
        assert!(matches!(
            Reader::new(&out).bytes("value", 100),
            Err(KvDecodeError::TooLarge { .. })
        ));
        // A count larger than what is left cannot make us allocate.
        let huge = [0xff, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            Reader::new(&huge).count("rows", 7),
            Err(KvDecodeError::TooLarge { .. })
        ));
        assert_eq!(Reader::new(&[0x80; 12]).varint().ok(), None);
    }

    #[test]
    fn classify_sorts_payloads() {
        assert!(classify(b"hello").is_none());
        assert!(classify(&[0xc1, b'r', b'u']).is_none());
        assert_eq!(
            classify(&[0xc1, b'r', b'u', 1]),
            Some(Err(KvDecodeError::Truncated))
        );
        assert_eq!(
            classify(&[0xc1, b'r', b'u', 9, 2]),
            Some(Err(KvDecodeError::Unknown(9)))
        );
        assert_eq!(
            classify(&[0xc1, b'r', b'u', 1, 4, 0xaa]),
            Some(Ok((Kind::Digest, &[0xaa][..])))
        );
    }

    #[test]
    fn entries_round_trip() {
        let mut out = Vec::new();
        let at = put_group_head(&mut out, "node-1", 7);
        put_entry(&mut out, "k", 42, Some(b"v"));
        put_entry(&mut out, "gone", 43, None);
        patch_group_head(&mut out, at, 40, 43, 2);
        assert_eq!(
            out.len(),
            group_head_len("node-1") + entry_len("k", 42, Some(b"v")) + entry_len("gone", 43, None)
        );
        let mut r = Reader::new(&out);
        let h = read_group_head(&mut r).unwrap();
        assert_eq!(
            (h.name, h.epoch, h.from, h.to, h.count),
            ("node-1", 7, 40, 43, 2)
        );
        let l = EntryLimits {
            max_key: 16,
            max_value: 16,
        };
        let e = read_entry(&mut r, l).unwrap();
        assert_eq!((e.key, e.version, e.value), ("k", 42, Some(&b"v"[..])));
        let e = read_entry(&mut r, l).unwrap();
        assert_eq!((e.key, e.version, e.value), ("gone", 43, None));
        assert!(r.is_empty());
    }
}
