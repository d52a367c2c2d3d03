//! Datagrams: building outgoing packets with piggybacked gossip and their framing
//! (compound, compression, CRC, encryption, label; memberlist `sendMsg`, `rawSendMsgPacket`),
//! and taking incoming ones apart (memberlist `ingestPacket`, `handleCommand`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;

use bytes::Bytes;
use rand_core::Rng;

use crate::memberlist::{InputError, InputErrorKind, Memberlist};
use crate::wire::{
    Ack, COMPOUND_HEADER_OVERHEAD, COMPOUND_PART_OVERHEAD, DecodeError, Encode, EncryptionVersion,
    IndirectPing, IpBytes, Message, MessageType, Nack, Ping, Suspect, decode_packet,
    label_overhead, strip_crc, strip_label,
};
use crate::{event::Transmit, time::Instant};

/// A datagram to build when the adapter polls. Only what the message needs is stored; the
/// bytes are encoded straight into the adapter's buffer.
#[derive(Debug)]
pub(in crate::memberlist) enum Outgoing {
    /// The current probe's ping (with a suspect message when the target is suspected).
    ProbePing,
    /// An indirect probe request about the current probe's target.
    IndirectPing { to: SocketAddr, nack: bool },
    /// A ping on behalf of another member, or an explicit one.
    RelayPing {
        to: SocketAddr,
        seq: u32,
        node: Box<str>,
        gossip: bool,
    },
    Ack {
        to: SocketAddr,
        seq: u32,
        /// An answer to a ping, which carries the application's ack payload (a relayed
        /// ack does not).
        answer: bool,
        /// Whether `to` is a member's address, so gossip may ride along (see `gossip_to`).
        gossip: bool,
    },
    Nack {
        to: SocketAddr,
        seq: u32,
        gossip: bool,
    },
    /// Queued broadcasts only.
    Gossip { to: SocketAddr, crc: bool },
    /// A message encoded in advance (type byte included): user messages, and the direct
    /// suspect and alive messages that speed up refutation.
    Message {
        to: SocketAddr,
        msg: Bytes,
        crc: bool,
    },
}

/// Buffers reused across packets so the hot path allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(in crate::memberlist) struct Scratch {
    msg: Vec<u8>,
    packet: Vec<u8>,
    compressed: Vec<u8>,
    /// The application's ack payload.
    ack: Vec<u8>,
    broadcasts: Vec<Bytes>,
    /// Decrypted and decompressed input, one per nesting level.
    pub(in crate::memberlist) inbound: Vec<Vec<u8>>,
}

/// Deepest nesting of compound and compress messages accepted in a datagram.
const MAX_DEPTH: usize = 4;

impl Memberlist {
    fn encryption(&self) -> Option<EncryptionVersion> {
        match &self.config.keyring {
            Some(_) if self.config.gossip_verify_outgoing => Some(EncryptionVersion::for_protocol(
                self.config.protocol_version,
            )),
            _ => None,
        }
    }

    /// Bytes that framing may add to a packet and that piggybacking must leave room for.
    /// Whether gossip may ride on a datagram to `addr`, which a message says belongs to the
    /// member `name`: only if this node knows that member at that address (in any state: a
    /// member declared dead must still hear of it to refute). memberlist
    /// piggybacks on every ack, nack and ping, so a ping with a forged source turns its 60
    /// bytes into up to `UDPBufferSize` sent to whoever the forger names; rumor sends that
    /// stranger the bare answer. Members get the same gossip as before.
    pub(in crate::memberlist) fn gossip_to(&self, name: &str, addr: SocketAddr) -> bool {
        self.members
            .find(name)
            .is_some_and(|i| self.members.get(i).socket_addr() == Some(addr))
    }

    /// Label and encryption envelope around every datagram (the CRC is per peer: see
    /// [`crc_overhead`]).
    fn framing_overhead(&self) -> usize {
        label_overhead(&self.config.label) + self.encryption().map_or(0, |v| v.overhead())
    }

    fn source(&self) -> (IpBytes, u16) {
        (IpBytes::from(self.advertise.ip()), self.advertise.port())
    }

    pub(in crate::memberlist) fn build_transmit(
        &mut self,
        out: Outgoing,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        let mut s = core::mem::take(&mut self.scratch);
        let r = self.build_into(out, &mut s, buf);
        self.scratch = s;
        r
    }

