//! The subset of MessagePack that memberlist speaks, written the way go-msgpack 0.5.5 writes it.
//!
//! Encoding is hand-written because byte identity with Go needs forms no general encoder picks
//! (strings without `str8`, byte slices as strings, `nil` for empty slices; spec §3.1). Decoding
//! classifies markers with [`rmp::Marker`] and is lenient the way Go's decoder is (spec §3.2):
//! any integer width, `str` or `bin`, `nil` for any field, unknown keys skipped, structs as maps
//! or as positional arrays.

use rmp::Marker;

use super::error::{DecodeError, EncodeError};

/// Writes msgpack values into a caller-provided slice, never past its end.
#[derive(Debug)]
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Claims the next `n` bytes of the buffer: one bounds check for a whole value.
    #[inline]
    fn claim(&mut self, n: usize) -> Result<&mut [u8], EncodeError> {
        let end = self.pos + n;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall { needed: end })?;
        self.pos = end;
        Ok(dst)
    }

    #[inline]
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.claim(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) -> Result<(), EncodeError> {
        let dst = self
            .buf
            .get_mut(self.pos)
            .ok_or(EncodeError::BufferTooSmall {
                needed: self.pos + 1,
            })?;
        *dst = b;
        self.pos += 1;
        Ok(())
    }

    /// A marker byte and the bytes after it.
    #[inline]
    fn marked(&mut self, marker: u8, bytes: &[u8]) -> Result<(), EncodeError> {
        let (m, rest) = self.claim(1 + bytes.len())?.split_at_mut(1);
        m[0] = marker;
        rest.copy_from_slice(bytes);
        Ok(())
    }

    /// A map header; memberlist structs have at most 8 fields, so always a fixmap.
    #[inline]
    pub(crate) fn map(&mut self, len: u8) -> Result<(), EncodeError> {
        debug_assert!(len <= 15);
        self.byte(Marker::FixMap(len).to_u8())
    }

    /// A map key: a field name, always a short fixstr. Always inlined, so that the name is a
    /// constant and its bytes are stored without a call to `memcpy`.
    #[inline(always)]
    pub(crate) fn key(&mut self, name: &str) -> Result<(), EncodeError> {
        debug_assert!(name.len() <= 31);
        self.marked(Marker::FixStr(name.len() as u8).to_u8(), name.as_bytes())
    }

    /// A string or byte slice as go-msgpack writes both: fixstr, str16 or str32, never str8.
    #[inline]
    pub(crate) fn str(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = bytes.len();
        if len <= 31 {
            return self.marked(Marker::FixStr(len as u8).to_u8(), bytes);
        }
        if let Ok(l) = u16::try_from(len) {
            let [a, b] = l.to_be_bytes();
            self.raw(&[Marker::Str16.to_u8(), a, b])?;
        } else {
            let l = u32::try_from(len).map_err(|_| EncodeError::TooLarge {
                what: "string",
                len,
                limit: u32::MAX as usize,
            })?;
            self.byte(Marker::Str32.to_u8())?;
            self.raw(&l.to_be_bytes())?;
        }
        self.raw(bytes)
    }

    /// A Go `[]byte`: `nil` when empty (Go's nil slice), otherwise a string.
    #[inline]
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        if bytes.is_empty() {
            self.byte(Marker::Null.to_u8())
        } else {
            self.str(bytes)
        }
    }

    /// An unsigned integer in its smallest unsigned form, as go-msgpack 0.5.5 writes every
    /// integer that is not negative.
    #[inline]
    pub(crate) fn uint(&mut self, v: u64) -> Result<(), EncodeError> {
        if v <= 0x7f {
            self.byte(v as u8)
        } else if v <= u64::from(u8::MAX) {
            self.raw(&[Marker::U8.to_u8(), v as u8])
        } else if v <= u64::from(u16::MAX) {
            let b = (v as u16).to_be_bytes();
            self.raw(&[Marker::U16.to_u8(), b[0], b[1]])
        } else if v <= u64::from(u32::MAX) {
            let b = (v as u32).to_be_bytes();
            self.raw(&[Marker::U32.to_u8(), b[0], b[1], b[2], b[3]])
        } else {
            self.byte(Marker::U64.to_u8())?;
            self.raw(&v.to_be_bytes())
        }
    }

    #[inline]
    pub(crate) fn bool(&mut self, v: bool) -> Result<(), EncodeError> {
        self.byte(if v { Marker::True } else { Marker::False }.to_u8())
    }
}

