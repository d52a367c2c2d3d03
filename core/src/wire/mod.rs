//! The memberlist wire format (spec: `shared/spec/memberlist-wire.md`).
//!
//! Messages borrow from the bytes they were decoded from, and encode into a buffer the caller
//! provides, so neither direction allocates. Framing layers each have their own module, applied
//! in this order on a packet (outermost first): [`label`](strip_label), encryption
//! ([`Keyring`]), [`CRC`](strip_crc), [`compression`](Lzw), then the message or [`Compound`].

mod compound;
mod compress;
mod crc;
mod crypto;
mod error;
mod label;
mod message;
mod msgpack;
mod push_pull;
mod types;

pub use compound::{
    Compound, HEADER_OVERHEAD as COMPOUND_HEADER_OVERHEAD, MAX_PARTS as COMPOUND_MAX_PARTS,
    PART_OVERHEAD as COMPOUND_PART_OVERHEAD, Parts, compound_len, encode_compound,
};
pub use compress::{LZW_ALGO, LZW_DECODER_TABLES, LZW_ENCODER_TABLES, Lzw};
pub use crc::{CRC_OVERHEAD, encode_crc, seal_crc_in_place, strip_crc};
pub use crypto::{
    EncryptionVersion, Keyring, NONCE_LEN, STREAM_HEADER_LEN, SecretKey, TAG_LEN, stream_frame_len,
};
pub use error::{DecodeError, EncodeError, KeyError};
pub use label::{MAX_LABEL_LEN, encode_label, label_overhead, strip_label};
pub use message::{
    Ack, Alive, Compress, Dead, Encode, ErrResp, IndirectPing, Nack, Ping, PushNodeState,
    PushPullHeader, Suspect, UserMsg, UserStreamMsg,
};
pub use push_pull::{NodeStates, PushPull, PushPullParts, PushPullWriter, push_pull_len};
pub use types::{IpBytes, MessageType, NodeState, Vsn};

use crate::config::Limits;
use message::{UserMsgHeader, decode_struct};

/// A decoded message, borrowing from the input.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Message<'a> {
    /// Type 0.
    Ping(Ping<'a>),
    /// Type 1.
    IndirectPing(IndirectPing<'a>),
    /// Type 2.
    Ack(Ack<'a>),
    /// Type 3.
    Suspect(Suspect<'a>),
    /// Type 4.
    Alive(Alive<'a>),
    /// Type 5.
    Dead(Dead<'a>),
    /// Type 6 (streams only).
    PushPull(PushPull<'a>),
    /// Type 7 (packets only).
    Compound(Compound<'a>),
    /// Type 8: the application's bytes.
    User(&'a [u8]),
    /// Type 9: decompress with [`Lzw::decompress`] and decode the result.
    Compress(Compress<'a>),
    /// Type 11.
    Nack(Nack),
    /// Type 13 (streams only).
    Err(ErrResp<'a>),
}

impl Message<'_> {
    /// The message's type byte.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Ping(_) => MessageType::Ping,
            Self::IndirectPing(_) => MessageType::IndirectPing,
            Self::Ack(_) => MessageType::Ack,
            Self::Suspect(_) => MessageType::Suspect,
            Self::Alive(_) => MessageType::Alive,
            Self::Dead(_) => MessageType::Dead,
            Self::PushPull(_) => MessageType::PushPull,
            Self::Compound(_) => MessageType::Compound,
            Self::User(_) => MessageType::User,
            Self::Compress(_) => MessageType::Compress,
            Self::Nack(_) => MessageType::Nack,
            Self::Err(_) => MessageType::Err,
        }
    }
}

fn split_type(buf: &[u8]) -> Result<(MessageType, &[u8]), DecodeError> {
    let (&t, body) = buf.split_first().ok_or(DecodeError::EmptyMessage)?;
    Ok((MessageType::try_from(t)?, body))
}

/// Decodes one message from a datagram, after the label, encryption and CRC layers have been
/// removed (and for each compound part and decompressed payload). Bytes after the message are
/// ignored, as Go does. Stream-only types (push/pull, err, encrypt) and framing types (CRC,
/// label) are refused: in a datagram Go drops them.
pub fn decode_packet(buf: &[u8]) -> Result<Message<'_>, DecodeError> {
    let (t, body) = split_type(buf)?;
    Ok(match t {
        MessageType::Ping => Message::Ping(decode_struct(body)?.0),
        MessageType::IndirectPing => Message::IndirectPing(decode_struct(body)?.0),
        MessageType::Ack => Message::Ack(decode_struct(body)?.0),
        MessageType::Suspect => Message::Suspect(decode_struct(body)?.0),
        MessageType::Alive => Message::Alive(decode_struct(body)?.0),
        MessageType::Dead => Message::Dead(decode_struct(body)?.0),
        MessageType::Nack => Message::Nack(decode_struct(body)?.0),
        MessageType::Compound => Message::Compound(Compound::decode_body(body)?),
        MessageType::Compress => Message::Compress(decode_struct(body)?.0),
        MessageType::User => Message::User(body),
        MessageType::PushPull
        | MessageType::Encrypt
        | MessageType::HasCrc
        | MessageType::Err
        | MessageType::HasLabel => return Err(DecodeError::UnexpectedMessageType(t as u8)),
    })
}

/// Decodes one message from the start of a stream's bytes (after the label and encryption
/// layers), returning it and the number of bytes it took.
///
/// [`DecodeError::Truncated`] means the bytes end inside the message: on a stream, read more
/// and try again (lengths are checked against `limits` first, so a peer cannot make the caller
/// wait for or buffer more than the limits allow). Streams carry ping, ack, push/pull, user
/// messages, compress (one level) and err; other types are refused.
pub fn decode_stream<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<(Message<'a>, usize), DecodeError> {
    let (t, body) = split_type(buf)?;
    let (msg, used) = match t {
        MessageType::Ping => decode_struct(body).map(|(m, n)| (Message::Ping(m), n))?,
        MessageType::Ack => decode_struct(body).map(|(m, n)| (Message::Ack(m), n))?,
        MessageType::Err => decode_struct(body).map(|(m, n)| (Message::Err(m), n))?,
        MessageType::Compress => decode_struct(body).map(|(m, n)| (Message::Compress(m), n))?,
        MessageType::PushPull => {
            PushPull::decode_body(body, limits).map(|(m, n)| (Message::PushPull(m), n))?
        }
        MessageType::User => {
            let (header, n) = decode_struct::<UserMsgHeader>(body)?;
            let len = header.user_msg_len as usize;
            if len > limits.max_user_msg {
                return Err(DecodeError::TooLarge {
                    what: "user message",
                    len,
                    limit: limits.max_user_msg,
                });
            }
            let end = n.checked_add(len).ok_or(DecodeError::Truncated)?;
            let payload = body.get(n..end).ok_or(DecodeError::Truncated)?;
            (Message::User(payload), end)
        }
        _ => return Err(DecodeError::UnexpectedMessageType(t as u8)),
    };
    Ok((msg, 1 + used))
}

#[cfg(test)]
mod tests;