    fn build_into(
        &mut self,
        out: Outgoing,
        s: &mut Scratch,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        s.msg.clear();
        let (src_addr, src_port) = self.source();
        let (to, piggyback, crc) = match out {
            Outgoing::ProbePing => {
                let p = self.probe.as_ref()?;
                let ping = Ping {
                    seq_no: p.seq,
                    node: &self.probe_target,
                    source_addr: src_addr,
                    source_port: src_port,
                    source_node: &self.name,
                };
                if p.suspect {
                    // memberlist sends [ping, suspect] so the target can refute at once.
                    let sus = Suspect {
                        incarnation: p.incarnation,
                        node: &self.probe_target,
                        from: &self.name,
                    };
                    let (to, crc) = (p.to, p.pmax >= 5);
                    ping.encode_to_vec(&mut s.msg).ok()?;
                    let split = s.msg.len();
                    sus.encode_to_vec(&mut s.msg).ok()?;
                    s.packet.clear();
                    s.packet.push(MessageType::Compound as u8);
                    s.packet.push(2);
                    // Names are bounded (`Limits::max_name`); should a part still not fit
                    // a 16-bit length, the datagram is not sent rather than corrupted.
                    let first = u16::try_from(split).ok()?;
                    let second = u16::try_from(s.msg.len() - split).ok()?;
                    s.packet.extend_from_slice(&first.to_be_bytes());
                    s.packet.extend_from_slice(&second.to_be_bytes());
                    s.packet.extend_from_slice(&s.msg);
                    return self.finish(s, to, crc, buf);
                }
                ping.encode_to_vec(&mut s.msg).ok()?;
                (p.to, true, false)
            }
            Outgoing::IndirectPing { to, nack } => {
                let p = self.probe.as_ref()?;
                IndirectPing {
                    seq_no: p.seq,
                    target: IpBytes::from(p.to.ip()),
                    port: p.to.port(),
                    node: &self.probe_target,
                    nack,
                    source_addr: src_addr,
                    source_port: src_port,
                    source_node: &self.name,
                }
                .encode_to_vec(&mut s.msg)
                .ok()?;
                (to, true, false)
            }
            Outgoing::RelayPing {
                to,
                seq,
                node,
                gossip,
            } => {
                Ping {
                    seq_no: seq,
                    node: &node,
                    source_addr: src_addr,
                    source_port: src_port,
                    source_node: &self.name,
                }
                .encode_to_vec(&mut s.msg)
                .ok()?;
                (to, gossip, false)
            }
            Outgoing::Ack {
                to,
                seq,
                answer,
                gossip,
            } => {
                s.ack.clear();
                if let Some(hooks) = self.config.hooks.as_ref().filter(|_| answer) {
                    hooks.ack_payload(&mut s.ack);
                }
                Ack {
                    seq_no: seq,
                    payload: &s.ack,
                }
                .encode_to_vec(&mut s.msg)
                .ok()?;
                (to, gossip, false)
            }
            Outgoing::Nack { to, seq, gossip } => {
                Nack { seq_no: seq }.encode_to_vec(&mut s.msg).ok()?;
                (to, gossip, false)
            }
            Outgoing::Gossip { to, crc } => {
                // memberlist leaves the CRC out of this sum and so sends datagrams 5 bytes
                // over `UDPBufferSize` to peers with a CRC; rumor keeps within it.
                let budget = self.config.udp_buffer_size.saturating_sub(
                    COMPOUND_HEADER_OVERHEAD + self.framing_overhead() + crc_overhead(crc),
                );
                s.broadcasts.clear();
                self.take_broadcasts(budget, &mut s.broadcasts);
                self.shape_broadcasts(to, &mut s.broadcasts);
                match s.broadcasts.len() {
                    0 => return None,
                    1 => {
                        s.packet.clear();
                        s.packet.extend_from_slice(&s.broadcasts[0]);
                    }
                    _ => write_compound(&mut s.packet, None, &s.broadcasts),
                }
                s.broadcasts.clear();
                return self.finish(s, to, crc, buf);
            }
            Outgoing::Message { to, msg, crc } => {
                s.packet.clear();
                s.packet.extend_from_slice(&msg);
                return self.finish(s, to, crc, buf);
            }
        };
        // memberlist `sendMsg`: piggyback broadcasts into the room the message leaves.
        s.broadcasts.clear();
        if piggyback {
            let budget = self
                .config
                .udp_buffer_size
                // The message is a part of the compound too (memberlist forgets its length
                // field, and so can go 2 bytes over).
                .saturating_sub(
                    s.msg.len()
                        + COMPOUND_PART_OVERHEAD
                        + COMPOUND_HEADER_OVERHEAD
                        + self.framing_overhead()
                        + crc_overhead(crc),
                );
            self.take_broadcasts(budget, &mut s.broadcasts);
            self.shape_broadcasts(to, &mut s.broadcasts);
        }
        if s.broadcasts.is_empty() {
            s.packet.clear();
            s.packet.extend_from_slice(&s.msg);
        } else {
            write_compound(&mut s.packet, Some(&s.msg), &s.broadcasts);
            s.broadcasts.clear();
        }
        self.finish(s, to, crc, buf)
    }

