//! Cluster labels (type 244, memberlist ≥ 0.3.0, spec §8): `f4 LEN LABEL` before a packet or
//! at the start of a dialled stream. Memberlist 0.2.2 knows nothing of labels and drops
//! labelled traffic, so only send one to nodes configured with the same label.

use super::error::{DecodeError, EncodeError};
use super::types::MessageType;

/// Longest label (`LabelMaxSize`).
pub const MAX_LABEL_LEN: usize = 255;

/// Bytes the header adds for `label` (0 without one), memberlist's `labelOverhead`.
pub const fn label_overhead(label: &[u8]) -> usize {
    if label.is_empty() { 0 } else { 2 + label.len() }
}

/// Writes the header for `label` into `out`; an empty label writes nothing.
pub fn encode_label(label: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if label.is_empty() {
        return Ok(0);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(EncodeError::InvalidLabel);
    }
    let n = label_overhead(label);
    let out = out
        .get_mut(..n)
        .ok_or(EncodeError::BufferTooSmall { needed: n })?;
    out[0] = MessageType::HasLabel as u8;
    out[1] = label.len() as u8;
    out[2..].copy_from_slice(label);
    Ok(n)
}

/// Splits a label header off `buf`: returns the label (empty if there is none) and the rest.
/// Whether the label is the expected one is the caller's decision.
pub fn strip_label(buf: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    match buf.split_first() {
        Some((&t, rest)) if t == MessageType::HasLabel as u8 => {
            let (&len, rest) = rest.split_first().ok_or(DecodeError::Truncated)?;
            if len == 0 {
                return Err(DecodeError::EmptyLabel);
            }
            let len = usize::from(len);
            if rest.len() < len {
                return Err(DecodeError::Truncated);
            }
            Ok(rest.split_at(len))
        }
        _ => Ok((&[], buf)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_l() {
        let mut out = [0u8; 8];
        assert_eq!(encode_label(b"prod", &mut out), Ok(6));
        assert_eq!(&out[..6], &[0xf4, 0x04, b'p', b'r', b'o', b'd']);
        let packet = [0xf4, 0x04, b'p', b'r', b'o', b'd', 0x01, 0xa0];
        assert_eq!(strip_label(&packet), Ok((&b"prod"[..], &[0x01, 0xa0][..])));
        assert_eq!(strip_label(&[0x01, 0xa0]), Ok((&[][..], &[0x01, 0xa0][..])));
        assert_eq!(
            strip_label(&[0xf4, 0x00, 0x01]),
            Err(DecodeError::EmptyLabel)
        );
        assert_eq!(
            strip_label(&[0xf4, 0x05, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(strip_label(&[0xf4]), Err(DecodeError::Truncated));
        assert_eq!(
            encode_label(&[b'x'; 256], &mut [0u8; 300]),
            Err(EncodeError::InvalidLabel)
        );
        assert_eq!(encode_label(b"", &mut []), Ok(0));
    }
}
