//! Errors of the wire layer. Decoding never changes any state: a [`DecodeError`] only says why
//! the bytes were refused.

use core::fmt;

/// Why bytes from the network could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a value. On a stream this can mean "not all bytes arrived yet".
    Truncated,
    /// The message type byte is not one memberlist defines.
    UnknownMessageType(u8),
    /// A message type that is valid, but not on this path (e.g. push/pull in a datagram).
    UnexpectedMessageType(u8),
    /// A message or compound part with no bytes at all.
    EmptyMessage,
    /// A value of the wrong msgpack type; `marker` is the byte found.
    InvalidType {
        /// The Go field being read.
        field: &'static str,
        /// The msgpack marker byte found instead.
        marker: u8,
    },
    /// An integer that is negative or too large for its field.
    IntegerOutOfRange {
        /// The Go field being read.
        field: &'static str,
    },
    /// A name that is not UTF-8.
    InvalidUtf8 {
        /// The Go field being read.
        field: &'static str,
    },
    /// An IP address that is neither 4 nor 16 bytes long.
    InvalidAddress {
        /// The Go field being read.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A length or count over the configured limit.
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The length or count found.
        len: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// A CRC header whose checksum does not match the rest of the packet.
    CrcMismatch {
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the bytes.
        actual: u32,
    },
    /// A `compress` message naming an algorithm other than LZW (0).
    UnknownCompression(u8),
    /// The LZW stream is corrupt or lacks its end code.
    Decompress,
    /// An encryption envelope version other than 0 and 1.
    UnknownEncryptionVersion(u8),
    /// No key in the keyring authenticates the message (wrong key, or tampered bytes).
    Decrypt,
    /// Encrypted data arrived, but no keyring is configured.
    NotEncryptionEnabled,
    /// A label header with a zero length.
    EmptyLabel,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("input ended inside a value"),
            Self::UnknownMessageType(t) => write!(f, "unknown message type {t}"),
            Self::UnexpectedMessageType(t) => write!(f, "message type {t} is not valid here"),
            Self::EmptyMessage => f.write_str("empty message"),
            Self::InvalidType { field, marker } => {
                write!(f, "{field}: unexpected msgpack marker {marker:#04x}")
            }
            Self::IntegerOutOfRange { field } => write!(f, "{field}: integer out of range"),
            Self::InvalidUtf8 { field } => write!(f, "{field}: not UTF-8"),
            Self::InvalidAddress { field, len } => {
                write!(f, "{field}: an IP address of {len} bytes")
            }
            Self::TooLarge { what, len, limit } => {
                write!(f, "{what} of {len} exceeds the limit of {limit}")
            }
            Self::CrcMismatch { expected, actual } => {
                write!(
                    f,
                    "CRC mismatch: header {expected:#010x}, data {actual:#010x}"
                )
            }
            Self::UnknownCompression(a) => write!(f, "unknown compression algorithm {a}"),
            Self::Decompress => f.write_str("corrupt LZW stream"),
            Self::UnknownEncryptionVersion(v) => write!(f, "unknown encryption version {v}"),
            Self::Decrypt => f.write_str("no installed key could decrypt the message"),
            Self::NotEncryptionEnabled => {
                f.write_str("encrypted message received but encryption is not configured")
            }
            Self::EmptyLabel => f.write_str("label header with an empty label"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small; `needed` is a lower bound on the size required.
    BufferTooSmall {
        /// At least this many bytes are needed.
        needed: usize,
    },
    /// A value is longer than the wire format or the protocol allows.
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length or count.
        len: usize,
        /// The largest allowed.
        limit: usize,
    },
    /// An empty compound part (Go 0.2.2 panics on one, spec §5.2).
    EmptyPart,
    /// What was written differs from what a header declared (push/pull node count or state
    /// length).
    CountMismatch {
        /// Declared in the header.
        declared: usize,
        /// Actually written.
        written: usize,
    },
    /// A label must be 1 to 255 bytes.
    InvalidLabel,
    /// An LZW encoder failure.
    Compress,
    /// The AEAD refused the input (not reachable with memberlist's sizes).
    Encrypt,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Self::TooLarge { what, len, limit } => {
                write!(f, "{what} of {len} exceeds the limit of {limit}")
            }
            Self::EmptyPart => f.write_str("empty compound part"),
            Self::CountMismatch { declared, written } => {
                write!(f, "header declares {declared}, {written} written")
            }
            Self::InvalidLabel => f.write_str("a label must be 1 to 255 bytes"),
            Self::Compress => f.write_str("LZW encoding failed"),
            Self::Encrypt => f.write_str("encryption failed"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// A key that is not 16, 24 or 32 bytes long, or a keyring change memberlist refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// AES keys are 16, 24 or 32 bytes.
    InvalidLength(usize),
    /// The key is not in the keyring.
    NotFound,
    /// The primary key cannot be removed; make another key primary first.
    RemovePrimary,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidLength(n) => write!(f, "key size {n} is not 16, 24 or 32 bytes"),
            Self::NotFound => f.write_str("key is not in the keyring"),
            Self::RemovePrimary => f.write_str("the primary key cannot be removed"),
        }
    }
}

impl core::error::Error for KeyError {}
