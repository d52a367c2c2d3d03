//! The deterministic simulator: N rumor-core nodes in one thread on virtual time, joined by a
//! seeded link model (latency, jitter, loss, duplication, reordering, partitions, paused and
//! crashed nodes). Every run is reproducible from one seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_core::{
    Config, Event, Instant, Member, Memberlist, StreamCommand, StreamId, StreamInput,
};

/// How datagrams and streams cross the simulated network.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    /// One-way latency.
    pub latency: Duration,
    /// Uniform extra delay in `0..jitter`; datagrams can overtake each other (reordering).
    pub jitter: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(1),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// Index of a simulated node.
pub type NodeId = usize;

/// An event and when its node produced it.
type TimedEvent = (Instant, Event);

/// One-way latencies between regions, for a network that is not uniform: datagrams from a
/// node in region `a` to one in region `b` take `one_way[a][b]` (plus the link's jitter)
/// instead of [`LinkModel::latency`].
#[derive(Debug, Clone, PartialEq)]
pub struct Regions {
    /// The region of each node, by node id (nodes beyond it are in region 0).
    pub region_of: Vec<usize>,
    /// One-way latency from region to region.
    pub one_way: Vec<Vec<Duration>>,
}

impl Regions {
    /// The one-way latency from node `a` to node `b`, if both regions are in the matrix.
    pub fn latency(&self, a: NodeId, b: NodeId) -> Option<Duration> {
        let region = |n: NodeId| self.region_of.get(n).copied().unwrap_or(0);
        self.one_way.get(region(a))?.get(region(b)).copied()
    }
}

#[derive(Debug)]
enum Delivery {
    Packet { from: SocketAddr, data: Vec<u8> },
    Accept { from: NodeId, from_stream: StreamId },
    Stream { id: StreamId, input: OwnedInput },
}

#[derive(Debug)]
enum OwnedInput {
    Connected,
    Data(Vec<u8>),
    Closed,
    Failed,
}

#[derive(Debug)]
enum Action {
    Deliver { node: NodeId, delivery: Delivery },
    Timer { node: NodeId, at: Instant },
}

/// One simulated node.
#[derive(Debug)]
pub struct SimNode {
    /// The state machine; `None` once crashed.
    pub core: Option<Memberlist>,
    /// Its address.
    pub addr: SocketAddr,
    /// Every event it produced, with the time.
    pub events: Vec<(Instant, Event)>,
    paused: bool,
    /// Input waits, but timers run: a node too slow to read its socket.
    deaf: bool,
    backlog: Vec<Delivery>,
    timer: Option<Instant>,
}

/// Traffic counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams sent.
    pub packets: u64,
    /// Bytes of datagrams sent.
    pub packet_bytes: u64,
    /// Datagrams dropped by loss or partition.
    pub dropped: u64,
    /// Stream connections opened.
    pub streams: u64,
    /// Bytes sent on streams.
    pub stream_bytes: u64,
}

/// The simulator.
#[derive(Debug)]
pub struct Sim {
    seed: u64,
    now: Instant,
    rng: ChaCha8Rng,
    seq: u64,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    actions: HashMap<u64, Action>,
    /// The nodes, by id.
    pub nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, NodeId>,
    /// Stream ends: (node, its id) -> (peer node, the peer's id once accepted).
    links: HashMap<(NodeId, StreamId), (NodeId, Option<StreamId>)>,
    /// Latest delivery time per stream end, so stream bytes arrive in order.
    stream_clock: HashMap<(NodeId, StreamId), Instant>,
    group: Vec<u32>,
    /// The link model; may be changed between steps.
    pub link: LinkModel,
    /// Counters.
    pub traffic: Traffic,
    /// Which events are kept in [`SimNode::events`] (all by default; at thousands of nodes,
    /// keeping every join event costs gigabytes).
    pub keep_events: fn(&Event) -> bool,
    /// Per-region latencies for datagrams; `None`: the link's latency everywhere.
    pub regions: Option<Regions>,
    buf: Vec<u8>,
}