    /// memberlist's queue first, then the user broadcasts in the room left.
    fn take_broadcasts(&mut self, budget: usize, out: &mut Vec<Bytes>) {
        let n = self.members.len();
        let limit = crate::broadcast::retransmit_limit(self.config.retransmit_mult, n);
        let used = self.queue.take(COMPOUND_PART_OVERHEAD, budget, limit, out);
        let left = budget.saturating_sub(used);
        if left > COMPOUND_PART_OVERHEAD + 1 {
            self.user_queue
                .take(COMPOUND_PART_OVERHEAD, left, limit, out);
        }
    }

    /// Compression (kept if shorter), CRC, encryption and label, into the adapter's buffer.
    fn finish(
        &mut self,
        s: &mut Scratch,
        to: SocketAddr,
        crc: bool,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        let mut body: &[u8] = &s.packet;
        if self.config.enable_compression
            && let Some(n) = self
                .lzw
                .compress_message_if_shorter(&s.packet, &mut s.compressed)
        {
            body = &s.compressed[..n];
        }
        buf.clear();
        let label = &self.config.label;
        if !label.is_empty() {
            buf.push(MessageType::HasLabel as u8);
            buf.push(label.len() as u8);
            buf.extend_from_slice(label);
        }
        let start = buf.len();
        match (self.encryption(), &self.config.keyring) {
            (Some(version), Some(ring)) => {
                let plain_len = body.len() + if crc { 5 } else { 0 };
                let total = version.encrypted_len(plain_len);
                buf.resize(start + total, 0);
                let at = start + 1 + crate::wire::NONCE_LEN;
                if crc {
                    buf[at + 5..at + 5 + body.len()].copy_from_slice(body);
                    crate::wire::seal_crc_in_place(&mut buf[at..at + 5 + body.len()]).ok()?;
                } else {
                    buf[at..at + body.len()].copy_from_slice(body);
                }
                let mut nonce = [0u8; crate::wire::NONCE_LEN];
                self.rng.fill_bytes(&mut nonce);
                ring.seal_in_place(version, nonce, plain_len, label, &mut buf[start..])
                    .ok()?;
            }
            _ => {
                if crc {
                    buf.resize(start + 5, 0);
                    buf.extend_from_slice(body);
                    crate::wire::seal_crc_in_place(&mut buf[start..]).ok()?;
                } else {
                    buf.extend_from_slice(body);
                }
            }
        }
        Some(Transmit { to, len: buf.len() })
    }

