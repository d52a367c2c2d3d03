//! LZW compression as memberlist uses it (spec §6): Go's `compress/lzw` with LSB bit order
//! and 8-bit literals, wrapped in a `compress` message (type 9). weezl with the same settings
//! is interoperable (and byte-identical on small inputs).

use alloc::vec::Vec;

use weezl::{BitOrder, LzwStatus, decode::Decoder, encode::Encoder};

use super::error::{DecodeError, EncodeError};
use super::message::Compress;
use super::msgpack::str_len;

/// memberlist's only algorithm, `lzwAlgo`.
pub const LZW_ALGO: u8 = 0;

/// Go's `lzwLitWidth`.
const LITERAL_WIDTH: u8 = 8;

/// Everything of a `compress` message before the `Buf` string header:
/// type 9, a 2-entry map, `"Algo": 0`, the key `"Buf"`.
const PREFIX: [u8; 12] = [
    0x09, 0x82, 0xa4, b'A', b'l', b'g', b'o', LZW_ALGO, 0xa3, b'B', b'u', b'f',
];

/// The longest string header (str32).
const MAX_STR_HEADER: usize = 5;

/// Inputs longer than this leave the compressor with fresh (small) code tables afterwards.
const KEEP_TABLES_UP_TO: usize = 512;

/// The largest of the decoder's tables (about 56 KB in all), which are allocated for each
/// message decompressed and given back before [`Lzw::decompress`] returns: a fixed cost,
/// the same for any input.
pub const LZW_DECODER_TABLES: usize = 32 * 1024;

/// A reusable LZW compressor and a decompressor. Compressing a message of at most 512 bytes
/// (pings, acks, small compounds: every probe) into a caller's buffer allocates nothing once
/// the code tables have grown to it. A larger input grows them by up to tens of KB (a full
/// 1,400-byte compound about 24 KB, a push/pull more), which are let go afterwards; the
/// decoder's tables (about 56 KB) exist only while a message is decompressed,
/// which a node at rest never does (pings and acks do not shrink, so they go uncompressed).
/// Kept per node, these tables were most of a node's memory in a process of many nodes
/// (over 80 KB of about 230).
pub struct Lzw {
    encoder: Encoder,
}

impl core::fmt::Debug for Lzw {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Lzw")
    }
}

impl Default for Lzw {
    fn default() -> Self {
        Self::new()
    }
}

impl Lzw {
    /// A compressor with memberlist's settings.
    pub fn new() -> Self {
        Self {
            encoder: Encoder::new(BitOrder::Lsb, LITERAL_WIDTH),
        }
    }

    /// Compresses the whole message `msg` (type byte included) into a complete `compress`
    /// message in `out`, returning its length.
    ///
    /// A packet sender keeps the result only if it is shorter than `msg` (spec §6); a stream
    /// sender always uses it.
    pub fn compress_message(&mut self, msg: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        let data_at = PREFIX.len() + MAX_STR_HEADER;
        if out.len() <= data_at {
            return Err(EncodeError::BufferTooSmall {
                needed: data_at + 1,
            });
        }
        let lzw_len = self.compress_raw(msg, &mut out[data_at..])?;
        out[..PREFIX.len()].copy_from_slice(&PREFIX);
        let header_len = str_len(lzw_len) - lzw_len;
        let header_at = PREFIX.len();
        match header_len {
            1 => out[header_at] = 0xa0 | lzw_len as u8,
            3 => {
                out[header_at] = 0xda;
                out[header_at + 1..header_at + 3].copy_from_slice(&(lzw_len as u16).to_be_bytes());
            }
            _ => {
                out[header_at] = 0xdb;
                out[header_at + 1..header_at + 5].copy_from_slice(&(lzw_len as u32).to_be_bytes());
            }
        }
        let body_at = header_at + header_len;
        out.copy_within(data_at..data_at + lzw_len, body_at);
        Ok(body_at + lzw_len)
    }

    /// [`compress_message`](Self::compress_message) with code tables of its own, let go
    /// afterwards: for stream messages (push/pull states of a few KB grow the tables by tens
    /// of KB), so that what a node keeps between them is sized by its datagrams.
    pub fn compress_message_once(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let warm = core::mem::replace(
            &mut self.encoder,
            Encoder::new(BitOrder::Lsb, LITERAL_WIDTH),
        );
        let r = self.compress_message(msg, out);
        self.encoder = warm;
        r
    }

    /// The raw LZW stream of `input` (clear code first, end code last) into `out`.
    pub fn compress_raw(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        let r = self.compress_with_tables(input, out);
        if input.len() > KEEP_TABLES_UP_TO {
            self.encoder = Encoder::new(BitOrder::Lsb, LITERAL_WIDTH);
        }
        r
    }

    fn compress_with_tables(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
        self.encoder.reset();
        self.encoder.finish();
        let (mut inp, mut written) = (input, 0);
        loop {
            let r = self.encoder.encode_bytes(inp, &mut out[written..]);
            inp = &inp[r.consumed_in..];
            written += r.consumed_out;
            match r.status {
                Ok(LzwStatus::Done) => return Ok(written),
                Ok(LzwStatus::Ok) if r.consumed_in + r.consumed_out > 0 => {}
                Ok(_) => {
                    return Err(EncodeError::BufferTooSmall {
                        needed: written + 1,
                    });
                }
                Err(_) => return Err(EncodeError::Compress),
            }
        }
    }

