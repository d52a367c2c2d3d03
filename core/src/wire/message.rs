//! The msgpack-bodied messages (spec §4): one struct per Go struct, borrowing from the input.
//!
//! Every struct encodes its keys in the order Go writes them (sorted by name) and decodes from
//! a map in any key order, or from an array in Go's declaration order (`Fields::FIELDS`).

use super::error::{DecodeError, EncodeError};
use super::msgpack::{Fields, Reader, Writer, bytes_len, go_form, key_len, str_len, uint_len};
use super::types::{IpBytes, MessageType, NodeState, Vsn};

/// A message body that rumor can write. Implemented by every message struct.
pub(crate) trait Body {
    /// The type byte written before the body.
    const TYPE: MessageType;
    /// Length of the body, without the type byte.
    fn body_len(&self) -> usize;
    /// Writes the body.
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
}

/// A message that can be written into a caller-provided buffer without allocating.
pub trait Encode {
    /// The length [`Encode::encode`] writes: the type byte and the body.
    fn encoded_len(&self) -> usize;
    /// Writes the type byte and the body into `out`, returning the length written.
    fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError>;
    /// Appends the message to `out` (allocates only if `out` lacks the capacity).
    fn encode_to_vec(&self, out: &mut alloc::vec::Vec<u8>) -> Result<usize, EncodeError> {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        let n = self.encode(&mut out[start..])?;
        out.truncate(start + n);
        Ok(n)
    }
}

impl<T: Body> Encode for T {
    #[inline]
    fn encoded_len(&self) -> usize {
        1 + self.body_len()
    }

    #[inline]
    fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        w.byte(Self::TYPE as u8)?;
        self.write_body(&mut w)?;
        Ok(w.position())
    }
}

/// Length of an `Addr`/`Target`-style field's value.
fn ip_len(ip: &IpBytes) -> usize {
    bytes_len(ip.as_bytes().len())
}

/// Length of the optional `Source*` fields (`omitempty` in Go).
fn source_len(addr: &IpBytes, port: u16, node: &str) -> (u8, usize) {
    let mut n = 0u8;
    let mut len = 0;
    if !addr.is_empty() {
        n += 1;
        len += key_len("SourceAddr") + str_len(addr.as_bytes().len());
    }
    if !node.is_empty() {
        n += 1;
        len += key_len("SourceNode") + str_len(node.len());
    }
    if port != 0 {
        n += 1;
        len += key_len("SourcePort") + uint_len(u64::from(port));
    }
    (n, len)
}

fn write_source(
    w: &mut Writer<'_>,
    addr: &IpBytes,
    port: u16,
    node: &str,
) -> Result<(), EncodeError> {
    if !addr.is_empty() {
        w.key("SourceAddr")?;
        w.str(addr.as_bytes())?;
    }
    if !node.is_empty() {
        w.key("SourceNode")?;
        w.str(node.as_bytes())?;
    }
    if port != 0 {
        w.key("SourcePort")?;
        w.uint(u64::from(port))?;
    }
    Ok(())
}

/// `ping` (type 0): a direct probe, on a datagram or as the stream fallback (spec §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ping<'a> {
    /// Probe sequence number, echoed in the ack.
    pub seq_no: u32,
    /// Name of the intended target; a node drops a ping naming another node.
    pub node: &'a str,
    /// Sender's advertised IP, for the reply (omitted when empty).
    pub source_addr: IpBytes,
    /// Sender's advertised port (omitted when 0).
    pub source_port: u16,
    /// Sender's name (omitted when empty).
    pub source_node: &'a str,
}

impl Body for Ping<'_> {
    const TYPE: MessageType = MessageType::Ping;
    fn body_len(&self) -> usize {
        let (_, src) = source_len(&self.source_addr, self.source_port, self.source_node);
        1 + key_len("Node")
            + str_len(self.node.len())
            + key_len("SeqNo")
            + uint_len(u64::from(self.seq_no))
            + src
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let (n, _) = source_len(&self.source_addr, self.source_port, self.source_node);
        w.map(2 + n)?;
        w.key("Node")?;
        w.str(self.node.as_bytes())?;
        w.key("SeqNo")?;
        w.uint(u64::from(self.seq_no))?;
        write_source(w, &self.source_addr, self.source_port, self.source_node)
    }
}

