//! Configuration. Every default comes from memberlist's `DefaultLANConfig`,
//! `DefaultWANConfig` or `DefaultLocalConfig` (memberlist 0.2.2 `config.go`), named where used.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::wire::{Keyring, MAX_LABEL_LEN};

/// Lowest memberlist protocol version rumor understands (`ProtocolVersionMin`).
pub const PROTOCOL_VERSION_MIN: u8 = 1;
/// Highest memberlist protocol version rumor understands (`ProtocolVersionMax`).
pub const PROTOCOL_VERSION_MAX: u8 = 5;
/// Most bytes of node metadata (`MetaMaxSize`).
pub const META_MAX_SIZE: usize = 512;

/// Bounds on what a peer may make this node decode, buffer or allocate. Every length or count
/// read from the network is checked against one of these before it is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most node states in one push/pull (memberlist ≥ 0.5 `maxPushStateNodes`).
    pub max_push_nodes: usize,
    /// Most bytes of application state in one push/pull (memberlist `maxPushStateBytes`).
    pub max_user_state: usize,
    /// Most bytes of one user message on a stream (memberlist ≥ 0.5 `maxUserMsgBytes`).
    pub max_user_msg: usize,
    /// Most bytes of one encrypted stream frame (memberlist `maxPushStateBytes`).
    pub max_stream_frame: usize,
    /// Most bytes a compressed stream message may expand to (memberlist ≥ 0.5
    /// `maxDecompressedBytes`).
    pub max_decompressed: usize,
    /// Most bytes a compressed datagram may expand to. memberlist has no such limit; a
    /// datagram is at most 64 KiB and its sender compressed it from a packet-sized message,
    /// so 1 MiB leaves room for any honest sender.
    pub max_packet_decompressed: usize,
    /// Most bytes of a node name from a peer. memberlist has no limit, but a name travels in
    /// every datagram about its node: 512 bytes leaves room for any real name and keeps a
    /// ping with its suspect inside a packet's 16-bit part lengths.
    pub max_name: usize,
    /// Most bytes of a member's metadata from a peer (memberlist's `MetaMaxSize`, which Go
    /// enforces only on its own node).
    pub max_meta: usize,
    /// Most messages each gossip queue holds (membership news, user and relayed broadcasts);
    /// beyond it the message sent most often gives way. memberlist's queue has no bound.
    pub max_queued_broadcasts: usize,
    /// Most members (alive, suspect, dead or left but not yet forgotten) the table holds; news
    /// of a new name beyond it is refused and counted. memberlist has no bound, so one
    /// unauthenticated peer could make it hold any number of made-up members; 131,072 is
    /// several times the largest memberlist pools run today.
    pub max_members: usize,
}