impl Sim {
    /// An empty network whose every random choice derives from `seed`.
    pub fn new(seed: u64, link: LinkModel) -> Self {
        Self {
            seed,
            now: Instant::ZERO,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seq: 0,
            heap: BinaryHeap::new(),
            actions: HashMap::new(),
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            links: HashMap::new(),
            stream_clock: HashMap::new(),
            group: Vec::new(),
            link,
            traffic: Traffic::default(),
            keep_events: |_| true,
            regions: None,
            buf: Vec::with_capacity(65536),
        }
    }

    /// The seed this run derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The address of node `i`: 10.x.y.z:7946 (4-byte IPv4, as Go advertises it).
    pub fn addr_of(i: NodeId) -> SocketAddr {
        let n = i as u32 + 1;
        SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8),
            7946,
        ))
    }

    /// Adds a node running `config`, named `name`.
    pub fn add_node(&mut self, config: Config, name: &str, meta: &[u8]) -> NodeId {
        let id = self.nodes.len();
        let addr = Self::addr_of(id);
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let core = Memberlist::new(config, name, addr, meta, seed, self.now)
            .unwrap_or_else(|e| panic!("node {name}: {e}"));
        self.nodes.push(SimNode {
            core: Some(core),
            addr,
            events: Vec::new(),
            paused: false,
            deaf: false,
            backlog: Vec::new(),
            timer: None,
        });
        self.by_addr.insert(addr, id);
        self.group.push(0);
        self.after_input(id);
        id
    }

    /// The node's state machine (panics if it crashed).
    pub fn core(&self, i: NodeId) -> &Memberlist {
        self.nodes[i].core.as_ref().expect("node crashed")
    }

    /// Runs a command on a node, then collects its output.
    pub fn with<R>(
        &mut self,
        i: NodeId,
        f: impl FnOnce(&mut Memberlist, Instant) -> R,
    ) -> Option<R> {
        let now = self.now;
        let r = self.nodes[i].core.as_mut().map(|c| f(c, now));
        self.after_input(i);
        r
    }

    /// Gives every node the whole member table at once, as if each had just joined through a
    /// node that knew everyone: a push/pull reply listing every node, merged by the joiner's
    /// rules without re-gossiping it ([`Memberlist::join_quietly`]: in a formed cluster that
    /// news went out long ago, and queued it would be N messages on each of N nodes). A
    /// formed cluster without simulating thousands of joins. Nodes should run with
    /// `join_follow_ups: 0`, or each starts its follow-up push/pulls.
    pub fn bootstrap(&mut self) {
        use rumor_core::wire::{IpBytes, NodeState, PushNodeState, PushPullWriter, push_pull_len};
        let selves: Vec<Member> = self
            .nodes
            .iter()
            .filter_map(|n| n.core.as_ref())
            .filter_map(|c| c.member(c.name()))
            .collect();
        let states: Vec<PushNodeState<'_>> = selves
            .iter()
            .map(|m| PushNodeState {
                name: &m.name,
                addr: IpBytes::from(m.addr.ip()),
                port: m.addr.port(),
                meta: &m.meta,
                incarnation: m.incarnation,
                state: NodeState::Alive,
                vsn: m.vsn,
            })
            .collect();
        let mut reply = vec![0u8; push_pull_len(false, &states, 0)];
        let len = PushPullWriter::new(&mut reply, false, states.len() as u32, 0)
            .and_then(|mut w| {
                for st in &states {
                    w.push(st)?;
                }
                w.finish(&[])
            })
            .unwrap_or(0);
        reply.truncate(len);
        let n = self.nodes.len();
        let now = self.now;
        let keep = self.keep_events;
        // Like any run loop, drain a node's events right after its input: held until every
        // node has merged, N joins per node would cost more than the tables themselves.
        let learn = |i: usize, c: &mut Memberlist, kept: &mut Vec<TimedEvent>| {
            c.join_quietly(now, &[Self::addr_of((i + 1) % n)]);
            let mut stream = None;
            while let Some(cmd) = c.poll_stream() {
                if let StreamCommand::Connect { id, .. } = cmd {
                    stream = Some(id);
                }
            }
            let Some(id) = stream else { return };
            let _ = c.handle_stream(now, id, StreamInput::Connected);
            let _ = c.handle_stream(now, id, StreamInput::Data(&reply));
            let _ = c.handle_stream(now, id, StreamInput::Closed);
            while c.poll_stream().is_some() {}
            kept.extend(
                std::iter::from_fn(|| c.poll_event())
                    .filter(keep)
                    .map(|e| (now, e)),
            );
        };
        // The nodes are independent until their outputs are routed: merge on every core.
        let mut cores: Vec<(usize, Memberlist, Vec<TimedEvent>)> = (0..n)
            .filter_map(|i| self.nodes[i].core.take().map(|c| (i, c, Vec::new())))
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
        let chunk = cores.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for part in cores.chunks_mut(chunk) {
                scope.spawn(|| part.iter_mut().for_each(|(i, c, k)| learn(*i, c, k)));
            }
        });
        for (i, c, kept) in cores {
            self.nodes[i].events.extend(kept);
            self.nodes[i].core = Some(c);
            self.after_input(i);
        }
    }

    /// Crashes a node: it stops at once and its streams fail.
    pub fn crash(&mut self, i: NodeId) {
        self.nodes[i].core = None;
        self.nodes[i].backlog.clear();
        let ends: Vec<_> = self
            .links
            .iter()
            .filter(|((n, _), _)| *n == i)
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((_, id), (peer, peer_id)) in ends {
            self.links.remove(&(i, id));
            if let Some(pid) = peer_id {
                self.fail_stream(peer, pid);
            }
        }
    }

    /// Starts a crashed node again at its address, empty: a new state machine with `config`,
    /// `name` and `meta` (a process restarted with no state on disk). It still has to join.
    pub fn restart(&mut self, i: NodeId, config: Config, name: &str, meta: &[u8]) {
        self.crash(i);
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let addr = Self::addr_of(i);
        let core = Memberlist::new(config, name, addr, meta, seed, self.now)
            .unwrap_or_else(|e| panic!("node {name}: {e}"));
        self.nodes[i].core = Some(core);
        self.nodes[i].paused = false;
        self.nodes[i].deaf = false;
        self.nodes[i].timer = None;
        self.after_input(i);
    }

    /// Pauses a node (like SIGSTOP): its timers stop and its input waits.
    pub fn pause(&mut self, i: NodeId) {
        self.nodes[i].paused = true;
    }

    /// Makes a node slow to read its input (Lifeguard's "slow message processing"): what
    /// arrives waits until [`Sim::resume`], while its timers keep running, so its probes
    /// time out and it accuses healthy members.
    pub fn deafen(&mut self, i: NodeId) {
        self.nodes[i].deaf = true;
    }

    /// True if the node is paused or deaf.
    pub fn is_stalled(&self, i: NodeId) -> bool {
        self.nodes[i].paused || self.nodes[i].deaf
    }

    /// Resumes a paused or deaf node: it handles the input that waited, then its timers.
    pub fn resume(&mut self, i: NodeId) {
        self.nodes[i].paused = false;
        self.nodes[i].deaf = false;
        let backlog = std::mem::take(&mut self.nodes[i].backlog);
        for d in backlog {
            self.deliver(i, d);
        }
        let now = self.now;
        if let Some(c) = self.nodes[i].core.as_mut() {
            c.handle_timeout(now);
        }
        self.after_input(i);
    }

    /// Splits the network: nodes in different groups cannot reach each other.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        for (g, members) in groups.iter().enumerate() {
            for &n in *members {
                self.group[n] = g as u32 + 1;
            }
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    fn reachable(&self, a: NodeId, b: NodeId) -> bool {
        self.group[a] == self.group[b]
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.actions.insert(self.seq, action);
    }

    fn delay(&mut self, from: NodeId, to: NodeId) -> Duration {
        let j = self.link.jitter.as_nanos() as u64;
        let extra = if j == 0 { 0 } else { self.rng.next_u64() % j };
        let base = self.regions.as_ref().and_then(|r| r.latency(from, to));
        base.unwrap_or(self.link.latency) + Duration::from_nanos(extra)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    /// Drains a node's outputs and re-arms its timer.
    fn after_input(&mut self, i: NodeId) {
        let now = self.now;
        let Some(mut core) = self.nodes[i].core.take() else {
            return;
        };
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(t) = core.poll_transmit(now, &mut buf) {
            self.send_packet(i, t.to, &buf[..t.len]);
        }
        self.buf = buf;
        while let Some(cmd) = core.poll_stream() {
            self.stream_command(i, cmd);
        }
        while let Some(e) = core.poll_event() {
            if (self.keep_events)(&e) {
                self.nodes[i].events.push((now, e));
            }
        }
        let deadline = core.poll_timeout();
        self.nodes[i].core = Some(core);
        if deadline != self.nodes[i].timer {
            self.nodes[i].timer = deadline;
            if let Some(at) = deadline {
                self.schedule(at.max(now), Action::Timer { node: i, at });
            }
        }
    }

    fn send_packet(&mut self, from: NodeId, to: SocketAddr, data: &[u8]) {
        self.traffic.packets += 1;
        self.traffic.packet_bytes += data.len() as u64;
        let Some(&dst) = self.by_addr.get(&to) else {
            self.traffic.dropped += 1;
            return;
        };
        if !self.reachable(from, dst) || self.chance(self.link.loss) {
            self.traffic.dropped += 1;
            return;
        }
        let copies = if self.chance(self.link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now + self.delay(from, dst);
            let from_addr = self.nodes[from].addr;
            self.schedule(
                at,
                Action::Deliver {
                    node: dst,
                    delivery: Delivery::Packet {
                        from: from_addr,
                        data: data.to_vec(),
                    },
                },
            );
        }
    }

    fn stream_at(&mut self, end: (NodeId, StreamId)) -> Instant {
        let at = (self.now + self.link.latency).max(
            self.stream_clock
                .get(&end)
                .copied()
                .unwrap_or(Instant::ZERO),
        );
        self.stream_clock.insert(end, at);
        at
    }

    fn stream_command(&mut self, i: NodeId, cmd: StreamCommand) {
        match cmd {
            StreamCommand::Connect { id, to } => {
                self.traffic.streams += 1;
                match self.by_addr.get(&to).copied() {
                    Some(dst) if self.reachable(i, dst) => {
                        self.links.insert((i, id), (dst, None));
                        let at = self.now + self.link.latency;
                        self.schedule(
                            at,
                            Action::Deliver {
                                node: dst,
                                delivery: Delivery::Accept {
                                    from: i,
                                    from_stream: id,
                                },
                            },
                        );
                    }
                    // Unreachable: the connect never completes; the core's deadline ends it.
                    _ => {}
                }
            }
            StreamCommand::Send { id, data } => {
                self.traffic.stream_bytes += data.len() as u64;
                if let Some(&(peer, Some(pid))) = self.links.get(&(i, id))
                    && self.reachable(i, peer)
                {
                    let at = self.stream_at((peer, pid));
                    let delivery = Delivery::Stream {
                        id: pid,
                        input: OwnedInput::Data(data),
                    };
                    self.schedule(
                        at,
                        Action::Deliver {
                            node: peer,
                            delivery,
                        },
                    );
                }
            }
            StreamCommand::Close { id } => {
                if let Some((peer, pid)) = self.links.remove(&(i, id)) {
                    self.stream_clock.remove(&(i, id));
                    if let Some(pid) = pid
                        && self.links.contains_key(&(peer, pid))
                    {
                        let at = self.stream_at((peer, pid));
                        let delivery = Delivery::Stream {
                            id: pid,
                            input: OwnedInput::Closed,
                        };
                        self.schedule(
                            at,
                            Action::Deliver {
                                node: peer,
                                delivery,
                            },
                        );
                    }
                }
            }
        }
    }

    /// Ends the stream end `(node, id)` with a failure, one latency from now.
    fn fail_stream(&mut self, node: NodeId, id: StreamId) {
        self.links.remove(&(node, id));
        let at = self.now + self.link.latency;
        let delivery = Delivery::Stream {
            id,
            input: OwnedInput::Failed,
        };
        self.schedule(at, Action::Deliver { node, delivery });
    }

    fn deliver(&mut self, i: NodeId, d: Delivery) {
        if self.nodes[i].core.is_none() {
            if let Delivery::Accept { from, from_stream } = d {
                // Connection refused: nothing listens on a crashed node's port.
                self.fail_stream(from, from_stream);
            }
            return;
        }
        if self.nodes[i].paused || self.nodes[i].deaf {
            if self.nodes[i].backlog.len() < 100_000 {
                self.nodes[i].backlog.push(d);
            }
            return;
        }
        let now = self.now;
        match d {
            Delivery::Packet { from, data } => {
                if let Some(c) = self.nodes[i].core.as_mut() {
                    let _ = c.handle_packet(now, from, &data);
                }
            }
            Delivery::Accept { from, from_stream } => {
                if !self.links.contains_key(&(from, from_stream)) {
                    return;
                }
                let peer = self.nodes[from].addr;
                let accepted = self.nodes[i]
                    .core
                    .as_mut()
                    .and_then(|c| c.accept_stream(now, peer));
                match accepted {
                    Some(id) => {
                        self.links.insert((i, id), (from, Some(from_stream)));
                        self.links.insert((from, from_stream), (i, Some(id)));
                        let at = self.stream_at((from, from_stream));
                        self.schedule(
                            at,
                            Action::Deliver {
                                node: from,
                                delivery: Delivery::Stream {
                                    id: from_stream,
                                    input: OwnedInput::Connected,
                                },
                            },
                        );
                    }
                    None => {
                        self.fail_stream(from, from_stream);
                    }
                }
            }
            Delivery::Stream { id, input } => {
                if matches!(input, OwnedInput::Closed | OwnedInput::Failed) {
                    self.links.remove(&(i, id));
                    self.stream_clock.remove(&(i, id));
                }
                if let Some(c) = self.nodes[i].core.as_mut() {
                    let input = match &input {
                        OwnedInput::Connected => StreamInput::Connected,
                        OwnedInput::Data(d) => StreamInput::Data(d),
                        OwnedInput::Closed => StreamInput::Closed,
                        OwnedInput::Failed => StreamInput::Failed,
                    };
                    let _ = c.handle_stream(now, id, input);
                }
            }
        }
        self.after_input(i);
    }

    /// Runs until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(&Reverse((at, seq))) = self.heap.peek() {
            if at > until {
                break;
            }
            self.heap.pop();
            self.now = self.now.max(at);
            let Some(action) = self.actions.remove(&seq) else {
                continue;
            };
            match action {
                Action::Deliver { node, delivery } => self.deliver(node, delivery),
                Action::Timer { node, at } => {
                    let n = &mut self.nodes[node];
                    if n.timer != Some(at) || n.paused || n.core.is_none() {
                        continue;
                    }
                    n.timer = None;
                    let now = self.now;
                    if let Some(c) = n.core.as_mut() {
                        c.handle_timeout(now);
                    }
                    self.after_input(node);
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Node `i`'s view of the cluster (empty if it crashed).
    pub fn members(&self, i: NodeId) -> Vec<Member> {
        self.nodes[i]
            .core
            .as_ref()
            .map(|c| c.all_members().collect())
            .unwrap_or_default()
    }
}
