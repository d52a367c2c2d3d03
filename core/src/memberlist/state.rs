//! The member table and memberlist's rules for alive, suspect and dead messages
//! (memberlist `state.go`: `aliveNode`, `suspectNode`, `deadNode`, `refute`; spec §11).

use alloc::boxed::Box;
use core::cmp::Reverse;
use core::hash::BuildHasher;
use core::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use hashbrown::HashTable;
use rand_core::Rng;

use crate::event::{Event, LeaveReason, Member, MemberState};
use crate::memberlist::Memberlist;
use crate::suspicion::{Suspicion, suspicion_timeout};
use crate::time::Instant;
use crate::wire::{Alive, Dead, Encode, IpBytes, Suspect, Vsn};

/// Bytes kept in place by [`Packed`]: an IPv4 address, a name like `node-1234` and a few
/// bytes of metadata fit, so most members cost no allocation of their own.
const INLINE: usize = 22;

/// A member's address, name and metadata, one after the other: in place when they fit in
/// [`INLINE`] bytes, else in one allocation (24 bytes either way; three boxes cost 48 bytes
/// and three allocations of at least 32 bytes each).
#[derive(Debug, Clone)]
enum Packed {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Packed {
    fn new(parts: [&[u8]; 3]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE {
            let mut buf = [0; INLINE];
            let mut at = 0;
            for p in parts {
                buf[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            return Self::Inline {
                len: len as u8,
                buf,
            };
        }
        Self::Heap(parts.concat().into_boxed_slice())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf[..usize::from(*len)],
            Self::Heap(b) => b,
        }
    }
}

/// One member as this node knows it: 56 bytes, with its address, name and metadata in place
/// when they are short (see [`Packed`]), the rest on the heap.
#[derive(Debug)]
pub(in crate::memberlist) struct Node {
    /// Address bytes, then the name, then the metadata.
    packed: Packed,
    pub(in crate::memberlist) state_change: Instant,
    pub(in crate::memberlist) suspicion: Option<Box<Suspicion>>,
    pub(in crate::memberlist) incarnation: u32,
    /// Bytes of the name (at most [`MAX_NAME`]).
    name_len: u16,
    pub(in crate::memberlist) port: u16,
    pub(in crate::memberlist) vsn: Vsn,
    /// Bytes of the address: 0, 4 or 16.
    addr_len: u8,
    pub(in crate::memberlist) state: MemberState,
}

/// The longest member name the table holds, above any `Limits::max_name` allowed.
const MAX_NAME: usize = u16::MAX as usize;

impl Node {
    /// A member at incarnation 0, dead until an alive says otherwise. `name` is at most
    /// [`MAX_NAME`] bytes (`Limits::max_name` is at most 16 KiB).
    pub(in crate::memberlist) fn new(
        name: &str,
        addr: IpBytes,
        port: u16,
        meta: &[u8],
        vsn: Vsn,
        now: Instant,
    ) -> Self {
        let name = &name.as_bytes()[..name.len().min(MAX_NAME)];
        let addr = addr.as_bytes();
        Self {
            packed: Packed::new([addr, name, meta]),
            state_change: now,
            suspicion: None,
            incarnation: 0,
            name_len: name.len() as u16,
            port,
            vsn,
            addr_len: addr.len() as u8,
            state: MemberState::Dead,
        }
    }

    /// The name's bytes (the name index hashes and compares these).
    pub(in crate::memberlist) fn name_bytes(&self) -> &[u8] {
        let at = usize::from(self.addr_len);
        &self.packed.bytes()[at..at + usize::from(self.name_len)]
    }

