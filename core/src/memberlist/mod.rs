//! The state machine of one local node: it routes each input to the module that owns the
//! concern and gathers their outputs.

mod packet;
mod probe;
mod state;
mod stream;

use alloc::boxed::Box;
use alloc::collections::{BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::SocketAddr;
use core::time::Duration;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::awareness::Awareness;
use crate::broadcast::BroadcastQueue;
use crate::config::{
    Config, ConfigError, META_MAX_SIZE, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};
use crate::event::{Event, Member, MemberState, StreamCommand, StreamId, StreamInput, Transmit};
use crate::memberlist::packet::{Outgoing, Scratch};
use crate::memberlist::probe::{Probe, Relay};
use crate::memberlist::state::{Members, Node};
use crate::memberlist::stream::Streams;
use crate::time::Instant;
use crate::wire::{Alive, Dead, IpBytes, Keyring, Lzw, MessageType, Vsn};

/// Why an input was refused. The node keeps running either way; `state_changed` says whether
/// part of the input was applied before the error (e.g. the first parts of a compound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputError {
    /// What was wrong.
    pub kind: InputErrorKind,
    /// Whether anything was applied before the error.
    pub state_changed: bool,
}

/// What was wrong with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputErrorKind {
    /// The bytes could not be decoded (or decrypted, or decompressed).
    Decode(crate::wire::DecodeError),
    /// The packet or stream carries another cluster's label.
    LabelMismatch,
    /// Encryption is configured but the input is not encrypted.
    NotEncrypted,
    /// The stream is unknown (never opened, or already closed).
    UnknownStream,
    /// Too many streams are open; the new one is refused.
    TooManyStreams,
    /// A stream's peer answered with an error message.
    Remote,
    /// The remote versions are incompatible with the cluster's (memberlist `verifyProtocol`).
    IncompatibleVersion,
    /// A rumor message (replicated map or relayed broadcast) is malformed.
    Kv(crate::kv::KvDecodeError),
    /// The sender's address is outside [`Config::cidrs_allowed`](crate::Config::cidrs_allowed).
    AddressNotAllowed,
    /// The application's [`Hooks::allow_merge`](crate::Hooks::allow_merge) refused the
    /// member list of a push/pull.
    MergeRefused,
}

impl From<crate::wire::DecodeError> for InputError {
    fn from(e: crate::wire::DecodeError) -> Self {
        Self {
            kind: InputErrorKind::Decode(e),
            state_changed: false,
        }
    }
}

impl core::fmt::Display for InputError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.kind {
            InputErrorKind::Decode(e) => write!(f, "{e}")?,
            InputErrorKind::LabelMismatch => f.write_str("label mismatch")?,
            InputErrorKind::NotEncrypted => {
                f.write_str("encryption is configured but the input is not encrypted")?
            }
            InputErrorKind::UnknownStream => f.write_str("unknown stream")?,
            InputErrorKind::TooManyStreams => f.write_str("too many streams")?,
            InputErrorKind::Remote => f.write_str("the peer answered with an error")?,
            InputErrorKind::IncompatibleVersion => f.write_str("incompatible protocol versions")?,
            InputErrorKind::Kv(e) => write!(f, "{e}")?,
            InputErrorKind::AddressNotAllowed => f.write_str("address not allowed")?,
            InputErrorKind::MergeRefused => f.write_str("the application refused the merge")?,
        }
        if self.state_changed {
            f.write_str(" (after part of the input was applied)")?;
        }
        Ok(())
    }
}

impl core::error::Error for InputError {}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// No alive member has that name.
    UnknownMember,
    /// Metadata over 512 bytes.
    MetaTooLarge(usize),
    /// The node has left.
    Left,
    /// Too many streams are open.
    TooManyStreams,
    /// Too many explicit pings wait for an answer.
    TooManyPings,
    /// The keyring change is refused.
    Key(crate::wire::KeyError),
    /// Encryption is not configured.
    NoKeyring,
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownMember => f.write_str("no alive member has that name"),
            Self::MetaTooLarge(n) => write!(f, "metadata of {n} bytes exceeds 512"),
            Self::Left => f.write_str("the node has left"),
            Self::TooManyStreams => f.write_str("too many streams"),
            Self::TooManyPings => f.write_str("too many pings wait for an answer"),
            Self::Key(e) => write!(f, "{e}"),
            Self::NoKeyring => f.write_str("encryption is not configured"),
        }
    }
}

impl core::error::Error for CommandError {}

/// A failed member, remembered so that it can be reached again after a partition heals.
#[derive(Debug)]
pub(in crate::memberlist) struct Failed {
    pub(in crate::memberlist) name: Box<str>,
    pub(in crate::memberlist) addr: SocketAddr,
    pub(in crate::memberlist) since: Instant,
}

/// Most failed members remembered for reconnection.
const MAX_FAILED: usize = 1024;

/// What a node holds, from [`Memberlist::footprint`]. Each count has a bound that no peer
/// can raise: the member table [`Limits::max_members`](crate::Limits::max_members), each
/// gossip queue `max_queued_broadcasts`, relayed and explicit pings 1,024 each, remembered
/// failures 1,024, streams `max_inbound_streams + max_outbound_streams`, one stream's buffer
/// the largest stream message `limits` allow. Datagrams, events and stream commands wait
/// only until the embedding loop drains them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// Entries in the member table (alive, suspect, and dead or left not yet forgotten).
    pub members: usize,
    /// Membership news waiting to be gossiped.
    pub queued_broadcasts: usize,
    /// User broadcasts waiting to be gossiped.
    pub queued_user_broadcasts: usize,
    /// Indirect pings this node relays for others, waiting for their ack.
    pub relays: usize,
    /// Explicit pings ([`Memberlist::ping`]) waiting for their ack.
    pub pings: usize,
    /// Suspicion deadlines scheduled (some may belong to suspicions already refuted).
    pub suspicion_timers: usize,
    /// Failed members remembered for reconnection.
    pub failed: usize,
    /// Datagrams waiting for [`Memberlist::poll_transmit`].
    pub outgoing: usize,
    /// Events waiting for [`Memberlist::poll_event`].
    pub events: usize,
    /// Commands waiting for [`Memberlist::poll_stream`].
    pub stream_commands: usize,
    /// Bytes in those commands.
    pub stream_command_bytes: usize,
    /// Open streams.
    pub streams: usize,
    /// Bytes held by the open streams: what arrived and is not yet a whole message, and
    /// what waits to be sent until a connection is up.
    pub stream_buffered: usize,
    /// The most one stream holds.
    pub stream_buffered_max: usize,
}