    /// Label, decryption and CRC, then the message itself.
    pub(in crate::memberlist) fn ingest_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), InputError> {
        let (label, rest) = strip_label(data)?;
        if self.config.skip_inbound_label_check {
            if !label.is_empty() {
                return Err(kind(InputErrorKind::LabelMismatch));
            }
        } else if label != &self.config.label[..] {
            return Err(kind(InputErrorKind::LabelMismatch));
        }
        let mut plain = self.scratch.inbound.pop().unwrap_or_default();
        self.reply_to = Some(from);
        let r = (|| {
            let body: &[u8] = match &self.config.keyring {
                Some(ring) => {
                    plain.resize(rest.len(), 0);
                    match ring.open(rest, &self.config.label, &mut plain) {
                        Ok(n) => &plain[..n],
                        Err(_) if !self.config.gossip_verify_incoming => rest,
                        Err(e) => return Err(InputError::from(e)),
                    }
                }
                None => rest,
            };
            let inner = strip_crc(body)?;
            let mut changed = false;
            // One budget for the whole datagram: a compound of many compressed parts
            // cannot multiply it.
            let mut budget = self.config.limits.max_packet_decompressed;
            self.dispatch(now, from, inner, 0, &mut budget, &mut changed)
                .map_err(|e| InputError {
                    kind: e,
                    state_changed: changed,
                })
        })();
        self.scratch.inbound.push(plain);
        self.reply_to = None;
        r
    }

    fn dispatch(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &[u8],
        depth: usize,
        budget: &mut usize,
        changed: &mut bool,
    ) -> Result<(), InputErrorKind> {
        let msg = decode_packet(buf).map_err(InputErrorKind::Decode)?;
        match msg {
            Message::Compound(c) => {
                check_depth(depth)?;
                let mut first_err = None;
                for part in c.parts() {
                    if let Err(e) = self.dispatch(now, from, part, depth + 1, budget, changed) {
                        first_err.get_or_insert(e);
                    }
                }
                if c.truncated() > 0 {
                    first_err.get_or_insert(InputErrorKind::Decode(DecodeError::Truncated));
                }
                first_err.map_or(Ok(()), Err)
            }
            Message::Compress(c) => {
                check_depth(depth)?;
                let mut out = self.scratch.inbound.pop().unwrap_or_default();
                out.clear();
                let r = match self.lzw.decompress(&c, *budget, &mut out) {
                    Ok(()) => {
                        *budget -= out.len();
                        self.dispatch(now, from, &out, depth + 1, budget, changed)
                    }
                    Err(e) => Err(InputErrorKind::Decode(e)),
                };
                self.scratch.inbound.push(out);
                r
            }
            Message::Ping(p) => {
                if !p.node.is_empty() && p.node != &*self.name {
                    return Ok(());
                }
                let to = match p.source_addr.ip() {
                    Some(ip) if p.source_port > 0 => SocketAddr::new(ip, p.source_port),
                    _ => from,
                };
                let gossip = self.gossip_to(p.source_node, to);
                self.outgoing.push_back(Outgoing::Ack {
                    to,
                    seq: p.seq_no,
                    answer: true,
                    gossip,
                });
                Ok(())
            }
            Message::IndirectPing(req) => {
                self.on_indirect_ping(now, from, &req);
                Ok(())
            }
            Message::Ack(a) => {
                self.on_ack(a.seq_no, now, Some(a.payload));
                *changed = true;
                Ok(())
            }
            Message::Nack(n) => {
                self.on_nack(n.seq_no);
                Ok(())
            }
            Message::Alive(a) => {
                self.member_fits(a.node, a.meta)?;
                let a = crate::wire::Alive {
                    port: if a.port == 0 || self.config.protocol_version < 2 {
                        self.advertise.port()
                    } else {
                        a.port
                    },
                    ..a
                };
                self.alive_node(&a, false, now);
                *changed = true;
                Ok(())
            }
            Message::Suspect(sus) => {
                self.member_fits(sus.node, &[])?;
                self.member_fits(sus.from, &[])?;
                self.suspect_node(&sus, now);
                *changed = true;
                Ok(())
            }
            Message::Dead(d) => {
                self.member_fits(d.node, &[])?;
                self.member_fits(d.from, &[])?;
                self.dead_node(&d, now);
                *changed = true;
                Ok(())
            }
            Message::User(payload) => self.on_user_payload(now, Some(from), from, payload),
            other => Err(InputErrorKind::Decode(DecodeError::UnexpectedMessageType(
                other.message_type() as u8,
            ))),
        }
    }
}

/// Compound and compress messages nest at most `MAX_DEPTH` deep.
fn check_depth(depth: usize) -> Result<(), InputErrorKind> {
    if depth >= MAX_DEPTH {
        return Err(InputErrorKind::Decode(DecodeError::TooLarge {
            what: "message nesting",
            len: depth + 1,
            limit: MAX_DEPTH,
        }));
    }
    Ok(())
}

fn kind(kind: InputErrorKind) -> InputError {
    InputError {
        kind,
        state_changed: false,
    }
}

/// A compound of `first` (if any) and `rest`, into `out`.
fn write_compound(out: &mut Vec<u8>, first: Option<&[u8]>, rest: &[Bytes]) {
    out.clear();
    let count = rest.len() + usize::from(first.is_some());
    out.push(MessageType::Compound as u8);
    out.push(count.min(255) as u8);
    let parts = first
        .into_iter()
        .chain(rest.iter().map(|b| &b[..]))
        .take(255);
    for p in parts.clone() {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    }
    for p in parts {
        out.extend_from_slice(p);
    }
}

impl Memberlist {
    /// Adapts the broadcasts taken for one packet to its target, as the extension says
    /// ([`crate::Extension::gossip_to`]).
    fn shape_broadcasts(&mut self, to: SocketAddr, out: &mut Vec<Bytes>) {
        let Some(ext) = self.extension.as_mut() else {
            return;
        };
        out.retain_mut(|b| match ext.gossip_to(to, b) {
            crate::Gossip::Send => true,
            crate::Gossip::Skip => false,
            crate::Gossip::From(at) if at < b.len() => {
                *b = b.slice(at..);
                true
            }
            crate::Gossip::From(_) => false,
        });
    }
}

/// Bytes a CRC adds to a datagram that carries one.
fn crc_overhead(crc: bool) -> usize {
    if crc { crate::wire::CRC_OVERHEAD } else { 0 }
}
