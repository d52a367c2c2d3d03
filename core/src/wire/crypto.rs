//! AES-GCM encryption of packets and stream frames (spec §7), and the keyring.
//!
//! Envelope: `VV N0..N11 CIPHERTEXT TAG(16)`. Version 0 pads the plaintext with PKCS#7 (sent by
//! nodes speaking protocol version 1); version 1 does not (protocol version ≥ 2). Packets carry
//! the bare envelope with the label as AAD; stream frames are `0a LL LL LL LL envelope` with
//! those 5 bytes followed by the label as AAD.

use alloc::vec::Vec;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aes::Aes192;
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, AesGcm, KeyInit, Nonce, Tag};

use super::error::{DecodeError, EncodeError, KeyError};
use super::label::MAX_LABEL_LEN;
use super::types::MessageType;

type Aes192Gcm = AesGcm<Aes192, U12>;

/// Bytes of the random nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of the GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes of the stream frame header: `0a` and a u32 length.
pub const STREAM_HEADER_LEN: usize = 5;
/// AES block size, for version 0 padding.
const BLOCK: usize = 16;

/// The envelope version (spec §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionVersion {
    /// AES-GCM over a PKCS#7-padded plaintext; sent when speaking protocol version 1.
    V0 = 0,
    /// AES-GCM, no padding; sent when speaking protocol version 2 or later.
    V1 = 1,
}

impl EncryptionVersion {
    /// The version a node speaking `protocol_version` sends (memberlist's `encryptionVersion`).
    pub const fn for_protocol(protocol_version: u8) -> Self {
        if protocol_version <= 1 {
            Self::V0
        } else {
            Self::V1
        }
    }

    /// Bytes the envelope adds at most: version, nonce, padding (v0) and tag.
    pub const fn overhead(self) -> usize {
        match self {
            Self::V0 => 1 + NONCE_LEN + BLOCK + TAG_LEN,
            Self::V1 => 1 + NONCE_LEN + TAG_LEN,
        }
    }

    /// Exact envelope length for a plaintext of `len` bytes (Go's `encryptedLength`).
    pub const fn encrypted_len(self, len: usize) -> usize {
        match self {
            Self::V0 => 1 + NONCE_LEN + len + (BLOCK - len % BLOCK) + TAG_LEN,
            Self::V1 => 1 + NONCE_LEN + len + TAG_LEN,
        }
    }
}

/// An AES key of 16, 24 or 32 bytes (AES-128, -192, -256).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    bytes: [u8; 32],
    len: u8,
}

impl SecretKey {
    /// Checks the length.
    pub fn new(key: &[u8]) -> Result<Self, KeyError> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(KeyError::InvalidLength(key.len()));
        }
        let mut bytes = [0u8; 32];
        bytes[..key.len()].copy_from_slice(key);
        Ok(Self {
            bytes,
            len: key.len() as u8,
        })
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretKey(AES-{})", usize::from(self.len) * 8)
    }
}

/// A key with its expanded cipher, built once.
#[derive(Clone)]
enum Cipher {
    A128(Aes128Gcm),
    A192(Aes192Gcm),
    A256(Aes256Gcm),
}

impl Cipher {
    fn new(key: &SecretKey) -> Self {
        fn array<const N: usize>(b: &[u8; 32]) -> [u8; N] {
            let mut a = [0u8; N];
            a.copy_from_slice(&b[..N]);
            a
        }
        match key.len {
            16 => Self::A128(Aes128Gcm::new(&array::<16>(&key.bytes).into())),
            24 => Self::A192(Aes192Gcm::new(&array::<24>(&key.bytes).into())),
            _ => Self::A256(Aes256Gcm::new(&key.bytes.into())),
        }
    }

    fn seal(&self, nonce: &Nonce<U12>, aad: &[u8], buf: &mut [u8]) -> Result<Tag, EncodeError> {
        let buf = InOutBuf::from(buf);
        match self {
            Self::A128(c) => c.encrypt_inout_detached(nonce, aad, buf),
            Self::A192(c) => c.encrypt_inout_detached(nonce, aad, buf),
            Self::A256(c) => c.encrypt_inout_detached(nonce, aad, buf),
        }
        .map_err(|_| EncodeError::Encrypt)
    }

    fn open(&self, nonce: &Nonce<U12>, aad: &[u8], ct: &[u8], out: &mut [u8], tag: &Tag) -> bool {
        let Ok(buf) = InOutBuf::new(ct, out) else {
            return false;
        };
        match self {
            Self::A128(c) => c.decrypt_inout_detached(nonce, aad, buf, tag),
            Self::A192(c) => c.decrypt_inout_detached(nonce, aad, buf, tag),
            Self::A256(c) => c.decrypt_inout_detached(nonce, aad, buf, tag),
        }
        .is_ok()
    }
}

