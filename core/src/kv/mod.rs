//! rumor's extensions above membership: a replicated key-value map kept identical on every
//! node, and application broadcasts relayed epidemically. Both travel as memberlist user
//! messages and push/pull user state, marked so that rumor never mistakes them for
//! application data: they start with `c1 72 75 01`, and 0xc1 is a byte msgpack never uses
//! (the layout is documented in `core/src/kv/codec.rs`). Both are off unless configured, so
//! a Go application in a mixed cluster sees nothing it did not ask for.
//!
//! # Mixed clusters
//!
//! rumor learns which members run rumor from their push/pull state (which carries rumor's
//! section and the rumor members the sender knows) and from their rumor messages; only those
//! get map traffic and relay envelopes, and every other member gets plain user messages. The
//! section goes out with the first push/pull a rumor node starts with a peer; a peer that
//! answers without one (a Go node) gets no section from that node again, so a Go
//! application's `MergeRemoteState` sees it once per rumor node that dials it. A Go node that
//! dials a rumor node gets no section back. [`crate::Config::assume_rumor_peers`] skips the
//! learning in clusters without Go nodes.
//!
//! An application payload that starts with the marker is taken for a rumor message; payloads
//! in msgpack, JSON, protobuf or text never do.
//!
//! # The map
//!
//! Each entry is `(key, value or tombstone, version, writer)`. A write's version is one more
//! than the highest version its node has seen (a Lamport clock), and the newest write wins
//! under one total order, version then writer name then writer epoch, so every node ends
//! with the same value. Writes spread two ways:
//!
//! - **Gossip**: a fresh write is piggybacked like memberlist's own messages, and each node
//!   that applies it passes it on once, so it reaches everyone in O(log n) gossip rounds.
//! - **Anti-entropy**: every `exchange_interval` each node exchanges with one random rumor
//!   peer, in one of three modes ([`ExchangeMode`]): push (send everything), pull (send a
//!   digest, get back what is missing) or push/pull (both ways, three messages). Digests are
//!   Scuttlebutt's: one row per writer (its watermark), not one per key. Deltas and full
//!   states cross in chunks of at most `max_chunk` bytes, over streams when they do not fit
//!   in a datagram.
//!
//! A tombstone is forgotten `tombstone_ttl` after it arrived. A peer whose digest shows it
//! missed writes of a writer whose tombstones were forgotten gets a full exchange instead of
//! a delta, after which it drops whatever the full state shows superseded.
//!
//! # Relayed broadcasts
//!
//! memberlist sends a user broadcast only from its sender, `retransmit_mult · log10(n)` times.
//! With `relay_broadcasts`, rumor wraps it in an envelope with a random id; a rumor node that
//! receives it delivers it, and the first time it sees that id queues it again itself, so it
//! spreads like membership news. Peers not known to run rumor get the plain user message.

pub(crate) mod codec;
mod exchange;
pub(crate) mod store;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use hashbrown::{HashMap, HashSet};

pub use codec::KvDecodeError;

use crate::time::Instant;

/// How the periodic anti-entropy exchange runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeMode {
    /// The node sends its whole map to a random peer (one message, chunked).
    Push,
    /// The node sends its digest; the peer answers with what the node lacks (two messages).
    Pull,
    /// The pull, and the node then sends what the peer lacks (three messages).
    PushPull,
}

/// Configuration of the replicated map ([`crate::Config::kv`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvConfig {
    /// Turns the map on. Off, the node sends no map message and ignores those it receives.
    pub enabled: bool,
    /// How the periodic exchange runs.
    pub mode: ExchangeMode,
    /// Time between two exchanges of this node (one random peer each); zero disables them,
    /// leaving gossip and push/pull.
    pub exchange_interval: Duration,
    /// Gossip fresh writes (piggybacked, relayed once by every node that applies them).
    /// Without it, writes spread by the exchanges alone.
    pub gossip_writes: bool,
    /// How long a tombstone is kept after it arrives.
    pub tombstone_ttl: Duration,
    /// Most bytes of a key.
    pub max_key: usize,
    /// Most bytes of a value.
    pub max_value: usize,
    /// Most keys held (tombstones included); writes of new keys beyond it are refused.
    pub max_keys: usize,
    /// Most writers (node incarnations that wrote) remembered.
    pub max_writers: usize,
    /// Most bytes of one delta or full-state chunk.
    pub max_chunk: usize,
}

