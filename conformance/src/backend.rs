//! The surface every scenario drives: a cluster of rumor nodes on some backend (the
//! simulator here; real sockets on a runtime later). Synchronous, so a scenario is a plain
//! function that runs the same way in virtual and in wall-clock time.

use std::time::Duration;

use rumor_core::{Config, Event, KvEntry, Member};

use crate::sim::{LinkModel, NodeId, Sim};

/// A cluster a scenario can build and disturb.
pub trait Backend {
    /// Short name for reports: `sim`, `tokio`, ...
    fn name(&self) -> &'static str;
    /// The configuration scenarios start from (protocol periods count from its values).
    fn base_config(&self) -> Config;
    /// Starts a node.
    fn spawn(&mut self, name: &str, meta: &[u8], config: Config) -> NodeId;
    /// The address `node` is reachable at.
    fn addr(&self, node: NodeId) -> std::net::SocketAddr;
    /// How much longer than the protocol's own bounds a scenario waits. The simulator runs
    /// the protocol on time (1); real sockets share a machine whose load can delay timers,
    /// and a node that notices it ran late stretches its own timeouts (Lifeguard awareness).
    fn slack(&self) -> u32 {
        1
    }
    /// Whether the nodes listen on real sockets that a test may connect to.
    fn real_sockets(&self) -> bool {
        false
    }
    /// Joins `node` to the cluster through `seeds`.
    fn join(&mut self, node: NodeId, seeds: &[NodeId]);
    /// Graceful leave.
    fn leave(&mut self, node: NodeId);
    /// Crash: the node stops without a word.
    fn kill(&mut self, node: NodeId);
    /// Stops a node's processing, like SIGSTOP.
    fn pause(&mut self, node: NodeId);
    /// Continues a paused node, like SIGCONT.
    fn resume(&mut self, node: NodeId);
    /// Queues a user broadcast on `node`.
    fn broadcast(&mut self, node: NodeId, payload: &[u8]);
    /// Sends a user message from `from` to the member called `to`.
    fn send(&mut self, from: NodeId, to: &str, payload: &[u8], reliable: bool);
    /// Changes a node's metadata.
    fn set_meta(&mut self, node: NodeId, meta: &[u8]);
    /// Sets the application state a node offers in push/pull.
    fn set_local_state(&mut self, node: NodeId, state: &[u8]);
    /// Sets a key of the replicated map on `node` (its config must enable the map).
    fn kv_set(&mut self, node: NodeId, key: &str, value: &[u8]);
    /// Deletes a key of the replicated map on `node`.
    fn kv_delete(&mut self, node: NodeId, key: &str);
    /// `node`'s entry for `key`.
    fn kv_get(&self, node: NodeId, key: &str) -> Option<KvEntry>;
    /// `node`'s map fingerprint (equal on nodes holding the same map).
    fn kv_fingerprint(&self, node: NodeId) -> u64;
    /// Subscribes `node` to key changes under `prefix`.
    fn kv_subscribe(&mut self, node: NodeId, prefix: &str);
    /// Splits the network into groups that cannot reach each other.
    fn partition(&mut self, groups: &[&[NodeId]]);
    /// Removes every partition.
    fn heal(&mut self);
    /// Sets the datagram loss probability.
    fn set_loss(&mut self, loss: f64);
    /// Lets time pass.
    fn run_for(&mut self, d: Duration);
    /// Time since the backend started.
    fn elapsed(&self) -> Duration;
    /// `node`'s view of the cluster.
    fn members(&self, node: NodeId) -> Vec<Member>;
    /// Every event `node` produced so far, with the time it was seen.
    fn events(&self, node: NodeId) -> Vec<(Duration, Event)>;
    /// Something to print when a scenario fails (a seed, log locations).
    fn context(&self) -> String;
}

/// The simulator's configuration for the scenario suite: memberlist's Local profile, with
/// reconnection every 5 s.
pub fn sim_config() -> Config {
    Config {
        reconnect_interval: Duration::from_secs(5),
        ..Config::local()
    }
}