/// The keys a node encrypts and decrypts with (spec §7.1): the first is the primary, used to
/// encrypt; decryption tries every key in order.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(SecretKey, Cipher)>,
}

impl core::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Keyring {
    /// A keyring holding `primary`.
    pub fn new(primary: SecretKey) -> Self {
        let cipher = Cipher::new(&primary);
        Self {
            keys: alloc::vec![(primary, cipher)],
        }
    }

    /// The key used to encrypt.
    pub fn primary(&self) -> &SecretKey {
        &self.keys[0].0
    }

    /// Every key, primary first.
    pub fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        self.keys.iter().map(|(k, _)| k)
    }

    /// Installs a key for decryption (no-op if present), like memberlist's `AddKey`.
    pub fn add(&mut self, key: SecretKey) {
        if !self.keys.iter().any(|(k, _)| *k == key) {
            let cipher = Cipher::new(&key);
            self.keys.push((key, cipher));
        }
    }

    /// Makes an installed key the primary, like memberlist's `UseKey`.
    pub fn use_key(&mut self, key: &SecretKey) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|(k, _)| k == key)
            .ok_or(KeyError::NotFound)?;
        self.keys[..=i].rotate_right(1);
        Ok(())
    }

    /// Removes a key that is not the primary, like memberlist's `RemoveKey`.
    pub fn remove(&mut self, key: &SecretKey) -> Result<(), KeyError> {
        let i = self
            .keys
            .iter()
            .position(|(k, _)| k == key)
            .ok_or(KeyError::NotFound)?;
        if i == 0 {
            return Err(KeyError::RemovePrimary);
        }
        self.keys.remove(i);
        Ok(())
    }

    /// Encrypts `plaintext` with the primary key into an envelope in `out`; returns its length.
    /// `aad` is the label for packets (empty without one).
    pub fn seal(
        &self,
        version: EncryptionVersion,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let total = version.encrypted_len(plaintext.len());
        let out = out
            .get_mut(..total)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
        out[1 + NONCE_LEN..1 + NONCE_LEN + plaintext.len()].copy_from_slice(plaintext);
        self.seal_in_place(version, nonce, plaintext.len(), aad, out)
    }

    /// Like [`Keyring::seal`], with the plaintext already at `buf[13..13 + len]` (so a sender
    /// can build the message where the envelope needs it and skip a copy).
    pub fn seal_in_place(
        &self,
        version: EncryptionVersion,
        nonce: [u8; NONCE_LEN],
        len: usize,
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let total = version.encrypted_len(len);
        let buf = buf
            .get_mut(..total)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
        buf[0] = version as u8;
        buf[1..1 + NONCE_LEN].copy_from_slice(&nonce);
        let body_end = total - TAG_LEN;
        if version == EncryptionVersion::V0 {
            let pad = body_end - (1 + NONCE_LEN + len);
            buf[1 + NONCE_LEN + len..body_end].fill(pad as u8);
        }
        let nonce = Nonce::<U12>::from(nonce);
        let tag = self.keys[0]
            .1
            .seal(&nonce, aad, &mut buf[1 + NONCE_LEN..body_end])?;
        buf[body_end..].copy_from_slice(&tag);
        Ok(total)
    }

    /// Decrypts an envelope with the first key that authenticates it, writing the plaintext
    /// into `out` (which needs the envelope's length less 29 bytes) and returning its length.
    pub fn open(&self, envelope: &[u8], aad: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
        let (&v, _) = envelope.split_first().ok_or(DecodeError::Truncated)?;
        let version = match v {
            0 => EncryptionVersion::V0,
            1 => EncryptionVersion::V1,
            v => return Err(DecodeError::UnknownEncryptionVersion(v)),
        };
        if envelope.len() < version.encrypted_len(0) {
            return Err(DecodeError::Truncated);
        }
        let nonce = Nonce::<U12>::from(
            <[u8; NONCE_LEN]>::try_from(&envelope[1..1 + NONCE_LEN])
                .map_err(|_| DecodeError::Truncated)?,
        );
        let (ct, tag) =
            envelope[1 + NONCE_LEN..].split_at(envelope.len() - 1 - NONCE_LEN - TAG_LEN);
        let tag = Tag::try_from(tag).map_err(|_| DecodeError::Truncated)?;
        let room = out.len();
        let out = out.get_mut(..ct.len()).ok_or(DecodeError::TooLarge {
            what: "encrypted message",
            len: ct.len(),
            limit: room,
        })?;
        if !self
            .keys
            .iter()
            .any(|(_, c)| c.open(&nonce, aad, ct, out, &tag))
        {
            return Err(DecodeError::Decrypt);
        }
        match version {
            EncryptionVersion::V1 => Ok(ct.len()),
            // Go trusts the last byte without checking the others (spec §7.2).
            EncryptionVersion::V0 => {
                let pad = usize::from(out[ct.len() - 1]);
                ct.len().checked_sub(pad).ok_or(DecodeError::Decrypt)
            }
        }
    }

    /// Encrypts a stream message into an `encryptMsg` frame in `out`; returns its length.
    pub fn seal_stream(
        &self,
        version: EncryptionVersion,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        label: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let body = version.encrypted_len(plaintext.len());
        let body32 = u32::try_from(body).map_err(|_| EncodeError::TooLarge {
            what: "encrypted stream frame",
            len: body,
            limit: u32::MAX as usize,
        })?;
        if out.len() < STREAM_HEADER_LEN + body {
            return Err(EncodeError::BufferTooSmall {
                needed: STREAM_HEADER_LEN + body,
            });
        }
        out[0] = MessageType::Encrypt as u8;
        out[1..STREAM_HEADER_LEN].copy_from_slice(&body32.to_be_bytes());
        let mut aad = [0u8; STREAM_HEADER_LEN + MAX_LABEL_LEN];
        let aad = stream_aad(&mut aad, &out[..STREAM_HEADER_LEN], label)
            .ok_or(EncodeError::InvalidLabel)?;
        let n = self.seal(
            version,
            nonce,
            plaintext,
            aad,
            &mut out[STREAM_HEADER_LEN..],
        )?;
        Ok(STREAM_HEADER_LEN + n)
    }

    /// Decrypts a complete `encryptMsg` frame (see [`stream_frame_len`]) into `out`; returns
    /// the plaintext length. The plaintext starts with the inner message's type byte.
    pub fn open_stream(
        &self,
        frame: &[u8],
        label: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DecodeError> {
        let total = stream_frame_len(frame, usize::MAX)?.ok_or(DecodeError::Truncated)?;
        let frame = frame.get(..total).ok_or(DecodeError::Truncated)?;
        let mut aad = [0u8; STREAM_HEADER_LEN + MAX_LABEL_LEN];
        let aad = stream_aad(&mut aad, &frame[..STREAM_HEADER_LEN], label).ok_or(
            DecodeError::TooLarge {
                what: "label",
                len: label.len(),
                limit: MAX_LABEL_LEN,
            },
        )?;
        self.open(&frame[STREAM_HEADER_LEN..], aad, out)
    }
}

