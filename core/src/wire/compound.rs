//! Compound messages (type 7, spec §5.2): several messages in one datagram.
//!
//! ```text
//! 07  NN  L1 L1  L2 L2 ... LN LN   part1 part2 ... partN      (lengths u16 big-endian)
//! ```

use super::error::{DecodeError, EncodeError};
use super::types::MessageType;

/// Most parts a compound can carry: the count is one byte (spec §14.9).
pub const MAX_PARTS: usize = 255;

/// Bytes a compound adds before its parts: the type byte and the count.
pub const HEADER_OVERHEAD: usize = 2;

/// Bytes a compound adds per part: its u16 length.
pub const PART_OVERHEAD: usize = 2;

/// A decoded compound: the parts are cut lazily, without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Compound<'a> {
    lengths: &'a [u8],
    body: &'a [u8],
}

impl<'a> Compound<'a> {
    /// Decodes the body after the type byte. The count and every length must be present
    /// (else the whole packet is refused, as Go does); parts are checked as they are cut.
    pub fn decode_body(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (&count, rest) = body.split_first().ok_or(DecodeError::Truncated)?;
        let n = usize::from(count) * 2;
        if rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (lengths, body) = rest.split_at(n);
        Ok(Self { lengths, body })
    }

    /// Number of parts the header declares.
    pub fn count(&self) -> usize {
        self.lengths.len() / 2
    }

    /// The complete parts, in order. Parts that do not fit in the datagram are not yielded
    /// (Go processes the complete ones and counts the rest as truncated).
    pub fn parts(&self) -> Parts<'a> {
        Parts {
            lengths: self.lengths,
            body: self.body,
        }
    }

    /// How many declared parts are cut off by the end of the datagram.
    pub fn truncated(&self) -> usize {
        let mut parts = self.parts();
        let complete = parts.by_ref().count();
        self.count() - complete
    }
}

/// Iterator over the parts of a [`Compound`].
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    lengths: &'a [u8],
    body: &'a [u8],
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, lengths) = self.lengths.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if self.body.len() < len {
            self.lengths = &[];
            return None;
        }
        let (part, body) = self.body.split_at(len);
        self.lengths = lengths;
        self.body = body;
        Some(part)
    }
}

/// Length of a compound holding these parts.
pub fn compound_len<'p>(parts: impl IntoIterator<Item = &'p [u8]>) -> usize {
    parts
        .into_iter()
        .fold(HEADER_OVERHEAD, |n, p| n + PART_OVERHEAD + p.len())
}

/// Writes a compound of `parts` into `out` and returns its length.
///
/// Refuses more than 255 parts, an empty part, and a part over 65,535 bytes: Go 0.2.2 panics
/// on an empty part and silently wraps the count (spec §5.2).
pub fn encode_compound(parts: &[&[u8]], out: &mut [u8]) -> Result<usize, EncodeError> {
    if parts.len() > MAX_PARTS {
        return Err(EncodeError::TooLarge {
            what: "compound part count",
            len: parts.len(),
            limit: MAX_PARTS,
        });
    }
    let total = compound_len(parts.iter().copied());
    if out.len() < total {
        return Err(EncodeError::BufferTooSmall { needed: total });
    }
    out[0] = MessageType::Compound as u8;
    out[1] = parts.len() as u8;
    let mut pos = HEADER_OVERHEAD + PART_OVERHEAD * parts.len();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(EncodeError::EmptyPart);
        }
        let len = u16::try_from(part.len()).map_err(|_| EncodeError::TooLarge {
            what: "compound part",
            len: part.len(),
            limit: usize::from(u16::MAX),
        })?;
        out[2 + 2 * i..4 + 2 * i].copy_from_slice(&len.to_be_bytes());
        out[pos..pos + part.len()].copy_from_slice(part);
        pos += part.len();
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let parts: [&[u8]; 3] = [b"\x00abc", b"\x03d", b"\x08hello"];
        let mut out = [0u8; 64];
        let n = encode_compound(&parts, &mut out).unwrap();
        assert_eq!(n, compound_len(parts.iter().copied()));
        assert_eq!(&out[..8], &[7, 3, 0, 4, 0, 2, 0, 6]);
        let c = Compound::decode_body(&out[1..n]).unwrap();
        assert_eq!(c.count(), 3);
        assert_eq!(c.truncated(), 0);
        assert!(c.parts().eq(parts.iter().copied()));
    }

    #[test]
    fn truncated_parts_are_counted_not_fatal() {
        // Two parts declared (3 and 5 bytes), only 6 bytes of body.
        let body = [2, 0, 3, 0, 5, 1, 2, 3, 4, 5, 6];
        let c = Compound::decode_body(&body).unwrap();
        assert_eq!(
            c.parts().collect::<alloc::vec::Vec<_>>(),
            [&[1u8, 2, 3][..]]
        );
        assert_eq!(c.truncated(), 1);
        // Missing lengths are fatal; a count of 200 with a short body does not overflow.
        assert_eq!(
            Compound::decode_body(&[200, 0, 1]).err(),
            Some(DecodeError::Truncated)
        );
    }

    #[test]
    fn refuses_what_go_chokes_on() {
        let mut out = [0u8; 2048];
        assert_eq!(
            encode_compound(&[b"a", b""], &mut out),
            Err(EncodeError::EmptyPart)
        );
        let many = [&b"x"[..]; 256];
        assert!(matches!(
            encode_compound(&many, &mut out),
            Err(EncodeError::TooLarge { .. })
        ));
    }
}