/// Encoded length of a string or non-empty byte slice.
#[inline]
pub(crate) const fn str_len(len: usize) -> usize {
    if len <= 31 {
        1 + len
    } else if len <= u16::MAX as usize {
        3 + len
    } else {
        5 + len
    }
}

/// Encoded length of a Go `[]byte` (`nil` when empty).
#[inline]
pub(crate) const fn bytes_len(len: usize) -> usize {
    if len == 0 { 1 } else { str_len(len) }
}

/// Encoded length of a map key.
#[inline]
pub(crate) const fn key_len(name: &str) -> usize {
    1 + name.len()
}

/// Encoded length of an unsigned integer.
#[inline]
pub(crate) const fn uint_len(v: u64) -> usize {
    if v <= 0x7f {
        1
    } else if v <= u8::MAX as u64 {
        2
    } else if v <= u16::MAX as u64 {
        3
    } else if v <= u32::MAX as u64 {
        5
    } else {
        9
    }
}

/// Reads msgpack values from a borrowed slice.
///
/// The unread bytes are kept as a shrinking slice rather than a buffer and an index, so every
/// read is a single length check. Each reader of a value tries the form go-msgpack writes first
/// (positive fixint, fixstr, fixmap) with a byte-range test, and only then classifies the marker
/// in full: the lenient forms cost nothing on the common path.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    len: usize,
}

/// The shape of a struct on the wire.
enum StructForm {
    Map(u32),
    Array(u32),
    Nil,
}

/// Positive fixint markers: the value is the byte.
const FIXPOS_MAX: u8 = 0x7f;
/// The unsigned integer markers, for byte patterns.
const U8: u8 = Marker::U8.to_u8();
const U16: u8 = Marker::U16.to_u8();
const U32: u8 = Marker::U32.to_u8();

/// True for a fixstr marker (`0xa0..=0xbf`, length in the low 5 bits).
#[inline]
const fn is_fixstr(b: u8) -> bool {
    b & 0xe0 == 0xa0
}

/// [`SCALAR_LEN`] of a marker that is not a fixed-size scalar.
const NOT_SCALAR: u8 = u8::MAX;