/// One node of a memberlist cluster, as a sans-IO state machine.
///
/// # Driving it
///
/// - **Inputs** (`handle_*`): a datagram ([`handle_packet`](Self::handle_packet)), stream
///   events ([`accept_stream`](Self::accept_stream), [`handle_stream`](Self::handle_stream)),
///   a deadline passing ([`handle_timeout`](Self::handle_timeout)), and commands (`join`,
///   `leave`, `broadcast`, `send`, `set_meta`, `set_local_state`, key ring changes).
/// - **Outputs** (`poll_*`): after every input, drain [`poll_transmit`](Self::poll_transmit),
///   [`poll_stream`](Self::poll_stream) and [`poll_event`](Self::poll_event) until each returns
///   `None`, then sleep until [`poll_timeout`](Self::poll_timeout) or the next input.
/// - `now` must never go backwards. Calling `handle_timeout` early or twice is harmless.
/// - Inputs may arrive at any point, also between two `poll_*` calls of one drain (a loop that
///   learns a connect's outcome while draining `poll_stream` may report it at once). Commands
///   take effect immediately and need no `handle_timeout` after them; drain as after any input.
/// - The node expects to run at least every gossip interval: a loop that blocks longer (a
///   blocking `connect`, a slow event consumer) looks to the node like a stall, which it
///   answers by refuting and lowering its own health. Connect without blocking where you can.
/// - After [`StreamCommand::Close`](crate::StreamCommand::Close) the core forgets the stream:
///   flush what it sent within `tcp_timeout`, then drop the connection.
///
/// It mirrors memberlist's `Memberlist` (state.go, net.go): probes, gossip, push/pull and the
/// member table, with Lifeguard's awareness and dynamic suspicion.
pub struct Memberlist {
    // Every field is private to this module and the protocol modules inside it (probe,
    // state, stream, packet): what lies outside, rumor's replicated map included, reaches the
    // node only through its public methods.
    config: Config,
    name: Box<str>,
    advertise: SocketAddr,
    rng: ChaCha20Rng,
    members: Members,
    awareness: Awareness,
    queue: BroadcastQueue,
    user_queue: BroadcastQueue,
    seq_no: u32,
    probe: Option<Probe>,
    probe_target: alloc::string::String,
    probe_index: usize,
    probe_tick_pending: bool,
    relays: Vec<Relay>,
    /// Explicit pings waiting for their ack.
    pings: Vec<crate::memberlist::probe::Pinging>,
    next_probe: Instant,
    next_gossip: Instant,
    next_push_pull: Instant,
    next_reconnect: Instant,
    suspicion_timers: BinaryHeap<Reverse<(Instant, Box<str>)>>,
    outgoing: VecDeque<Outgoing>,
    events: VecDeque<Event>,
    stream_cmds: VecDeque<StreamCommand>,
    streams: Streams,
    local_state: Vec<u8>,
    leaving: bool,
    leave_deadline: Option<Instant>,
    failed: Vec<Failed>,
    lzw: Lzw,
    scratch: Scratch,
    picked: Vec<usize>,
    next_join_id: u64,
    next_broadcast_id: u64,
    /// The sender of the datagram being handled: a refutation is also sent straight back.
    reply_to: Option<SocketAddr>,
    /// Quick push/pulls still due after a join (see `joined`).
    follow_ups: u8,
    /// Where the first follow-up goes: the seed a join went through (see `joined`).
    follow_up_seed: Option<SocketAddr>,
    /// A protocol layer above membership: rumor's replicated map and relayed broadcasts
    /// when configured, or the application's own.
    extension: Option<Box<dyn crate::Extension>>,
    /// This node's metrics, registered with its labels.
    metrics: crate::observe::Metrics,
}

