//! Real sockets on 127.0.0.1 as a [`Backend`]: each runtime adapter implements [`Runtime`]
//! (start a node, and drive it through its `Handle`) and gets every scenario in wall-clock
//! time. Loss, partitions and pauses go through the adapters' fault-injection hook
//! ([`rumor_core::runtime::Faults`]), installed per node by [`RealBackend`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_core::runtime::{Events, Faults, Handle, NodeOptions};
use rumor_core::{Config, Event, KvEntry, Member};

use crate::backend::Backend;
use crate::lock;
use crate::sim::NodeId;

/// The configuration scenarios run with in real time: memberlist's Local profile, 5× faster,
/// with reconnection every second, so a suite finishes in minutes. Timeouts keep generous
/// margins against scheduling delays on a loaded 2-core machine.
pub fn fast_config() -> Config {
    Config {
        probe_interval: Duration::from_millis(200),
        probe_timeout: Duration::from_millis(100),
        gossip_interval: Duration::from_millis(40),
        push_pull_interval: Duration::from_secs(3),
        gossip_to_the_dead_time: Duration::from_secs(3),
        tcp_timeout: Duration::from_secs(2),
        suspicion_mult: 4,
        reconnect_interval: Duration::from_secs(1),
        ..Config::local()
    }
}

/// Where a node's events go: the adapter's test glue pushes every event it receives.
#[derive(Debug, Clone)]
pub struct EventSink {
    start: Instant,
    events: Arc<Mutex<Vec<(Duration, Event)>>>,
}

impl EventSink {
    /// Records an event, stamped with the time since the backend started.
    pub fn push(&self, e: Event) {
        let t = self.start.elapsed();
        lock(&self.events).push((t, e));
    }
}

/// One running node, driven through its adapter's `Handle` (methods take `&self`, as a
/// `Handle` does). Calls block until the node accepted the command, not until its effect
/// spread.
pub trait RealNode {
    /// The address the node is bound to and advertises.
    fn addr(&self) -> SocketAddr;
    /// Starts a join through `seeds` (completion shows as `Event::JoinFinished`).
    fn join(&self, seeds: &[SocketAddr]);
    /// Starts a graceful leave (completion shows as `Event::LeaveFinished`).
    fn leave(&self, timeout: Duration);
    /// Stops the node at once, without a word to anyone; later calls do nothing.
    fn kill(&self);
    /// Queues a user broadcast.
    fn broadcast(&self, payload: &[u8]);
    /// Sends a user message to the member called `to`.
    fn send(&self, to: &str, payload: &[u8], reliable: bool);
    /// Changes the node's metadata.
    fn set_meta(&self, meta: &[u8]);
    /// Sets the node's push/pull application state.
    fn set_local_state(&self, state: &[u8]);
    /// The node's view of the cluster (empty once killed).
    fn members(&self) -> Vec<Member>;
    /// Sets a key of the replicated map.
    fn kv_set(&self, key: &str, value: &[u8]);
    /// Deletes a key of the replicated map.
    fn kv_delete(&self, key: &str);
    /// The entry of `key` (`None` once killed).
    fn kv_get(&self, key: &str) -> Option<KvEntry>;
    /// The map's fingerprint (0 once killed).
    fn kv_fingerprint(&self) -> u64;
    /// Subscribes to key changes under `prefix`.
    fn kv_subscribe(&self, prefix: &str);
}

/// Every runtime built on rumor's driver commands its nodes through the same
/// [`Handle`]: the scenario thread waits for each reply (`join` and `leave` only queue, since
/// they finish later, as events).
impl RealNode for Handle {
    fn addr(&self) -> SocketAddr {
        self.local_addr()
    }
    fn join(&self, seeds: &[SocketAddr]) {
        drop(Handle::join(self, seeds.to_vec()));
    }
    fn leave(&self, timeout: Duration) {
        drop(Handle::leave(self, timeout));
    }
    fn kill(&self) {
        let _ = self.shutdown().wait();
    }
    fn broadcast(&self, payload: &[u8]) {
        let _ = Handle::broadcast(self, payload.to_vec()).wait();
    }
    fn send(&self, to: &str, payload: &[u8], reliable: bool) {
        let _ = Handle::send(self, to.into(), payload.to_vec(), reliable).wait();
    }
    fn set_meta(&self, meta: &[u8]) {
        let _ = Handle::set_meta(self, meta.to_vec()).wait();
    }
    fn set_local_state(&self, state: &[u8]) {
        let _ = Handle::set_local_state(self, state.to_vec()).wait();
    }
    fn members(&self) -> Vec<Member> {
        Handle::all_members(self).wait().unwrap_or_default()
    }
    fn kv_set(&self, key: &str, value: &[u8]) {
        let _ = Handle::kv_set(self, key.into(), value.to_vec()).wait();
    }
    fn kv_delete(&self, key: &str) {
        let _ = Handle::kv_delete(self, key.into()).wait();
    }
    fn kv_get(&self, key: &str) -> Option<KvEntry> {
        Handle::kv_get(self, key.into()).wait().ok().flatten()
    }
    fn kv_fingerprint(&self) -> u64 {
        self.with_core(|c, _| c.kv_fingerprint())
            .wait()
            .unwrap_or(0)
    }
    fn kv_subscribe(&self, prefix: &str) {
        let _ = Handle::kv_subscribe(self, prefix.into()).wait();
    }
}