/// For each marker byte, the bytes that follow it if it is a scalar whose size the marker
/// alone gives (ints, floats, nil, bools, fixstr, fixext), else [`NOT_SCALAR`] (containers and
/// length-prefixed values). Lets [`Reader::skip`] pass most values with one lookup.
const SCALAR_LEN: [u8; 256] = {
    let mut table = [NOT_SCALAR; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match Marker::from_u8(b as u8) {
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::Null
            | Marker::True
            | Marker::False
            | Marker::Reserved => 0,
            Marker::U8 | Marker::I8 => 1,
            Marker::U16 | Marker::I16 => 2,
            Marker::U32 | Marker::I32 | Marker::F32 => 4,
            Marker::U64 | Marker::I64 | Marker::F64 => 8,
            Marker::FixStr(n) => n,
            Marker::FixExt1 => 2,
            Marker::FixExt2 => 3,
            Marker::FixExt4 => 5,
            Marker::FixExt8 => 9,
            Marker::FixExt16 => 17,
            _ => NOT_SCALAR,
        };
        b += 1;
    }
    table
};

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            rest: buf,
            len: buf.len(),
        }
    }

    pub(crate) fn position(&self) -> usize {
        self.len - self.rest.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The unread rest of the input.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (s, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(s)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    /// The next byte if it satisfies `pred`, consumed; otherwise nothing is consumed.
    #[inline]
    fn u8_if(&mut self, pred: impl FnOnce(u8) -> bool) -> Option<u8> {
        match self.rest.split_first() {
            Some((&b, rest)) if pred(b) => {
                self.rest = rest;
                Some(b)
            }
            _ => None,
        }
    }

    #[inline]
    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (a, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*a)
    }

    /// Runs `read` on the unread input and, if it returns a value and the input after it,
    /// consumes up to there; on `None` nothing is consumed. For fast paths that read the
    /// forms go-msgpack writes straight from the slice (see [`go_form`]).
    #[inline(always)]
    pub(crate) fn read_with<T>(
        &mut self,
        read: impl FnOnce(&'a [u8]) -> Option<(T, &'a [u8])>,
    ) -> Option<T> {
        let (v, rest) = read(self.rest)?;
        self.rest = rest;
        Some(v)
    }

    #[inline]
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.be()?))
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.be()?))
    }

    #[inline]
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.be()?))
    }

    #[inline]
    fn marker(&mut self) -> Result<(u8, Marker), DecodeError> {
        let b = self.u8()?;
        Ok((b, Marker::from_u8(b)))
    }

    /// An integer of any width or signedness (Go accepts all of them, spec §3.2), as i128 so
    /// that every msgpack integer fits; `nil` reads as 0.
    fn int(&mut self, field: &'static str) -> Result<i128, DecodeError> {
        let (b, m) = self.marker()?;
        Ok(match m {
            Marker::FixPos(v) => i128::from(v),
            Marker::FixNeg(v) => i128::from(v),
            Marker::Null => 0,
            Marker::U8 => i128::from(self.u8()?),
            Marker::U16 => i128::from(self.u16()?),
            Marker::U32 => i128::from(self.u32()?),
            Marker::U64 => i128::from(self.u64()?),
            Marker::I8 => i128::from(self.u8()? as i8),
            Marker::I16 => i128::from(self.u16()? as i16),
            Marker::I32 => i128::from(self.u32()? as i32),
            Marker::I64 => i128::from(self.u64()? as i64),
            _ => return Err(DecodeError::InvalidType { field, marker: b }),
        })
    }

    /// An unsigned integer that must fit `T` (negative or too large is an error, as in Go).
    #[inline]
    pub(crate) fn uint<T: TryFrom<i128>>(&mut self, field: &'static str) -> Result<T, DecodeError> {
        // The forms go-msgpack writes for memberlist's fields (fixint, uint8/16/32), inline;
        // every other form, and a truncated one, through `int`.
        let (v, rest) = match *self.rest {
            [b @ 0..=FIXPOS_MAX, ref rest @ ..] => (u32::from(b), rest),
            [U8, b, ref rest @ ..] => (u32::from(b), rest),
            [U16, b0, b1, ref rest @ ..] => (u32::from(u16::from_be_bytes([b0, b1])), rest),
            [U32, b0, b1, b2, b3, ref rest @ ..] => (u32::from_be_bytes([b0, b1, b2, b3]), rest),
            _ => {
                let v = self.int(field)?;
                return T::try_from(v).map_err(|_| DecodeError::IntegerOutOfRange { field });
            }
        };
        self.rest = rest;
        T::try_from(i128::from(v)).map_err(|_| DecodeError::IntegerOutOfRange { field })
    }

    /// A bool: `true`/`false`, `nil`, or the integers 0 and 1.
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let (b, m) = self.marker()?;
        match m {
            Marker::True | Marker::FixPos(1) => Ok(true),
            Marker::False | Marker::FixPos(0) | Marker::Null => Ok(false),
            _ => Err(DecodeError::InvalidType { field, marker: b }),
        }
    }

    /// A string or byte slice: any str or bin form, or `nil` (empty).
    #[inline]
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let b = self.u8()?;
        if is_fixstr(b) {
            return self.take(usize::from(b & 0x1f));
        }
        self.bytes_slow(b, field)
    }

    /// [`Reader::bytes`] for every form but fixstr; `b` is the marker, already consumed.
    fn bytes_slow(&mut self, b: u8, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = match Marker::from_u8(b) {
            Marker::Null => return Ok(&[]),
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 | Marker::Bin8 => usize::from(self.u8()?),
            Marker::Str16 | Marker::Bin16 => usize::from(self.u16()?),
            Marker::Str32 | Marker::Bin32 => self.u32()? as usize,
            _ => return Err(DecodeError::InvalidType { field, marker: b }),
        };
        self.take(len)
    }

    /// A string that must be UTF-8 (rumor's names are Rust strings).
    #[inline]
    pub(crate) fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.bytes(field)?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// A short byte array (an address or a version vector) into `out`: a str/bin form, or a
    /// msgpack array of small integers, which Go also accepts for `[]byte` (spec §3.2, T04).
    /// Returns the number of bytes the value held; only the first `out.len()` are kept.
    #[inline]
    pub(crate) fn small_bytes(
        &mut self,
        field: &'static str,
        out: &mut [u8],
    ) -> Result<usize, DecodeError> {
        let is_array = |b| {
            matches!(
                Marker::from_u8(b),
                Marker::FixArray(_) | Marker::Array16 | Marker::Array32
            )
        };
        let Some(b) = self.u8_if(is_array) else {
            let s = self.bytes(field)?;
            let k = s.len().min(out.len());
            out[..k].copy_from_slice(&s[..k]);
            return Ok(s.len());
        };
        let n = match Marker::from_u8(b) {
            Marker::FixArray(n) => u32::from(n),
            Marker::Array16 => u32::from(self.u16()?),
            _ => self.u32()?,
        };
        for i in 0..n as usize {
            let v: u8 = self.uint(field)?;
            if let Some(slot) = out.get_mut(i) {
                *slot = v;
            }
        }
        Ok(n as usize)
    }

    #[inline]
    fn struct_form(&mut self) -> Result<StructForm, DecodeError> {
        if let Some(b) = self.u8_if(|b| matches!(Marker::from_u8(b), Marker::FixMap(_))) {
            return Ok(StructForm::Map(u32::from(b & 0x0f)));
        }
        let (b, m) = self.marker()?;
        Ok(match m {
            Marker::FixMap(n) => StructForm::Map(u32::from(n)),
            Marker::Map16 => StructForm::Map(u32::from(self.u16()?)),
            Marker::Map32 => StructForm::Map(self.u32()?),
            Marker::FixArray(n) => StructForm::Array(u32::from(n)),
            Marker::Array16 => StructForm::Array(u32::from(self.u16()?)),
            Marker::Array32 => StructForm::Array(self.u32()?),
            Marker::Null => StructForm::Nil,
            _ => {
                return Err(DecodeError::InvalidType {
                    field: "struct",
                    marker: b,
                });
            }
        })
    }

    /// Skips one value of any type, nested ones included, without recursion: a hostile
    /// nesting depth costs a counter, not the stack.
    pub(crate) fn skip(&mut self) -> Result<(), DecodeError> {
        // A copy of the cursor that can live in registers; written back on success.
        let mut r = self.clone();
        r.skip_inner()?;
        *self = r;
        Ok(())
    }

    fn skip_inner(&mut self) -> Result<(), DecodeError> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let b = self.u8()?;
            // Scalars of a size the marker gives (most of what a struct holds): one lookup.
            let fixed = SCALAR_LEN[usize::from(b)];
            if fixed != NOT_SCALAR {
                self.take(usize::from(fixed))?;
                continue;
            }
            let (data, children): (usize, u64) = match Marker::from_u8(b) {
                Marker::Str8 | Marker::Bin8 => (usize::from(self.u8()?), 0),
                Marker::Str16 | Marker::Bin16 => (usize::from(self.u16()?), 0),
                Marker::Str32 | Marker::Bin32 => (self.u32()? as usize, 0),
                Marker::Ext8 => (1 + usize::from(self.u8()?), 0),
                Marker::Ext16 => (1 + usize::from(self.u16()?), 0),
                Marker::Ext32 => ((self.u32()? as usize).saturating_add(1), 0),
                Marker::FixArray(n) => (0, u64::from(n)),
                Marker::Array16 => (0, u64::from(self.u16()?)),
                Marker::Array32 => (0, u64::from(self.u32()?)),
                Marker::FixMap(n) => (0, 2 * u64::from(n)),
                Marker::Map16 => (0, 2 * u64::from(self.u16()?)),
                Marker::Map32 => (0, 2 * u64::from(self.u32()?)),
                // Every other marker is in `SCALAR_LEN`.
                _ => (0, 0),
            };
            self.take(data)?;
            pending += children;
            // Every pending value needs at least one byte: fail fast on inflated counts.
            if pending > self.remaining() as u64 {
                return Err(DecodeError::Truncated);
            }
        }
        Ok(())
    }

    /// Decodes one struct, as a map keyed by Go field name or as an array in Go declaration
    /// order; unknown keys and extra array items are skipped, missing fields keep defaults.
    pub(crate) fn decode_struct<T: Fields<'a>>(&mut self) -> Result<T, DecodeError> {
        let mut value = T::default();
        let (n, keyed) = match self.struct_form()? {
            StructForm::Nil => return Ok(value),
            StructForm::Map(n) => (n, true),
            StructForm::Array(n) => (n, false),
        };
        for i in 0..n as usize {
            // One call site for `set`, so that it is inlined here.
            let field = if keyed {
                let key = self.bytes("key")?;
                T::FIELDS.iter().position(|f| f.as_bytes() == key)
            } else {
                Some(i).filter(|&i| i < T::FIELDS.len())
            };
            match field {
                Some(f) => value.set(f, self)?,
                None => self.skip()?,
            }
        }
        Ok(value)
    }
}