impl core::fmt::Debug for Memberlist {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Memberlist")
            .field("name", &self.name)
            .field("advertise", &self.advertise)
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Memberlist {
    /// A node named `name`, reachable at `advertise`, with metadata `meta` (at most 512
    /// bytes). `seed` feeds every random choice and every encryption nonce: give each node a
    /// different one (from the OS in production, from a master seed in a simulator).
    pub fn new(
        config: Config,
        name: &str,
        advertise: SocketAddr,
        meta: &[u8],
        seed: [u8; 32],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if name.len() > config.limits.max_name {
            return Err(ConfigError::NameTooLong(name.len()));
        }
        if meta.len() > META_MAX_SIZE {
            return Err(ConfigError::MetaTooLarge(meta.len()));
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        // Periodic work starts after a random stagger, as memberlist's `schedule` does.
        let mut stagger = |d: Duration| {
            if d.is_zero() {
                return now;
            }
            now + Duration::from_nanos(rng.next_u64() % d.as_nanos().max(1) as u64)
        };
        let next_probe = stagger(config.probe_interval);
        let next_gossip = stagger(config.gossip_interval);
        let next_push_pull = stagger(config.push_pull_interval);
        let next_reconnect = now + config.reconnect_interval;
        // The replicated map and the relay, when configured, as an extension of their own.
        let extension = (config.kv.enabled || config.relay_broadcasts).then(|| {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            Box::new(crate::kv::Kv::new(&config, name, seed, now)) as Box<dyn crate::Extension>
        });
        let cap = config.limits.max_queued_broadcasts;
        let mut m = Self {
            awareness: Awareness::new(config.awareness_max_multiplier),
            streams: Streams::default(),
            name: Box::from(name),
            advertise,
            rng,
            members: Members::default(),
            queue: BroadcastQueue::with_cap(cap),
            user_queue: BroadcastQueue::with_cap(cap),
            seq_no: 0,
            probe: None,
            probe_target: alloc::string::String::new(),
            probe_index: 0,
            probe_tick_pending: false,
            relays: Vec::new(),
            pings: Vec::new(),
            next_probe,
            next_gossip,
            next_push_pull,
            next_reconnect,
            suspicion_timers: BinaryHeap::new(),
            outgoing: VecDeque::with_capacity(64),
            events: VecDeque::new(),
            stream_cmds: VecDeque::new(),
            local_state: Vec::new(),
            leaving: false,
            leave_deadline: None,
            failed: Vec::new(),
            lzw: Lzw::new(),
            scratch: Scratch::default(),
            picked: Vec::with_capacity(8),
            next_join_id: 0,
            next_broadcast_id: 0,
            reply_to: None,
            follow_ups: 0,
            follow_up_seed: None,
            extension,
            metrics: crate::observe::Metrics::new(&config.metric_labels),
            config,
        };
        // memberlist's setAlive: our own alive, incarnation 1, through the normal rules.
        let vsn = m.vsn();
        let a = Alive {
            incarnation: 1,
            node: name,
            addr: IpBytes::from(advertise.ip()),
            port: advertise.port(),
            meta,
            vsn,
        };
        m.alive_node(&a, true, now);
        Ok(m)
    }

    /// The versions this node advertises: `[1, 5, protocol_version, dmin, dmax, dcur]`.
    pub(in crate::memberlist) fn vsn(&self) -> Vsn {
        Vsn {
            protocol_min: PROTOCOL_VERSION_MIN,
            protocol_max: PROTOCOL_VERSION_MAX,
            protocol_cur: self.config.protocol_version,
            delegate_min: self.config.delegate_protocol_min,
            delegate_max: self.config.delegate_protocol_max,
            delegate_cur: self.config.delegate_protocol_version,
        }
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address this node advertises.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.advertise
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The live members, alive or suspect, this node included, in no particular order
    /// (memberlist's `Members`).
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.members
            .iter()
            .filter(|n| !n.dead_or_left())
            .map(Node::snapshot)
    }

    /// Every member this node knows, dead and left ones included until they are reaped.
    pub fn all_members(&self) -> impl Iterator<Item = Member> + '_ {
        self.members.iter().map(Node::snapshot)
    }

    /// Number of members known, dead and left ones included until reaped (memberlist's
    /// `estNumNodes`).
    pub fn num_known(&self) -> usize {
        self.members.len()
    }

    /// This node as its own table lists it (memberlist's `LocalNode`).
    pub fn local_node(&self) -> Option<Member> {
        self.member(&self.name)
    }

    /// Number of alive or suspect members, this node included (memberlist's `NumMembers`).
    pub fn num_members(&self) -> usize {
        self.members
            .iter()
            .filter(|n| matches!(n.state, MemberState::Alive | MemberState::Suspect))
            .count()
    }

    /// The member called `name`, if known.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.members
            .find(name)
            .map(|i| self.members.get(i).snapshot())
    }

    /// The state of the member called `name`, if known.
    pub fn member_state(&self, name: &str) -> Option<MemberState> {
        self.members.find(name).map(|i| self.members.get(i).state)
    }

    /// Lifeguard's health score of this node: 0 is healthy, up to `awareness_max_multiplier - 1`.
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Bytes one member costs in this node's table: the record and its slot in the name
    /// index. Its address, name and metadata are in the record when they total 22 bytes or
    /// less (an IPv4 address, a name like `node-1234`, a few bytes of metadata), else on the
    /// heap besides.
    pub fn member_entry_bytes() -> usize {
        core::mem::size_of::<Node>() + core::mem::size_of::<u32>()
    }

    /// Messages waiting in this node's gossip queues (membership news and user broadcasts),
    /// like memberlist's `broadcasts.NumQueued()`: a long queue means gossip is behind.
    pub fn queued_broadcasts(&self) -> usize {
        self.queue.len() + self.user_queue.len()
    }

    /// What this node holds now, item by item: for monitoring, and for tests and fuzzers
    /// that check every store stays within its bound whatever peers send. Counting walks
    /// the stream table and the pending stream commands (a few dozen entries at most).
    pub fn footprint(&self) -> Footprint {
        let (mut stream_buffered, mut stream_buffered_max) = (0, 0);
        for b in self.streams.buffered() {
            stream_buffered += b;
            stream_buffered_max = stream_buffered_max.max(b);
        }
        let stream_command_bytes = self
            .stream_cmds
            .iter()
            .map(|c| match c {
                StreamCommand::Send { data, .. } => data.len(),
                _ => 0,
            })
            .sum();
        Footprint {
            members: self.members.len(),
            queued_broadcasts: self.queue.len(),
            queued_user_broadcasts: self.user_queue.len(),
            relays: self.relays.len(),
            pings: self.pings.len(),
            suspicion_timers: self.suspicion_timers.len(),
            failed: self.failed.len(),
            outgoing: self.outgoing.len(),
            events: self.events.len(),
            stream_commands: self.stream_cmds.len(),
            stream_command_bytes,
            streams: self.streams.len(),
            stream_buffered,
            stream_buffered_max,
        }
    }

    pub(in crate::memberlist) fn next_seq_no(&mut self) -> u32 {
        self.seq_no = self.seq_no.wrapping_add(1);
        self.seq_no
    }

    pub(in crate::memberlist) fn self_index(&self) -> Option<usize> {
        self.members.find(&self.name)
    }

