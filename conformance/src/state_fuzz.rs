//! A fuzzer for the state machine: a small cluster of real cores driven by a byte string.
//!
//! [`run`] reads its input as a program of steps: datagrams between the nodes (delivered,
//! dropped, duplicated, corrupted or replayed), crafted datagrams and streams from outsiders
//! and from spoofed members (every message type, push/pulls, compounds, compressed, CRC,
//! labelled and encrypted wrappers, over-long names and metadata), stream bytes split at any
//! point, stream closes and failures, connects that succeed or fail, the application's
//! commands (join, leave, meta, broadcasts, messages, pings, local state, the map, keys),
//! crashes and restarts, pauses and time steps of any length. After every step it checks
//! what must hold whatever the input, and panics (so libFuzzer and the test report the input)
//! when something does not:
//!
//! - every store of every node is within its bound ([`Footprint`], [`Limits`]);
//! - a node never declares itself dead, and never lists itself as anything but alive unless
//!   it left;
//! - the events are consistent with the table: the members an application was told joined
//!   and not since told left or failed are exactly the members the node lists, each with
//!   the metadata it was last told;
//! - every notice answers a command: a join, ping or broadcast id the application was
//!   given, a leave it asked for, each at most once;
//! - after a deadline is handled, the next one lies in the future (no busy loop).
//!
//! The fuzz target `cluster` in `fuzz/` runs it under libFuzzer; `tests/state_fuzz.rs`
//! runs about a million steps of random programs in the test suite.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rumor_core::wire::{
    Ack, Alive, Dead, Encode, EncryptionVersion, ErrResp, IndirectPing, IpBytes, Keyring, Lzw,
    Nack, NodeState, Ping, SecretKey, Suspect, UserMsg, UserStreamMsg, Vsn, compound_len,
    encode_compound, encode_crc, encode_label,
};
use rumor_core::{
    BroadcastOptions, Config, Event, Footprint, Instant, KvConfig, LeaveReason, Limits, Member,
    MemberState, Memberlist, StreamCommand, StreamId, StreamInput,
};

use crate::vectors::PushPullValue;

/// Nodes in the cluster.
pub const NODES: usize = 3;
/// Datagrams in flight at most; older ones are lost.
const MAX_IN_FLIGHT: usize = 256;
/// Datagrams remembered for replays.
const MAX_SEEN: usize = 32;
/// Connections the harness keeps at most.
const MAX_PIPES: usize = 64;
/// The label of the labelled flavour.
const LABEL: &[u8] = b"fz";

/// Reads a program; past its end every read is zero (so every input is a whole program).
struct Program<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Program<'a> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.u8()) % n
        } else {
            usize::from(self.u16()) % n
        }
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// Up to `max` bytes taken from the program.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }
}

/// The cluster's configuration, picked by the program's first byte.
#[derive(Debug, Clone, Copy)]
struct Flavour {
    keyring: bool,
    label: bool,
    kv: bool,
    small_limits: bool,
    compression: bool,
}

impl Flavour {
    fn from(b: u8) -> Self {
        Self {
            keyring: b & 1 != 0,
            label: b & 2 != 0,
            kv: b & 4 != 0,
            small_limits: b & 8 != 0,
            compression: b & 16 != 0,
        }
    }

    fn config(self) -> Config {
        let mut c = Config::local();
        c.enable_compression = self.compression;
        if self.keyring {
            c.keyring = Some(Keyring::new(key(0)));
        }
        if self.label {
            c.label = LABEL.to_vec();
        }
        if self.kv {
            c.kv = KvConfig {
                max_keys: 64,
                max_writers: 8,
                ..KvConfig::enabled()
            };
            c.relay_broadcasts = true;
            c.relay_memory = 64;
        }
        if self.small_limits {
            c.limits = Limits {
                max_members: 12,
                max_queued_broadcasts: 6,
                max_name: 64,
                max_meta: 32,
                max_user_msg: 4096,
                max_stream_frame: 8192,
                max_user_state: 4096,
                max_decompressed: 16384,
                max_packet_decompressed: 16384,
                max_push_nodes: 32,
            };
            c.max_inbound_streams = 2;
            c.max_outbound_streams = 2;
        }
        c
    }
}

fn key(i: u8) -> SecretKey {
    SecretKey::new(&[i.wrapping_add(1); 16]).expect("a 16-byte key")
}

/// The address of node `i`.
pub fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7000 + i as u16)
}

fn node_name(i: usize) -> String {
    format!("n{i}")
}

/// Addresses the program can name: the nodes, outsiders, and odd ones.
fn pick_addr(p: &mut Program<'_>) -> SocketAddr {
    match p.below(8) {
        0..=2 => node_addr(p.below(NODES)),
        3 => SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)),
            9000 + p.below(4) as u16,
        ),
        4 => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 7000),
        5 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        6 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), p.u16()),
        _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p.u16()),
    }
}

