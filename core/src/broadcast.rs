//! The transmit-limited broadcast queue (memberlist `queue.go`, `TransmitLimitedQueue`).
//!
//! Each message is handed out at most `retransmit_mult * ceil(log10(n + 1))` times, fewest
//! transmissions first, then largest first, then newest first. A message about a member
//! replaces any queued message about the same member. Messages are encoded once and shared
//! (`Bytes`), so piggybacking copies no message and allocates nothing. A message is stored
//! once, its key with it: a member's name is found inside the message about it, and only a
//! key the message does not contain (a user broadcast's name) is stored, in front of it.
//!
//! Beyond memberlist, a message that waited longer than a stale age leaves the queue (see
//! [`BroadcastQueue::prune`]): with fewest-transmits-first, a backlog of never-sent messages
//! (a cluster of thousands forming at once) holds back every later message after its first
//! transmission, for minutes; dropping what the epidemic had ample time to spread keeps fresh
//! news fast, and push/pull repairs anything a drop missed.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::hash::BuildHasher;
use core::time::Duration;

use bytes::Bytes;
use hashbrown::HashTable;

use crate::time::Instant;

/// The key of the keyed item in `slot` (empty if there is none).
fn slab_key(slab: &[Option<Item>], slot: u32) -> &[u8] {
    match slab.get(slot as usize) {
        Some(Some(it)) => it.key().unwrap_or_default(),
        _ => &[],
    }
}

/// `retransmit_mult * ceil(log10(n + 1))` (memberlist `retransmitLimit`).
pub(crate) fn retransmit_limit(retransmit_mult: u32, n: usize) -> u32 {
    let scale = libm::ceil(libm::log10(n as f64 + 1.0)) as u32;
    retransmit_mult * scale
}

/// Order of the queue (memberlist's btree): fewest transmits first, then largest (the
/// message's length), then newest.
type Order = (u32, Reverse<u32>, Reverse<u64>);

#[derive(Debug)]
struct Item {
    /// The message, after its key if the key is not inside it.
    buf: Bytes,
    /// Where the message starts in `buf`.
    msg_at: u32,
    /// The key's place in `buf`: messages with the same key replace each other (memberlist
    /// keys by node name).
    key_at: u32,
    key_len: u32,
    keyed: bool,
    /// Raise [`BroadcastQueue::take_notified`] when this item leaves the queue.
    notify: bool,
    /// Report this id in [`BroadcastQueue::finished`] when the item leaves the queue.
    track: Option<u64>,
    /// Its place in the order.
    order: Order,
}

impl Item {
    /// Stores `msg` with `key`: where the key occurs in the message (a member's name in the
    /// message about it), as that range; else in front of the message, in one allocation.
    fn new(key: Option<&str>, msg: Bytes, notify: bool, track: Option<u64>, order: Order) -> Self {
        let mut item = Self {
            buf: msg,
            msg_at: 0,
            key_at: 0,
            key_len: 0,
            keyed: key.is_some(),
            notify,
            track,
            order,
        };
        let Some(key) = key.map(str::as_bytes) else {
            return item;
        };
        item.key_len = key.len() as u32;
        let inside = if key.is_empty() {
            Some(0)
        } else {
            item.buf.windows(key.len()).position(|w| w == key)
        };
        match inside {
            Some(at) => item.key_at = at as u32,
            None => {
                let mut buf = alloc::vec::Vec::with_capacity(key.len() + item.buf.len());
                buf.extend_from_slice(key);
                buf.extend_from_slice(&item.buf);
                item.buf = Bytes::from(buf);
                item.msg_at = key.len() as u32;
            }
        }
        item
    }

    fn key(&self) -> Option<&[u8]> {
        let at = self.key_at as usize;
        self.keyed
            .then(|| &self.buf[at..at + self.key_len as usize])
    }

    /// The message, shared.
    fn msg(&self) -> Bytes {
        match self.msg_at {
            0 => self.buf.clone(),
            at => self.buf.slice(at as usize..),
        }
    }

    fn msg_len(&self) -> usize {
        self.buf.len() - self.msg_at as usize
    }
}

/// A message's birth, in queueing order: `prune` drops from the front.
#[derive(Debug, Clone, Copy)]
struct Birth {
    at: Instant,
    id: u64,
    slot: u32,
}