    /// A datagram arrived from `from`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), InputError> {
        self.metrics
            .count(crate::observe::Counter::UdpReceived, data.len() as u64);
        if !self.ip_allowed(from.ip()) {
            return Err(InputError {
                kind: InputErrorKind::AddressNotAllowed,
                state_changed: false,
            });
        }
        self.skip_idle_gossip(now);
        let r = self.ingest_packet(now, from, data);
        if let Err(e) = &r {
            crate::observe::decision!(debug, from = %from, error = %e, "dropped a datagram");
            self.metrics.count(crate::observe::Counter::UdpDropped, 1);
            let _ = e;
        }
        self.drive(now);
        r
    }

    /// A deadline passed (or may have): run the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        self.drive(now);
    }

    /// Notices that this node itself stalled (a paused process, a long GC, an overloaded
    /// host): a timer that fires most of a probe interval after its deadline means it was not
    /// running. Then the failures it would see are its own: rumor refutes at once (an alive
    /// with a new incarnation cancels suspicions of this node wherever it arrives), drops the
    /// probe that timed out while it slept instead of accusing the target, counts the stall
    /// against its own health, and gives members it suspects one more probe interval, so
    /// refutations waiting in its socket buffer can still arrive. memberlist has no such
    /// check; the messages it sends are the usual ones.
    fn enter(&mut self, now: Instant) {
        // The deadlines as they stood since the last input (the gossip tick aside: it is
        // asked for only while there is news). The probe tick keeps them at most a probe
        // interval apart.
        let due = self.timers_except_gossip();
        self.skip_idle_gossip(now);
        let late = now.saturating_duration_since(due);
        let stall = (self.config.probe_interval)
            .saturating_sub(self.config.gossip_interval)
            .max(self.config.probe_interval / 2);
        if late < stall || self.leaving {
            return;
        }
        crate::observe::decision!(
            warn,
            late_ms = late.as_millis() as u64,
            "this node stalled: refuting at once, deferring suspicions"
        );
        if let Some(p) = self.probe.take()
            && let Some(id) = p.fallback
        {
            self.abandon_stream(id);
        }
        self.adjust_health(1);
        let grace = now + self.config.probe_interval;
        self.defer_suspicions(grace);
        if let Some(i) = self.self_index() {
            let inc = self.members.get(i).incarnation;
            self.refute(inc);
            // `refute` already counted against our health; once is enough.
            self.adjust_health(-1);
        }
    }

    /// Runs every timer that is due at `now`.
    pub(in crate::memberlist) fn drive(&mut self, now: Instant) {
        self.expire_suspicions(now);
        self.probe_timers(now);
        self.relay_timers(now);
        if now >= self.next_gossip {
            self.next_gossip = advance(self.next_gossip, self.config.gossip_interval, now);
            self.gossip(now);
        }
        if self.push_pull_enabled() && now >= self.next_push_pull {
            let interval = if self.follow_ups > 0 {
                self.follow_ups -= 1;
                // The first comes one probe interval after the join, the others 2, 4, 8, 16
                // and 32 apart (1, 3, 7, 15, 31 and 63 with the default 5): the last, long
                // after the join, still repairs what churn meanwhile left (without it, on
                // the churn simulation, one short-lived node took 41 s instead of 21 s to
                // be declared dead everywhere).
                let k = self
                    .config
                    .join_follow_ups
                    .saturating_sub(self.follow_ups)
                    .min(16);
                self.config.probe_interval.saturating_mul(1u32 << k)
            } else {
                push_pull_scale(self.config.push_pull_interval, self.members.len())
            };
            self.next_push_pull = advance(self.next_push_pull, interval, now);
            self.periodic_push_pull(now);
        }
        if !self.config.reconnect_interval.is_zero() && now >= self.next_reconnect {
            self.next_reconnect = advance(self.next_reconnect, self.config.reconnect_interval, now);
            self.reconnect(now);
        }
        self.with_ext(|ext, node| ext.handle_timeout(node, now));
        self.stream_timers(now);
        self.leave_progress(now);
        // A timer above may have confirmed a suspicion whose shortened timeout has already
        // passed (a failed probe, a push/pull's verdict): it fires now, not at the next input
        // (the state-machine fuzzer found the deadline left at `now`).
        self.expire_suspicions(now);
    }

    fn push_pull_enabled(&self) -> bool {
        !self.config.push_pull_interval.is_zero() || self.follow_ups > 0
    }

    /// A join's push/pull succeeded. While a cluster forms, gossip's retransmit limit runs
    /// out (or its queues congest) before every node has heard of every other, and memberlist
    /// then waits for periodic push/pull: tens of seconds at 100 nodes, minutes at 1,000.
    /// rumor follows a join with quick push/pulls with random members, 1, 3, 7, 15, 31 and 63
    /// probe intervals later, which close those gaps for the joiner and the members it talks
    /// to, including gaps left by nodes that joined after it.
    ///
    /// The first follow-up also goes back to the seed the join went through: the seed heard
    /// every later joiner first hand (their joins were push/pulls with it), while gossip may
    /// not yet have brought them to anyone else, so a cluster forming through one seed is
    /// complete everywhere one probe interval after its last join. It costs the seed what
    /// the join itself cost. On the churn simulation, going to the seed instead of the random
    /// member moved the median detection right after churn from 8.4 to 9.0 s (60 seeds);
    /// beside it, from 8.2 to 8.5 s (200 seeds).
    ///
    /// Without follow-ups, the first periodic push/pull is staggered over the interval scaled
    /// to the cluster just learned. memberlist staggers it over the unscaled interval, so a
    /// mass restart of thousands of nodes sends all of them into a full-state exchange within
    /// those first seconds.
    pub(in crate::memberlist) fn joined(&mut self, now: Instant, seed: Option<SocketAddr>) {
        if self.follow_ups != self.config.join_follow_ups || self.follow_up_seed.is_none() {
            self.follow_up_seed = seed;
        }
        self.follow_ups = self.config.join_follow_ups;
        if self.follow_ups == 0 {
            self.follow_up_seed = None;
            let scaled = push_pull_scale(self.config.push_pull_interval, self.members.len());
            if !scaled.is_zero() {
                let nanos = self.rng.next_u64() % (scaled.as_nanos().max(1) as u64);
                self.next_push_pull = now + Duration::from_nanos(nanos);
            }
            return;
        }
        // Exactly one probe interval on, even when a periodic push/pull was due sooner: a
        // follow-up right after the join would find the seed no wiser than the join did.
        self.next_push_pull = now + self.config.probe_interval;
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self.timers_except_gossip();
        if self.queue.len() == 0 && self.user_queue.len() == 0 {
            // Nothing to gossip: the tick would do nothing, so it wakes no one (five wake-ups
            // a second per node at the LAN profile). The ticks that pass meanwhile are
            // skipped at the next input, so news still goes out on the tick's beat.
            return Some(t);
        }
        Some(t.min(self.next_gossip))
    }

    /// Every idle gossip tick up to `now` passed with nothing to send: the next tick is the
    /// first after `now` on the same beat.
    fn skip_idle_gossip(&mut self, now: Instant) {
        if now < self.next_gossip || self.queue.len() != 0 || self.user_queue.len() != 0 {
            return;
        }
        let period = self.config.gossip_interval.as_nanos().max(1);
        let behind = now.saturating_duration_since(self.next_gossip).as_nanos();
        let ticks = behind / period + 1;
        let skip = u64::try_from(ticks.saturating_mul(period)).unwrap_or(u64::MAX);
        self.next_gossip = self.next_gossip + Duration::from_nanos(skip);
        // What is queued from now on is stamped with this time (the queues are empty).
        self.queue.prune(now, Duration::ZERO);
        self.user_queue.prune(now, Duration::ZERO);
    }

    /// The earliest deadline but the gossip tick's.
    fn timers_except_gossip(&self) -> Instant {
        let mut t = self.next_probe;
        if self.push_pull_enabled() {
            t = t.min(self.next_push_pull);
        }
        if !self.config.reconnect_interval.is_zero() {
            t = t.min(self.next_reconnect);
        }
        if let Some(Reverse((d, _))) = self.suspicion_timers.peek() {
            t = t.min(*d);
        }
        if let Some(p) = &self.probe {
            t = t.min(p.next_deadline());
        }
        for r in &self.relays {
            t = t.min(r.deadline);
        }
        for p in &self.pings {
            t = t.min(p.deadline);
        }
        if let Some(d) = self.streams.next_deadline() {
            t = t.min(d);
        }
        if let Some(d) = self.leave_deadline {
            t = t.min(d);
        }
        if let Some(d) = self.extension.as_ref().and_then(|e| e.poll_timeout()) {
            t = t.min(d);
        }
        t
    }

    /// Writes the next datagram into `buf` (cleared first) and says where it goes.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let _ = now;
        while let Some(out) = self.outgoing.pop_front() {
            if let Some(t) = self.build_transmit(out, buf) {
                self.metrics
                    .count(crate::observe::Counter::UdpSent, t.len as u64);
                return Some(t);
            }
        }
        None
    }

    /// The next stream command.
    pub fn poll_stream(&mut self) -> Option<StreamCommand> {
        let c = self.stream_cmds.pop_front();
        if let Some(StreamCommand::Send { data, .. }) = &c {
            let sent = data.len() as u64;
            self.metrics.count(crate::observe::Counter::TcpSent, sent);
        }
        c
    }

    /// Whether a member's name and metadata from a peer fit [`crate::Limits`]: names at most
    /// `max_name` bytes, metadata at most `max_meta`. A refusal is counted.
    pub(in crate::memberlist) fn member_fits(
        &self,
        name: &str,
        meta: &[u8],
    ) -> Result<(), InputErrorKind> {
        let limits = &self.config.limits;
        let over = |what, len, limit| {
            (len > limit).then_some(crate::wire::DecodeError::TooLarge { what, len, limit })
        };
        let refused = over("node name", name.len(), limits.max_name)
            .or_else(|| over("node metadata", meta.len(), limits.max_meta));
        match refused {
            None => Ok(()),
            Some(e) => {
                self.metrics.count(crate::observe::Counter::Oversized, 1);
                Err(InputErrorKind::Decode(e))
            }
        }
    }

    /// memberlist's `IPAllowed`: whether `ip` lies in one of `cidrs_allowed` (all do when it
    /// is empty). A refusal is counted.
    pub(in crate::memberlist) fn ip_allowed(&self, ip: core::net::IpAddr) -> bool {
        let nets = &self.config.cidrs_allowed;
        if nets.is_empty() || nets.iter().any(|n| n.contains(ip)) {
            return true;
        }
        self.metrics.count(crate::observe::Counter::CidrRefused, 1);
        crate::observe::decision!(debug, ip = %ip, "address not allowed");
        false
    }

    /// Changes Lifeguard's health score by `delta` and reports it.
    pub(in crate::memberlist) fn adjust_health(&mut self, delta: i32) {
        self.awareness.apply(delta);
        let score = f64::from(self.awareness.score());
        self.metrics
            .gauge(crate::observe::Gauge::HealthScore, score);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        while let Some((id, outcome)) = self.user_queue.finished() {
            self.events
                .push_back(Event::BroadcastFinished { id, outcome });
        }
        let e = self.events.pop_front();
        if e.is_some() && self.events.is_empty() && self.events.capacity() > 16 {
            // A burst (a join learns every member at once) is over: its room goes back.
            self.events.shrink_to(0);
        }
        e.or_else(|| self.extension.as_mut()?.poll_event())
    }

    /// Queues a user broadcast: gossiped and piggybacked like memberlist's own messages, each
    /// handed out at most `retransmit_mult * ceil(log10(n + 1))` times by this node. With
    /// [`Config::relay_broadcasts`], every rumor node passes it on once, so it reaches the
    /// whole cluster (see [`crate::kv`]).
    pub fn broadcast(&mut self, payload: &[u8]) {
        self.broadcast_with(payload, crate::BroadcastOptions::default());
    }

    /// Queues a user broadcast as [`broadcast`](Self::broadcast) does, named (a newer one
    /// with the same name replaces it while it is queued) or unique, and with a notice
    /// ([`Event::BroadcastFinished`]) when it leaves the queue if `options.notify`. Returns
    /// the id that notice carries. memberlist's `TransmitLimitedQueue.QueueBroadcast` with a
    /// `NamedBroadcast` or `UniqueBroadcast`.
    pub fn broadcast_with(&mut self, payload: &[u8], options: crate::BroadcastOptions<'_>) -> u64 {
        self.next_broadcast_id += 1;
        let id = self.next_broadcast_id;
        let track = options.notify.then_some(id);
        // Names live apart from memberlist's own keys (node names) in the queues.
        let key = options.name.map(|name| {
            let mut key = alloc::string::String::with_capacity(name.len() + 1);
            key.push('\u{1}');
            key.push_str(name);
            key
        });
        // An extension may wrap the application's broadcast (rumor's relay envelope); its own
        // broadcasts, queued while it runs, are not passed back to it.
        let wrapped = self
            .with_ext(|ext, node| ext.wrap_broadcast(node, payload))
            .flatten();
        let body = wrapped.as_deref().unwrap_or(payload);
        let mut msg = Vec::with_capacity(body.len() + 1);
        msg.push(MessageType::User as u8);
        msg.extend_from_slice(body);
        self.user_queue
            .push_tracked(key.as_deref(), Bytes::from(msg), false, track);
        id
    }

    /// Sends `payload` to `to`, member or not, as a datagram or, if `reliable`, over a stream
    /// (memberlist's `SendToAddress`; over a stream, what `SendReliable` does for a member).
    /// Like memberlist's, the datagram carries no CRC, whatever the target's protocol version.
    pub fn send_to_addr(
        &mut self,
        now: Instant,
        to: SocketAddr,
        payload: &[u8],
        reliable: bool,
    ) -> Result<(), CommandError> {
        if reliable {
            return self.start_user_stream(now, to, payload);
        }
        let mut v = Vec::with_capacity(payload.len() + 1);
        v.push(MessageType::User as u8);
        v.extend_from_slice(payload);
        self.outgoing.push_back(Outgoing::Message {
            to,
            msg: Bytes::from(v),
            crc: false,
        });
        Ok(())
    }

    /// Sends `payload` to the member called `to`: as a datagram (`reliable == false`, memberlist
    /// `SendBestEffort`), or over a stream (`SendReliable`).
    pub fn send(
        &mut self,
        now: Instant,
        to: &str,
        payload: &[u8],
        reliable: bool,
    ) -> Result<(), CommandError> {
        let i = self.members.find(to).ok_or(CommandError::UnknownMember)?;
        let node = self.members.get(i);
        if node.dead_or_left() {
            return Err(CommandError::UnknownMember);
        }
        let addr = node.socket_addr().ok_or(CommandError::UnknownMember)?;
        if reliable {
            self.start_user_stream(now, addr, payload)
        } else {
            let crc = node.vsn.protocol_max >= 5;
            let mut v = Vec::with_capacity(payload.len() + 1);
            v.push(MessageType::User as u8);
            v.extend_from_slice(payload);
            self.outgoing.push_back(Outgoing::Message {
                to: addr,
                msg: Bytes::from(v),
                crc,
            });
            Ok(())
        }
    }

    /// Sets the application state sent in push/pull exchanges (memberlist `LocalState`).
    pub fn set_local_state(&mut self, state: &[u8]) {
        self.local_state.clear();
        self.local_state.extend_from_slice(state);
    }

    /// Changes this node's metadata and gossips it with a new incarnation (memberlist
    /// `UpdateNode`).
    pub fn set_meta(&mut self, now: Instant, meta: &[u8]) -> Result<(), CommandError> {
        if meta.len() > META_MAX_SIZE {
            return Err(CommandError::MetaTooLarge(meta.len()));
        }
        if self.leaving {
            return Err(CommandError::Left);
        }
        let i = self.self_index().ok_or(CommandError::Left)?;
        let inc = self.members.get(i).incarnation.saturating_add(1);
        let name = self.name.clone();
        let a = Alive {
            incarnation: inc,
            node: &name,
            addr: IpBytes::from(self.advertise.ip()),
            port: self.advertise.port(),
            meta,
            vsn: self.vsn(),
        };
        self.alive_node(&a, true, now);
        Ok(())
    }

    /// Leaves the cluster gracefully: gossips `dead` about this node with `from` = itself
    /// (seen as *left*). [`Event::LeaveFinished`] follows once the message went out as often
    /// as the retransmit limit allows, or at `now + timeout`.
    pub fn leave(&mut self, now: Instant, timeout: Duration) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let Some(i) = self.self_index() else { return };
        let inc = self.members.get(i).incarnation;
        let name = self.name.clone();
        let d = Dead {
            incarnation: inc,
            node: &name,
            from: &name,
        };
        self.dead_node(&d, now);
        let anyone = self
            .members
            .iter()
            .any(|n| n.name() != &*self.name && n.state == MemberState::Alive);
        if anyone && self.queue.has_notify() {
            self.leave_deadline = Some(now + timeout);
        } else {
            self.queue.take_notified();
            self.events.push_back(Event::LeaveFinished);
        }
    }

    fn leave_progress(&mut self, now: Instant) {
        if let Some(deadline) = self.leave_deadline
            && (self.queue.take_notified() || now >= deadline)
        {
            self.leave_deadline = None;
            self.events.push_back(Event::LeaveFinished);
        }
    }

    /// True once [`leave`](Self::leave) was called.
    pub fn has_left(&self) -> bool {
        self.leaving
    }

    /// Installs a key for decryption (memberlist `AddKey`); the first key installs a keyring.
    pub fn add_key(&mut self, key: crate::wire::SecretKey) {
        match &mut self.config.keyring {
            Some(r) => r.add(key),
            None => self.config.keyring = Some(Keyring::new(key)),
        }
    }

    /// Makes an installed key the one used to encrypt (memberlist `UseKey`).
    pub fn use_key(&mut self, key: &crate::wire::SecretKey) -> Result<(), CommandError> {
        let r = self
            .config
            .keyring
            .as_mut()
            .ok_or(CommandError::NoKeyring)?;
        r.use_key(key).map_err(CommandError::Key)
    }

    /// Removes a key that is not the primary (memberlist `RemoveKey`).
    pub fn remove_key(&mut self, key: &crate::wire::SecretKey) -> Result<(), CommandError> {
        let r = self
            .config
            .keyring
            .as_mut()
            .ok_or(CommandError::NoKeyring)?;
        r.remove(key).map_err(CommandError::Key)
    }

    /// A stream connection from `peer` was accepted. Returns its id, or `None` if too many
    /// inbound streams are open (close the connection).
    pub fn accept_stream(&mut self, now: Instant, peer: SocketAddr) -> Option<StreamId> {
        self.metrics.count(crate::observe::Counter::TcpAccept, 1);
        if !self.ip_allowed(peer.ip()) {
            return None;
        }
        self.streams.accept(now, peer, &self.config)
    }

    /// Something happened on a stream.
    pub fn handle_stream(
        &mut self,
        now: Instant,
        id: StreamId,
        input: StreamInput<'_>,
    ) -> Result<(), InputError> {
        self.skip_idle_gossip(now);
        let r = self.stream_input(now, id, input);
        if let Err(e) = &r {
            crate::observe::decision!(debug, stream = id.0, error = %e, "stream closed on bad input");
            let _ = e;
        }
        self.drive(now);
        r
    }

    pub(in crate::memberlist) fn remember_failed(&mut self, m: &Member, now: Instant) {
        if self.config.reconnect_interval.is_zero() {
            return;
        }
        self.failed.retain(|f| *f.name != *m.name);
        if self.failed.len() >= MAX_FAILED {
            self.failed.remove(0);
        }
        self.failed.push(Failed {
            name: m.name.clone(),
            addr: m.addr,
            since: now,
        });
    }

    pub(in crate::memberlist) fn forget_failed(&mut self, name: &str) {
        if !self.failed.is_empty() {
            self.failed.retain(|f| &*f.name != name);
        }
    }

    /// Tries to reach one failed member again with a push/pull (Serf's reconnect), so that
    /// both sides of a healed partition learn of each other and refute their deaths.
    fn reconnect(&mut self, now: Instant) {
        let timeout = self.config.reconnect_timeout;
        self.failed
            .retain(|f| now.saturating_duration_since(f.since) <= timeout);
        if self.failed.is_empty() || self.leaving {
            return;
        }
        let i = (self.rng.next_u64() % self.failed.len() as u64) as usize;
        let addr = self.failed[i].addr;
        let _ = self.start_push_pull(now, addr, true, None);
    }
}