    pub(in crate::memberlist) fn name(&self) -> &str {
        // Stored from a `&str`, whole: always valid.
        core::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    pub(in crate::memberlist) fn meta(&self) -> &[u8] {
        let at = usize::from(self.addr_len) + usize::from(self.name_len);
        &self.packed.bytes()[at..]
    }

    pub(in crate::memberlist) fn addr(&self) -> IpBytes {
        IpBytes::new(&self.packed.bytes()[..usize::from(self.addr_len)]).unwrap_or(IpBytes::EMPTY)
    }

    /// Replaces the address and metadata (the name stays).
    pub(in crate::memberlist) fn set_addr_meta(&mut self, addr: IpBytes, meta: &[u8]) {
        if addr == self.addr() && meta == self.meta() {
            return;
        }
        let addr = addr.as_bytes();
        self.packed = Packed::new([addr, self.name_bytes(), meta]);
        self.addr_len = addr.len() as u8;
    }

    pub(in crate::memberlist) fn socket_addr(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.addr().ip()?;
        Some(SocketAddr::new(ip, self.port))
    }

    pub(in crate::memberlist) fn dead_or_left(&self) -> bool {
        matches!(self.state, MemberState::Dead | MemberState::Left)
    }

    pub(in crate::memberlist) fn snapshot(&self) -> Member {
        Member {
            name: Box::from(self.name()),
            addr: self
                .socket_addr()
                .unwrap_or_else(|| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), self.port)),
            meta: Box::from(self.meta()),
            incarnation: self.incarnation,
            state: self.state,
            vsn: self.vsn,
        }
    }
}

/// Members in probe order, with a name index (memberlist's `nodes` and `nodeMap`).
#[derive(Debug, Default)]
pub(in crate::memberlist) struct Members {
    nodes: alloc::vec::Vec<Node>,
    index: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Members in [`MemberState::Dead`]: while there are none, a search for the recently
    /// dead among thousands of members can be skipped (see `Memberlist::gossip`).
    dead: usize,
}

impl Members {
    pub(in crate::memberlist) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Makes room for `additional` members at once (a push/pull from a larger cluster), so
    /// the table and its index grow once instead of doubling step by step.
    pub(in crate::memberlist) fn reserve(&mut self, additional: usize) {
        self.nodes.reserve(additional);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.reserve(additional, |&j| {
            hasher.hash_one(nodes[j as usize].name_bytes())
        });
    }

    pub(in crate::memberlist) fn find(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name.as_bytes());
        self.index
            .find(hash, |&i| {
                self.nodes[i as usize].name_bytes() == name.as_bytes()
            })
            .map(|&i| i as usize)
    }

    pub(in crate::memberlist) fn get(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub(in crate::memberlist) fn get_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// Sets member `i`'s state (states change only here, so the dead are counted).
    pub(in crate::memberlist) fn set_state(&mut self, i: usize, state: MemberState) {
        let node = &mut self.nodes[i];
        let was_dead = node.state == MemberState::Dead;
        node.state = state;
        let dead = state == MemberState::Dead;
        if was_dead != dead {
            if dead {
                self.dead += 1;
            } else {
                self.dead -= 1;
            }
        }
    }

    /// Number of members in [`MemberState::Dead`].
    pub(in crate::memberlist) fn dead(&self) -> usize {
        self.dead
    }

    pub(in crate::memberlist) fn iter(&self) -> core::slice::Iter<'_, Node> {
        self.nodes.iter()
    }

    /// Inserts a new member at a random position of the probe order (memberlist swaps it with
    /// a random member). Returns its position.
    pub(in crate::memberlist) fn insert_random(&mut self, node: Node, offset: usize) -> usize {
        let n = self.nodes.len();
        let offset = offset % (n + 1);
        if offset != n {
            // The member at `offset` moves to the end: repoint its index entry, found by
            // position (names are compared only for lookups).
            let hash = self.hasher.hash_one(self.nodes[offset].name_bytes());
            if let Some(slot) = self.index.find_mut(hash, |&j| j as usize == offset) {
                *slot = n as u32;
            }
        }
        let hash = self.hasher.hash_one(node.name_bytes());
        self.dead += usize::from(node.state == MemberState::Dead);
        self.nodes.push(node);
        self.nodes.swap(offset, n);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.insert_unique(hash, offset as u32, |&j| {
            hasher.hash_one(nodes[j as usize].name_bytes())
        });
        offset
    }

    /// Forgets members for which `reap` is true, shuffles the rest (memberlist `resetNodes`).
    pub(in crate::memberlist) fn reap_and_shuffle(
        &mut self,
        rng: &mut impl Rng,
        reap: impl Fn(&Node) -> bool,
    ) {
        self.nodes.retain(|n| !reap(n));
        self.dead = self
            .nodes
            .iter()
            .filter(|n| n.state == MemberState::Dead)
            .count();
        // Fisher-Yates, as Go's shuffleNodes.
        for i in (1..self.nodes.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            self.nodes.swap(i, j);
        }
        self.rebuild_index();
    }