/// Readers of the exact forms go-msgpack writes, on a bare slice: each returns the value and
/// the input after it, or `None` for any other form (which the general [`Reader`] then reads
/// or refuses). Always inlined, so that a fast path is one function with the slice in
/// registers.
pub(crate) mod go_form {
    /// `key` (marker included) at the start of `s`: one fixed-size comparison.
    #[inline(always)]
    pub(crate) fn key<'a, const N: usize>(s: &'a [u8], key: &[u8; N]) -> Option<&'a [u8]> {
        match s.split_first_chunk::<N>() {
            Some((k, rest)) if k == key => Some(rest),
            _ => None,
        }
    }

    /// A fixstr, or `nil` as empty (Go's nil `[]byte`).
    #[inline(always)]
    pub(crate) fn bytes(s: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&m, rest) = s.split_first()?;
        if m == 0xc0 {
            return Some((&[], rest));
        }
        if m & 0xe0 != 0xa0 {
            return None;
        }
        rest.split_at_checked(usize::from(m & 0x1f))
    }

    /// An unsigned integer as go-msgpack writes one: fixint, uint8, uint16 or uint32.
    #[inline(always)]
    pub(crate) fn uint(s: &[u8]) -> Option<(u32, &[u8])> {
        Some(match *s {
            [b @ 0..=0x7f, ref rest @ ..] => (u32::from(b), rest),
            [0xcc, b, ref rest @ ..] => (u32::from(b), rest),
            [0xcd, b0, b1, ref rest @ ..] => (u32::from(u16::from_be_bytes([b0, b1])), rest),
            [0xce, b0, b1, b2, b3, ref rest @ ..] => (u32::from_be_bytes([b0, b1, b2, b3]), rest),
            _ => return None,
        })
    }
}

