//! Small value types shared by several messages: the message type byte, IP address bytes,
//! the version vector and the node state.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::DecodeError;
use super::msgpack::Reader;

/// The first byte of every memberlist message (spec §2). The values are Go `iota`s, frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// `pingMsg`: a direct probe.
    Ping = 0,
    /// `indirectPingMsg`: ask a member to probe another for us.
    IndirectPing = 1,
    /// `ackRespMsg`: the answer to a ping.
    Ack = 2,
    /// `suspectMsg`: gossip that a member may have failed.
    Suspect = 3,
    /// `aliveMsg`: gossip that a member is alive (also a join or a refutation).
    Alive = 4,
    /// `deadMsg`: gossip that a member failed, or left when `from == node`.
    Dead = 5,
    /// `pushPullMsg`: full state exchange over a stream.
    PushPull = 6,
    /// `compoundMsg`: several messages in one datagram.
    Compound = 7,
    /// `userMsg`: application bytes.
    User = 8,
    /// `compressMsg`: an LZW-compressed message.
    Compress = 9,
    /// `encryptMsg`: an encrypted stream frame.
    Encrypt = 10,
    /// `nackRespMsg`: an indirect probe relay could not reach the target.
    Nack = 11,
    /// `hasCrcMsg`: a CRC32 header on a datagram.
    HasCrc = 12,
    /// `errMsg`: a stream responder's error.
    Err = 13,
    /// `hasLabelMsg`: a cluster label header (memberlist ≥ 0.3.0).
    HasLabel = 244,
}

impl MessageType {
    /// The type for a byte, if memberlist defines it.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Ping,
            1 => Self::IndirectPing,
            2 => Self::Ack,
            3 => Self::Suspect,
            4 => Self::Alive,
            5 => Self::Dead,
            6 => Self::PushPull,
            7 => Self::Compound,
            8 => Self::User,
            9 => Self::Compress,
            10 => Self::Encrypt,
            11 => Self::Nack,
            12 => Self::HasCrc,
            13 => Self::Err,
            244 => Self::HasLabel,
            _ => return None,
        })
    }
}

impl TryFrom<u8> for MessageType {
    type Error = DecodeError;
    fn try_from(b: u8) -> Result<Self, DecodeError> {
        Self::from_u8(b).ok_or(DecodeError::UnknownMessageType(b))
    }
}

/// An IP address as the bytes memberlist carries: 4 bytes for IPv4, 16 for IPv6 or an
/// IPv4-mapped IPv6 address, or none.
///
/// Go compares addresses byte-wise, so the same IPv4 address in its 4- and 16-byte forms are
/// different addresses to a Go peer (spec §4.9). `IpBytes` keeps a peer's bytes verbatim.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IpBytes {
    len: u8,
    bytes: [u8; 16],
}

impl IpBytes {
    /// No address (an omitted or nil field).
    pub const EMPTY: Self = Self {
        len: 0,
        bytes: [0; 16],
    };

    /// Address bytes of length 0, 4 or 16; other lengths are not IP addresses.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if !matches!(bytes.len(), 0 | 4 | 16) {
            return None;
        }
        let mut a = [0u8; 16];
        a[..bytes.len()].copy_from_slice(bytes);
        Some(Self {
            len: bytes.len() as u8,
            bytes: a,
        })
    }

    /// The bytes as they go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// True when there is no address.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address, with IPv4-mapped IPv6 shown as IPv4 (as Go's `net.IP.String` does).
    pub fn ip(&self) -> Option<IpAddr> {
        match self.len {
            4 => {
                let b = &self.bytes;
                Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            16 => Some(IpAddr::V6(Ipv6Addr::from(self.bytes)).to_canonical()),
            _ => None,
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        let mut a = [0u8; 16];
        let n = r.small_bytes(field, &mut a)?;
        if !matches!(n, 0 | 4 | 16) {
            return Err(DecodeError::InvalidAddress { field, len: n });
        }
        Ok(Self {
            len: n as u8,
            bytes: a,
        })
    }
}

impl From<IpAddr> for IpBytes {
    /// IPv4 as 4 bytes (what Go sends for an explicitly configured IPv4 address), IPv6 as 16.
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::from(v4),
            IpAddr::V6(v6) => Self {
                len: 16,
                bytes: v6.octets(),
            },
        }
    }
}

impl From<Ipv4Addr> for IpBytes {
    fn from(ip: Ipv4Addr) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&ip.octets());
        Self { len: 4, bytes }
    }
}

impl fmt::Debug for IpBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.len, self.ip()) {
            (16, Some(ip)) if ip.is_ipv4() => write!(f, "{ip}/16B"),
            (_, Some(ip)) => write!(f, "{ip}"),
            _ => f.write_str("<none>"),
        }
    }
}

/// The six version bytes every alive and push/pull node state carries (spec §4.7, §10):
/// `[pmin, pmax, pcur, dmin, dmax, dcur]`.
///
/// Always sent as exactly 6 bytes: memberlist 0.2.2 panics on 1 to 5. A received `Vsn` that is
/// absent or shorter than 6 bytes decodes as all zeros, which Go's version checks treat the
/// same way (a current version of 0 fails `verifyProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vsn {
    /// Lowest memberlist protocol version understood.
    pub protocol_min: u8,
    /// Highest memberlist protocol version understood.
    pub protocol_max: u8,
    /// Protocol version spoken.
    pub protocol_cur: u8,
    /// Lowest delegate (application) protocol version understood.
    pub delegate_min: u8,
    /// Highest delegate protocol version understood.
    pub delegate_max: u8,
    /// Delegate protocol version spoken.
    pub delegate_cur: u8,
}

impl Vsn {
    /// The wire order.
    pub const fn to_bytes(&self) -> [u8; 6] {
        [
            self.protocol_min,
            self.protocol_max,
            self.protocol_cur,
            self.delegate_min,
            self.delegate_max,
            self.delegate_cur,
        ]
    }

    /// From the wire order.
    pub const fn from_bytes(b: [u8; 6]) -> Self {
        Self {
            protocol_min: b[0],
            protocol_max: b[1],
            protocol_cur: b[2],
            delegate_min: b[3],
            delegate_max: b[4],
            delegate_cur: b[5],
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut a = [0u8; 6];
        let n = r.small_bytes("Vsn", &mut a)?;
        Ok(if n >= 6 {
            Self::from_bytes(a)
        } else {
            Self::default()
        })
    }
}

/// A member's state as carried in push/pull (`NodeStateType`, spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NodeState {
    /// 0
    #[default]
    Alive,
    /// 1
    Suspect,
    /// 2
    Dead,
    /// 3: left gracefully (memberlist ≥ 0.1.6).
    Left,
    /// A value memberlist does not define; Go's merge ignores such entries.
    Other(u8),
}

impl NodeState {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Alive => 0,
            Self::Suspect => 1,
            Self::Dead => 2,
            Self::Left => 3,
            Self::Other(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Alive,
            1 => Self::Suspect,
            2 => Self::Dead,
            3 => Self::Left,
            v => Self::Other(v),
        }
    }
}