/// The next tick of a period that started at `prev`, skipping ticks missed before `now` (a
/// Go ticker drops them too).
pub(in crate::memberlist) fn advance(prev: Instant, period: Duration, now: Instant) -> Instant {
    let next = prev + period;
    if next > now { next } else { now + period }
}

/// memberlist's `pushPullScale`: the interval grows with log2 of the cluster above 32 nodes.
pub(in crate::memberlist) fn push_pull_scale(interval: Duration, n: usize) -> Duration {
    const THRESHOLD: f64 = 32.0;
    if n as f64 <= THRESHOLD {
        return interval;
    }
    let mult = libm::ceil(libm::log2(n as f64) - libm::log2(THRESHOLD)) + 1.0;
    interval.saturating_mul(mult as u32)
}

/// Extensions and the inputs they share with the application: user messages and push/pull
/// state go to the extension first, and what it does not claim to the application.
impl Memberlist {
    /// Installs `extension`, replacing any (rumor's map and relay are one: installing another
    /// turns them off).
    pub fn set_extension(&mut self, extension: Box<dyn crate::Extension>) {
        self.extension = Some(extension);
    }

    /// The installed extension, if it is a `T`.
    pub fn extension<T: crate::Extension>(&self) -> Option<&T> {
        let ext: &dyn core::any::Any = self.extension.as_deref()?;
        ext.downcast_ref()
    }