/// A queue of messages to piggyback and gossip. Ordered like memberlist's btree, so taking
/// and requeueing a message costs O(log n) even while thousands are queued (a cluster
/// forming at once). Items live in a slab; the order and the key index point into it, so a
/// transmission touches no string.
#[derive(Debug, Default)]
pub(crate) struct BroadcastQueue {
    order: BTreeMap<Order, u32>,
    slab: Vec<Option<Item>>,
    free: Vec<u32>,
    /// Slots of keyed items, hashed by key (the key itself lives only in the slab).
    by_key: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    births: VecDeque<Birth>,
    /// The time of the latest `prune`: items queued after it are stamped with it.
    clock: Instant,
    next_id: u64,
    notified: bool,
    requeue: Vec<u32>,
    /// Tracked items that left the queue, and why.
    finished: Vec<(u64, BroadcastOutcome)>,
    /// Most messages held (0: no bound); beyond it the most-sent message gives way.
    cap: usize,
}

/// How a user broadcast is queued ([`crate::Memberlist::broadcast_with`]): memberlist's
/// `Broadcast` interface as data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastOptions<'a> {
    /// While it is queued, a newer broadcast with the same name replaces it (memberlist's
    /// `NamedBroadcast`, whose `Invalidates` compares names). `None` makes it unique
    /// (`UniqueBroadcast`): it replaces nothing and nothing replaces it.
    pub name: Option<&'a str>,
    /// Report [`crate::Event::BroadcastFinished`] when it leaves the queue (memberlist's
    /// `Broadcast.Finished`).
    pub notify: bool,
}

/// Why a broadcast left the queue ([`crate::Event::BroadcastFinished`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BroadcastOutcome {
    /// It was handed out its full number of times (memberlist's `Finished`).
    Sent,
    /// A newer broadcast with the same name replaced it (memberlist's invalidation).
    Replaced,
    /// It waited longer than `broadcast_stale_mult` allows and was dropped (rumor only).
    Expired,
}

impl BroadcastQueue {
    /// Queues `msg`, replacing a queued message with the same `key`.
    pub(crate) fn push(&mut self, key: Option<&str>, msg: Bytes, notify: bool) {
        self.push_tracked(key, msg, notify, None);
    }

