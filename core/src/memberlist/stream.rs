//! Streams: push/pull state exchange and join (memberlist `pushPullNode`, `sendLocalState`,
//! `readRemoteState`, `mergeState`, `verifyProtocol`), the stream ping fallback, reliable user
//! messages, and serving inbound streams (`handleConn`).

use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use rand_core::Rng;

use crate::PushPullPeer;
use crate::event::{Event, MemberState, StreamCommand, StreamId, StreamInput};
use crate::memberlist::{CommandError, InputError, InputErrorKind, Memberlist};
use crate::time::Instant;
use crate::wire::{
    Ack, Alive, Dead, DecodeError, Encode, EncryptionVersion, ErrResp, Message, MessageType,
    NodeState, Ping, PushNodeState, PushPull, PushPullParts, PushPullWriter, Suspect,
    UserStreamMsg, decode_stream, push_pull_len, stream_frame_len,
};

/// What a stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Accepted: waiting for the peer's request.
    Serve,
    /// Our push/pull (a join when `join_id` is set): waiting for the reply.
    PushPull { join: bool, join_id: Option<u64> },
    /// Our fallback ping: waiting for the ack.
    Ping { seq: u32 },
    /// Our reliable user message: send and close.
    User,
}

#[derive(Debug)]
struct Stream {
    id: StreamId,
    role: Role,
    deadline: Instant,
    /// When it was opened or accepted.
    opened: Instant,
    connected: bool,
    /// Bytes to send once connected (user messages are encoded when sent).
    pending: Option<Vec<u8>>,
    /// The peer: where an outbound stream goes, where an accepted one came from.
    to: Option<SocketAddr>,
    recv: Vec<u8>,
}

/// The open streams. Bounded: see `Config::max_inbound_streams` and `max_outbound_streams`.
#[derive(Debug, Default)]
pub(in crate::memberlist) struct Streams {
    list: Vec<Stream>,
    next_id: u64,
    joins: Vec<JoinProgress>,
}

#[derive(Debug)]
struct JoinProgress {
    id: u64,
    pending: usize,
    contacted: usize,
    failed: usize,
    /// The seeds' tables are merged without re-gossiping them ([`Memberlist::join_quietly`]).
    quiet: bool,
}

impl Streams {
    pub(in crate::memberlist) fn len(&self) -> usize {
        self.list.len()
    }

    /// Bytes each open stream holds (received, and pending until connected).
    pub(in crate::memberlist) fn buffered(&self) -> impl Iterator<Item = usize> + '_ {
        self.list
            .iter()
            .map(|s| s.recv.len() + s.pending.as_ref().map_or(0, Vec::len))
    }

    pub(in crate::memberlist) fn count(&self, inbound: bool) -> usize {
        self.list
            .iter()
            .filter(|s| (s.role == Role::Serve) == inbound)
            .count()
    }

    fn new_id(&mut self) -> StreamId {
        self.next_id += 1;
        StreamId(self.next_id)
    }

    pub(in crate::memberlist) fn accept(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        config: &crate::config::Config,
    ) -> Option<StreamId> {
        if self.count(true) >= config.max_inbound_streams {
            return None;
        }
        let id = self.new_id();
        self.list.push(Stream {
            id,
            role: Role::Serve,
            deadline: now + config.tcp_timeout,
            opened: now,
            connected: true,
            pending: None,
            to: Some(peer),
            recv: Vec::new(),
        });
        Some(id)
    }

    pub(in crate::memberlist) fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().map(|s| s.deadline).min()
    }

    fn position(&self, id: StreamId) -> Option<usize> {
        self.list.iter().position(|s| s.id == id)
    }
}

/// What the bytes received so far hold.
enum Peeled {
    /// Not complete yet.
    Incomplete,
    /// One whole message (type byte first), decrypted and decompressed.
    Message(Vec<u8>),
    /// One whole plain message, at this range of what was received (not copied: a
    /// push/pull costs its bytes once).
    Plain(core::ops::Range<usize>),
}

impl Memberlist {
    fn open_stream(
        &mut self,
        now: Instant,
        to: SocketAddr,
        role: Role,
        pending: Option<Vec<u8>>,
        timeout: core::time::Duration,
    ) -> Result<StreamId, CommandError> {
        if self.streams.count(false) >= self.config.max_outbound_streams {
            return Err(CommandError::TooManyStreams);
        }
        self.metrics.count(crate::observe::Counter::TcpConnect, 1);
        let id = self.streams.new_id();
        self.streams.list.push(Stream {
            id,
            role,
            deadline: now + timeout,
            opened: now,
            connected: false,
            pending,
            to: Some(to),
            recv: Vec::new(),
        });
        self.stream_cmds
            .push_back(StreamCommand::Connect { id, to });
        Ok(id)
    }