    /// Runs `f` with the installed extension, if it is a `T`, and the node beside it.
    pub fn with_extension<T: crate::Extension, R>(
        &mut self,
        f: impl FnOnce(&mut T, &mut Memberlist) -> R,
    ) -> Option<R> {
        let mut ext = self.extension.take()?;
        let any: &mut dyn core::any::Any = &mut *ext;
        let r = any.downcast_mut::<T>().map(|t| f(t, self));
        if self.extension.is_none() {
            self.extension = Some(ext);
        }
        r
    }

    /// Runs `f` with the extension out of the node (so that what it does through the node
    /// does not reach it again); `None` without one.
    pub(in crate::memberlist) fn with_ext<R>(
        &mut self,
        f: impl FnOnce(&mut dyn crate::Extension, &mut Memberlist) -> R,
    ) -> Option<R> {
        let mut ext = self.extension.take()?;
        let r = f(&mut *ext, self);
        if self.extension.is_none() {
            self.extension = Some(ext);
        }
        Some(r)
    }

    /// The address of the live (alive or suspect) member called `name`.
    pub fn member_addr(&self, name: &str) -> Option<SocketAddr> {
        let n = self.members.get(self.members.find(name)?);
        if n.dead_or_left() {
            return None;
        }
        n.socket_addr()
    }

