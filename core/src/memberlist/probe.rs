//! Failure detection: the probe round (memberlist `probe`, `probeNode`; SWIM §3, Lifeguard
//! §IV-A), indirect probes we relay for others, and choosing random members.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;

use rand_core::Rng;

use crate::event::{MemberState, StreamId};
use crate::memberlist::packet::Outgoing;
use crate::memberlist::{Memberlist, advance};
use crate::time::Instant;
use crate::wire::{IndirectPing, Suspect};

/// The probe in progress (memberlist runs one at a time). The target's name is kept in
/// `Memberlist::probe_target`, a reused buffer, so a probe round allocates nothing.
#[derive(Debug)]
pub(in crate::memberlist) struct Probe {
    pub(in crate::memberlist) seq: u32,
    pub(in crate::memberlist) to: SocketAddr,
    pub(in crate::memberlist) incarnation: u32,
    pub(in crate::memberlist) suspect: bool,
    pub(in crate::memberlist) pmax: u8,
    /// When the direct ack is due; then the indirect phase starts.
    pub(in crate::memberlist) timeout_at: Instant,
    /// When the probe fails: start + the awareness-scaled probe interval.
    pub(in crate::memberlist) end_at: Instant,
    /// When the ping went out.
    pub(in crate::memberlist) started: Instant,
    pub(in crate::memberlist) indirect: bool,
    pub(in crate::memberlist) expected_nacks: u32,
    pub(in crate::memberlist) nacks: u32,
    pub(in crate::memberlist) fallback: Option<StreamId>,
}

impl Probe {
    pub(in crate::memberlist) fn next_deadline(&self) -> Instant {
        if self.indirect {
            self.end_at
        } else {
            self.timeout_at
        }
    }
}

/// An indirect probe this node runs for another member.
#[derive(Debug)]
pub(in crate::memberlist) struct Relay {
    pub(in crate::memberlist) our_seq: u32,
    pub(in crate::memberlist) their_seq: u32,
    pub(in crate::memberlist) requester: SocketAddr,
    pub(in crate::memberlist) nack: bool,
    /// The requester is a member at its address: gossip may ride on the answer.
    pub(in crate::memberlist) gossip: bool,
    pub(in crate::memberlist) deadline: Instant,
}

/// Most indirect probes relayed at once; more requests are dropped (a flood cannot grow us).
const MAX_RELAYS: usize = 1024;

/// Most explicit pings waiting at once.
const MAX_PINGS: usize = 1024;

/// An explicit ping waiting for its ack ([`Memberlist::ping`]).
#[derive(Debug)]
pub(in crate::memberlist) struct Pinging {
    seq: u32,
    sent: Instant,
    pub(in crate::memberlist) deadline: Instant,
}

impl Memberlist {
    /// Probe ticks, the phases of the current probe, and its end.
    pub(in crate::memberlist) fn probe_timers(&mut self, now: Instant) {
        if now >= self.next_probe {
            self.next_probe = advance(self.next_probe, self.config.probe_interval, now);
            self.probe_tick_pending = true;
            // memberlist samples this every `QueueCheckInterval`; once a probe interval here.
            let queued = self.queued_broadcasts() as f64;
            self.metrics
                .sample(crate::observe::Histogram::QueueBroadcasts, queued);
        }
        if let Some(p) = &self.probe
            && !p.indirect
            && now >= p.timeout_at
        {
            self.start_indirect(now);
        }
        if let Some(p) = &self.probe
            && now >= p.end_at
        {
            self.probe_failed(now);
        }
        if self.probe_tick_pending && self.probe.is_none() && !self.leaving {
            self.probe_tick_pending = false;
            self.start_next_probe(now);
        }
    }