    /// Starts a push/pull with `to` (memberlist `pushPullNode`).
    pub(in crate::memberlist) fn start_push_pull(
        &mut self,
        now: Instant,
        to: SocketAddr,
        join: bool,
        join_id: Option<u64>,
    ) -> Result<StreamId, CommandError> {
        let timeout = self.config.tcp_timeout;
        crate::observe::decision!(debug, peer = %to, join, "push/pull");
        self.open_stream(now, to, Role::PushPull { join, join_id }, None, timeout)
    }

    /// The fallback ping over a stream, due by the end of the probe.
    pub(in crate::memberlist) fn start_ping_stream(
        &mut self,
        now: Instant,
        to: SocketAddr,
        seq: u32,
    ) -> Result<StreamId, CommandError> {
        let until = self
            .probe
            .as_ref()
            .map_or(now + self.config.probe_interval, |p| p.end_at);
        self.open_stream(
            now,
            to,
            Role::Ping { seq },
            None,
            until.saturating_duration_since(now),
        )
    }

    pub(in crate::memberlist) fn start_user_stream(
        &mut self,
        now: Instant,
        to: SocketAddr,
        payload: &[u8],
    ) -> Result<(), CommandError> {
        let mut msg = Vec::new();
        UserStreamMsg(payload)
            .encode_to_vec(&mut msg)
            .map_err(|_| CommandError::TooManyStreams)?;
        let framed = self.frame_stream(&msg, true);
        let timeout = self.config.tcp_timeout;
        self.open_stream(now, to, Role::User, Some(framed), timeout)
            .map(|_| ())
    }

    /// Joins the cluster through `seeds`: a push/pull with `join = true` with each.
    /// [`Event::JoinFinished`] with the returned id reports how many answered.
    pub fn join(&mut self, now: Instant, seeds: &[SocketAddr]) -> u64 {
        self.join_with(now, seeds, false)
    }

    /// [`join`](Self::join) into a cluster that already knows everything the seeds will send:
    /// their tables are merged without being re-gossiped, whatever `join_follow_ups` says.
    /// This is the simulator's shortcut to a formed cluster (every node given the whole table
    /// at once): re-gossiping would queue, on each of N nodes, N messages that a formed
    /// cluster sent long ago.
    pub fn join_quietly(&mut self, now: Instant, seeds: &[SocketAddr]) -> u64 {
        self.join_with(now, seeds, true)
    }

    fn join_with(&mut self, now: Instant, seeds: &[SocketAddr], quiet: bool) -> u64 {
        self.next_join_id += 1;
        let id = self.next_join_id;
        let mut pending = 0;
        let mut failed = 0;
        for &seed in seeds {
            match self.start_push_pull(now, seed, true, Some(id)) {
                Ok(_) => pending += 1,
                Err(_) => failed += 1,
            }
        }
        self.streams.joins.push(JoinProgress {
            id,
            pending,
            contacted: 0,
            failed,
            quiet,
        });
        self.finish_joins();
        id
    }

    /// A join's push/pull ended: `joined` holds when it succeeded and through which seed.
    fn join_result(&mut self, join_id: Option<u64>, joined: Option<(Instant, Option<SocketAddr>)>) {
        let Some(id) = join_id else { return };
        if let Some(j) = self.streams.joins.iter_mut().find(|j| j.id == id) {
            j.pending = j.pending.saturating_sub(1);
            if joined.is_some() {
                j.contacted += 1;
            } else {
                j.failed += 1;
            }
        }
        if let Some((now, seed)) = joined {
            self.joined(now, seed);
        }
        self.finish_joins();
    }

    fn finish_joins(&mut self) {
        let mut i = 0;
        while i < self.streams.joins.len() {
            if self.streams.joins[i].pending == 0 {
                let j = self.streams.joins.swap_remove(i);
                self.events.push_back(Event::JoinFinished {
                    id: j.id,
                    contacted: j.contacted,
                    failed: j.failed,
                });
            } else {
                i += 1;
            }
        }
    }