impl<'a> Fields<'a> for Ping<'a> {
    const FIELDS: &'static [&'static str] =
        &["SeqNo", "Node", "SourceAddr", "SourcePort", "SourceNode"];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.seq_no = r.uint("SeqNo")?,
            1 => self.node = r.str("Node")?,
            2 => self.source_addr = IpBytes::read(r, "SourceAddr")?,
            3 => self.source_port = r.uint("SourcePort")?,
            _ => self.source_node = r.str("SourceNode")?,
        }
        Ok(())
    }
}

/// `indirectPingReq` (type 1): asks the receiver to probe `node` for us (spec §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndirectPing<'a> {
    /// The requester's sequence number, echoed in the relayed ack or nack.
    pub seq_no: u32,
    /// Target IP.
    pub target: IpBytes,
    /// Target port.
    pub port: u16,
    /// Target name.
    pub node: &'a str,
    /// True if the requester wants a nack when the target does not answer.
    pub nack: bool,
    /// Requester's advertised IP (omitted when empty).
    pub source_addr: IpBytes,
    /// Requester's advertised port (omitted when 0).
    pub source_port: u16,
    /// Requester's name (omitted when empty).
    pub source_node: &'a str,
}

impl Body for IndirectPing<'_> {
    const TYPE: MessageType = MessageType::IndirectPing;
    fn body_len(&self) -> usize {
        let (_, src) = source_len(&self.source_addr, self.source_port, self.source_node);
        1 + key_len("Nack")
            + 1
            + key_len("Node")
            + str_len(self.node.len())
            + key_len("Port")
            + uint_len(u64::from(self.port))
            + key_len("SeqNo")
            + uint_len(u64::from(self.seq_no))
            + src
            + key_len("Target")
            + ip_len(&self.target)
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let (n, _) = source_len(&self.source_addr, self.source_port, self.source_node);
        w.map(5 + n)?;
        w.key("Nack")?;
        w.bool(self.nack)?;
        w.key("Node")?;
        w.str(self.node.as_bytes())?;
        w.key("Port")?;
        w.uint(u64::from(self.port))?;
        w.key("SeqNo")?;
        w.uint(u64::from(self.seq_no))?;
        write_source(w, &self.source_addr, self.source_port, self.source_node)?;
        w.key("Target")?;
        w.bytes(self.target.as_bytes())
    }
}

impl<'a> Fields<'a> for IndirectPing<'a> {
    const FIELDS: &'static [&'static str] = &[
        "SeqNo",
        "Target",
        "Port",
        "Node",
        "Nack",
        "SourceAddr",
        "SourcePort",
        "SourceNode",
    ];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.seq_no = r.uint("SeqNo")?,
            1 => self.target = IpBytes::read(r, "Target")?,
            2 => self.port = r.uint("Port")?,
            3 => self.node = r.str("Node")?,
            4 => self.nack = r.bool("Nack")?,
            5 => self.source_addr = IpBytes::read(r, "SourceAddr")?,
            6 => self.source_port = r.uint("SourcePort")?,
            _ => self.source_node = r.str("SourceNode")?,
        }
        Ok(())
    }
}

/// `ackResp` (type 2): the answer to a ping (spec §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ack<'a> {
    /// The ping's sequence number.
    pub seq_no: u32,
    /// Application payload (memberlist's `PingDelegate.AckPayload`); empty is sent as nil.
    pub payload: &'a [u8],
}

impl Body for Ack<'_> {
    const TYPE: MessageType = MessageType::Ack;
    fn body_len(&self) -> usize {
        1 + key_len("Payload")
            + bytes_len(self.payload.len())
            + key_len("SeqNo")
            + uint_len(u64::from(self.seq_no))
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(2)?;
        w.key("Payload")?;
        w.bytes(self.payload)?;
        w.key("SeqNo")?;
        w.uint(u64::from(self.seq_no))
    }
}

impl<'a> Fields<'a> for Ack<'a> {
    const FIELDS: &'static [&'static str] = &["SeqNo", "Payload"];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.seq_no = r.uint("SeqNo")?,
            _ => self.payload = r.bytes("Payload")?,
        }
        Ok(())
    }
}