    /// Picks the next member in the shuffled round-robin order (memberlist `probe`): skips
    /// this node and dead or left ones; at the end of the list, reaps and reshuffles.
    fn start_next_probe(&mut self, now: Instant) {
        let mut checked = 0;
        loop {
            let n = self.members.len();
            if checked >= n {
                return;
            }
            if self.probe_index >= n {
                self.reset_nodes(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let node = self.members.get(self.probe_index);
            self.probe_index += 1;
            if node.name_bytes() == self.name.as_bytes() || node.dead_or_left() {
                checked += 1;
                continue;
            }
            let Some(to) = node.socket_addr() else {
                checked += 1;
                continue;
            };
            self.probe_target.clear();
            self.probe_target.push_str(node.name());
            let (incarnation, suspect, pmax) = (
                node.incarnation,
                node.state != MemberState::Alive,
                node.vsn.protocol_max,
            );
            let seq = self.next_seq_no();
            let interval = self.awareness.scale(self.config.probe_interval);
            if interval > self.config.probe_interval {
                self.metrics
                    .count(crate::observe::Counter::DegradedProbe, 1);
            }
            self.probe = Some(Probe {
                seq,
                to,
                incarnation,
                suspect,
                pmax,
                timeout_at: now + self.config.probe_timeout,
                end_at: now + interval,
                started: now,
                indirect: false,
                expected_nacks: 0,
                nacks: 0,
                fallback: None,
            });
            self.outgoing.push_back(Outgoing::ProbePing);
            return;
        }
    }

    /// memberlist `resetNodes`: forget members dead or left for longer than
    /// `gossip_to_the_dead_time`, then shuffle.
    fn reset_nodes(&mut self, now: Instant) {
        let keep_for = self.config.gossip_to_the_dead_time;
        self.members.reap_and_shuffle(&mut self.rng, |n| {
            n.dead_or_left() && now.saturating_duration_since(n.state_change) > keep_for
        });
    }

    /// No direct ack in time: ask `indirect_checks` alive members to probe the target, and try
    /// a stream ping if the target understands it (protocol ≥ 3).
    fn start_indirect(&mut self, now: Instant) {
        let Some(p) = self.probe.as_mut() else { return };
        p.indirect = true;
        let (target, seq) = (p.to, p.seq);
        let k = self.config.indirect_checks;
        let target_name = core::mem::take(&mut self.probe_target);
        let me = self.name.clone();
        self.random_members(k, |n| {
            n.name_bytes() == me.as_bytes()
                || n.name_bytes() == target_name.as_bytes()
                || n.state != MemberState::Alive
        });
        self.probe_target = target_name;
        let mut expected = 0;
        for j in 0..self.picked.len() {
            let node = self.members.get(self.picked[j]);
            let Some(to) = node.socket_addr() else {
                continue;
            };
            let nack = node.vsn.protocol_max >= 4;
            expected += u32::from(nack);
            self.outgoing.push_back(Outgoing::IndirectPing { to, nack });
        }
        let allowed = !self.config.disable_tcp_pings
            && self
                .config
                .hooks
                .as_ref()
                .is_none_or(|h| h.stream_ping(&self.probe_target));
        let fallback = if allowed && self.probe.as_ref().is_some_and(|p| p.pmax >= 3) {
            self.start_ping_stream(now, target, seq).ok()
        } else {
            None
        };
        if let Some(p) = self.probe.as_mut() {
            p.expected_nacks = expected;
            p.fallback = fallback;
        }
    }

    /// The probe ran out of time: count the missed nacks against our own health (Lifeguard)
    /// and suspect the target.
    fn probe_failed(&mut self, now: Instant) {
        let Some(p) = self.probe.take() else { return };
        self.probe_took(p.started, now);
        if let Some(id) = p.fallback {
            self.abandon_stream(id);
        }
        let delta = if p.expected_nacks > 0 {
            p.expected_nacks.saturating_sub(p.nacks) as i32
        } else {
            1
        };
        self.adjust_health(delta);
        let name = core::mem::take(&mut self.probe_target);
        let me = self.name.clone();
        let s = Suspect {
            incarnation: p.incarnation,
            node: &name,
            from: &me,
        };
        self.suspect_node(&s, now);
        self.probe_target = name;
    }

    /// An ack for `seq` arrived (a datagram, with its payload, or over a stream ping).
    pub(in crate::memberlist) fn on_ack(&mut self, seq: u32, now: Instant, payload: Option<&[u8]>) {
        if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            if let Some(p) = self.probe.take() {
                self.probe_took(p.started, now);
                // memberlist reports only a direct answer, before the indirect phase.
                if let (Some(payload), false) = (payload, p.indirect) {
                    self.ping_complete(&p, now, payload);
                }
                if let Some(id) = p.fallback {
                    self.abandon_stream(id);
                }
            }
            self.adjust_health(-1);
            return;
        }
        if self.pong(seq, now, payload) {
            return;
        }
        if let Some(i) = self.relays.iter().position(|r| r.our_seq == seq) {
            let r = self.relays.swap_remove(i);
            self.outgoing.push_back(Outgoing::Ack {
                to: r.requester,
                seq: r.their_seq,
                answer: false,
                gossip: r.gossip,
            });
        }
    }

    /// [`crate::Hooks::ping_complete`] for a probe answered directly.
    fn ping_complete(&self, p: &Probe, now: Instant, payload: &[u8]) {
        let Some(hooks) = &self.config.hooks else {
            return;
        };
        let Some(i) = self.members.find(&self.probe_target) else {
            return;
        };
        let n = self.members.get(i);
        let view = crate::MemberView {
            name: n.name(),
            addr: p.to,
            meta: n.meta(),
            incarnation: n.incarnation,
            state: n.state,
            vsn: n.vsn,
        };
        hooks.ping_complete(&view, now.saturating_duration_since(p.started), payload);
    }

    /// memberlist's `probeNode` timing, in milliseconds.
    fn probe_took(&self, started: Instant, now: Instant) {
        let ms = now.saturating_duration_since(started).as_secs_f64() * 1e3;
        self.metrics
            .sample(crate::observe::Histogram::ProbeNode, ms);
    }

    /// A nack for `seq`: a relay could not reach our target, but it is alive itself.
    pub(in crate::memberlist) fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.probe.as_mut()
            && p.seq == seq
        {
            p.nacks += 1;
        }
    }