/// Forwards a node's events to `sink` until the node stops, on any executor.
pub async fn forward(events: Events, sink: EventSink) {
    while let Some(e) = events.recv().await {
        sink.push(e);
    }
}

/// Forwards a node's events to `sink` until the node stops, on a thread of its own.
pub fn forward_on_thread(events: Events, sink: EventSink) -> io::Result<()> {
    std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            while let Some(e) = events.recv_blocking() {
                sink.push(e);
            }
        })
        .map(drop)
}

/// A runtime adapter under test.
pub trait Runtime {
    /// Its nodes.
    type Node: RealNode;
    /// Short name for reports: `tokio`, `mio`, ...
    fn name(&self) -> &'static str;
    /// Starts a node with `options` (bound to 127.0.0.1 port 0, with the backend's fault
    /// hook installed) and forwards every event it produces to `sink`.
    fn start(
        &mut self,
        config: Config,
        options: NodeOptions,
        sink: EventSink,
    ) -> io::Result<Self::Node>;
}

#[derive(Debug)]
struct NetState {
    loss: f64,
    /// Partition group of each address; addresses in different groups cannot talk.
    group: HashMap<SocketAddr, usize>,
    rng: ChaCha8Rng,
}

/// The network conditions every node of a [`RealBackend`] shares.
#[derive(Debug)]
struct Net {
    state: Mutex<NetState>,
}

impl Net {
    fn cut(s: &NetState, a: SocketAddr, b: SocketAddr) -> bool {
        matches!((s.group.get(&a), s.group.get(&b)), (Some(x), Some(y)) if x != y)
    }
}

/// One node's fault hook: the shared network plus its own pause switch.
#[derive(Debug)]
struct NodeFaults {
    net: Arc<Net>,
    paused: AtomicBool,
}

impl Faults for NodeFaults {
    fn send_datagram(&self, from: SocketAddr, to: SocketAddr) -> bool {
        let mut s = lock(&self.net.state);
        if Net::cut(&s, from, to) {
            return false;
        }
        let loss = s.loss;
        loss <= 0.0 || (s.rng.next_u64() as f64 / u64::MAX as f64) >= loss
    }
    fn connect(&self, from: SocketAddr, to: SocketAddr) -> bool {
        !Net::cut(&lock(&self.net.state), from, to)
    }
    fn paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }
}

struct Slot<N> {
    node: N,
    addr: SocketAddr,
    faults: Arc<NodeFaults>,
    events: Arc<Mutex<Vec<(Duration, Event)>>>,
}

/// Real sockets through a [`Runtime`], as a [`Backend`].
pub struct RealBackend<R: Runtime> {
    runtime: R,
    config: Config,
    start: Instant,
    net: Arc<Net>,
    nodes: Vec<Slot<R::Node>>,
}

impl<R: Runtime> std::fmt::Debug for RealBackend<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealBackend")
            .field("runtime", &self.runtime.name())
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> RealBackend<R> {
    /// A backend running nodes on `runtime` with [`fast_config`].
    pub fn new(runtime: R) -> Self {
        Self::with_config(runtime, fast_config())
    }

    /// A backend running nodes on `runtime` with `config`.
    pub fn with_config(runtime: R, config: Config) -> Self {
        Self {
            runtime,
            config,
            start: Instant::now(),
            net: Arc::new(Net {
                state: Mutex::new(NetState {
                    loss: 0.0,
                    group: HashMap::new(),
                    rng: ChaCha8Rng::seed_from_u64(0x5eed),
                }),
            }),
            nodes: Vec::new(),
        }
    }
}