impl Limits {
    /// memberlist's limits.
    pub const DEFAULT: Self = Self {
        max_push_nodes: 1 << 20,
        max_user_state: 20 << 20,
        max_user_msg: 20 << 20,
        max_stream_frame: 20 << 20,
        max_decompressed: 40 << 20,
        max_packet_decompressed: 1 << 20,
        max_name: 512,
        max_meta: META_MAX_SIZE,
        max_queued_broadcasts: 1 << 16,
        max_members: 1 << 17,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a node runs the protocol. Start from [`Config::lan`], [`Config::wan`] or
/// [`Config::local`] and adjust the public fields; [`Config::validate`] checks the result.
#[derive(Clone)]
pub struct Config {
    /// Protocol version spoken (`ProtocolVersion`, 1..=5; default 2). It picks the encryption
    /// envelope version; the features a peer gets follow that peer's advertised maximum.
    pub protocol_version: u8,
    /// Lowest application protocol version understood (`DelegateProtocolMin`).
    pub delegate_protocol_min: u8,
    /// Highest application protocol version understood (`DelegateProtocolMax`).
    pub delegate_protocol_max: u8,
    /// Application protocol version spoken (`DelegateProtocolVersion`).
    pub delegate_protocol_version: u8,
    /// Deadline of a stream exchange (`TCPTimeout`).
    pub tcp_timeout: Duration,
    /// Members asked to probe a node that missed its direct ack (`IndirectChecks`).
    pub indirect_checks: usize,
    /// Gossip retransmissions: `retransmit_mult * ceil(log10(n + 1))` (`RetransmitMult`).
    pub retransmit_mult: u32,
    /// rumor only: a queued broadcast that waited longer than `broadcast_stale_mult` times
    /// the time its retransmissions take at the head of the queue (`retransmit limit ×
    /// gossip_interval`) is dropped as stale; 0 keeps everything, as memberlist does. Keeps a
    /// backlog (thousands of nodes joining at once) from holding back fresh news for minutes.
    pub broadcast_stale_mult: u32,
    /// rumor only: quick push/pulls with random members after a join, 1, 3, 7, 15, ... probe
    /// intervals after it (the first one also with the seed), which close the gaps gossip
    /// leaves while a cluster forms; 0 waits for
    /// the periodic push/pull, as memberlist does, with its first one staggered over the
    /// interval scaled to the cluster joined.
    pub join_follow_ups: u8,
    /// Suspicion timeout scale (`SuspicionMult`).
    pub suspicion_mult: u32,
    /// Upper bound of the suspicion timeout, as a multiple of its lower bound
    /// (`SuspicionMaxTimeoutMult`, Lifeguard).
    pub suspicion_max_timeout_mult: u32,
    /// Full state exchange period, scaled with the cluster size; zero disables it
    /// (`PushPullInterval`).
    pub push_pull_interval: Duration,
    /// Time to wait for a direct ack (`ProbeTimeout`).
    pub probe_timeout: Duration,
    /// Probe period (`ProbeInterval`).
    pub probe_interval: Duration,
    /// Never fall back to a stream ping (`DisableTcpPings`).
    pub disable_tcp_pings: bool,
    /// Lifeguard's local health multiplier bound (`AwarenessMaxMultiplier`).
    pub awareness_max_multiplier: u32,
    /// Gossip period (`GossipInterval`).
    pub gossip_interval: Duration,
    /// Members gossiped to per period (`GossipNodes`).
    pub gossip_nodes: usize,
    /// How long dead members still get gossip, and when they are forgotten
    /// (`GossipToTheDeadTime`).
    pub gossip_to_the_dead_time: Duration,
    /// Refuse unencrypted input when a keyring is set (`GossipVerifyIncoming`).
    pub gossip_verify_incoming: bool,
    /// Encrypt output when a keyring is set (`GossipVerifyOutgoing`).
    pub gossip_verify_outgoing: bool,
    /// LZW-compress datagrams when that makes them shorter, and every stream message
    /// (`EnableCompression`).
    pub enable_compression: bool,
    /// Datagram budget for piggybacked gossip (`UDPBufferSize`).
    pub udp_buffer_size: usize,
    /// After this long dead, a member's name may be taken by a new address; zero never
    /// (`DeadNodeReclaimTime`).
    pub dead_node_reclaim_time: Duration,
    /// Cluster label (memberlist ≥ 0.3 `Label`): sent on every packet and dialled stream and
    /// required on input. Memberlist 0.2.2 drops labelled traffic: leave empty to talk to it.
    pub label: Vec<u8>,
    /// Accept input without checking its label (memberlist ≥ 0.3 `SkipInboundLabelCheck`).
    pub skip_inbound_label_check: bool,
    /// Encryption keys; `None` means no encryption (`Keyring`/`SecretKey`).
    pub keyring: Option<Keyring>,
    /// How often to try to reach failed members again, so that a healed partition longer than
    /// `gossip_to_the_dead_time` merges (rumor's own, after Serf's `ReconnectInterval`); zero
    /// disables.
    pub reconnect_interval: Duration,
    /// How long a failed member is remembered for reconnection (Serf's `ReconnectTimeout`).
    pub reconnect_timeout: Duration,
    /// Most inbound streams served at once (memberlist's `maxPushPullRequests`).
    pub max_inbound_streams: usize,
    /// Most outbound streams open at once.
    pub max_outbound_streams: usize,
    /// Bounds on input from peers.
    pub limits: Limits,
    /// rumor only: the replicated key-value map (off by default; see [`crate::kv`]).
    pub kv: crate::kv::KvConfig,
    /// rumor only: wrap this node's user broadcasts so that every rumor node relays each
    /// once, which makes them reach the whole cluster instead of the sender's few random
    /// targets (a rumor node with the extension on relays what it receives either way; one
    /// broadcast at a time: `Kv::broadcast_relayed`). Peers not known to run rumor still get
    /// plain user messages. Off by default.
    pub relay_broadcasts: bool,
    /// How many relayed broadcast ids a node remembers to deliver and relay each once.
    pub relay_memory: usize,
    /// Treat every member as a rumor node with the extensions on, instead of learning it
    /// from their push/pull state and messages. Only for clusters without Go nodes: a Go
    /// peer would receive rumor's messages as user data.
    pub assume_rumor_peers: bool,
    /// Labels on every metric this node emits (`MetricLabels`), for example
    /// `("node", name)` to tell the nodes of one process apart. Cargo feature `metrics`.
    pub metric_labels: Vec<(String, String)>,
    /// The application's on-the-spot decisions (memberlist's alive, merge and ping
    /// delegates, `LocalState`, `DisableTcpPingsForNode`); `None` decides as memberlist does
    /// without delegates. See [`Hooks`](crate::Hooks) for when each is called.
    pub hooks: Option<Arc<dyn crate::Hooks>>,
    /// Networks whose packets, streams and alive messages this node accepts
    /// (`CIDRsAllowed`); empty accepts every address. Refused input is dropped and counted
    /// (`rumor.cidr.refused`).
    pub cidrs_allowed: Vec<Cidr>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("protocol_version", &self.protocol_version)
            .field("probe_interval", &self.probe_interval)
            .field("probe_timeout", &self.probe_timeout)
            .field("gossip_interval", &self.gossip_interval)
            .field("push_pull_interval", &self.push_pull_interval)
            .field("encrypted", &self.keyring.is_some())
            .finish_non_exhaustive()
    }
}

/// What is wrong with a [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `protocol_version` outside 1..=5.
    ProtocolVersion(u8),
    /// Delegate versions not ordered min ≤ version ≤ max.
    DelegateVersions,
    /// A period or timeout that must be positive is zero.
    ZeroDuration(&'static str),
    /// The probe timeout must be shorter than the probe interval.
    ProbeTimeout,
    /// A count that must be positive is zero.
    ZeroCount(&'static str),
    /// The UDP buffer cannot hold a minimal message, or is larger than a UDP payload.
    UdpBufferSize(usize),
    /// The intervals and multipliers are so large that the timers they form would overflow.
    Overflow,
    /// The node's own name is longer than `limits.max_name`.
    NameTooLong(usize),
    /// The label is longer than 255 bytes.
    LabelTooLong(usize),
    /// The node name is empty.
    EmptyName,
    /// Node metadata over 512 bytes.
    MetaTooLarge(usize),
    /// `kv.max_chunk` cannot hold one entry of the largest key and value (plus 1 KiB of
    /// headers).
    KvChunk(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProtocolVersion(v) => write!(f, "protocol version {v} is outside 1..=5"),
            Self::DelegateVersions => {
                f.write_str("delegate protocol versions must be min <= version <= max")
            }
            Self::ZeroDuration(what) => write!(f, "{what} must be positive"),
            Self::ProbeTimeout => {
                f.write_str("probe timeout must be shorter than the probe interval")
            }
            Self::ZeroCount(what) => write!(f, "{what} must be positive"),
            Self::Overflow => f.write_str(
                "intervals and multipliers so large that the timers would overflow (keep every \
                 interval times its multipliers within a century)",
            ),
            Self::NameTooLong(n) => write!(f, "node name of {n} bytes exceeds limits.max_name"),
            Self::UdpBufferSize(n) => write!(f, "UDP buffer size {n} is outside 128..=65507"),
            Self::LabelTooLong(n) => write!(f, "label of {n} bytes exceeds 255"),
            Self::EmptyName => f.write_str("node name is empty"),
            Self::MetaTooLarge(n) => write!(f, "node metadata of {n} bytes exceeds 512"),
            Self::KvChunk(n) => write!(
                f,
                "kv.max_chunk of {n} bytes cannot hold the largest key and value"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// memberlist's `DefaultLANConfig`.
    pub fn lan() -> Self {
        Self {
            protocol_version: 2,
            delegate_protocol_min: 0,
            delegate_protocol_max: 0,
            delegate_protocol_version: 0,
            tcp_timeout: Duration::from_secs(10),
            indirect_checks: 3,
            retransmit_mult: 4,
            broadcast_stale_mult: 4,
            join_follow_ups: 5,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            push_pull_interval: Duration::from_secs(30),
            probe_timeout: Duration::from_millis(500),
            probe_interval: Duration::from_secs(1),
            disable_tcp_pings: false,
            awareness_max_multiplier: 8,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(30),
            gossip_verify_incoming: true,
            gossip_verify_outgoing: true,
            enable_compression: true,
            udp_buffer_size: 1400,
            dead_node_reclaim_time: Duration::ZERO,
            label: Vec::new(),
            skip_inbound_label_check: false,
            keyring: None,
            reconnect_interval: Duration::from_secs(30),
            reconnect_timeout: Duration::from_secs(24 * 3600),
            max_inbound_streams: 128,
            max_outbound_streams: 128,
            limits: Limits::DEFAULT,
            kv: crate::kv::KvConfig::default(),
            relay_broadcasts: false,
            relay_memory: 8192,
            assume_rumor_peers: false,
            metric_labels: Vec::new(),
            hooks: None,
            cidrs_allowed: Vec::new(),
        }
    }

    /// memberlist's `DefaultWANConfig`.
    pub fn wan() -> Self {
        Self {
            tcp_timeout: Duration::from_secs(30),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(3),
            probe_interval: Duration::from_secs(5),
            gossip_nodes: 4,
            gossip_interval: Duration::from_millis(500),
            gossip_to_the_dead_time: Duration::from_secs(60),
            ..Self::lan()
        }
    }

    /// memberlist's `DefaultLocalConfig`.
    pub fn local() -> Self {
        Self {
            tcp_timeout: Duration::from_secs(1),
            indirect_checks: 1,
            retransmit_mult: 2,
            suspicion_mult: 3,
            push_pull_interval: Duration::from_secs(15),
            probe_timeout: Duration::from_millis(200),
            probe_interval: Duration::from_secs(1),
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead_time: Duration::from_secs(15),
            ..Self::lan()
        }
    }

    /// Checks the values that would make the protocol misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&self.protocol_version) {
            return Err(ConfigError::ProtocolVersion(self.protocol_version));
        }
        if !(self.delegate_protocol_min <= self.delegate_protocol_version
            && self.delegate_protocol_version <= self.delegate_protocol_max)
        {
            return Err(ConfigError::DelegateVersions);
        }
        for (what, d) in [
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("gossip_interval", self.gossip_interval),
            ("tcp_timeout", self.tcp_timeout),
            ("gossip_to_the_dead_time", self.gossip_to_the_dead_time),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(what));
            }
        }
        if self.probe_timeout >= self.probe_interval {
            return Err(ConfigError::ProbeTimeout);
        }
        for (what, n) in [
            ("gossip_nodes", self.gossip_nodes),
            ("retransmit_mult", self.retransmit_mult as usize),
            ("suspicion_mult", self.suspicion_mult as usize),
            (
                "suspicion_max_timeout_mult",
                self.suspicion_max_timeout_mult as usize,
            ),
            (
                "awareness_max_multiplier",
                self.awareness_max_multiplier as usize,
            ),
            ("max_inbound_streams", self.max_inbound_streams),
            ("max_outbound_streams", self.max_outbound_streams),
            ("relay_memory", self.relay_memory),
            ("kv.max_keys", self.kv.max_keys),
            ("kv.max_writers", self.kv.max_writers),
            ("limits.max_members", self.limits.max_members),
            (
                "limits.max_queued_broadcasts",
                self.limits.max_queued_broadcasts,
            ),
        ] {
            if n == 0 {
                return Err(ConfigError::ZeroCount(what));
            }
        }
        // The largest UDP payload over IPv4 bounds it above.
        if !(128..=65_507).contains(&self.udp_buffer_size) {
            return Err(ConfigError::UdpBufferSize(self.udp_buffer_size));
        }
        if self.limits.max_name == 0 || self.limits.max_name > 16 << 10 {
            return Err(ConfigError::ZeroCount("limits.max_name (at most 16384)"));
        }
        // Products the timers form must not overflow a Duration: the longest base interval
        // times the largest multiplier (awareness, suspicion, join follow-ups at 2^16,
        // push/pull scaling at 64x, the broadcast stale age) stays within a century.
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let longest = [
            self.probe_interval,
            self.probe_timeout,
            self.gossip_interval,
            self.push_pull_interval,
            self.tcp_timeout,
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        let largest = [
            u64::from(self.awareness_max_multiplier),
            u64::from(self.suspicion_mult) * u64::from(self.suspicion_max_timeout_mult) * 20,
            1 << 16,
            64,
            u64::from(self.retransmit_mult) * 20 * u64::from(self.broadcast_stale_mult.max(1)),
        ]
        .into_iter()
        .max()
        .unwrap_or(1);
        let fits = u32::try_from(largest)
            .ok()
            .and_then(|m| longest.checked_mul(m))
            .is_some_and(|d| d <= century);
        if !fits {
            return Err(ConfigError::Overflow);
        }
        if self.label.len() > MAX_LABEL_LEN {
            return Err(ConfigError::LabelTooLong(self.label.len()));
        }
        if self.kv.max_chunk < self.kv.max_key + self.kv.max_value + 1024 {
            return Err(ConfigError::KvChunk(self.kv.max_chunk));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of memberlist 0.2.2's DefaultLANConfig, DefaultWANConfig and
    /// DefaultLocalConfig (config.go).
    #[test]
    fn presets_match_memberlist() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        // (tcp_timeout, indirect, retransmit, suspicion, push/pull, probe timeout, probe
        // interval, gossip nodes, gossip interval, to-the-dead)
        let table = [
            (
                Config::lan(),
                s(10),
                3,
                4,
                4,
                s(30),
                ms(500),
                s(1),
                3,
                ms(200),
                s(30),
            ),
            (
                Config::wan(),
                s(30),
                3,
                4,
                6,
                s(60),
                s(3),
                s(5),
                4,
                ms(500),
                s(60),
            ),
            (
                Config::local(),
                s(1),
                1,
                2,
                3,
                s(15),
                ms(200),
                s(1),
                3,
                ms(100),
                s(15),
            ),
        ];
        for (c, tcp, ind, rt, sus, pp, pt, pi, gn, gi, dead) in table {
            assert_eq!(c.tcp_timeout, tcp);
            assert_eq!(c.indirect_checks, ind);
            assert_eq!(c.retransmit_mult, rt);
            assert_eq!(c.suspicion_mult, sus);
            assert_eq!(c.push_pull_interval, pp);
            assert_eq!(c.probe_timeout, pt);
            assert_eq!(c.probe_interval, pi);
            assert_eq!(c.gossip_nodes, gn);
            assert_eq!(c.gossip_interval, gi);
            assert_eq!(c.gossip_to_the_dead_time, dead);
            assert_eq!(c.suspicion_max_timeout_mult, 6);
            assert_eq!(c.awareness_max_multiplier, 8);
            assert_eq!(c.udp_buffer_size, 1400);
            assert_eq!(c.protocol_version, 2);
            assert!(c.enable_compression && c.gossip_verify_incoming && c.gossip_verify_outgoing);
            assert!(!c.disable_tcp_pings);
            assert_eq!(c.dead_node_reclaim_time, Duration::ZERO);
            assert_eq!(c.validate(), Ok(()));
        }
    }

    #[test]
    fn validate_refuses_nonsense() {
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::lan();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(
            bad(|c| c.protocol_version = 6),
            ConfigError::ProtocolVersion(6)
        );
        assert_eq!(
            bad(|c| c.protocol_version = 0),
            ConfigError::ProtocolVersion(0)
        );
        assert_eq!(
            bad(|c| c.probe_timeout = c.probe_interval),
            ConfigError::ProbeTimeout
        );
        assert_eq!(
            bad(|c| c.gossip_nodes = 0),
            ConfigError::ZeroCount("gossip_nodes")
        );
        assert_eq!(
            bad(|c| c.label = alloc::vec![b'x'; 256]),
            ConfigError::LabelTooLong(256)
        );
        assert_eq!(
            bad(|c| c.delegate_protocol_version = 1),
            ConfigError::DelegateVersions
        );
        assert_eq!(
            bad(|c| c.udp_buffer_size = 10),
            ConfigError::UdpBufferSize(10)
        );
    }
}

/// A network in CIDR notation, `10.0.0.0/8` or `fd00::/8`: an entry of
/// [`Config::cidrs_allowed`] (memberlist's `CIDRsAllowed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: core::net::IpAddr,
    prefix: u8,
}

/// Why a [`Cidr`] did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidrError {
    /// No `/` with a prefix length.
    NoPrefix,
    /// The address part is not an IP address.
    Address,
    /// The prefix length is not a number up to 32 (IPv4) or 128 (IPv6).
    Prefix,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoPrefix => "a network needs a prefix length, as in 10.0.0.0/8",
            Self::Address => "the network's address is not an IP address",
            Self::Prefix => "the prefix length is out of range",
        })
    }
}