    /// Decompresses a decoded `compress` message, appending to `out` at most `limit` bytes.
    ///
    /// The stream must end with the LZW end code, as Go's reader requires; output over
    /// `limit` is refused before it is stored, so a tiny bomb costs at most `limit` bytes.
    pub fn decompress(
        &mut self,
        msg: &Compress<'_>,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        if msg.algo != LZW_ALGO {
            return Err(DecodeError::UnknownCompression(msg.algo));
        }
        inflate(
            &mut Decoder::new(BitOrder::Lsb, LITERAL_WIDTH),
            msg,
            limit,
            out,
        )
    }
}

/// The decompression loop of [`Lzw::decompress`], with a fresh `decoder`.
fn inflate(
    decoder: &mut Decoder,
    msg: &Compress<'_>,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let start = out.len();
    let mut chunk = [0u8; 2048];
    let mut inp = msg.buf;
    loop {
        let r = decoder.decode_bytes(inp, &mut chunk);
        inp = &inp[r.consumed_in..];
        let produced = out.len() - start + r.consumed_out;
        if produced > limit {
            out.truncate(start);
            return Err(DecodeError::TooLarge {
                what: "decompressed message",
                len: produced,
                limit,
            });
        }
        // Grow by doubling, but never past the limit: the buffer stays within `limit`.
        let need = out.len() + r.consumed_out;
        if need > out.capacity() {
            let target = need.max(out.capacity() * 2).min(start + limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..r.consumed_out]);
        match r.status {
            Ok(LzwStatus::Done) => return Ok(()),
            Ok(LzwStatus::Ok) if r.consumed_in + r.consumed_out > 0 => {}
            _ => {
                out.truncate(start);
                return Err(DecodeError::Decompress);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::decode_struct;

    #[test]
    fn small_message_is_byte_identical_to_go() {
        // Spec §15 G: compress(A), produced by Go 1.19.
        let a: &[u8] = &[
            0x00, 0x82, 0xa4, 0x4e, 0x6f, 0x64, 0x65, 0xa6, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x62,
            0xa5, 0x53, 0x65, 0x71, 0x4e, 0x6f, 0x01,
        ];
        let go: &[u8] = &[
            0x09, 0x82, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0x00, 0xa3, 0x42, 0x75, 0x66, 0xb8, 0x00,
            0x01, 0x08, 0x22, 0xe5, 0xe4, 0x0d, 0x99, 0x32, 0xa6, 0xdc, 0x18, 0x2c, 0xd3, 0x42,
            0x4c, 0xa9, 0x29, 0x65, 0xe2, 0x14, 0x0c, 0x10, 0x10,
        ];
        let mut lzw = Lzw::new();
        let mut out = [0u8; 64];
        let n = lzw.compress_message(a, &mut out).unwrap();
        assert_eq!(&out[..n], go);
        let (c, _) = decode_struct::<Compress<'_>>(&go[1..]).unwrap();
        let mut plain = Vec::new();
        lzw.decompress(&c, 1024, &mut plain).unwrap();
        assert_eq!(plain, a);
    }

    #[test]
    fn large_inputs_round_trip_with_str16_and_str32_headers() {
        let mut lzw = Lzw::new();
        for len in [1usize, 100, 5_000, 300_000] {
            let input: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut out = alloc::vec![0u8; len * 2 + 64];
            let n = lzw.compress_message(&input, &mut out).unwrap();
            let (c, used) = decode_struct::<Compress<'_>>(&out[1..n]).unwrap();
            assert_eq!(used, n - 1);
            let mut plain = Vec::new();
            lzw.decompress(&c, len, &mut plain).unwrap();
            assert_eq!(plain, input);
            // One byte under the size is refused, and nothing is kept.
            plain.clear();
            assert!(matches!(
                lzw.decompress(&c, len - 1, &mut plain),
                Err(DecodeError::TooLarge { .. })
            ));
            assert!(plain.is_empty());
        }
    }

    #[test]
    fn missing_end_code_and_unknown_algo_are_refused() {
        let mut lzw = Lzw::new();
        let mut raw = [0u8; 64];
        let n = lzw.compress_raw(b"hello hello hello", &mut raw).unwrap();
        let mut out = Vec::new();
        let cut = Compress {
            algo: 0,
            buf: &raw[..n - 2],
        };
        assert_eq!(
            lzw.decompress(&cut, 1 << 20, &mut out),
            Err(DecodeError::Decompress)
        );
        let other = Compress {
            algo: 1,
            buf: &raw[..n],
        };
        assert_eq!(
            lzw.decompress(&other, 1 << 20, &mut out),
            Err(DecodeError::UnknownCompression(1))
        );
        assert!(matches!(
            lzw.compress_raw(&[0u8; 1000], &mut [0u8; 4]),
            Err(EncodeError::BufferTooSmall { .. })
        ));
    }
}