/// Names the program can use: the nodes', made-up ones, empty and over-long ones.
fn pick_name(p: &mut Program<'_>) -> String {
    match p.below(10) {
        0..=4 => node_name(p.below(NODES)),
        5..=7 => format!("x{}", p.below(24)),
        8 => String::new(),
        _ => "l".repeat(p.below(700)),
    }
}

fn pick_incarnation(p: &mut Program<'_>) -> u32 {
    match p.below(6) {
        0 => 0,
        1..=3 => p.below(8) as u32,
        4 => u32::MAX - p.below(2) as u32,
        _ => p.u32(),
    }
}

fn pick_vsn(p: &mut Program<'_>) -> Vsn {
    if p.below(8) == 0 {
        Vsn::from_bytes([p.u8(), p.u8(), p.u8(), p.u8(), p.u8(), p.u8()])
    } else {
        Vsn::from_bytes([1, 5, 2, 0, 0, 0])
    }
}

fn pick_state(p: &mut Program<'_>) -> NodeState {
    match p.below(4) {
        0 => NodeState::Alive,
        1 => NodeState::Suspect,
        2 => NodeState::Dead,
        _ => NodeState::Left,
    }
}

fn ip_bytes(a: SocketAddr) -> IpBytes {
    IpBytes::from(a.ip())
}

/// One crafted message (type byte first), of any kind a datagram or stream can carry.
fn craft_message(p: &mut Program<'_>, depth: u8, lzw: &mut Lzw) -> Vec<u8> {
    let mut v = Vec::new();
    let name = pick_name(p);
    let other = pick_name(p);
    let addr = pick_addr(p);
    let kind = if depth > 1 { p.below(10) } else { p.below(14) };
    let r = match kind {
        0 => Ping {
            seq_no: p.below(64) as u32,
            node: &name,
            source_addr: ip_bytes(addr),
            source_port: addr.port(),
            source_node: &other,
        }
        .encode_to_vec(&mut v),
        1 => IndirectPing {
            seq_no: p.u32(),
            target: ip_bytes(addr),
            port: addr.port(),
            node: &name,
            nack: p.bool(),
            source_addr: ip_bytes(pick_addr(p)),
            source_port: p.u16(),
            source_node: &other,
        }
        .encode_to_vec(&mut v),
        2 => {
            let payload = p.bytes(64);
            Ack {
                seq_no: p.below(64) as u32,
                payload,
            }
            .encode_to_vec(&mut v)
        }
        3 => Nack {
            seq_no: p.below(64) as u32,
        }
        .encode_to_vec(&mut v),
        4 => Suspect {
            incarnation: pick_incarnation(p),
            node: &name,
            from: &other,
        }
        .encode_to_vec(&mut v),
        5 => {
            let meta = p.bytes(40);
            Alive {
                incarnation: pick_incarnation(p),
                node: &name,
                addr: ip_bytes(addr),
                port: addr.port(),
                meta,
                vsn: pick_vsn(p),
            }
            .encode_to_vec(&mut v)
        }
        6 => Dead {
            incarnation: pick_incarnation(p),
            node: &name,
            from: if p.bool() { &name } else { &other },
        }
        .encode_to_vec(&mut v),
        7 => UserMsg(p.bytes(200)).encode_to_vec(&mut v),
        8 => {
            // A message of rumor's map or relay: the marker, then anything.
            v.extend_from_slice(&[8, 0xc1, b'r', b'u', p.below(8) as u8]);
            v.extend_from_slice(p.bytes(300));
            Ok(0)
        }
        9 => ErrResp { error: &name }.encode_to_vec(&mut v),
        10 => {
            let parts: Vec<Vec<u8>> = (0..1 + p.below(4))
                .map(|_| craft_message(p, depth + 1, lzw))
                .collect();
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            v.resize(compound_len(parts.iter().copied()), 0);
            encode_compound(&parts, &mut v).map(|_| 0)
        }
        11 => {
            let inner = craft_message(p, depth + 1, lzw);
            v.resize(inner.len() * 2 + 32, 0);
            match lzw.compress_message(&inner, &mut v) {
                Ok(n) => {
                    v.truncate(n);
                    Ok(0)
                }
                Err(e) => Err(e),
            }
        }
        12 => {
            let inner = craft_message(p, depth + 1, lzw);
            v.resize(inner.len() + 5, 0);
            encode_crc(&inner, &mut v).map(|_| 0)
        }
        _ => {
            v = craft_push_pull(p);
            Ok(0)
        }
    };
    if r.is_err() {
        v.clear();
    }
    v
}