impl Default for KvConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: ExchangeMode::PushPull,
            exchange_interval: Duration::from_secs(1),
            gossip_writes: true,
            tombstone_ttl: Duration::from_secs(3600),
            max_key: 256,
            max_value: 16 << 10,
            max_keys: 1 << 20,
            max_writers: 1 << 16,
            max_chunk: 64 << 10,
        }
    }
}

impl KvConfig {
    /// The map on, with the default settings.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }
}

/// A key's current value, as [`crate::Memberlist::kv_get`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    /// The value (`None` after a delete, until the tombstone expires).
    pub value: Option<Box<[u8]>>,
    /// The version of the write that set it.
    pub version: u64,
    /// The node that wrote it.
    pub writer: Box<str>,
}

/// A key changed on this node ([`crate::Event::KeyChanged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvChange {
    /// The key.
    pub key: Box<str>,
    /// The new value; `None` if the key was deleted.
    pub value: Option<Box<[u8]>>,
    /// The version this node held before, if any.
    pub old_version: Option<u64>,
    /// The new version: 0 when a full exchange showed the key deleted by a tombstone that
    /// was already forgotten.
    pub version: u64,
    /// The node that wrote the new value (empty in that case).
    pub writer: Box<str>,
}

/// Why a map command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvError {
    /// The map is not enabled in the configuration.
    Disabled,
    /// The key is longer than `max_key`.
    KeyTooLong(usize),
    /// The value is longer than `max_value`.
    ValueTooLarge(usize),
    /// The map holds `max_keys` keys.
    Full,
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled => f.write_str("the replicated map is not enabled"),
            Self::KeyTooLong(n) => write!(f, "key of {n} bytes is too long"),
            Self::ValueTooLarge(n) => write!(f, "value of {n} bytes is too large"),
            Self::Full => f.write_str("the replicated map is full"),
        }
    }
}

impl core::error::Error for KvError {}

/// Counters of the extensions' traffic, for measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvStats {
    /// Exchange messages sent (digests, deltas, full-state chunks), datagrams and streams.
    pub exchange_messages: u64,
    /// Their bytes (payloads, before framing).
    pub exchange_bytes: u64,
    /// Times a write was piggybacked to a peer.
    pub gossip_sends: u64,
    /// Full exchanges sent.
    pub full_syncs: u64,
    /// Writes applied (local and remote).
    pub applied: u64,
    /// Remote writes refused for lack of room (`max_keys`, `max_writers`).
    pub refused: u64,
    /// Malformed rumor messages received.
    pub malformed: u64,
    /// Stream messages dropped because the outbox was full (`kv_outbox_bytes`).
    pub outbox_dropped: u64,
    /// Broadcasts relayed.
    pub relayed: u64,
    /// Members currently known to run rumor with the extensions on.
    pub rumor_peers: u64,
    /// Requests not answered: naming another member than their sender, or over the
    /// sender's budget.
    pub refused_requests: u64,
}

/// True if a push/pull user state starts with rumor's section.
pub(crate) fn is_state_section(state: &[u8]) -> bool {
    matches!(codec::classify(state), Some(Ok((codec::Kind::State, _))))
}

/// A full exchange being received: which keys the sender holds, and its rows.
#[derive(Debug)]
pub(crate) struct SyncRx {
    pub(crate) id: u64,
    pub(crate) started: Instant,
    pub(crate) total: u32,
    pub(crate) got: HashSet<u32>,
    /// Hashes of the keys in the sender's state.
    pub(crate) keys: HashSet<u64>,
    /// The sender's (name, epoch) -> (watermark, purged).
    pub(crate) rows: HashMap<(Box<str>, u32), (u64, u64)>,
    /// Some entries were refused (no room): the sender's watermarks cannot be adopted.
    pub(crate) refused: bool,
}

