//! The CRC header on datagrams (type 12, protocol ≥ 5, spec §5.3):
//! `0c` + CRC-32/IEEE of the rest, big-endian, + the rest.

use super::error::{DecodeError, EncodeError};
use super::types::MessageType;

/// Bytes the CRC header adds.
pub const CRC_OVERHEAD: usize = 5;

/// Writes `0c`, the checksum of `payload`, and `payload` into `out`; returns the length.
pub fn encode_crc(payload: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    let total = CRC_OVERHEAD + payload.len();
    let out = out
        .get_mut(..total)
        .ok_or(EncodeError::BufferTooSmall { needed: total })?;
    out[0] = MessageType::HasCrc as u8;
    out[1..5].copy_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out[5..].copy_from_slice(payload);
    Ok(total)
}

/// Prefixes a CRC header in place: `buf[CRC_OVERHEAD..]` already holds the payload (this lets
/// a sender build the payload at an offset and skip a copy).
pub fn seal_crc_in_place(buf: &mut [u8]) -> Result<(), EncodeError> {
    if buf.len() < CRC_OVERHEAD {
        return Err(EncodeError::BufferTooSmall {
            needed: CRC_OVERHEAD,
        });
    }
    let crc = crc32fast::hash(&buf[CRC_OVERHEAD..]);
    buf[0] = MessageType::HasCrc as u8;
    buf[1..5].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Verifies and strips a CRC header, if the packet has one; a packet without one is returned
/// unchanged (receivers accept both, spec §5.3). A wrong checksum refuses the whole packet.
pub fn strip_crc(packet: &[u8]) -> Result<&[u8], DecodeError> {
    if packet.first() != Some(&(MessageType::HasCrc as u8)) {
        return Ok(packet);
    }
    let (header, rest) = packet
        .split_first_chunk::<CRC_OVERHEAD>()
        .ok_or(DecodeError::Truncated)?;
    let expected = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let actual = crc32fast::hash(rest);
    if expected != actual {
        return Err(DecodeError::CrcMismatch { expected, actual });
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_e() {
        // Example A and its CRC-wrapped form E (spec §15).
        let a: &[u8] = &[
            0x00, 0x82, 0xa4, 0x4e, 0x6f, 0x64, 0x65, 0xa6, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x62,
            0xa5, 0x53, 0x65, 0x71, 0x4e, 0x6f, 0x01,
        ];
        let mut out = [0u8; 32];
        let n = encode_crc(a, &mut out).unwrap();
        assert_eq!(&out[..5], &[0x0c, 0xe3, 0xc3, 0x23, 0x10]);
        assert_eq!(strip_crc(&out[..n]).unwrap(), a);
        out[n - 1] ^= 1;
        assert!(matches!(
            strip_crc(&out[..n]),
            Err(DecodeError::CrcMismatch { .. })
        ));
        assert_eq!(strip_crc(&[0x0c, 1, 2]), Err(DecodeError::Truncated));
        assert_eq!(strip_crc(a).unwrap(), a);
    }
}