/// A compound of alive messages for made-up members, all valid: pressure on the table.
fn flood(p: &mut Program<'_>) -> Vec<u8> {
    let base = p.below(64);
    let parts: Vec<Vec<u8>> = (0..1 + p.below(16))
        .map(|k| {
            let mut v = Vec::new();
            let name = format!("x{}", base + k);
            let addr = pick_addr(p);
            let _ = Alive {
                incarnation: p.below(4) as u32,
                node: &name,
                addr: ip_bytes(addr),
                port: addr.port(),
                meta: b"",
                vsn: Vsn::from_bytes([1, 5, 2, 0, 0, 0]),
            }
            .encode_to_vec(&mut v);
            v
        })
        .collect();
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut v = vec![0u8; compound_len(parts.iter().copied())];
    match encode_compound(&parts, &mut v) {
        Ok(n) => {
            v.truncate(n);
            v
        }
        Err(_) => Vec::new(),
    }
}

fn craft_push_pull(p: &mut Program<'_>) -> Vec<u8> {
    let nodes = (0..p.below(17))
        .map(|_| {
            let a = pick_addr(p);
            let name = if p.bool() {
                format!("x{}", p.below(24))
            } else {
                pick_name(p)
            };
            let meta = p.bytes(40).to_vec();
            (
                name,
                ip_bytes(a),
                a.port(),
                meta,
                pick_incarnation(p),
                pick_state(p),
                pick_vsn(p),
            )
        })
        .collect();
    let value = PushPullValue {
        join: p.bool(),
        nodes,
        user_state: p.bytes(64).to_vec(),
    };
    let mut v = value.encode().unwrap_or_default();
    // Sometimes a header that claims more than follows.
    if p.below(8) == 0 && v.len() > 8 {
        let at = 1 + p.below(v.len() - 1);
        v[at] = p.u8();
    }
    v
}

/// The label a wrapped message carries: mostly the cluster's (if it uses one), sometimes none
/// or a wrong one.
fn pick_label(p: &mut Program<'_>, flavour: Flavour) -> &'static [u8] {
    match (flavour.label, p.below(5)) {
        (_, 0) => b"",
        (_, 1) => b"other",
        (true, _) => LABEL,
        (false, _) => b"",
    }
}

/// Wraps a packet as the cluster would: label, encryption, or not (or wrongly).
fn wrap_packet(p: &mut Program<'_>, flavour: Flavour, msg: Vec<u8>, seed: u64) -> Vec<u8> {
    let label = pick_label(p, flavour);
    let mut out = vec![0u8; msg.len() + 64];
    let mut n = encode_label(label, &mut out).unwrap_or(0);
    let sealed = flavour.keyring && p.below(4) != 0;
    if sealed {
        let ring = Keyring::new(key(p.below(2) as u8));
        let nonce = nonce(seed);
        match ring.seal(EncryptionVersion::V1, nonce, &msg, label, &mut out[n..]) {
            Ok(m) => n += m,
            Err(_) => return Vec::new(),
        }
    } else {
        out[n..n + msg.len()].copy_from_slice(&msg);
        n += msg.len();
    }
    out.truncate(n);
    out
}

fn wrap_stream(p: &mut Program<'_>, flavour: Flavour, msg: Vec<u8>, seed: u64) -> Vec<u8> {
    let label = pick_label(p, flavour);
    let mut out = vec![0u8; msg.len() + 96];
    let mut n = encode_label(label, &mut out).unwrap_or(0);
    if flavour.keyring && p.below(4) != 0 {
        let ring = Keyring::new(key(p.below(2) as u8));
        match ring.seal_stream(
            EncryptionVersion::V1,
            nonce(seed),
            &msg,
            label,
            &mut out[n..],
        ) {
            Ok(m) => n += m,
            Err(_) => return Vec::new(),
        }
    } else {
        out[n..n + msg.len()].copy_from_slice(&msg);
        n += msg.len();
    }
    out.truncate(n);
    out
}

fn nonce(seed: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&seed.to_le_bytes());
    n
}

/// One end of a connection: a node's stream, or the program acting as an outside peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Node(usize, StreamId),
    Outside,
}

/// A connection between two ends, with the bytes in flight each way.
#[derive(Debug)]
struct Pipe {
    /// The end that connected.
    a: End,
    /// The end that accepted; `None` while the connect is pending.
    b: Option<End>,
    /// Where `a` connected to.
    to: SocketAddr,
    to_b: Vec<u8>,
    to_a: Vec<u8>,
    /// Each end closed its side (no more bytes from it).
    a_closed: bool,
    b_closed: bool,
}

/// A node under test and what its application has been told.
struct Node {
    m: Memberlist,
    /// Members the application was told joined and not since left or failed.
    told: BTreeMap<Box<str>, Member>,
    joins: BTreeSet<u64>,
    pings: BTreeSet<u32>,
    broadcasts: BTreeSet<u64>,
    leaving: bool,
    left_notice: bool,
    /// Misses the next time step (a stalled process: its timers run late).
    paused: bool,
    incarnation: u32,
}

/// What a run did, for the test's report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Steps taken.
    pub steps: u64,
    /// Datagrams handled by the nodes.
    pub datagrams: u64,
    /// Datagrams the nodes refused with an error.
    pub refused: u64,
    /// Stream connections that carried bytes into a node.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// Members any node listed at once, at most.
    pub most_members: usize,
}