    /// The member at place `i` of this node's table (`0..num_known()`, in probe order, which
    /// changes as members come and go), borrowed: a way to pick members at random.
    pub fn member_at(&self, i: usize) -> Option<crate::MemberView<'_>> {
        if i >= self.members.len() {
            return None;
        }
        let n = self.members.get(i);
        Some(crate::MemberView {
            name: n.name(),
            addr: n.socket_addr()?,
            meta: n.meta(),
            incarnation: n.incarnation,
            state: n.state,
            vsn: n.vsn,
        })
    }

    /// Every member this node knows, dead and left ones included until reaped, borrowed:
    /// nothing is copied.
    pub fn member_views(&self) -> impl Iterator<Item = crate::MemberView<'_>> + '_ {
        self.members.iter().filter_map(|n| {
            Some(crate::MemberView {
                name: n.name(),
                addr: n.socket_addr()?,
                meta: n.meta(),
                incarnation: n.incarnation,
                state: n.state,
                vsn: n.vsn,
            })
        })
    }

    /// A user message's payload: the extension's, or the application's.
    pub(in crate::memberlist) fn on_user_payload(
        &mut self,
        now: Instant,
        from: Option<SocketAddr>,
        sender: SocketAddr,
        payload: &[u8],
    ) -> Result<(), InputErrorKind> {
        let claimed = self.with_ext(|ext, node| ext.on_message(node, now, from, sender, payload));
        if let Some(claimed) = claimed
            && claimed?
        {
            return Ok(());
        }
        if !payload.is_empty() {
            self.events.push_back(Event::UserMessage {
                payload: payload.to_vec(),
                from: sender,
            });
        }
        Ok(())
    }

    /// Another node's push/pull user state: the extension takes its part, the application
    /// gets the rest.
    pub(in crate::memberlist) fn on_remote_state(
        &mut self,
        now: Instant,
        peer: crate::PushPullPeer<'_>,
        state: &[u8],
        join: bool,
    ) -> Result<(), InputErrorKind> {
        let app = match self.with_ext(|ext, node| ext.on_push_pull_state(node, now, peer, state)) {
            Some(r) => r?,
            None => state,
        };
        if !app.is_empty() {
            self.events.push_back(Event::RemoteState {
                state: app.to_vec(),
                join,
            });
        }
        Ok(())
    }

    /// This node's push/pull user state for `peer`: the application's, inside whatever the
    /// extension adds.
    pub(in crate::memberlist) fn push_pull_user_state(
        &mut self,
        join: bool,
        peer: crate::PushPullPeer<'_>,
    ) -> Vec<u8> {
        let app = self.app_local_state(join).into_owned();
        let mut out = Vec::new();
        match self.extension.as_mut() {
            Some(_) => {
                let mut ext = self.extension.take();
                let wrote = ext
                    .as_mut()
                    .is_some_and(|e| e.push_pull_state(self, join, peer, &app, &mut out));
                self.extension = ext;
                if wrote { out } else { app }
            }
            None => app,
        }
    }
}