/// rumor's replicated map and relayed broadcasts, as an [`Extension`](crate::Extension) of
/// a [`Memberlist`](crate::Memberlist): the node installs it when [`Config::kv`](crate::Config::kv)
/// or [`Config::relay_broadcasts`](crate::Config::relay_broadcasts) turns it on, and it
/// reaches the node only through the node's public methods (the proof that an application
/// can build the same). Reach it with [`Memberlist::kv`](crate::Memberlist::kv) or the
/// `Memberlist::kv_*` commands.
pub struct Kv {
    pub(crate) config: KvConfig,
    /// Relay broadcasts (`Config::relay_broadcasts`).
    pub(crate) relay: bool,
    pub(crate) relay_memory: usize,
    pub(crate) assume_rumor_peers: bool,
    pub(crate) udp_buffer_size: usize,
    pub(crate) tcp_timeout: Duration,
    pub(crate) gossip_interval: Duration,
    /// This node's name.
    pub(crate) name: Box<str>,
    pub(crate) store: Option<store::Store>,
    /// Addresses of members known to run rumor with the extensions on.
    pub(crate) capable: HashSet<SocketAddr>,
    /// Addresses whose push/pull answer carried no rumor section: they get none any more.
    pub(crate) plain: HashSet<SocketAddr>,
    /// Key prefixes the application subscribed to.
    pub(crate) subs: Vec<Box<str>>,
    /// Relay ids seen, oldest first, bounded by `relay_memory`.
    pub(crate) seen: HashSet<u64>,
    pub(crate) seen_order: VecDeque<u64>,
    pub(crate) rx: Option<SyncRx>,
    /// Stream messages waiting for a free outbound stream (a full exchange has more chunks
    /// than `max_outbound_streams`), oldest first, and their bytes.
    pub(crate) outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    pub(crate) outbox_bytes: usize,
    pub(crate) next_exchange: Instant,
    pub(crate) rounds: u64,
    pub(crate) stats: KvStats,
    /// Hashes keys for [`SyncRx::keys`].
    pub(crate) hasher: hashbrown::DefaultHashBuilder,
    pub(crate) rng: rand_chacha::ChaCha20Rng,
    /// Events for the application, handed out after the node's own.
    pub(crate) events: VecDeque<crate::Event>,
    pub(crate) metrics: crate::observe::Metrics,
    /// The node's time at its last call (the outbox is looked at again a gossip interval on).
    pub(crate) last: Instant,
    /// Reused for a gossiped write and its broadcast name (`\0kv\0` and the key, apart
    /// from application names).
    pub(crate) scratch: Vec<u8>,
    pub(crate) name_buf: alloc::string::String,
    /// The peer this node last asked for an exchange, and when: only its answers are
    /// answered in turn.
    pub(crate) pending: Option<(SocketAddr, Instant)>,
    /// When this node last answered each peer (the per-peer budget).
    pub(crate) answered: HashMap<SocketAddr, Instant>,
}

impl fmt::Debug for Kv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kv")
            .field("keys", &self.store.as_ref().map(|s| s.entries.len()))
            .field("relay", &self.relay)
            .field("rumor_peers", &self.capable.len())
            .finish_non_exhaustive()
    }
}

impl Kv {
    /// The map and relay for the node called `name` with `config` (either may be off);
    /// `seed` feeds its random choices (relay ids, exchange peers).
    pub fn new(config: &crate::Config, name: &str, seed: [u8; 32], now: Instant) -> Self {
        use rand_core::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
        let kv = &config.kv;
        let interval = kv.exchange_interval;
        // The first exchange after a random stagger, as memberlist staggers its timers.
        let stagger = if interval.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.next_u64() % interval.as_nanos().max(1) as u64)
        };
        let store = kv
            .enabled
            .then(|| store::Store::new(name, rng.next_u32(), kv.max_keys, kv.max_writers));
        Self {
            config: kv.clone(),
            relay: config.relay_broadcasts,
            relay_memory: config.relay_memory,
            assume_rumor_peers: config.assume_rumor_peers,
            udp_buffer_size: config.udp_buffer_size,
            tcp_timeout: config.tcp_timeout,
            gossip_interval: config.gossip_interval,
            name: Box::from(name),
            store,
            capable: HashSet::new(),
            plain: HashSet::new(),
            subs: Vec::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            rx: None,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            next_exchange: now + stagger,
            rounds: 0,
            stats: KvStats::default(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            rng,
            events: VecDeque::new(),
            metrics: crate::observe::Metrics::new(&config.metric_labels),
            last: now,
            scratch: Vec::new(),
            name_buf: alloc::string::String::new(),
            pending: None,
            answered: HashMap::new(),
        }
    }
}