impl Stats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Stats) {
        self.steps += o.steps;
        self.datagrams += o.datagrams;
        self.refused += o.refused;
        self.streams += o.streams;
        self.events += o.events;
        self.most_members = self.most_members.max(o.most_members);
    }
}

struct Cluster {
    flavour: Flavour,
    config: Config,
    nodes: Vec<Node>,
    now: Instant,
    in_flight: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    seen: Vec<Vec<u8>>,
    pipes: Vec<Pipe>,
    lzw: Lzw,
    seed: u64,
    stats: Stats,
    buf: Vec<u8>,
    /// `RUMOR_FUZZ_TRACE` set: every input is printed, to follow a failing program.
    trace: bool,
}

/// Runs `data` as a program against a fresh cluster; panics when an invariant breaks.
pub fn run(data: &[u8]) -> Stats {
    run_steps(data, usize::MAX)
}

/// Like [`run`], stopping after `max_steps` steps.
pub fn run_steps(data: &[u8], max_steps: usize) -> Stats {
    let mut p = Program { data, pos: 0 };
    let flavour = Flavour::from(p.u8());
    let mut c = Cluster::new(flavour);
    // Most programs start from a formed cluster, so the fuzzer spends its steps on trouble.
    if p.below(4) != 0 {
        c.form();
    }
    while !p.done() && (c.stats.steps as usize) < max_steps {
        c.step(&mut p);
        c.stats.steps += 1;
    }
    c.stats
}

impl Cluster {
    fn new(flavour: Flavour) -> Self {
        let config = flavour.config();
        let mut c = Self {
            flavour,
            config,
            nodes: Vec::new(),
            now: Instant::ZERO,
            in_flight: Vec::new(),
            seen: Vec::new(),
            pipes: Vec::new(),
            lzw: Lzw::new(),
            seed: 0,
            stats: Stats::default(),
            buf: Vec::new(),
            trace: std::env::var_os("RUMOR_FUZZ_TRACE").is_some(),
        };
        for i in 0..NODES {
            let m = c.fresh(i, 0);
            c.nodes.push(Node {
                m,
                told: BTreeMap::new(),
                joins: BTreeSet::new(),
                pings: BTreeSet::new(),
                broadcasts: BTreeSet::new(),
                leaving: false,
                left_notice: false,
                paused: false,
                incarnation: 0,
            });
        }
        for i in 0..NODES {
            c.drain(i);
        }
        c.check_all();
        c
    }

    fn fresh(&self, i: usize, generation: u64) -> Memberlist {
        let mut seed = [0u8; 32];
        seed[0] = i as u8;
        seed[8..16].copy_from_slice(&generation.to_le_bytes());
        Memberlist::new(
            self.config.clone(),
            &node_name(i),
            node_addr(i),
            b"",
            seed,
            self.now,
        )
        .expect("the fuzz configuration is valid")
    }

    /// Joins every node to node 0 and runs the cluster until it settles.
    fn form(&mut self) {
        for i in 1..NODES {
            let id = self.nodes[i].m.join(self.now, &[node_addr(0)]);
            self.nodes[i].joins.insert(id);
            self.drain(i);
        }
        for _ in 0..400 {
            self.deliver_everything();
            self.advance(Duration::from_millis(10));
        }
        self.check_all();
    }

    fn deliver_everything(&mut self) {
        while !self.in_flight.is_empty() {
            self.deliver_datagram(0, 0);
        }
        while let Some(i) = self.pipes.iter().position(|p| p.b.is_none()) {
            self.resolve_connect(i, true);
        }
        for i in 0..self.pipes.len() {
            if i < self.pipes.len() {
                self.flow(i, true, usize::MAX);
                self.flow(i, false, usize::MAX);
            }
        }
        self.pipes.retain(|p| !(p.a_closed && p.b_closed));
    }