    /// Checks that the index finds every member at its position (tests).
    #[cfg(test)]
    pub(in crate::memberlist) fn check_index(&self) {
        assert_eq!(self.index.len(), self.nodes.len());
        let dead = self.nodes.iter().filter(|n| n.state == MemberState::Dead);
        assert_eq!(self.dead, dead.count());
        for (i, n) in self.nodes.iter().enumerate() {
            assert_eq!(self.find(n.name()), Some(i), "{}", n.name());
        }
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        for (i, n) in nodes.iter().enumerate() {
            let hash = hasher.hash_one(n.name_bytes());
            self.index.insert_unique(hash, i as u32, |&j| {
                hasher.hash_one(nodes[j as usize].name_bytes())
            });
        }
    }
}

impl Memberlist {
    /// Queues a membership message about `node`, replacing older news about it.
    pub(in crate::memberlist) fn broadcast_msg(
        &mut self,
        node: &str,
        msg: &impl Encode,
        notify: bool,
    ) {
        let mut v = alloc::vec::Vec::with_capacity(msg.encoded_len());
        if msg.encode_to_vec(&mut v).is_ok() {
            self.queue.push(Some(node), Bytes::from(v), notify);
        }
    }

    /// Sends an encoded copy of `msg` straight to `to`, besides any gossip.
    pub(in crate::memberlist) fn send_direct(
        &mut self,
        to: SocketAddr,
        msg: &impl Encode,
        crc: bool,
    ) {
        let mut v = alloc::vec::Vec::with_capacity(msg.encoded_len());
        if msg.encode_to_vec(&mut v).is_ok() {
            self.outgoing
                .push_back(crate::memberlist::packet::Outgoing::Message {
                    to,
                    msg: Bytes::from(v),
                    crc,
                });
        }
    }

    /// memberlist's `aliveNode`.
    pub(in crate::memberlist) fn alive_node(
        &mut self,
        a: &Alive<'_>,
        bootstrap: bool,
        now: Instant,
    ) {
        self.alive_node_with(a, bootstrap, true, now);
    }

    /// `aliveNode`; with `gossip == false` the news is applied but not queued for gossip.
    pub(in crate::memberlist) fn alive_node_with(
        &mut self,
        a: &Alive<'_>,
        bootstrap: bool,
        gossip: bool,
        now: Instant,
    ) {
        self.metrics.count(crate::observe::Counter::MsgAlive, 1);
        let is_local = a.node == &*self.name;
        if self.leaving && is_local {
            return;
        }
        let v = a.vsn;
        if v.protocol_min == 0 || v.protocol_max == 0 || v.protocol_min > v.protocol_max {
            return;
        }
        if !self.alive_allowed(a) {
            return;
        }
        let mut updates_node = false;
        let i = match self.members.find(a.node) {
            None if self.members.len() >= self.config.limits.max_members => {
                self.metrics.count(crate::observe::Counter::Oversized, 1);
                crate::observe::decision!(debug, node = a.node, "member table full");
                return;
            }
            None => {
                let node = Node::new(a.node, a.addr, a.port, a.meta, a.vsn, now);
                let offset = self.rng.next_u64() as usize;
                self.members.insert_random(node, offset)
            }
            Some(i) => {
                let node = self.members.get(i);
                if node.addr() != a.addr || node.port != a.port {
                    let reclaim = !self.config.dead_node_reclaim_time.is_zero()
                        && now.saturating_duration_since(node.state_change)
                            > self.config.dead_node_reclaim_time;
                    if node.state == MemberState::Left
                        || (node.state == MemberState::Dead && reclaim)
                    {
                        updates_node = true;
                    } else {
                        let existing = node.snapshot();
                        let other = Member {
                            name: Box::from(a.node),
                            addr: a
                                .addr
                                .ip()
                                .map(|ip| SocketAddr::new(ip, a.port))
                                .unwrap_or(existing.addr),
                            meta: Box::from(a.meta),
                            incarnation: a.incarnation,
                            state: MemberState::Alive,
                            vsn: a.vsn,
                        };
                        self.events
                            .push_back(Event::NameConflict { existing, other });
                        return;
                    }
                }
                i
            }
        };
        let node = self.members.get(i);
        if a.incarnation <= node.incarnation && !is_local && !updates_node {
            return;
        }
        if a.incarnation < node.incarnation && is_local {
            return;
        }
        let old_state = node.state;
        let meta_changed = node.meta() != a.meta;
        self.members.get_mut(i).suspicion = None;
        if !bootstrap && is_local {
            let node = self.members.get(i);
            if a.incarnation == node.incarnation && !meta_changed && a.vsn == node.vsn {
                return;
            }
            self.refute(a.incarnation);
            return;
        }
        if gossip {
            self.broadcast_msg(a.node, a, false);
        }
        if self.members.get(i).state != MemberState::Alive {
            self.members.set_state(i, MemberState::Alive);
            self.members.get_mut(i).state_change = now;
        }
        let node = self.members.get_mut(i);
        node.vsn = a.vsn;
        node.incarnation = a.incarnation;
        node.set_addr_meta(a.addr, a.meta);
        node.port = a.port;
        if matches!(old_state, MemberState::Dead | MemberState::Left) {
            let m = node.snapshot();
            crate::observe::decision!(
                debug,
                node = a.node,
                incarnation = a.incarnation,
                "member alive"
            );
            self.forget_failed(&m.name);
            self.events.push_back(Event::MemberJoined(m));
        } else if meta_changed {
            self.events.push_back(Event::MemberUpdated(node.snapshot()));
        }
    }