/// `nackResp` (type 11): an indirect probe's relay did not hear from the target (spec §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nack {
    /// The requester's sequence number.
    pub seq_no: u32,
}

impl Body for Nack {
    const TYPE: MessageType = MessageType::Nack;
    fn body_len(&self) -> usize {
        1 + key_len("SeqNo") + uint_len(u64::from(self.seq_no))
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(1)?;
        w.key("SeqNo")?;
        w.uint(u64::from(self.seq_no))
    }
}

impl<'a> Fields<'a> for Nack {
    const FIELDS: &'static [&'static str] = &["SeqNo"];
    #[inline]
    fn set(&mut self, _: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        self.seq_no = r.uint("SeqNo")?;
        Ok(())
    }
}

/// `errResp` (type 13): a stream responder's error text (spec §4.5, §9.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrResp<'a> {
    /// The error text.
    pub error: &'a str,
}

impl Body for ErrResp<'_> {
    const TYPE: MessageType = MessageType::Err;
    fn body_len(&self) -> usize {
        1 + key_len("Error") + str_len(self.error.len())
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(1)?;
        w.key("Error")?;
        w.str(self.error.as_bytes())
    }
}

impl<'a> Fields<'a> for ErrResp<'a> {
    const FIELDS: &'static [&'static str] = &["Error"];
    #[inline]
    fn set(&mut self, _: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        self.error = r.str("Error")?;
        Ok(())
    }
}

/// Shared body of `suspect` and `dead`: `From`, `Incarnation`, `Node` (spec §4.6).
fn accusation_len(incarnation: u32, node: &str, from: &str) -> usize {
    1 + key_len("From")
        + str_len(from.len())
        + key_len("Incarnation")
        + uint_len(u64::from(incarnation))
        + key_len("Node")
        + str_len(node.len())
}

fn write_accusation(
    w: &mut Writer<'_>,
    incarnation: u32,
    node: &str,
    from: &str,
) -> Result<(), EncodeError> {
    w.map(3)?;
    w.key("From")?;
    w.str(from.as_bytes())?;
    w.key("Incarnation")?;
    w.uint(u64::from(incarnation))?;
    w.key("Node")?;
    w.str(node.as_bytes())
}

/// Go declaration order of `suspect` and `dead`.
const ACCUSATION_FIELDS: &[&str] = &["Incarnation", "Node", "From"];

/// `suspect` (type 3): `from` suspects `node` at `incarnation` (spec §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Suspect<'a> {
    /// The incarnation being accused.
    pub incarnation: u32,
    /// The suspected member.
    pub node: &'a str,
    /// The accuser.
    pub from: &'a str,
}

impl Body for Suspect<'_> {
    const TYPE: MessageType = MessageType::Suspect;
    fn body_len(&self) -> usize {
        accusation_len(self.incarnation, self.node, self.from)
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_accusation(w, self.incarnation, self.node, self.from)
    }
}

impl<'a> Fields<'a> for Suspect<'a> {
    const FIELDS: &'static [&'static str] = ACCUSATION_FIELDS;
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.incarnation = r.uint("Incarnation")?,
            1 => self.node = r.str("Node")?,
            _ => self.from = r.str("From")?,
        }
        Ok(())
    }
}

/// `dead` (type 5): `from` declares `node` dead; `from == node` means it left (spec §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dead<'a> {
    /// The incarnation declared dead.
    pub incarnation: u32,
    /// The member.
    pub node: &'a str,
    /// The accuser; the member itself for a graceful leave.
    pub from: &'a str,
}

impl Dead<'_> {
    /// True for a graceful leave (`From == Node`, spec §11.5).
    pub fn is_leave(&self) -> bool {
        self.node == self.from
    }
}

impl Body for Dead<'_> {
    const TYPE: MessageType = MessageType::Dead;
    fn body_len(&self) -> usize {
        accusation_len(self.incarnation, self.node, self.from)
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_accusation(w, self.incarnation, self.node, self.from)
    }
}