    fn advance(&mut self, dt: Duration) {
        self.now = self.now + dt;
        for i in 0..NODES {
            if core::mem::take(&mut self.nodes[i].paused) {
                continue;
            }
            if self.nodes[i]
                .m
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                self.nodes[i].m.handle_timeout(self.now);
                self.drain(i);
                if let Some(t) = self.nodes[i].m.poll_timeout() {
                    assert!(
                        t > self.now,
                        "{}: after handling its deadlines the next one ({t:?}) is not after now ({:?})",
                        node_name(i),
                        self.now
                    );
                }
            }
        }
    }

    fn step(&mut self, p: &mut Program<'_>) {
        self.seed += 1;
        match p.below(16) {
            0..=2 => {
                let dt = match p.below(8) {
                    0 => 0,
                    1 => 1,
                    2 => 10,
                    3 => 100,
                    4 => 500,
                    5 => 1_000,
                    6 => 5_000 + u64::from(p.u16()),
                    _ => u64::from(p.u16()) % 2_000,
                };
                self.advance(Duration::from_millis(dt));
            }
            3..=5 => {
                if !self.in_flight.is_empty() {
                    let i = p.below(self.in_flight.len());
                    let fate = p.u8();
                    self.deliver_datagram(i, fate);
                }
            }
            6 => {
                let to = p.below(NODES);
                let from = pick_addr(p);
                let msg = if p.below(4) == 0 {
                    flood(p)
                } else {
                    craft_message(p, 0, &mut self.lzw)
                };
                let packet = wrap_packet(p, self.flavour, msg, self.seed);
                self.packet_to(to, from, &packet);
            }
            7 => {
                let to = p.below(NODES);
                let from = pick_addr(p);
                let packet = if !self.seen.is_empty() && p.bool() {
                    let mut b = self.seen[p.below(self.seen.len())].clone();
                    for _ in 0..p.below(4) {
                        if !b.is_empty() {
                            let at = p.below(b.len());
                            b[at] ^= p.u8();
                        }
                    }
                    if p.below(4) == 0 {
                        let keep = p.below(b.len() + 1);
                        b.truncate(keep);
                    }
                    b
                } else {
                    p.bytes(1500).to_vec()
                };
                self.packet_to(to, from, &packet);
            }
            8 => {
                if !self.pipes.is_empty() {
                    let i = p.below(self.pipes.len());
                    let to_b = p.bool();
                    let n = 1 + p.below(512);
                    self.flow(i, to_b, n);
                }
            }
            9 => {
                if !self.pipes.is_empty() {
                    let i = p.below(self.pipes.len());
                    if self.pipes[i].b.is_none() {
                        let ok = p.below(3) != 0;
                        self.resolve_connect(i, ok);
                    } else {
                        let a_side = p.bool();
                        let failed = p.below(3) == 0;
                        self.close_end(i, a_side, failed);
                    }
                }
            }
            10 => self.outsider_stream(p),
            11..=13 => self.command(p),
            14 => {
                let i = p.below(NODES);
                match p.below(4) {
                    0 => self.restart(i),
                    _ => self.nodes[i].paused = true,
                }
            }
            _ => {
                // The program writes into a stream as the outside peer, or as a node would.
                if let Some(i) = (!self.pipes.is_empty()).then(|| p.below(self.pipes.len())) {
                    let msg = if p.bool() {
                        craft_message(p, 0, &mut self.lzw)
                    } else {
                        p.bytes(256).to_vec()
                    };
                    let bytes = wrap_stream(p, self.flavour, msg, self.seed);
                    let pipe = &mut self.pipes[i];
                    if pipe.b == Some(End::Outside) && !pipe.b_closed {
                        pipe.to_a.extend_from_slice(&bytes);
                    } else if pipe.a == End::Outside && !pipe.a_closed {
                        pipe.to_b.extend_from_slice(&bytes);
                    }
                }
            }
        }
        self.pipes.retain(|p| !(p.a_closed && p.b_closed));
        self.check_all();
    }

    fn packet_to(&mut self, to: usize, from: SocketAddr, packet: &[u8]) {
        self.stats.datagrams += 1;
        if self.trace {
            let msg = rumor_core::wire::strip_label(packet)
                .map(|(_, rest)| format!("{:?}", rumor_core::wire::decode_packet(rest)));
            eprintln!("{:?} {from} -> n{to}: {msg:?}", self.now);
        }
        if self.nodes[to]
            .m
            .handle_packet(self.now, from, packet)
            .is_err()
        {
            self.stats.refused += 1;
        }
        self.drain(to);
    }

    fn deliver_datagram(&mut self, i: usize, fate: u8) {
        let (from, to, mut bytes) = self.in_flight.remove(i);
        if self.seen.len() >= MAX_SEEN {
            self.seen.remove(0);
        }
        self.seen.push(bytes.clone());
        let Some(target) = (0..NODES).find(|&j| node_addr(j) == to) else {
            return;
        };
        match fate % 8 {
            0..=3 => {}
            4 => return,
            5 => self.in_flight.push((from, to, bytes.clone())),
            6 => {
                if !bytes.is_empty() {
                    let at = usize::from(fate) % bytes.len();
                    bytes[at] ^= 0x10;
                }
            }
            _ => bytes.truncate(bytes.len() / 2),
        }
        self.packet_to(target, from, &bytes);
    }

    /// Moves up to `n` bytes of pipe `i` one way (and the close behind them, if all went).
    fn flow(&mut self, i: usize, to_b: bool, n: usize) {
        let pipe = &mut self.pipes[i];
        let Some(b) = pipe.b else { return };
        let (dest, queue, closed) = if to_b {
            (b, &mut pipe.to_b, pipe.a_closed)
        } else {
            (pipe.a, &mut pipe.to_a, pipe.b_closed)
        };
        let n = n.min(queue.len());
        let chunk: Vec<u8> = queue.drain(..n).collect();
        let close = closed && queue.is_empty();
        let End::Node(j, id) = dest else { return };
        if self.trace {
            eprintln!(
                "{:?} stream -> n{j} {id:?}: {} bytes{}",
                self.now,
                chunk.len(),
                if close { ", closed" } else { "" }
            );
        }
        if !chunk.is_empty() {
            self.stats.streams += 1;
            let _ = self.nodes[j]
                .m
                .handle_stream(self.now, id, StreamInput::Data(&chunk));
        }
        if close {
            let _ = self.nodes[j]
                .m
                .handle_stream(self.now, id, StreamInput::Closed);
            // Delivered once: the receiving end is done with it.
            let pipe = &mut self.pipes[i];
            pipe.a_closed = true;
            pipe.b_closed = true;
        }
        self.drain(j);
    }

    fn resolve_connect(&mut self, i: usize, ok: bool) {
        let End::Node(a, a_id) = self.pipes[i].a else {
            return;
        };
        let to = self.pipes[i].to;
        let target = (0..NODES).find(|&j| node_addr(j) == to);
        let accepted = match target {
            Some(j) if ok => self.nodes[j]
                .m
                .accept_stream(self.now, node_addr(a))
                .map(|id| End::Node(j, id)),
            Some(_) => None,
            None if ok => Some(End::Outside),
            None => None,
        };
        match accepted {
            Some(end) => {
                self.pipes[i].b = Some(end);
                let _ = self.nodes[a]
                    .m
                    .handle_stream(self.now, a_id, StreamInput::Connected);
            }
            None => {
                self.pipes[i].b = Some(End::Outside);
                self.pipes[i].a_closed = true;
                self.pipes[i].b_closed = true;
                let _ = self.nodes[a]
                    .m
                    .handle_stream(self.now, a_id, StreamInput::Failed);
            }
        }
        self.drain(a);
    }

    /// One end of pipe `i` fails, or closes its side.
    fn close_end(&mut self, i: usize, a_side: bool, failed: bool) {
        let pipe = &mut self.pipes[i];
        let (this, other) = if a_side {
            (pipe.a, pipe.b)
        } else {
            (pipe.b.unwrap_or(End::Outside), Some(pipe.a))
        };
        if failed {
            pipe.a_closed = true;
            pipe.b_closed = true;
            // Both ends learn of a reset.
            for end in [Some(this), other].into_iter().flatten() {
                if let End::Node(j, id) = end {
                    let _ = self.nodes[j]
                        .m
                        .handle_stream(self.now, id, StreamInput::Failed);
                    self.drain(j);
                }
            }
        } else if this == End::Outside {
            // The outside peer closes its side: delivered after what it sent.
            if a_side {
                pipe.a_closed = true;
            } else {
                pipe.b_closed = true;
            }
        }
    }

    /// An outsider connects to a node and writes a crafted stream message.
    fn outsider_stream(&mut self, p: &mut Program<'_>) {
        let j = p.below(NODES);
        let from = pick_addr(p);
        let Some(id) = self.nodes[j].m.accept_stream(self.now, from) else {
            self.drain(j);
            return;
        };
        let msg = match p.below(4) {
            0 => craft_push_pull(p),
            1 => {
                let mut v = Vec::new();
                let _ = UserStreamMsg(p.bytes(300)).encode_to_vec(&mut v);
                v
            }
            2 => craft_message(p, 0, &mut self.lzw),
            _ => p.bytes(300).to_vec(),
        };
        let bytes = wrap_stream(p, self.flavour, msg, self.seed);
        let close = p.below(3) != 0;
        self.pipes.push(Pipe {
            a: End::Outside,
            b: Some(End::Node(j, id)),
            to: node_addr(j),
            to_b: bytes,
            to_a: Vec::new(),
            a_closed: close,
            b_closed: false,
        });
        self.drain(j);
    }

    fn command(&mut self, p: &mut Program<'_>) {
        let i = p.below(NODES);
        let now = self.now;
        let node = &mut self.nodes[i];
        let m = &mut node.m;
        let op = p.below(14);
        if self.trace {
            eprintln!("{now:?} n{i}: command {op}");
        }
        match op {
            0 => {
                let seeds: Vec<SocketAddr> = (0..1 + p.below(3)).map(|_| pick_addr(p)).collect();
                let id = m.join(now, &seeds);
                node.joins.insert(id);
            }
            1 => {
                if !node.leaving && p.below(4) == 0 {
                    m.leave(now, Duration::from_millis(u64::from(p.u16()) % 3_000));
                    node.leaving = true;
                }
            }
            2 => {
                let meta = p.bytes(600);
                let _ = m.set_meta(now, meta);
            }
            3 => m.broadcast(p.bytes(300)),
            4 => {
                let name = format!("b{}", p.below(4));
                let named = p.bool();
                let id = m.broadcast_with(
                    p.bytes(200),
                    BroadcastOptions {
                        name: named.then_some(name.as_str()),
                        notify: true,
                    },
                );
                node.broadcasts.insert(id);
            }
            5 => {
                let to = pick_name(p);
                let reliable = p.bool();
                let _ = m.send(now, &to, p.bytes(300), reliable);
            }
            6 => {
                let to = pick_addr(p);
                let reliable = p.bool();
                let _ = m.send_to_addr(now, to, p.bytes(300), reliable);
            }
            7 => {
                let name = pick_name(p);
                let addr = pick_addr(p);
                if let Ok(id) = m.ping(now, &name, addr) {
                    node.pings.insert(id);
                }
            }
            8 => m.set_local_state(p.bytes(300)),
            9 => {
                let key = format!("k{}", p.below(80));
                let _ = m.kv_set(now, &key, p.bytes(100));
            }
            10 => {
                let key = format!("k{}", p.below(80));
                let _ = m.kv_delete(now, &key);
            }
            11 => {
                if self.flavour.keyring {
                    match p.below(3) {
                        0 => m.add_key(key(p.below(3) as u8)),
                        1 => {
                            let _ = m.use_key(&key(p.below(3) as u8));
                        }
                        _ => {
                            let _ = m.remove_key(&key(p.below(3) as u8));
                        }
                    }
                }
            }
            12 => m.kv_subscribe(if p.bool() { "" } else { "k1" }),
            _ => {
                let _ = m.kv_unsubscribe("");
            }
        }
        self.drain(i);
    }

    /// Node `i` crashes and starts again under its name, with a new generation.
    fn restart(&mut self, i: usize) {
        if self.trace {
            eprintln!("{:?} n{i} restarts", self.now);
        }
        for pipe in &mut self.pipes {
            let mine = |e: End| matches!(e, End::Node(j, _) if j == i);
            if mine(pipe.a) || pipe.b.is_some_and(mine) {
                pipe.a_closed = true;
                pipe.b_closed = true;
                // The other end sees a reset.
                for end in [Some(pipe.a), pipe.b].into_iter().flatten() {
                    if let End::Node(j, id) = end
                        && j != i
                    {
                        let _ = self.nodes[j]
                            .m
                            .handle_stream(self.now, id, StreamInput::Failed);
                    }
                }
            }
        }
        let m = self.fresh(i, self.seed);
        let node = &mut self.nodes[i];
        node.m = m;
        node.told.clear();
        node.joins.clear();
        node.pings.clear();
        node.broadcasts.clear();
        node.leaving = false;
        node.left_notice = false;
        node.paused = false;
        node.incarnation = 0;
        for j in 0..NODES {
            self.drain(j);
        }
    }

    /// Takes everything node `i` has to hand out, routing datagrams and stream commands and
    /// checking events.
    fn drain(&mut self, i: usize) {
        let from = node_addr(i);
        let now = self.now;
        while let Some(t) = self.nodes[i].m.poll_transmit(now, &mut self.buf) {
            assert_eq!(t.len, self.buf.len(), "a transmit's length is its buffer's");
            if self.trace {
                let (_, rest) = rumor_core::wire::strip_label(&self.buf).unwrap_or_default();
                let head = &rest[..rest.len().min(24)];
                eprintln!("    n{i} sends {} bytes to {}: {head:02x?}", t.len, t.to);
            }
            assert!(
                t.len <= self.config.udp_buffer_size,
                "{}: a datagram of {} bytes, over udp_buffer_size {}",
                node_name(i),
                t.len,
                self.config.udp_buffer_size
            );
            if self.in_flight.len() >= MAX_IN_FLIGHT {
                self.in_flight.remove(0);
            }
            self.in_flight.push((from, t.to, self.buf.clone()));
        }
        while let Some(cmd) = self.nodes[i].m.poll_stream() {
            match cmd {
                StreamCommand::Connect { id, to } => {
                    if self.pipes.len() >= MAX_PIPES {
                        // The oldest connection is lost without a word to either end (a
                        // silent peer): the nodes' own timeouts must clean up after it.
                        self.pipes.remove(0);
                    }
                    self.pipes.push(Pipe {
                        a: End::Node(i, id),
                        b: None,
                        to,
                        to_b: Vec::new(),
                        to_a: Vec::new(),
                        a_closed: false,
                        b_closed: false,
                    })
                }
                StreamCommand::Send { id, data } => {
                    if let Some(pipe) = self.pipe_of(i, id) {
                        let (queue, closed) = if pipe.a == End::Node(i, id) {
                            (&mut pipe.to_b, pipe.a_closed)
                        } else {
                            (&mut pipe.to_a, pipe.b_closed)
                        };
                        assert!(
                            !closed,
                            "{}: sent on stream {id:?} after closing it",
                            node_name(i)
                        );
                        queue.extend_from_slice(&data);
                    }
                }
                StreamCommand::Close { id } => {
                    if let Some(pipe) = self.pipe_of(i, id) {
                        if pipe.a == End::Node(i, id) {
                            pipe.a_closed = true;
                        } else {
                            pipe.b_closed = true;
                        }
                    }
                }
            }
        }
        while let Some(e) = self.nodes[i].m.poll_event() {
            self.stats.events += 1;
            if self.trace {
                eprintln!("    n{i} event {e:?}");
            }
            self.nodes[i].observe(i, e);
        }
    }

    fn pipe_of(&mut self, i: usize, id: StreamId) -> Option<&mut Pipe> {
        let me = End::Node(i, id);
        self.pipes
            .iter_mut()
            .find(|p| (p.a == me || p.b == Some(me)) && !(p.a_closed && p.b_closed))
    }

    fn check_all(&mut self) {
        for i in 0..NODES {
            self.check(i);
        }
    }

    /// The invariants of node `i`, after its outputs were drained.
    fn check(&mut self, i: usize) {
        let config = &self.config;
        let node = &mut self.nodes[i];
        let name = node_name(i);
        let fp: Footprint = node.m.footprint();
        let limits = &config.limits;
        let within = |what: &str, n: usize, bound: usize| {
            assert!(
                n <= bound,
                "{name}: {what} {n} over its bound {bound} ({fp:?})"
            );
        };
        within("members", fp.members, limits.max_members);
        within(
            "queued broadcasts",
            fp.queued_broadcasts,
            limits.max_queued_broadcasts,
        );
        within(
            "queued user broadcasts",
            fp.queued_user_broadcasts,
            limits.max_queued_broadcasts,
        );
        within("relays", fp.relays, 1024);
        within("pings", fp.pings, 1024);
        within("remembered failures", fp.failed, 1024);
        within(
            "streams",
            fp.streams,
            config.max_inbound_streams + config.max_outbound_streams,
        );
        let one_stream = limits.max_stream_frame.max(limits.max_user_msg) + 1024;
        within("one stream's buffer", fp.stream_buffered_max, one_stream);
        within(
            "suspicion timers",
            fp.suspicion_timers,
            4 * limits.max_members + 64,
        );
        assert_eq!(
            (fp.outgoing, fp.events, fp.stream_commands),
            (0, 0, 0),
            "{name}: drained"
        );
        if node.m.kv().is_some() {
            within("map keys", node.m.kv_len(), config.kv.max_keys);
        }
        self.stats.most_members = self.stats.most_members.max(fp.members);

        // Never dead to itself.
        let me = node.m.member(&name).expect("a node always lists itself");
        let fine = match me.state {
            MemberState::Alive => true,
            MemberState::Left => node.leaving,
            MemberState::Suspect | MemberState::Dead => false,
        };
        assert!(fine, "{name} sees itself as {:?}", me.state);
        assert!(
            me.incarnation >= node.incarnation,
            "{name}: its incarnation went back from {} to {}",
            node.incarnation,
            me.incarnation
        );
        node.incarnation = me.incarnation;

        // The application's view is the table's.
        let listed: BTreeMap<Box<str>, Member> =
            node.m.members().map(|m| (m.name.clone(), m)).collect();
        let told: BTreeSet<&str> = node.told.keys().map(|k| &**k).collect();
        let have: BTreeSet<&str> = listed.keys().map(|k| &**k).collect();
        assert_eq!(
            told, have,
            "{name}: the members the application was told of are not those listed"
        );
        for (k, m) in &listed {
            assert_eq!(
                node.told[k].meta, m.meta,
                "{name}: {k}'s metadata changed without an event"
            );
        }
    }
}