    /// The application's veto ([`crate::Hooks::allow_alive`]) and, for a member that is new
    /// or moved, memberlist's `IPAllowed` on the address it announces.
    fn alive_allowed(&self, a: &Alive<'_>) -> bool {
        let ip = a.addr.ip();
        // This node's own address is never refused: a node always knows itself. The table
        // is searched only when there is a rule to apply (a push/pull merges thousands).
        let moved = || {
            let known = self.members.find(a.node).map(|i| self.members.get(i));
            known.is_none_or(|n| n.addr() != a.addr || n.port != a.port)
        };
        let checked = !self.config.cidrs_allowed.is_empty() && a.node != &*self.name && moved();
        if checked && !ip.is_some_and(|ip| self.ip_allowed(ip)) {
            return false;
        }
        let Some(hooks) = &self.config.hooks else {
            return true;
        };
        let view = crate::MemberView {
            name: a.node,
            addr: SocketAddr::new(ip.unwrap_or(IpAddr::from([0, 0, 0, 0])), a.port),
            meta: a.meta,
            incarnation: a.incarnation,
            state: MemberState::Alive,
            vsn: a.vsn,
        };
        hooks.allow_alive(&view)
    }

    /// memberlist's `suspectNode`. `settled` marks a suspicion that stands for a peer's
    /// verdict of death (from push/pull): its timeout starts at the minimum.
    pub(in crate::memberlist) fn suspect_node(&mut self, s: &Suspect<'_>, now: Instant) {
        self.suspect_node_with(s, false, now);
    }

    pub(in crate::memberlist) fn suspect_node_with(
        &mut self,
        s: &Suspect<'_>,
        settled: bool,
        now: Instant,
    ) {
        self.metrics.count(crate::observe::Counter::MsgSuspect, 1);
        let Some(i) = self.members.find(s.node) else {
            return;
        };
        let node = self.members.get_mut(i);
        if s.incarnation < node.incarnation {
            self.answer_stale_accusation(s.node, s.incarnation);
            return;
        }
        if let Some(susp) = node.suspicion.as_mut() {
            if settled {
                susp.settle(now);
                let deadline = susp.deadline;
                self.suspicion_timers
                    .push(Reverse((deadline, Box::from(s.node))));
                return;
            }
            if susp.confirm(s.from, now) {
                let deadline = susp.deadline;
                self.suspicion_timers
                    .push(Reverse((deadline, Box::from(s.node))));
                self.broadcast_msg(s.node, s, false);
            }
            return;
        }
        if node.state != MemberState::Alive {
            return;
        }
        if s.node == &*self.name {
            self.refute(s.incarnation);
            return;
        }
        self.broadcast_msg(s.node, s, false);
        // memberlist scales by every member it lists, the dead not yet forgotten included
        // (`estNumNodes`): right after churn that stretches the timeout and expects
        // confirmations from members that cannot give them. rumor counts the members that
        // can still confirm, alive or suspect (this node and the suspect included, as
        // memberlist's count does); its messages are unchanged.
        let n = self.num_members();
        let mult = self.config.suspicion_mult;
        let mut k = mult.saturating_sub(2);
        if (n as i64) - 2 < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(mult, n, self.config.probe_interval);
        let max = min.saturating_mul(self.config.suspicion_max_timeout_mult);
        let mut susp = Suspicion::new(s.from, k, min, max, now);
        if settled {
            susp.settle(now);
        }
        self.suspicion_timers
            .push(Reverse((susp.deadline, Box::from(s.node))));
        self.members.set_state(i, MemberState::Suspect);
        let node = self.members.get_mut(i);
        node.incarnation = s.incarnation;
        node.state_change = now;
        node.suspicion = Some(Box::new(susp));
        crate::observe::decision!(
            info,
            node = s.node,
            from = s.from,
            incarnation = s.incarnation,
            "member suspected"
        );
        // Lifeguard's buddy system, sooner: tell the member it is suspected now rather than
        // at our next probe of it, so that it can refute (straight back to us, see `refute`)
        // before the suspicion runs out. If it is paused, the message waits in its socket.
        let (addr, crc) = (node.socket_addr(), node.vsn.protocol_max >= 5);
        if let Some(addr) = addr {
            self.send_direct(addr, s, crc);
        }
    }