impl<'a> Fields<'a> for Dead<'a> {
    const FIELDS: &'static [&'static str] = ACCUSATION_FIELDS;
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.incarnation = r.uint("Incarnation")?,
            1 => self.node = r.str("Node")?,
            _ => self.from = r.str("From")?,
        }
        Ok(())
    }
}

/// `alive` (type 4): a member is alive at `incarnation`; also a join and a refutation (§4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Alive<'a> {
    /// The incarnation; never 0 from a well-behaved node (spec §11.2 step 4).
    pub incarnation: u32,
    /// Member name.
    pub node: &'a str,
    /// Member IP.
    pub addr: IpBytes,
    /// Member port.
    pub port: u16,
    /// Application metadata (≤ 512 bytes by memberlist's sender-side rule); empty is nil.
    pub meta: &'a [u8],
    /// Versions spoken and understood.
    pub vsn: Vsn,
}

impl Body for Alive<'_> {
    const TYPE: MessageType = MessageType::Alive;
    fn body_len(&self) -> usize {
        1 + key_len("Addr")
            + ip_len(&self.addr)
            + key_len("Incarnation")
            + uint_len(u64::from(self.incarnation))
            + key_len("Meta")
            + bytes_len(self.meta.len())
            + key_len("Node")
            + str_len(self.node.len())
            + key_len("Port")
            + uint_len(u64::from(self.port))
            + key_len("Vsn")
            + str_len(6)
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(6)?;
        w.key("Addr")?;
        w.bytes(self.addr.as_bytes())?;
        w.key("Incarnation")?;
        w.uint(u64::from(self.incarnation))?;
        w.key("Meta")?;
        w.bytes(self.meta)?;
        w.key("Node")?;
        w.str(self.node.as_bytes())?;
        w.key("Port")?;
        w.uint(u64::from(self.port))?;
        w.key("Vsn")?;
        w.str(&self.vsn.to_bytes())
    }
}

impl<'a> Fields<'a> for Alive<'a> {
    const FIELDS: &'static [&'static str] = &["Incarnation", "Node", "Addr", "Port", "Meta", "Vsn"];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.incarnation = r.uint("Incarnation")?,
            1 => self.node = r.str("Node")?,
            2 => self.addr = IpBytes::read(r, "Addr")?,
            3 => self.port = r.uint("Port")?,
            4 => self.meta = r.bytes("Meta")?,
            _ => self.vsn = Vsn::read(r)?,
        }
        Ok(())
    }
}

/// `pushPullHeader` (after type 6 on a stream): how many node states and how many bytes of
/// application state follow (spec §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushPullHeader {
    /// Number of [`PushNodeState`] values that follow.
    pub nodes: u32,
    /// Bytes of raw application state after the node states.
    pub user_state_len: u32,
    /// True for a join, false for periodic anti-entropy.
    pub join: bool,
}

impl PushPullHeader {
    /// Decodes a header (the bytes after the type byte), returning it and the bytes it took.
    /// A stream reader can check `nodes` and `user_state_len` against its limits before
    /// waiting for the rest.
    pub fn decode_body(body: &[u8]) -> Result<(Self, usize), DecodeError> {
        decode_struct(body)
    }

    pub(crate) fn len(&self) -> usize {
        1 + key_len("Join")
            + 1
            + key_len("Nodes")
            + uint_len(u64::from(self.nodes))
            + key_len("UserStateLen")
            + uint_len(u64::from(self.user_state_len))
    }

    /// Go's `int` fields go out in unsigned form, as memberlist 0.2.2 writes them.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(3)?;
        w.key("Join")?;
        w.bool(self.join)?;
        w.key("Nodes")?;
        w.uint(u64::from(self.nodes))?;
        w.key("UserStateLen")?;
        w.uint(u64::from(self.user_state_len))
    }
}

impl<'a> Fields<'a> for PushPullHeader {
    const FIELDS: &'static [&'static str] = &["Nodes", "UserStateLen", "Join"];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.nodes = r.uint("Nodes")?,
            1 => self.user_state_len = r.uint("UserStateLen")?,
            _ => self.join = r.bool("Join")?,
        }
        Ok(())
    }
}

/// `userMsgHeader` (after type 8 on a stream): the length of the user message (spec §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UserMsgHeader {
    pub(crate) user_msg_len: u32,
}