impl core::error::Error for CidrError {}

impl Cidr {
    /// The network of `addr` with a `prefix`-bit mask; `None` if the prefix is too long.
    pub fn new(addr: core::net::IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` lies in this network. An IPv4 address mapped into IPv6 counts as IPv4.
    pub fn contains(&self, ip: core::net::IpAddr) -> bool {
        use core::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(n.to_bits()), u128::from(i.to_bits()), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

impl core::str::FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = s.split_once('/').ok_or(CidrError::NoPrefix)?;
        let addr = addr.parse().map_err(|_| CidrError::Address)?;
        let prefix = prefix.parse().map_err(|_| CidrError::Prefix)?;
        Self::new(addr, prefix).ok_or(CidrError::Prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod cidr_tests {
    use super::Cidr;

    #[test]
    fn networks_contain_their_addresses() {
        let net: Cidr = "127.0.0.0/30".parse().expect("parses");
        assert!(net.contains([127, 0, 0, 3].into()));
        assert!(!net.contains([127, 0, 0, 9].into()));
        let all: Cidr = "0.0.0.0/0".parse().expect("parses");
        assert!(all.contains([10, 1, 2, 3].into()));
        let v6: Cidr = "fd00::/8".parse().expect("parses");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!(!v6.contains([127, 0, 0, 1].into()));
        let mapped = "::ffff:127.0.0.2".parse().expect("ip");
        assert!(net.contains(mapped));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert_eq!(alloc::format!("{net}"), "127.0.0.0/30");
    }
}