    /// Closes a stream this node no longer needs.
    pub(in crate::memberlist) fn abandon_stream(&mut self, id: StreamId) {
        if let Some(i) = self.streams.position(id) {
            let s = self.streams.list.swap_remove(i);
            self.stream_cmds
                .push_back(StreamCommand::Close { id: s.id });
            if let Role::PushPull { join_id, .. } = s.role {
                self.join_result(join_id, None);
            }
        }
    }

    /// Streams past their deadline are closed; a join through them failed.
    pub(in crate::memberlist) fn stream_timers(&mut self, now: Instant) {
        while let Some(s) = self.streams.list.iter().find(|s| s.deadline <= now) {
            let id = s.id;
            self.abandon_stream(id);
        }
    }

    /// Compression and encryption of one stream message, and the label when we dialled.
    pub(in crate::memberlist) fn frame_stream(&mut self, msg: &[u8], dialled: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let label = self.config.label.clone();
        if dialled && !label.is_empty() {
            out.push(MessageType::HasLabel as u8);
            out.push(label.len() as u8);
            out.extend_from_slice(&label);
        }
        let compressed;
        let payload: &[u8] = if self.config.enable_compression {
            let mut c = alloc::vec![0u8; msg.len() + msg.len() / 2 + 64];
            match self.lzw.compress_message_once(msg, &mut c) {
                Ok(n) => {
                    c.truncate(n);
                    compressed = c;
                    &compressed
                }
                Err(_) => msg,
            }
        } else {
            msg
        };
        match &self.config.keyring {
            Some(ring) if self.config.gossip_verify_outgoing => {
                let version = EncryptionVersion::for_protocol(self.config.protocol_version);
                let start = out.len();
                out.resize(start + 5 + version.encrypted_len(payload.len()), 0);
                let mut nonce = [0u8; crate::wire::NONCE_LEN];
                self.rng.fill_bytes(&mut nonce);
                match ring.seal_stream(version, nonce, payload, &label, &mut out[start..]) {
                    Ok(n) => out.truncate(start + n),
                    Err(_) => out.truncate(start),
                }
            }
            _ => out.extend_from_slice(payload),
        }
        out
    }