    /// Fires the suspicion timers that are due: a member still suspected is declared dead.
    pub(in crate::memberlist) fn expire_suspicions(&mut self, now: Instant) {
        while let Some(Reverse((deadline, _))) = self.suspicion_timers.peek() {
            if *deadline > now {
                break;
            }
            let Some(Reverse((deadline, name))) = self.suspicion_timers.pop() else {
                break;
            };
            let Some(i) = self.members.find(&name) else {
                continue;
            };
            let node = self.members.get(i);
            // A stale entry: the suspicion ended or was moved to another deadline.
            match &node.suspicion {
                Some(s) if s.deadline == deadline => {
                    if s.under_confirmed() {
                        self.metrics
                            .count(crate::observe::Counter::DegradedTimeout, 1);
                    }
                }
                _ => continue,
            }
            let d = Dead {
                incarnation: node.incarnation,
                node: &name,
                from: &self.name.clone(),
            };
            self.dead_node(&d, now);
        }
    }

    /// Moves every suspicion deadline earlier than `until` to `until`.
    pub(in crate::memberlist) fn defer_suspicions(&mut self, until: Instant) {
        let mut due = alloc::vec::Vec::new();
        while let Some(Reverse((d, _))) = self.suspicion_timers.peek() {
            if *d >= until {
                break;
            }
            if let Some(Reverse((_, name))) = self.suspicion_timers.pop() {
                due.push(name);
            }
        }
        for name in due {
            if let Some(i) = self.members.find(&name)
                && let Some(s) = self.members.get_mut(i).suspicion.as_mut()
                && s.deadline < until
            {
                s.deadline = until;
                self.suspicion_timers.push(Reverse((until, name)));
            }
        }
    }

    /// memberlist's `deadNode`; `from == node` means the member left.
    pub(in crate::memberlist) fn dead_node(&mut self, d: &Dead<'_>, now: Instant) {
        self.metrics.count(crate::observe::Counter::MsgDead, 1);
        let Some(i) = self.members.find(d.node) else {
            return;
        };
        let node = self.members.get_mut(i);
        if d.incarnation < node.incarnation {
            self.answer_stale_accusation(d.node, d.incarnation);
            return;
        }
        node.suspicion = None;
        if node.dead_or_left() {
            return;
        }
        let is_local = d.node == &*self.name;
        if is_local {
            if !self.leaving {
                self.refute(d.incarnation);
                return;
            }
            self.broadcast_msg(d.node, d, true);
        } else {
            self.broadcast_msg(d.node, d, false);
        }
        let (state, reason) = if d.is_leave() {
            (MemberState::Left, LeaveReason::Left)
        } else {
            (MemberState::Dead, LeaveReason::Failed)
        };
        self.members.set_state(i, state);
        let node = self.members.get_mut(i);
        node.incarnation = d.incarnation;
        node.state_change = now;
        let member = node.snapshot();
        if reason == LeaveReason::Failed && !is_local {
            self.remember_failed(&member, now);
        }
        crate::observe::decision!(info, node = d.node, from = d.from, reason = ?reason, "member gone");
        self.events.push_back(Event::MemberLeft { member, reason });
    }