impl UserMsgHeader {
    pub(crate) fn len(&self) -> usize {
        1 + key_len("UserMsgLen") + uint_len(u64::from(self.user_msg_len))
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(1)?;
        w.key("UserMsgLen")?;
        w.uint(u64::from(self.user_msg_len))
    }
}

impl<'a> Fields<'a> for UserMsgHeader {
    const FIELDS: &'static [&'static str] = &["UserMsgLen"];
    #[inline]
    fn set(&mut self, _: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        self.user_msg_len = r.uint("UserMsgLen")?;
        Ok(())
    }
}

/// `pushNodeState`: one member in a push/pull exchange (spec §4.9). No type byte of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushNodeState<'a> {
    /// Member name.
    pub name: &'a str,
    /// Member IP.
    pub addr: IpBytes,
    /// Member port.
    pub port: u16,
    /// Application metadata; empty is nil.
    pub meta: &'a [u8],
    /// Incarnation.
    pub incarnation: u32,
    /// State as the sender sees it.
    pub state: NodeState,
    /// Versions; required by the receiver's version check, so always sent.
    pub vsn: Vsn,
}

impl PushNodeState<'_> {
    /// Encoded length (a msgpack map, no type byte).
    pub fn encoded_len(&self) -> usize {
        1 + key_len("Addr")
            + ip_len(&self.addr)
            + key_len("Incarnation")
            + uint_len(u64::from(self.incarnation))
            + key_len("Meta")
            + bytes_len(self.meta.len())
            + key_len("Name")
            + str_len(self.name.len())
            + key_len("Port")
            + uint_len(u64::from(self.port))
            + key_len("State")
            + uint_len(u64::from(self.state.to_u8()))
            + key_len("Vsn")
            + str_len(6)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(7)?;
        w.key("Addr")?;
        w.bytes(self.addr.as_bytes())?;
        w.key("Incarnation")?;
        w.uint(u64::from(self.incarnation))?;
        w.key("Meta")?;
        w.bytes(self.meta)?;
        w.key("Name")?;
        w.str(self.name.as_bytes())?;
        w.key("Port")?;
        w.uint(u64::from(self.port))?;
        w.key("State")?;
        w.uint(u64::from(self.state.to_u8()))?;
        w.key("Vsn")?;
        w.str(&self.vsn.to_bytes())
    }
}

impl<'a> PushNodeState<'a> {
    /// Reads a state in the form memberlist writes it (a 7-entry map with its keys in Go's
    /// sorted order, the address and `Vsn` as strings) with fixed-size comparisons of the keys
    /// instead of a lookup per key. `None`, with nothing consumed, for any other form and for
    /// any error: the general decoder then reads or refuses it, so both agree on every input.
    #[inline]
    pub(crate) fn read_go_form(r: &mut Reader<'a>) -> Option<Self> {
        r.read_with(|s| {
            let (mut state, name, rest) = Self::split_go_form(s)?;
            state.name = core::str::from_utf8(name).ok()?;
            Some((state, rest))
        })
    }

    /// Passes over a state in memberlist's form as [`Self::read_go_form`] does, without
    /// checking that the name is UTF-8 (as [`Reader::skip`] does not); false, with nothing
    /// consumed, for any other form.
    #[inline]
    pub(crate) fn skip_go_form(r: &mut Reader<'a>) -> bool {
        r.read_with(|s| Some(((), Self::split_go_form(s)?.2)))
            .is_some()
    }

    /// The state (its name left empty), the name's bytes and the input after the state.
    #[inline(always)]
    fn split_go_form(s: &'a [u8]) -> Option<(Self, &'a [u8], &'a [u8])> {
        let s = go_form::key(s, b"\x87\xa4Addr")?;
        let (addr, s) = go_form::bytes(s)?;
        let addr = IpBytes::new(addr)?;
        let s = go_form::key(s, b"\xabIncarnation")?;
        let (incarnation, s) = go_form::uint(s)?;
        let s = go_form::key(s, b"\xa4Meta")?;
        let (meta, s) = go_form::bytes(s)?;
        let s = go_form::key(s, b"\xa4Name")?;
        let (name, s) = go_form::bytes(s)?;
        let s = go_form::key(s, b"\xa4Port")?;
        let (port, s) = go_form::uint(s)?;
        let port = u16::try_from(port).ok()?;
        let s = go_form::key(s, b"\xa5State")?;
        let (state, s) = go_form::uint(s)?;
        let state = NodeState::from_u8(u8::try_from(state).ok()?);
        let s = go_form::key(s, b"\xa3Vsn\xa6")?;
        let (vsn, s) = s.split_first_chunk::<6>()?;
        let state = Self {
            name: "",
            addr,
            port,
            meta,
            incarnation,
            state,
            vsn: Vsn::from_bytes(*vsn),
        };
        Some((state, name, s))
    }