impl<R: Runtime> Drop for RealBackend<R> {
    fn drop(&mut self) {
        for s in &mut self.nodes {
            s.faults.paused.store(false, Ordering::Release);
            s.node.kill();
        }
    }
}

impl<R: Runtime> Backend for RealBackend<R> {
    fn name(&self) -> &'static str {
        self.runtime.name()
    }
    fn base_config(&self) -> Config {
        self.config.clone()
    }
    fn spawn(&mut self, name: &str, meta: &[u8], config: Config) -> NodeId {
        let faults = Arc::new(NodeFaults {
            net: self.net.clone(),
            paused: AtomicBool::new(false),
        });
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = EventSink {
            start: self.start,
            events: events.clone(),
        };
        let mut options = NodeOptions::new(name, SocketAddr::from(([127, 0, 0, 1], 0))).meta(meta);
        let id = self.nodes.len() as u64;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&id.to_le_bytes());
        options.seed = Some(seed);
        options.faults = Some(faults.clone());
        let node = match self.runtime.start(config, options, sink) {
            Ok(n) => n,
            Err(e) => panic!("{}: starting {name}: {e}", self.runtime.name()),
        };
        let addr = node.addr();
        self.nodes.push(Slot {
            node,
            addr,
            faults,
            events,
        });
        self.nodes.len() - 1
    }
    fn addr(&self, node: NodeId) -> SocketAddr {
        self.nodes[node].addr
    }
    fn real_sockets(&self) -> bool {
        true
    }
    fn slack(&self) -> u32 {
        3
    }
    fn join(&mut self, node: NodeId, seeds: &[NodeId]) {
        let addrs: Vec<_> = seeds.iter().map(|&s| self.nodes[s].addr).collect();
        self.nodes[node].node.join(&addrs);
    }
    fn leave(&mut self, node: NodeId) {
        let timeout = self.config.probe_interval * 5;
        self.nodes[node].node.leave(timeout);
    }
    fn kill(&mut self, node: NodeId) {
        self.nodes[node].node.kill();
    }
    fn pause(&mut self, node: NodeId) {
        self.nodes[node]
            .faults
            .paused
            .store(true, Ordering::Release);
    }
    fn resume(&mut self, node: NodeId) {
        self.nodes[node]
            .faults
            .paused
            .store(false, Ordering::Release);
    }
    fn broadcast(&mut self, node: NodeId, payload: &[u8]) {
        self.nodes[node].node.broadcast(payload);
    }
    fn send(&mut self, from: NodeId, to: &str, payload: &[u8], reliable: bool) {
        self.nodes[from].node.send(to, payload, reliable);
    }
    fn set_meta(&mut self, node: NodeId, meta: &[u8]) {
        self.nodes[node].node.set_meta(meta);
    }
    fn set_local_state(&mut self, node: NodeId, state: &[u8]) {
        self.nodes[node].node.set_local_state(state);
    }
    fn kv_set(&mut self, node: NodeId, key: &str, value: &[u8]) {
        self.nodes[node].node.kv_set(key, value);
    }
    fn kv_delete(&mut self, node: NodeId, key: &str) {
        self.nodes[node].node.kv_delete(key);
    }
    fn kv_get(&self, node: NodeId, key: &str) -> Option<KvEntry> {
        self.nodes[node].node.kv_get(key)
    }
    fn kv_fingerprint(&self, node: NodeId) -> u64 {
        self.nodes[node].node.kv_fingerprint()
    }
    fn kv_subscribe(&mut self, node: NodeId, prefix: &str) {
        self.nodes[node].node.kv_subscribe(prefix);
    }
    fn partition(&mut self, groups: &[&[NodeId]]) {
        let mut s = lock(&self.net.state);
        s.group.clear();
        for (g, members) in groups.iter().enumerate() {
            for &n in *members {
                s.group.insert(self.nodes[n].addr, g);
            }
        }
    }
    fn heal(&mut self) {
        lock(&self.net.state).group.clear();
    }
    fn set_loss(&mut self, loss: f64) {
        lock(&self.net.state).loss = loss;
    }
    fn run_for(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn members(&self, node: NodeId) -> Vec<Member> {
        self.nodes[node].node.members()
    }
    fn events(&self, node: NodeId) -> Vec<(Duration, Event)> {
        lock(&self.nodes[node].events).clone()
    }
    fn context(&self) -> String {
        format!(
            "{} backend, real sockets on 127.0.0.1, {} nodes",
            self.runtime.name(),
            self.nodes.len()
        )
    }
}