/// A memberlist struct as the decoder sees it.
pub(crate) trait Fields<'a>: Default {
    /// Go field names in Go declaration order (the order of the array form).
    const FIELDS: &'static [&'static str];
    /// Reads the value of field `index` (an index into [`Self::FIELDS`]).
    fn set(&mut self, index: usize, r: &mut Reader<'a>) -> Result<(), DecodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_never_use_str8() {
        let mut buf = [0u8; 64];
        let s = [b'x'; 39];
        let mut w = Writer::new(&mut buf);
        w.str(&s).unwrap();
        assert_eq!(&buf[..3], &[0xda, 0x00, 39]);
        assert_eq!(str_len(39), 42);
    }

    #[test]
    fn uint_forms_match_go() {
        for (v, want) in [
            (0u64, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (7946, &[0xcd, 0x1f, 0x0a]),
            (70000, &[0xce, 0x00, 0x01, 0x11, 0x70]),
            (1 << 40, &[0xcf, 0, 0, 1, 0, 0, 0, 0, 0]),
        ] {
            let mut buf = [0u8; 16];
            let mut w = Writer::new(&mut buf);
            w.uint(v).unwrap();
            let n = w.position();
            assert_eq!(&buf[..n], want, "{v}");
            assert_eq!(uint_len(v), want.len());
        }
    }

    #[test]
    fn writer_refuses_to_overflow() {
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            w.str(b"abcd"),
            Err(EncodeError::BufferTooSmall { needed: 5 })
        );
    }

    #[test]
    fn ints_of_every_width_are_accepted() {
        let cases: &[(&[u8], i128)] = &[
            (&[0x05], 5),
            (&[0xff], -1),
            (&[0xc0], 0),
            (&[0xd1, 0x00, 0xc8], 200),
            (&[0xd2, 0x00, 0x00, 0x9c, 0x40], 40000),
            (&[0xcf, 0, 0, 0, 0, 0, 0, 0, 3], 3),
            (&[0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], -2),
        ];
        for (bytes, want) in cases {
            assert_eq!(Reader::new(bytes).int("x").unwrap(), *want);
        }
        assert_eq!(
            Reader::new(&[0xff]).uint::<u32>("x"),
            Err(DecodeError::IntegerOutOfRange { field: "x" })
        );
        assert_eq!(
            Reader::new(&[0xce, 0, 1, 0, 0]).uint::<u16>("x"),
            Err(DecodeError::IntegerOutOfRange { field: "x" })
        );
        assert!(matches!(
            Reader::new(&[0xca, 0, 0, 0, 0]).uint::<u32>("x"),
            Err(DecodeError::InvalidType { .. })
        ));
    }

    #[test]
    fn skip_handles_nesting_without_recursion() {
        // 10,000 nested single-element arrays around a nil.
        let mut v = alloc::vec![0x91u8; 10_000];
        v.push(0xc0);
        v.push(0x07);
        let mut r = Reader::new(&v);
        r.skip().unwrap();
        assert_eq!(r.rest(), &[0x07]);
        // An array claiming 2^32-1 items in a short buffer fails fast.
        let mut r = Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]);
        assert_eq!(r.skip(), Err(DecodeError::Truncated));
    }
}