    /// The application's push/pull state: [`crate::Hooks::local_state`]'s, else what
    /// `set_local_state` set.
    pub(in crate::memberlist) fn app_local_state(
        &self,
        join: bool,
    ) -> alloc::borrow::Cow<'_, [u8]> {
        if let Some(hooks) = &self.config.hooks {
            let mut out = Vec::new();
            if hooks.local_state(join, &mut out) {
                return alloc::borrow::Cow::Owned(out);
            }
        }
        alloc::borrow::Cow::Borrowed(&self.local_state)
    }

    /// This node's push/pull message (memberlist `sendLocalState`).
    fn encode_push_pull(&mut self, join: bool, peer: PushPullPeer<'_>) -> Vec<u8> {
        let user = self.push_pull_user_state(join, peer);
        let mut instances = [0; 4];
        for n in self.members.iter() {
            instances[n.state as usize] += 1;
        }
        self.metrics.instances(instances);
        let states: Vec<PushNodeState<'_>> = self
            .members
            .iter()
            .map(|n| PushNodeState {
                name: n.name(),
                addr: n.addr(),
                port: n.port,
                meta: n.meta(),
                incarnation: n.incarnation,
                state: match n.state {
                    MemberState::Alive => NodeState::Alive,
                    MemberState::Suspect => NodeState::Suspect,
                    MemberState::Dead => NodeState::Dead,
                    MemberState::Left => NodeState::Left,
                },
                vsn: n.vsn,
            })
            .collect();
        let mut out = alloc::vec![0u8; push_pull_len(join, &states, user.len())];
        let Ok(mut w) = PushPullWriter::new(&mut out, join, states.len() as u32, user.len()) else {
            return Vec::new();
        };
        for s in &states {
            if w.push(s).is_err() {
                return Vec::new();
            }
        }
        match w.finish(&user) {
            Ok(n) => {
                out.truncate(n);
                let size = n as f64;
                self.metrics.gauge(crate::observe::Gauge::SizeLocal, size);
                out
            }
            Err(_) => Vec::new(),
        }
    }

    pub(in crate::memberlist) fn stream_input(
        &mut self,
        now: Instant,
        id: StreamId,
        input: StreamInput<'_>,
    ) -> Result<(), InputError> {
        let Some(i) = self.streams.position(id) else {
            return Err(err(InputErrorKind::UnknownStream));
        };
        match input {
            StreamInput::Connected => {
                let s = &mut self.streams.list[i];
                s.connected = true;
                let (role, pending, to) = (s.role, s.pending.take(), s.to);
                let data = match role {
                    Role::PushPull { join, .. } => {
                        let msg = self.encode_push_pull(join, push_pull_peer(to));
                        self.frame_stream(&msg, true)
                    }
                    Role::Ping { seq } => {
                        let mut msg = Vec::new();
                        let ping = Ping {
                            seq_no: seq,
                            node: &self.probe_target,
                            source_addr: crate::wire::IpBytes::from(self.advertise.ip()),
                            source_port: self.advertise.port(),
                            source_node: &self.name,
                        };
                        let _ = ping.encode_to_vec(&mut msg);
                        self.frame_stream(&msg, true)
                    }
                    Role::User | Role::Serve => pending.unwrap_or_default(),
                };
                self.stream_cmds.push_back(StreamCommand::Send { id, data });
                if role == Role::User {
                    self.streams.list.swap_remove(i);
                    self.stream_cmds.push_back(StreamCommand::Close { id });
                }
                Ok(())
            }
            StreamInput::Data(bytes) => {
                let s = &mut self.streams.list[i];
                let cap = self.config.limits.max_stream_frame
                    + crate::wire::STREAM_HEADER_LEN
                    + 2
                    + crate::wire::MAX_LABEL_LEN;
                let len = s.recv.len() + bytes.len();
                if len > cap {
                    self.abandon_stream(id);
                    return Err(err(InputErrorKind::Decode(DecodeError::TooLarge {
                        what: "stream message",
                        len,
                        limit: cap,
                    })));
                }
                s.recv.extend_from_slice(bytes);
                self.try_complete(now, id)
            }
            StreamInput::Closed | StreamInput::Failed => {
                let s = &self.streams.list[i];
                let had_data = !s.recv.is_empty();
                let r = if had_data && input == StreamInput::Closed {
                    // The peer finished writing: what we have must be a whole message.
                    self.try_complete(now, id)
                } else {
                    Ok(())
                };
                if self.streams.position(id).is_some() {
                    self.abandon_stream(id);
                }
                r
            }
        }
    }

    /// Handles the stream's message once it is complete.
    fn try_complete(&mut self, now: Instant, id: StreamId) -> Result<(), InputError> {
        let Some(i) = self.streams.position(id) else {
            return Ok(());
        };
        let recv = core::mem::take(&mut self.streams.list[i].recv);
        let role = self.streams.list[i].role;
        let peeled = self.peel_stream(&recv, role == Role::Serve);
        match peeled {
            Ok(Peeled::Incomplete) => {
                if let Some(i) = self.streams.position(id) {
                    self.streams.list[i].recv = recv;
                }
                Ok(())
            }
            Ok(Peeled::Message(msg)) => self.on_stream_message(now, id, role, &msg),
            Ok(Peeled::Plain(range)) => self.on_stream_message(now, id, role, &recv[range]),
            Err(kind) => {
                // A wrong or missing label closes the stream without a word, as memberlist
                // (v0.5+) does: an answer would tell an outsider that a label is in use.
                if role == Role::Serve && kind != InputErrorKind::LabelMismatch {
                    self.reply_error(id, kind);
                }
                self.abandon_stream(id);
                Err(err(kind))
            }
        }
    }

    fn reply_error(&mut self, id: StreamId, kind: InputErrorKind) {
        let text = alloc::format!("{}", err(kind));
        let mut msg = Vec::new();
        if (ErrResp { error: &text }).encode_to_vec(&mut msg).is_ok() {
            let data = self.frame_stream(&msg, false);
            self.stream_cmds.push_back(StreamCommand::Send { id, data });
        }
    }

    /// Label, decryption and decompression of the bytes received so far.
    fn peel_stream(&mut self, recv: &[u8], serving: bool) -> Result<Peeled, InputErrorKind> {
        let mut rest = recv;
        if serving {
            if rest.first() == Some(&(MessageType::HasLabel as u8)) {
                let Some(&len) = rest.get(1) else {
                    return Ok(Peeled::Incomplete);
                };
                if rest.len() < 2 + usize::from(len) {
                    return Ok(Peeled::Incomplete);
                }
                let (label, r) = crate::wire::strip_label(rest).map_err(InputErrorKind::Decode)?;
                if self.config.skip_inbound_label_check || label != &self.config.label[..] {
                    return Err(InputErrorKind::LabelMismatch);
                }
                rest = r;
            } else if !self.config.skip_inbound_label_check && !self.config.label.is_empty() {
                if rest.is_empty() {
                    return Ok(Peeled::Incomplete);
                }
                return Err(InputErrorKind::LabelMismatch);
            }
        }
        if rest.is_empty() {
            return Ok(Peeled::Incomplete);
        }
        let limits = self.config.limits.clone();
        let plain: Vec<u8>;
        let body: &[u8] = if rest[0] == MessageType::Encrypt as u8 {
            let Some(ring) = &self.config.keyring else {
                return Err(InputErrorKind::Decode(DecodeError::NotEncryptionEnabled));
            };
            let Some(total) =
                stream_frame_len(rest, limits.max_stream_frame).map_err(InputErrorKind::Decode)?
            else {
                return Ok(Peeled::Incomplete);
            };
            if rest.len() < total {
                return Ok(Peeled::Incomplete);
            }
            let mut out = alloc::vec![0u8; total];
            let n = ring
                .open_stream(&rest[..total], &self.config.label, &mut out)
                .map_err(InputErrorKind::Decode)?;
            out.truncate(n);
            plain = out;
            &plain
        } else {
            if self.config.keyring.is_some() && self.config.gossip_verify_incoming {
                return Err(InputErrorKind::NotEncrypted);
            }
            rest
        };
        let encrypted = rest[0] == MessageType::Encrypt as u8;
        match decode_stream(body, &limits) {
            Err(DecodeError::Truncated) if !encrypted => Ok(Peeled::Incomplete),
            Err(e) => Err(InputErrorKind::Decode(e)),
            Ok((Message::Compress(c), _)) => {
                let mut out = Vec::new();
                self.lzw
                    .decompress(&c, limits.max_decompressed, &mut out)
                    .map_err(InputErrorKind::Decode)?;
                if out.is_empty() {
                    return Err(InputErrorKind::Decode(DecodeError::EmptyMessage));
                }
                // One level only, as memberlist's readStream.
                match decode_stream(&out, &limits) {
                    Ok((Message::Compress(_), _)) => Err(InputErrorKind::Decode(
                        DecodeError::UnexpectedMessageType(9),
                    )),
                    Ok(_) => Ok(Peeled::Message(out)),
                    Err(e) => Err(InputErrorKind::Decode(e)),
                }
            }
            Ok((_, used)) => {
                // Plain: `body` is the end of `recv`, after any label.
                let start = recv.len() - body.len();
                Ok(Peeled::Plain(start..start + used))
            }
        }
    }

    fn on_stream_message(
        &mut self,
        now: Instant,
        id: StreamId,
        role: Role,
        msg: &[u8],
    ) -> Result<(), InputError> {
        let limits = self.config.limits.clone();
        if msg.first() == Some(&(MessageType::PushPull as u8)) {
            return self.on_push_pull(now, id, role, &msg[1..]);
        }
        let (message, _) = decode_stream(msg, &limits).map_err(InputError::from)?;
        match (role, message) {
            (Role::Serve, Message::Ping(p)) => {
                if p.node.is_empty() || p.node == &*self.name {
                    let mut out = Vec::new();
                    let _ = Ack {
                        seq_no: p.seq_no,
                        payload: &[],
                    }
                    .encode_to_vec(&mut out);
                    let data = self.frame_stream(&out, false);
                    self.stream_cmds.push_back(StreamCommand::Send { id, data });
                }
                self.abandon_stream(id);
                Ok(())
            }
            (Role::Serve, Message::User(payload)) => {
                let peer = self
                    .streams
                    .position(id)
                    .and_then(|i| self.streams.list[i].to);
                self.abandon_stream(id);
                let peer = peer.unwrap_or(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0));
                self.on_user_payload(now, None, peer, payload).map_err(err)
            }
            (Role::Ping { seq }, Message::Ack(a)) if a.seq_no == seq => {
                if let Some(i) = self.streams.position(id) {
                    self.streams.list.swap_remove(i);
                }
                self.stream_cmds.push_back(StreamCommand::Close { id });
                self.on_ack(seq, now, None);
                Ok(())
            }
            (_, Message::Err(_)) => {
                self.abandon_stream(id);
                Err(err(InputErrorKind::Remote))
            }
            (role, other) => {
                if role == Role::Serve {
                    self.reply_error(
                        id,
                        InputErrorKind::Decode(DecodeError::UnexpectedMessageType(
                            other.message_type() as u8,
                        )),
                    );
                }
                self.abandon_stream(id);
                Err(err(InputErrorKind::Decode(
                    DecodeError::UnexpectedMessageType(other.message_type() as u8),
                )))
            }
        }
    }

    /// A push/pull message (`body` follows the type byte): as the responder, reply with our
    /// state first, then merge (memberlist `handleConn`); as the initiator, merge and close.
    fn on_push_pull(
        &mut self,
        now: Instant,
        id: StreamId,
        role: Role,
        body: &[u8],
    ) -> Result<(), InputError> {
        let limits = self.config.limits.clone();
        let mut states = Vec::new();
        let parts = PushPull::decode_body_into(body, &limits, &mut states);
        let size = body.len() as f64;
        self.metrics
            .sample(crate::observe::Histogram::SizeRemote, size);
        match (role, parts) {
            (Role::Serve, Ok(parts)) => {
                let from = self
                    .streams
                    .position(id)
                    .and_then(|i| self.streams.list[i].to);
                let peer = PushPullPeer::Answering {
                    request: parts.user_state,
                    from: from.unwrap_or(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0)),
                };
                let reply = self.encode_push_pull(parts.join, peer);
                let data = self.frame_stream(&reply, false);
                self.stream_cmds.push_back(StreamCommand::Send { id, data });
                self.abandon_stream(id);
                self.merge_remote(now, &states, parts, peer, true)
            }
            (Role::PushPull { join_id, .. }, Ok(parts)) => {
                // A joiner learns the seed's whole table, which the seed's cluster already
                // knows; memberlist re-gossips every member of it, so N nodes joining cost
                // N^2 messages of gossip. rumor's joiner keeps that news to itself (its own
                // alive reaches the others through the seed, and its follow-up push/pulls
                // exchange the rest).
                let dialed = self
                    .streams
                    .position(id)
                    .and_then(|i| self.streams.list[i].to);
                let peer = push_pull_peer(dialed);
                // A joiner re-gossips the table its seed sent only when no follow-up
                // push/pulls will close the gaps gossip leaves (memberlist's behaviour, which
                // always re-gossips): with them, the news would be sent twice.
                let quiet = join_id
                    .is_some_and(|id| self.streams.joins.iter().any(|j| j.id == id && j.quiet));
                let regossip = join_id.is_none() || (self.config.join_follow_ups == 0 && !quiet);
                let r = self.merge_remote(now, &states, parts, peer, regossip);
                if let Some(i) = self.streams.position(id) {
                    let opened = self.streams.list[i].opened;
                    self.streams.list.swap_remove(i);
                    let ms = now.saturating_duration_since(opened).as_secs_f64() * 1e3;
                    self.metrics
                        .sample(crate::observe::Histogram::PushPullNode, ms);
                }
                self.stream_cmds.push_back(StreamCommand::Close { id });
                self.join_result(join_id, r.is_ok().then_some((now, dialed)));
                r
            }
            (role, r) => {
                let kind = match r {
                    Err(e) => InputErrorKind::Decode(e),
                    Ok(_) => InputErrorKind::Decode(DecodeError::UnexpectedMessageType(
                        MessageType::PushPull as u8,
                    )),
                };
                if role == Role::Serve {
                    self.reply_error(id, kind);
                }
                self.abandon_stream(id);
                Err(err(kind))
            }
        }
    }

    /// memberlist `verifyProtocol` then `mergeState`: remote dead becomes a local suspicion,
    /// remote left becomes left.
    fn merge_remote(
        &mut self,
        now: Instant,
        states: &[PushNodeState<'_>],
        parts: PushPullParts<'_>,
        peer: PushPullPeer<'_>,
        gossip: bool,
    ) -> Result<(), InputError> {
        if !self.verify_protocol(states) {
            return Err(err(InputErrorKind::IncompatibleVersion));
        }
        if let Some(hooks) = &self.config.hooks {
            let views: Vec<crate::MemberView<'_>> = states
                .iter()
                .map(|s| crate::MemberView {
                    name: s.name,
                    addr: SocketAddr::new(
                        s.addr.ip().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                        s.port,
                    ),
                    meta: s.meta,
                    incarnation: s.incarnation,
                    state: match s.state {
                        NodeState::Alive => MemberState::Alive,
                        NodeState::Suspect => MemberState::Suspect,
                        NodeState::Left => MemberState::Left,
                        NodeState::Dead | NodeState::Other(_) => MemberState::Dead,
                    },
                    vsn: s.vsn,
                })
                .collect();
            if !hooks.allow_merge(parts.join, &views) {
                crate::observe::decision!(debug, "merge refused by the application");
                return Err(err(InputErrorKind::MergeRefused));
            }
        }
        let me = self.name.clone();
        // Room for the members this list adds, counted, not claimed: a list of known or
        // refused members reserves nothing that would stay. A joiner that knows only itself
        // need not look each one up (at most one too many).
        let alive = states.iter().filter(|s| s.state == NodeState::Alive);
        let new = if self.members.len() <= 1 {
            alive.count()
        } else {
            alive
                .filter(|s| self.members.find(s.name).is_none())
                .count()
        };
        self.members.reserve(new);
        let mut oversized = None;
        for s in states {
            if let Err(e) = self.member_fits(s.name, s.meta) {
                oversized = Some(e);
                continue;
            }
            match s.state {
                NodeState::Alive => {
                    let port = if s.port == 0 || self.config.protocol_version < 2 {
                        self.advertise.port()
                    } else {
                        s.port
                    };
                    let a = Alive {
                        incarnation: s.incarnation,
                        node: s.name,
                        addr: s.addr,
                        port,
                        meta: s.meta,
                        vsn: s.vsn,
                    };
                    self.alive_node_with(&a, false, gossip, now);
                }
                NodeState::Left => self.dead_node(
                    &Dead {
                        incarnation: s.incarnation,
                        node: s.name,
                        from: s.name,
                    },
                    now,
                ),
                // memberlist turns a remote death into a local suspicion, so the member can
                // still refute. rumor starts that suspicion at its shortest timeout when the
                // peer reports the member dead: the peer's suspicion already ran its course.
                NodeState::Dead | NodeState::Suspect => self.suspect_node_with(
                    &Suspect {
                        incarnation: s.incarnation,
                        node: s.name,
                        from: &me,
                    },
                    s.state == NodeState::Dead,
                    now,
                ),
                NodeState::Other(_) => {}
            }
        }
        self.on_remote_state(now, peer, parts.user_state, parts.join)
            .map_err(err)?;
        // What fitted was merged; the rest is reported.
        match oversized {
            Some(kind) => Err(InputError {
                kind,
                state_changed: true,
            }),
            None => Ok(()),
        }
    }

    fn verify_protocol(&self, remote: &[PushNodeState<'_>]) -> bool {
        let (mut maxpmin, mut minpmax, mut maxdmin, mut mindmax) = (0u8, u8::MAX, 0u8, u8::MAX);
        let alive_remote = remote
            .iter()
            .filter(|r| r.state == NodeState::Alive && r.vsn != crate::wire::Vsn::default())
            .map(|r| r.vsn);
        let alive_local = self
            .members
            .iter()
            .filter(|n| n.state == MemberState::Alive)
            .map(|n| n.vsn);
        for v in alive_remote.chain(alive_local) {
            maxpmin = maxpmin.max(v.protocol_min);
            minpmax = minpmax.min(v.protocol_max);
            maxdmin = maxdmin.max(v.delegate_min);
            mindmax = mindmax.min(v.delegate_max);
        }
        let ok = |v: crate::wire::Vsn| {
            (maxpmin..=minpmax).contains(&v.protocol_cur)
                && (maxdmin..=mindmax).contains(&v.delegate_cur)
        };
        remote.iter().all(|r| ok(r.vsn)) && self.members.iter().all(|n| ok(n.vsn))
    }
}

fn err(kind: InputErrorKind) -> InputError {
    InputError {
        kind,
        state_changed: false,
    }
}

/// Who the other side of a push/pull stream is for the map's state section: the member this
/// node dialled (`to` known), or an answering stream whose request is not at hand.
fn push_pull_peer(to: Option<SocketAddr>) -> PushPullPeer<'static> {
    let unknown = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0);
    to.map_or(
        PushPullPeer::Answering {
            request: &[],
            from: unknown,
        },
        PushPullPeer::Dialed,
    )
}