/// The stream AAD: the frame header followed by the label.
fn stream_aad<'b>(
    buf: &'b mut [u8; STREAM_HEADER_LEN + MAX_LABEL_LEN],
    header: &[u8],
    label: &[u8],
) -> Option<&'b [u8]> {
    let n = STREAM_HEADER_LEN + label.len();
    let aad = buf.get_mut(..n)?;
    aad[..STREAM_HEADER_LEN].copy_from_slice(header);
    aad[STREAM_HEADER_LEN..].copy_from_slice(label);
    Some(aad)
}

/// The total length of the `encryptMsg` frame at the start of `buf` (header included), once
/// its 5 header bytes have arrived (`None` before); a declared length over `max` is refused
/// before anything is buffered (Go's limit is 20 MiB, spec §7.4).
pub fn stream_frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.first_chunk::<STREAM_HEADER_LEN>() else {
        return Ok(None);
    };
    if header[0] != MessageType::Encrypt as u8 {
        return Err(DecodeError::UnexpectedMessageType(header[0]));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > max {
        return Err(DecodeError::TooLarge {
            what: "encrypted stream frame",
            len,
            limit: max,
        });
    }
    STREAM_HEADER_LEN
        .checked_add(len)
        .map(Some)
        .ok_or(DecodeError::TooLarge {
            what: "encrypted stream frame",
            len,
            limit: max,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> SecretKey {
        SecretKey::new(&(0..n as u8).collect::<Vec<_>>()).unwrap()
    }

    const NONCE: [u8; 12] = [
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
    ];

    /// Spec §15 A.
    const PING: &[u8] = &[
        0x00, 0x82, 0xa4, 0x4e, 0x6f, 0x64, 0x65, 0xa6, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x62, 0xa5,
        0x53, 0x65, 0x71, 0x4e, 0x6f, 0x01,
    ];

    #[test]
    fn spec_example_j_both_versions() {
        let ring = Keyring::new(key(16));
        let mut out = [0u8; 128];
        let n = ring
            .seal(EncryptionVersion::V1, NONCE, PING, &[], &mut out)
            .unwrap();
        assert_eq!(n, 50);
        assert_eq!(&out[13..16], &[0xaa, 0x04, 0x9c]);
        assert_eq!(
            &out[34..50],
            &[
                0xee, 0x2c, 0x87, 0x47, 0xe9, 0x3b, 0x12, 0xb7, 0xfd, 0x98, 0xfe, 0xb4, 0x0b, 0x4f,
                0xd6, 0xe9
            ]
        );
        let mut plain = [0u8; 128];
        let m = ring.open(&out[..n], &[], &mut plain).unwrap();
        assert_eq!(&plain[..m], PING);

        let n = ring
            .seal(EncryptionVersion::V0, NONCE, PING, &[], &mut out)
            .unwrap();
        assert_eq!(n, 61);
        assert_eq!(&out[n - 4..n], &[0x16, 0xdf, 0xba, 0x51]);
        let m = ring.open(&out[..n], &[], &mut plain).unwrap();
        assert_eq!(&plain[..m], PING);
    }

    #[test]
    fn every_key_is_tried_and_rotation_works() {
        let (old, new) = (key(16), key(32));
        let sender = Keyring::new(old.clone());
        let mut receiver = Keyring::new(new.clone());
        let mut out = [0u8; 128];
        let n = sender
            .seal(EncryptionVersion::V1, NONCE, PING, b"", &mut out)
            .unwrap();
        let mut plain = [0u8; 128];
        assert_eq!(
            receiver.open(&out[..n], b"", &mut plain),
            Err(DecodeError::Decrypt)
        );
        receiver.add(old.clone());
        assert_eq!(receiver.open(&out[..n], b"", &mut plain), Ok(PING.len()));
        assert_eq!(receiver.remove(&new), Err(KeyError::RemovePrimary));
        receiver.use_key(&old).unwrap();
        assert_eq!(receiver.primary(), &old);
        receiver.remove(&new).unwrap();
        assert_eq!(receiver.keys().count(), 1);
        // A wrong label (AAD) fails authentication.
        let n = sender
            .seal(EncryptionVersion::V1, NONCE, PING, b"prod", &mut out)
            .unwrap();
        assert_eq!(
            receiver.open(&out[..n], b"dev", &mut plain),
            Err(DecodeError::Decrypt)
        );
        assert_eq!(
            receiver.open(&out[..n], b"prod", &mut plain),
            Ok(PING.len())
        );
    }

    #[test]
    fn bad_envelopes_are_typed_errors() {
        let ring = Keyring::new(key(24));
        let mut plain = [0u8; 64];
        assert_eq!(ring.open(&[], &[], &mut plain), Err(DecodeError::Truncated));
        assert_eq!(
            ring.open(&[2; 40], &[], &mut plain),
            Err(DecodeError::UnknownEncryptionVersion(2))
        );
        assert_eq!(
            ring.open(&[1; 28], &[], &mut plain),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            ring.open(&[0; 44], &[], &mut plain),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            ring.open(&[1; 29], &[], &mut plain),
            Err(DecodeError::Decrypt)
        );
        assert_eq!(SecretKey::new(&[0; 17]), Err(KeyError::InvalidLength(17)));
        assert!(matches!(
            stream_frame_len(&[10, 0x02, 0, 0, 0], 20 << 20),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(stream_frame_len(&[10, 0], 100), Ok(None));
    }

    #[test]
    fn spec_example_k_stream_frame() {
        let ring = Keyring::new(key(16));
        let user = b"\x08\x81\xaaUserMsgLen\x0bhello world";
        let mut out = [0u8; 128];
        let n = ring
            .seal_stream(EncryptionVersion::V1, NONCE, user, b"", &mut out)
            .unwrap();
        assert_eq!(n, 59);
        assert_eq!(&out[..5], &[0x0a, 0, 0, 0, 0x36]);
        assert_eq!(
            &out[n - 16..n],
            &[
                0x9a, 0x40, 0xc1, 0x53, 0x9c, 0x64, 0x72, 0xf9, 0x5f, 0x3c, 0xe3, 0xe4, 0xfe, 0x14,
                0x3a, 0x9e
            ]
        );
        let mut plain = [0u8; 128];
        let m = ring.open_stream(&out[..n], b"", &mut plain).unwrap();
        assert_eq!(&plain[..m], user);
    }
}