/// The replicated map's commands, on the [`Kv`](crate::Kv) extension the node installs when
/// [`Config::kv`](crate::Config::kv) enables it.
impl Memberlist {
    /// The replicated map and relay, when configured.
    pub fn kv(&self) -> Option<&crate::Kv> {
        self.extension()
    }

    fn kv_do<R>(&mut self, f: impl FnOnce(&mut crate::Kv, &mut Memberlist) -> R) -> Option<R> {
        self.with_extension(f)
    }

    /// Sets `key` to `value` in the replicated map; returns the write's version. The write
    /// is gossiped at once and reaches the others through gossip and exchanges.
    pub fn kv_set(&mut self, now: Instant, key: &str, value: &[u8]) -> Result<u64, crate::KvError> {
        self.kv_do(|kv, node| kv.set(node, now, key, value))
            .unwrap_or(Err(crate::KvError::Disabled))
    }

    /// Deletes `key` from the replicated map (a tombstone, kept for `tombstone_ttl`);
    /// returns the delete's version.
    pub fn kv_delete(&mut self, now: Instant, key: &str) -> Result<u64, crate::KvError> {
        self.kv_do(|kv, node| kv.delete(node, now, key))
            .unwrap_or(Err(crate::KvError::Disabled))
    }

    /// The current entry of `key` (a deleted key reads as a `None` value until its
    /// tombstone expires).
    pub fn kv_get(&self, key: &str) -> Option<crate::KvEntry> {
        self.kv()?.get(key)
    }

    /// Every key held with its entry, tombstones included, in no particular order.
    pub fn kv_entries(&self) -> impl Iterator<Item = (&str, crate::KvEntry)> + '_ {
        self.kv().into_iter().flat_map(crate::Kv::entries)
    }

    /// Keys held, tombstones included.
    pub fn kv_len(&self) -> usize {
        self.kv().map_or(0, crate::Kv::len)
    }

    /// A hash of the whole map, equal on two nodes that hold the same map.
    pub fn kv_fingerprint(&self) -> u64 {
        self.kv().map_or(0, crate::Kv::fingerprint)
    }

    /// Emits [`Event::KeyChanged`] for keys starting with `prefix` (the empty prefix: all).
    pub fn kv_subscribe(&mut self, prefix: &str) {
        self.kv_do(|kv, _| kv.subscribe(prefix));
    }

    /// Stops the events of a [`kv_subscribe`](Self::kv_subscribe); false if there was none.
    pub fn kv_unsubscribe(&mut self, prefix: &str) -> bool {
        self.kv_do(|kv, _| kv.unsubscribe(prefix)).unwrap_or(false)
    }

    /// Traffic counters of the map and the relay.
    pub fn kv_stats(&self) -> crate::KvStats {
        self.kv().map(crate::Kv::stats).unwrap_or_default()
    }

    /// Bytes of this node's digest as an exchange sends it (marker and header included).
    pub fn kv_digest_len(&self) -> usize {
        self.kv().map_or(0, crate::Kv::digest_len)
    }
}