impl Node {
    fn observe(&mut self, i: usize, e: Event) {
        let name = node_name(i);
        match e {
            Event::MemberJoined(m) => {
                let prev = self.told.insert(m.name.clone(), m.clone());
                assert!(
                    prev.is_none(),
                    "{name}: {} joined twice without leaving",
                    m.name
                );
            }
            Event::MemberUpdated(m) => {
                let slot = self.told.get_mut(&m.name);
                let slot =
                    slot.unwrap_or_else(|| panic!("{name}: update of {} before its join", m.name));
                *slot = m;
            }
            Event::MemberLeft { member, reason } => {
                assert!(
                    !(reason == LeaveReason::Failed && &*member.name == name.as_str()),
                    "{name} declared itself failed"
                );
                assert!(
                    self.told.remove(&member.name).is_some(),
                    "{name}: {} left without having joined",
                    member.name
                );
            }
            Event::JoinFinished { id, .. } => {
                assert!(self.joins.remove(&id), "{name}: JoinFinished {id} unasked");
            }
            Event::PingResult { id, .. } => {
                assert!(self.pings.remove(&id), "{name}: PingResult {id} unasked");
            }
            Event::BroadcastFinished { id, .. } => {
                assert!(
                    self.broadcasts.remove(&id),
                    "{name}: BroadcastFinished {id} unasked"
                );
            }
            Event::LeaveFinished => {
                assert!(self.leaving, "{name}: LeaveFinished without leave");
                assert!(!self.left_notice, "{name}: LeaveFinished twice");
                self.left_notice = true;
            }
            _ => {}
        }
    }
}