    /// [`push`](Self::push), reporting `track` in [`finished`](Self::finished) when the message
    /// leaves the queue.
    pub(crate) fn push_tracked(
        &mut self,
        key: Option<&str>,
        msg: Bytes,
        notify: bool,
        track: Option<u64>,
    ) {
        if let Some(k) = key
            && let Some(slot) = self.find(k.as_bytes())
        {
            self.remove(slot, BroadcastOutcome::Replaced);
        }
        self.next_id += 1;
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        let order = (0, Reverse(len), Reverse(self.next_id));
        let hash = key.map(|k| self.hasher.hash_one(k.as_bytes()));
        let item = Item::new(key, msg, notify, track, order);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(item);
                slot as usize
            }
            None => {
                self.slab.push(Some(item));
                self.slab.len() - 1
            }
        };
        if let Some(hash) = hash {
            let (slab, hasher) = (&self.slab, &self.hasher);
            self.by_key
                .insert_unique(hash, slot as u32, |&j| hasher.hash_one(slab_key(slab, j)));
        }
        self.order.insert(order, slot as u32);
        // Over the bound, the message sent most often (nearest its end anyway) goes.
        while self.cap > 0 && self.order.len() > self.cap {
            let Some((_, &victim)) = self.order.last_key_value() else {
                break;
            };
            self.remove(victim as usize, BroadcastOutcome::Expired);
        }
        self.births.push_back(Birth {
            at: self.clock,
            id: self.next_id,
            slot: slot as u32,
        });
    }

    /// Bounds the queue at `cap` messages: with stale messages kept forever
    /// (`broadcast_stale_mult` = 0, memberlist's behaviour), a flood of broadcasts to relay
    /// must not grow it without end.
    pub(crate) fn with_cap(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// The slot of the item queued under `key`.
    fn find(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let slab = &self.slab;
        self.by_key
            .find(hash, |&j| slab_key(slab, j) == key)
            .map(|&j| j as usize)
    }

    /// Removes an item (replaced, sent often enough, or stale), noting a pending
    /// notification.
    fn remove(&mut self, slot: usize, why: BroadcastOutcome) -> Option<Item> {
        let item = self.slab.get_mut(slot)?.take()?;
        if let Some(id) = item.track {
            self.finished.push((id, why));
        }
        if let Some(k) = item.key() {
            let hash = self.hasher.hash_one(k);
            if let Ok(e) = self.by_key.find_entry(hash, |&j| j as usize == slot) {
                e.remove();
            }
        }
        self.order.remove(&item.order);
        self.free.push(slot as u32);
        self.notified |= item.notify;
        Some(item)
    }

    /// Drops the messages queued more than `max_age` before `now` (none if `max_age` is
    /// zero), and stamps later pushes with `now`. Called once per gossip round.
    pub(crate) fn prune(&mut self, now: Instant, max_age: Duration) {
        self.prune_after(now, max_age, Duration::MAX);
    }

    /// [`prune`](Self::prune) for a round `period` after the one before, which may have been
    /// skipped (rounds with nothing to send wake no one): messages pushed since the last
    /// prune carry its time, so they count from one period ago at the earliest.
    pub(crate) fn prune_after(&mut self, now: Instant, max_age: Duration, period: Duration) {
        let floor = now - period;
        if self.clock < floor {
            for b in self.births.iter_mut().rev() {
                if b.at < self.clock {
                    break;
                }
                b.at = floor;
            }
        }
        self.clock = now;
        if max_age.is_zero() || self.order.is_empty() {
            self.births.clear();
            return;
        }
        while let Some(b) = self.births.front().copied() {
            if now.saturating_duration_since(b.at) <= max_age {
                break;
            }
            self.births.pop_front();
            let slot = b.slot as usize;
            if matches!(self.slab.get(slot), Some(Some(it)) if it.order.2 == Reverse(b.id)) {
                self.remove(slot, BroadcastOutcome::Expired);
            }
        }
        self.shrink_if_empty();
    }

    /// Number of queued messages.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Takes messages for one packet: each costs `overhead` plus its length, within `limit`
    /// bytes in all. Appends them to `out` and returns the bytes used (overheads included).
    /// Each taken message counts one transmission; at `transmit_limit` it leaves the queue.
    /// memberlist's `GetBroadcasts`: in each transmit tier, the largest message that fits.
    pub(crate) fn take(
        &mut self,
        overhead: usize,
        limit: usize,
        transmit_limit: u32,
        out: &mut Vec<Bytes>,
    ) -> usize {
        let (Some((&(min_t, ..), _)), Some((&(max_t, ..), _))) =
            (self.order.first_key_value(), self.order.last_key_value())
        else {
            return 0;
        };
        let mut used = 0usize;
        let mut t = min_t;
        while t <= max_t {
            let free = match limit.checked_sub(used + overhead) {
                Some(f) if f > 0 => f,
                _ => break,
            };
            let free = u32::try_from(free).unwrap_or(u32::MAX);
            let from = (t, Reverse(free), Reverse(u64::MAX));
            let to = (t, Reverse(0), Reverse(0));
            let Some((&order, &slot)) = self.order.range(from..=to).next() else {
                t += 1;
                continue;
            };
            self.order.remove(&order);
            let Some(item) = self.slab.get_mut(slot as usize).and_then(Option::as_mut) else {
                continue;
            };
            used += overhead + item.msg_len();
            out.push(item.msg());
            if order.0 + 1 >= transmit_limit {
                // Already out of the order; `remove` unlinks the rest.
                item.order = order;
                self.remove(slot as usize, BroadcastOutcome::Sent);
            } else {
                item.order = (order.0 + 1, order.1, order.2);
                self.requeue.push(slot);
            }
        }
        for slot in self.requeue.drain(..) {
            if let Some(Some(item)) = self.slab.get(slot as usize) {
                self.order.insert(item.order, slot);
            }
        }
        self.shrink_if_empty();
        used
    }

    /// Gives back the room a burst grew (a cluster forming queues news of every member)
    /// once the queue is empty again; a small queue keeps its room, so steady gossip
    /// allocates nothing.
    fn shrink_if_empty(&mut self) {
        const KEEP: usize = 16;
        if !self.order.is_empty() || self.slab.capacity() <= KEEP {
            return;
        }
        // No item is left, so no slot, key or birth refers to anything.
        self.slab.clear();
        self.slab.shrink_to(KEEP);
        self.free.clear();
        self.free.shrink_to(KEEP);
        self.births.clear();
        self.births.shrink_to(KEEP);
        self.requeue.shrink_to(KEEP);
        self.by_key.clear();
        self.by_key.shrink_to(KEEP, |_| 0);
    }

    /// The next tracked message that left the queue, and why.
    pub(crate) fn finished(&mut self) -> Option<(u64, BroadcastOutcome)> {
        self.finished.pop()
    }

    /// True once since a `notify` message left the queue (sent often enough, or replaced).
    pub(crate) fn take_notified(&mut self) -> bool {
        core::mem::take(&mut self.notified)
    }

    /// True if a `notify` message is still queued.
    pub(crate) fn has_notify(&self) -> bool {
        self.slab.iter().flatten().any(|it| it.notify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_follows_memberlist() {
        assert_eq!(retransmit_limit(4, 1), 4);
        assert_eq!(retransmit_limit(4, 9), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        assert_eq!(retransmit_limit(4, 99), 8);
        assert_eq!(retransmit_limit(4, 100), 12);
        assert_eq!(retransmit_limit(3, 5000), 12);
    }

    #[test]
    fn order_invalidation_and_limits() {
        let mut q = BroadcastQueue::default();
        q.push(Some("a"), Bytes::from_static(b"aaaa"), false);
        q.push(Some("b"), Bytes::from_static(b"bbbbbbbb"), false);
        q.push(None, Bytes::from_static(b"cc"), false);
        q.push(Some("a"), Bytes::from_static(b"AAA"), true);
        assert_eq!(q.len(), 3);
        let mut out = Vec::new();
        // Budget 2 + 8 + 2 + 3: largest first, then the next that fits.
        let used = q.take(2, 15, 2, &mut out);
        assert_eq!(out, [&b"bbbbbbbb"[..], b"AAA"]);
        assert_eq!(used, 15);
        out.clear();
        // "cc" has 0 transmits, the others 1: it goes first.
        q.take(2, 100, 2, &mut out);
        assert_eq!(out, [&b"cc"[..], b"bbbbbbbb", b"AAA"]);
        assert!(q.take_notified(), "AAA reached its limit");
        assert_eq!(q.len(), 1);
        assert!(!q.has_notify());
    }

    #[test]
    fn one_copy_of_message_and_key() {
        let mut q = BroadcastQueue::default();
        // A member's name inside the message about it: the key is that range.
        q.push(Some("node-7"), Bytes::from_static(b"\x04..node-7.."), false);
        // A key the message lacks goes in front of it, in the same allocation.
        q.push(Some("\x01name"), Bytes::from_static(b"\x08payload"), false);
        let items: Vec<_> = q.slab.iter().flatten().collect();
        assert_eq!((items[0].msg_at, items[0].key()), (0, Some(&b"node-7"[..])));
        assert_eq!(items[1].key(), Some(&b"\x01name"[..]));
        assert_eq!(&items[1].msg()[..], b"\x08payload");
        // Replacement finds both keys.
        q.push(Some("node-7"), Bytes::from_static(b"node-7 again"), false);
        q.push(Some("\x01name"), Bytes::from_static(b"\x08other"), false);
        assert_eq!(q.len(), 2);
        let mut out = Vec::new();
        q.take(0, 100, 1, &mut out);
        assert_eq!(out, [&b"node-7 again"[..], b"\x08other"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn stale_messages_leave() {
        let ms = |n| Instant::from_duration(Duration::from_millis(n));
        let age = Duration::from_millis(100);
        let mut q = BroadcastQueue::default();
        q.prune(ms(0), age);
        q.push(Some("old"), Bytes::from_static(b"old"), true);
        q.push(Some("replaced"), Bytes::from_static(b"r1"), false);
        q.prune(ms(60), age);
        q.push(Some("replaced"), Bytes::from_static(b"r2"), false);
        q.push(None, Bytes::from_static(b"young"), false);
        assert_eq!(q.len(), 3);
        // At 150 ms the two born at 0 are past 100 ms; "replaced" was requeued at 60.
        q.prune(ms(150), age);
        assert_eq!(q.len(), 2);
        assert!(q.take_notified(), "a stale notify message counts as gone");
        let mut out = Vec::new();
        q.take(0, 100, 10, &mut out);
        assert_eq!(out, [&b"young"[..], b"r2"]);
        // The key index still replaces by key after pruning.
        q.push(Some("replaced"), Bytes::from_static(b"r3"), false);
        assert_eq!(q.len(), 2);
        // Zero max age keeps everything.
        q.prune(ms(10_000), Duration::ZERO);
        assert_eq!(q.len(), 2);
    }
}