    /// memberlist's `refute`: outbid an accusation against this node with a higher
    /// incarnation, and count it against this node's health.
    pub(in crate::memberlist) fn refute(&mut self, accused: u32) {
        let Some(i) = self.self_index() else {
            return;
        };
        let node = self.members.get_mut(i);
        // Saturating: a forged accusation at u32::MAX must not wrap this node's incarnation
        // to 0, below what every peer knows (memberlist wraps it). Such an accusation
        // cannot be outbid; the node stays at the top incarnation.
        let inc = node.incarnation.max(accused).saturating_add(1);
        node.incarnation = inc;
        crate::observe::decision!(
            warn,
            accused,
            incarnation = inc,
            "refuting an accusation against this node"
        );
        self.metrics.count(crate::observe::Counter::Refute, 1);
        self.adjust_health(1);
        self.announce_self(true);
    }

    /// Gossips this node's current alive (when `gossip`) and, while a datagram is being
    /// handled, sends it straight back to its sender: gossip alone may miss the accuser before
    /// its suspicion expires.
    fn announce_self(&mut self, gossip: bool) {
        let Some(i) = self.self_index() else {
            return;
        };
        let node = self.members.get(i);
        let (name, addr, port, meta, vsn, inc) = (
            Box::<str>::from(node.name()),
            node.addr(),
            node.port,
            Box::<[u8]>::from(node.meta()),
            node.vsn,
            node.incarnation,
        );
        let a = Alive {
            incarnation: inc,
            node: &name,
            addr,
            port,
            meta: &meta,
            vsn,
        };
        if gossip {
            self.broadcast_msg(&name, &a, false);
        }
        if let Some(to) = self.reply_to {
            self.send_direct(to, &a, false);
        }
    }

    /// An accusation of this node at an incarnation it already outbid: memberlist ignores it,
    /// but the accuser evidently missed the refutation, so rumor sends it the current alive.
    fn answer_stale_accusation(&mut self, node: &str, incarnation: u32) {
        if node != &*self.name || self.leaving {
            return;
        }
        if let Some(i) = self.self_index()
            && incarnation < self.members.get(i).incarnation
        {
            self.announce_self(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn node(name: &str) -> Node {
        let mut n = Node::new(name, IpBytes::EMPTY, 0, b"", Vsn::default(), Instant::ZERO);
        n.incarnation = 1;
        n.state = MemberState::Alive;
        n
    }

    #[test]
    fn packed_entries() {
        assert_eq!(core::mem::size_of::<Node>(), 56);
        let v4 = IpBytes::from(core::net::Ipv4Addr::new(10, 0, 0, 1));
        let mut n = Node::new("node-1234", v4, 7946, b"v1", Vsn::default(), Instant::ZERO);
        assert!(matches!(n.packed, Packed::Inline { .. }));
        assert_eq!(
            (n.name(), n.addr(), n.meta()),
            ("node-1234", v4, &b"v1"[..])
        );
        let v6 = IpBytes::from(core::net::IpAddr::from([1u16, 2, 3, 4, 5, 6, 7, 8]));
        n.set_addr_meta(v6, b"a longer piece of metadata");
        assert!(matches!(n.packed, Packed::Heap(_)));
        assert_eq!((n.name(), n.addr()), ("node-1234", v6));
        assert_eq!(n.meta(), b"a longer piece of metadata");
        n.set_addr_meta(IpBytes::EMPTY, b"");
        assert_eq!(
            (n.name(), n.addr(), n.meta()),
            ("node-1234", IpBytes::EMPTY, &b""[..])
        );
    }

    #[test]
    fn index_follows_random_inserts_reaps_and_shuffles() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut m = Members::default();
        for i in 0..2000 {
            m.insert_random(node(&alloc::format!("n{i}")), rng.next_u64() as usize);
            if i % 97 == 0 {
                m.check_index();
            }
        }
        m.check_index();
        m.reap_and_shuffle(&mut rng, |n| n.name().ends_with('7'));
        m.check_index();
        assert_eq!(m.len(), 1800);
        assert_eq!(m.find("n17"), None);
        assert!(m.find("n18").is_some());
    }
}