    /// Reads one state: [`Self::read_go_form`], else the general decoder.
    #[inline]
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        match Self::read_go_form(r) {
            Some(s) => Ok(s),
            None => r.decode_struct(),
        }
    }
}

impl<'a> Fields<'a> for PushNodeState<'a> {
    const FIELDS: &'static [&'static str] = &[
        "Name",
        "Addr",
        "Port",
        "Meta",
        "Incarnation",
        "State",
        "Vsn",
    ];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.name = r.str("Name")?,
            1 => self.addr = IpBytes::read(r, "Addr")?,
            2 => self.port = r.uint("Port")?,
            3 => self.meta = r.bytes("Meta")?,
            4 => self.incarnation = r.uint("Incarnation")?,
            5 => self.state = NodeState::from_u8(r.uint("State")?),
            _ => self.vsn = Vsn::read(r)?,
        }
        Ok(())
    }
}

/// `compress` (type 9): an LZW stream of a whole inner message, type byte included (§4.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compress<'a> {
    /// Algorithm; 0 (LZW) is the only one.
    pub algo: u8,
    /// The compressed bytes.
    pub buf: &'a [u8],
}

impl Body for Compress<'_> {
    const TYPE: MessageType = MessageType::Compress;
    fn body_len(&self) -> usize {
        1 + key_len("Algo")
            + uint_len(u64::from(self.algo))
            + key_len("Buf")
            + bytes_len(self.buf.len())
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.map(2)?;
        w.key("Algo")?;
        w.uint(u64::from(self.algo))?;
        w.key("Buf")?;
        w.bytes(self.buf)
    }
}

impl<'a> Fields<'a> for Compress<'a> {
    const FIELDS: &'static [&'static str] = &["Algo", "Buf"];
    #[inline]
    fn set(&mut self, i: usize, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        match i {
            0 => self.algo = r.uint("Algo")?,
            _ => self.buf = r.bytes("Buf")?,
        }
        Ok(())
    }
}

/// A user message on a datagram (type 8): the raw application bytes follow the type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserMsg<'a>(pub &'a [u8]);

impl Body for UserMsg<'_> {
    const TYPE: MessageType = MessageType::User;
    fn body_len(&self) -> usize {
        self.0.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.raw(self.0)
    }
}

/// A user message on a stream (type 8, `SendReliable`): a `userMsgHeader` with the length,
/// then the raw bytes (spec §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserStreamMsg<'a>(pub &'a [u8]);

impl Body for UserStreamMsg<'_> {
    const TYPE: MessageType = MessageType::User;
    fn body_len(&self) -> usize {
        self.header().len() + self.0.len()
    }
    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if u32::try_from(self.0.len()).is_err() {
            return Err(EncodeError::TooLarge {
                what: "user message",
                len: self.0.len(),
                limit: u32::MAX as usize,
            });
        }
        self.header().write(w)?;
        w.raw(self.0)
    }
}

impl UserStreamMsg<'_> {
    fn header(&self) -> UserMsgHeader {
        // Saturates only for lengths that `write_body` refuses.
        UserMsgHeader {
            user_msg_len: u32::try_from(self.0.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Decodes one msgpack struct from the start of `buf`, returning it and the bytes it took.
pub(crate) fn decode_struct<'a, T: Fields<'a>>(buf: &'a [u8]) -> Result<(T, usize), DecodeError> {
    let mut r = Reader::new(buf);
    let v = r.decode_struct::<T>()?;
    Ok((v, r.position()))
}