    /// Another member asks us to probe a node for it (memberlist `handleIndirectPing`).
    pub(in crate::memberlist) fn on_indirect_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &IndirectPing<'_>,
    ) {
        if self.relays.len() >= MAX_RELAYS {
            return;
        }
        let Some(ip) = req.target.ip() else { return };
        let port = if req.port == 0 || self.config.protocol_version < 2 {
            self.advertise.port()
        } else {
            req.port
        };
        let requester = match req.source_addr.ip() {
            Some(ip) if req.source_port > 0 => SocketAddr::new(ip, req.source_port),
            _ => from,
        };
        let our_seq = self.next_seq_no();
        let to = SocketAddr::new(ip, port);
        let gossip = self.gossip_to(req.node, to);
        self.outgoing.push_back(Outgoing::RelayPing {
            to,
            seq: our_seq,
            node: Box::from(req.node),
            gossip,
        });
        let gossip = self.gossip_to(req.source_node, requester);
        self.relays.push(Relay {
            our_seq,
            their_seq: req.seq_no,
            requester,
            nack: req.nack,
            gossip,
            deadline: now + self.config.probe_timeout,
        });
    }

    /// Relays whose target did not answer in time: nack the requester if it asked.
    /// Pings the member called `node` at `addr` once, outside the probe schedule (memberlist's
    /// `Ping`). [`Event::PingResult`](crate::Event::PingResult) with the returned id reports
    /// the round-trip time and the ack's payload, or no answer after `probe_timeout`. The
    /// node need not be a member: the ping names it, and a node of another name ignores it.
    pub fn ping(
        &mut self,
        now: Instant,
        node: &str,
        addr: SocketAddr,
    ) -> Result<u32, crate::CommandError> {
        if self.pings.len() >= MAX_PINGS {
            return Err(crate::CommandError::TooManyPings);
        }
        let seq = self.next_seq_no();
        self.pings.push(Pinging {
            seq,
            sent: now,
            deadline: now + self.config.probe_timeout,
        });
        let gossip = self.gossip_to(node, addr);
        self.outgoing.push_back(Outgoing::RelayPing {
            to: addr,
            seq,
            node: Box::from(node),
            gossip,
        });
        Ok(seq)
    }

    /// Answers an explicit ping; false if `seq` is not one.
    fn pong(&mut self, seq: u32, now: Instant, payload: Option<&[u8]>) -> bool {
        let Some(i) = self.pings.iter().position(|p| p.seq == seq) else {
            return false;
        };
        let p = self.pings.swap_remove(i);
        self.events.push_back(crate::Event::PingResult {
            id: seq,
            rtt: Some(now.saturating_duration_since(p.sent)),
            payload: payload.unwrap_or_default().to_vec(),
        });
        true
    }

    pub(in crate::memberlist) fn relay_timers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pings.len() {
            if self.pings[i].deadline <= now {
                let p = self.pings.swap_remove(i);
                self.events.push_back(crate::Event::PingResult {
                    id: p.seq,
                    rtt: None,
                    payload: Vec::new(),
                });
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.relays.len() {
            if self.relays[i].deadline <= now {
                let r = self.relays.swap_remove(i);
                if r.nack {
                    self.outgoing.push_back(Outgoing::Nack {
                        to: r.requester,
                        seq: r.their_seq,
                        gossip: r.gossip,
                    });
                }
            } else {
                i += 1;
            }
        }
    }

    /// Up to `k` distinct random members for which `skip` is false, into `self.picked`
    /// (memberlist `kRandomNodes`: at most 3n random tries).
    pub(in crate::memberlist) fn random_members(
        &mut self,
        k: usize,
        skip: impl Fn(&crate::memberlist::state::Node) -> bool,
    ) {
        self.picked.clear();
        self.pick_more(k, skip);
    }

    /// Adds up to `k` more random members to `picked` (none twice), skipping those `skip`
    /// refuses.
    fn pick_more(&mut self, k: usize, skip: impl Fn(&crate::memberlist::state::Node) -> bool) {
        let n = self.members.len();
        let want = self.picked.len() + k;
        for _ in 0..3 * n {
            if self.picked.len() >= want {
                break;
            }
            let i = (self.rng.next_u64() % n as u64) as usize;
            if skip(self.members.get(i)) || self.picked.contains(&i) {
                continue;
            }
            self.picked.push(i);
        }
    }

    /// [`pick_more`](Self::pick_more) among the dead for which `recently` is true. With no
    /// dead member at all, every one of its 3n tries would fail: the random stream is
    /// advanced past them at once (the same draws, the same picks after), instead of
    /// drawing 3n numbers every gossip round (at 10,000 members, 30,000 a round per node).
    fn pick_dead(&mut self, k: usize, recently: impl Fn(&crate::memberlist::state::Node) -> bool) {
        if self.members.dead() == 0 {
            // `next_u64` takes two 32-bit words of the ChaCha stream, whatever its position.
            let draws = 3 * self.members.len() as u128;
            let pos = self.rng.get_word_pos();
            self.rng.set_word_pos(pos + 2 * draws);
            return;
        }
        self.pick_more(k, |n| !recently(n));
    }

    /// Every gossip interval: send queued broadcasts to `gossip_nodes` random members,
    /// including members dead for less than `gossip_to_the_dead_time` (memberlist `gossip`).
    pub(in crate::memberlist) fn gossip(&mut self, now: Instant) {
        let limit =
            crate::broadcast::retransmit_limit(self.config.retransmit_mult, self.members.len());
        let max_age = self
            .config
            .gossip_interval
            .saturating_mul(limit.saturating_mul(self.config.broadcast_stale_mult));
        let period = self.config.gossip_interval;
        self.queue.prune_after(now, max_age, period);
        self.user_queue.prune_after(now, max_age, period);
        if self.queue.len() == 0 && self.user_queue.len() == 0 {
            return;
        }
        let dead_for = self.config.gossip_to_the_dead_time;
        let recently_dead = |n: &crate::memberlist::state::Node| {
            n.state == MemberState::Dead
                && now.saturating_duration_since(n.state_change) <= dead_for
        };
        // memberlist picks its `GossipNodes` among the live and the recently dead alike, so
        // right after churn most of its gossip goes to nodes that are gone, and a live member
        // can miss news for tens of seconds (on the simulator, a crash then took one observer
        // 29 s to learn where the others took 10). rumor gives the recently dead one of the
        // slots, enough for a falsely declared member to hear of it and refute, and the rest
        // to live members; while no one died recently it picks exactly as memberlist does.
        // `name` is borrowed out of `self` for the filters, not cloned: this runs every
        // gossip interval.
        let me = core::mem::take(&mut self.name);
        let k = self.config.gossip_nodes;
        self.picked.clear();
        if k > 1 {
            self.pick_dead(1, recently_dead);
        }
        let dead = self.picked.len();
        self.pick_more(k - dead, |n| {
            n.name_bytes() == me.as_bytes()
                || !matches!(n.state, MemberState::Alive | MemberState::Suspect)
        });
        // Fewer live members than slots: the recently dead may have the rest.
        let short = k.saturating_sub(self.picked.len());
        if short > 0 {
            self.pick_dead(short, recently_dead);
        }
        self.name = me;
        for j in 0..self.picked.len() {
            let node = self.members.get(self.picked[j]);
            if let Some(to) = node.socket_addr() {
                let crc = node.vsn.protocol_max >= 5;
                self.outgoing.push_back(Outgoing::Gossip { to, crc });
            }
        }
    }

    /// Every (scaled) push/pull interval: a full state exchange with one random alive member.
    pub(in crate::memberlist) fn periodic_push_pull(&mut self, now: Instant) {
        // A node that left pushes its table no more: its view only ages, and its push/pulls
        // would bring back members the cluster has already forgotten (memberlist keeps
        // pushing until Shutdown; on the simulator such zombies revived crashed members
        // a minute after their death).
        if self.leaving {
            return;
        }
        if let Some(to) = self.follow_up_seed.take() {
            let _ = self.start_push_pull(now, to, false, None);
        }
        let me = self.name.clone();
        self.random_members(1, |n| {
            n.name_bytes() == me.as_bytes() || n.state != MemberState::Alive
        });
        if let Some(&i) = self.picked.first()
            && let Some(to) = self.members.get(i).socket_addr()
        {
            let _ = self.start_push_pull(now, to, false, None);
        }
    }
}