/// The simulator seed the suite runs with: `RUMOR_SIM_SEED` when set (to rerun a failure, as
/// [`SimBackend`]'s failure context suggests), otherwise 7.
pub fn sim_seed() -> u64 {
    std::env::var("RUMOR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

/// The simulator as a backend.
#[derive(Debug)]
pub struct SimBackend {
    /// The simulator.
    pub sim: Sim,
    config: Config,
}

impl SimBackend {
    /// A simulator seeded with `seed`, nodes running `config`.
    pub fn new(seed: u64, link: LinkModel, config: Config) -> Self {
        Self {
            sim: Sim::new(seed, link),
            config,
        }
    }
}

impl Backend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn base_config(&self) -> Config {
        self.config.clone()
    }
    fn spawn(&mut self, name: &str, meta: &[u8], config: Config) -> NodeId {
        self.sim.add_node(config, name, meta)
    }
    fn addr(&self, node: NodeId) -> std::net::SocketAddr {
        Sim::addr_of(node)
    }
    fn join(&mut self, node: NodeId, seeds: &[NodeId]) {
        let addrs: Vec<_> = seeds.iter().map(|&s| Sim::addr_of(s)).collect();
        self.sim.with(node, |c, now| c.join(now, &addrs));
    }
    fn leave(&mut self, node: NodeId) {
        let timeout = self.config.probe_interval * 5;
        self.sim.with(node, |c, now| c.leave(now, timeout));
    }
    fn kill(&mut self, node: NodeId) {
        self.sim.crash(node);
    }
    fn pause(&mut self, node: NodeId) {
        self.sim.pause(node);
    }
    fn resume(&mut self, node: NodeId) {
        self.sim.resume(node);
    }
    fn broadcast(&mut self, node: NodeId, payload: &[u8]) {
        self.sim.with(node, |c, _| c.broadcast(payload));
    }
    fn send(&mut self, from: NodeId, to: &str, payload: &[u8], reliable: bool) {
        self.sim.with(from, |c, now| {
            let _ = c.send(now, to, payload, reliable);
        });
    }
    fn set_meta(&mut self, node: NodeId, meta: &[u8]) {
        self.sim.with(node, |c, now| {
            let _ = c.set_meta(now, meta);
        });
    }
    fn set_local_state(&mut self, node: NodeId, state: &[u8]) {
        self.sim.with(node, |c, _| c.set_local_state(state));
    }
    fn kv_set(&mut self, node: NodeId, key: &str, value: &[u8]) {
        self.sim.with(node, |c, now| {
            let _ = c.kv_set(now, key, value);
        });
    }
    fn kv_delete(&mut self, node: NodeId, key: &str) {
        self.sim.with(node, |c, now| {
            let _ = c.kv_delete(now, key);
        });
    }
    fn kv_get(&self, node: NodeId, key: &str) -> Option<KvEntry> {
        self.sim.nodes[node].core.as_ref()?.kv_get(key)
    }
    fn kv_fingerprint(&self, node: NodeId) -> u64 {
        self.sim.nodes[node]
            .core
            .as_ref()
            .map_or(0, |c| c.kv_fingerprint())
    }
    fn kv_subscribe(&mut self, node: NodeId, prefix: &str) {
        self.sim.with(node, |c, _| c.kv_subscribe(prefix));
    }
    fn partition(&mut self, groups: &[&[NodeId]]) {
        self.sim.partition(groups);
    }
    fn heal(&mut self) {
        self.sim.heal();
    }
    fn set_loss(&mut self, loss: f64) {
        self.sim.link.loss = loss;
    }
    fn run_for(&mut self, d: Duration) {
        self.sim.run_for(d);
    }
    fn elapsed(&self) -> Duration {
        self.sim.now().as_duration()
    }
    fn members(&self, node: NodeId) -> Vec<Member> {
        self.sim.members(node)
    }
    fn events(&self, node: NodeId) -> Vec<(Duration, Event)> {
        self.sim.nodes[node]
            .events
            .iter()
            .map(|(t, e)| (t.as_duration(), e.clone()))
            .collect()
    }
    fn context(&self) -> String {
        format!(
            "simulator seed {} (rerun with RUMOR_SIM_SEED={})",
            self.sim.seed(),
            self.sim.seed()
        )
    }
}
