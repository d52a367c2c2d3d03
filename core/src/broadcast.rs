//! The transmit-limited broadcast queue (memberlist `queue.go`, `TransmitLimitedQueue`).
//!
//! Each message is handed out at most `retransmit_mult * ceil(log10(n + 1))` times, fewest
//! transmissions first, then largest first, then newest first. A message about a member
//! replaces any queued message about the same member. Messages are encoded once and shared
//! (`Bytes`), so piggybacking copies no message and allocates nothing.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use bytes::Bytes;
use hashbrown::HashMap;

/// `retransmit_mult * ceil(log10(n + 1))` (memberlist `retransmitLimit`).
pub(crate) fn retransmit_limit(retransmit_mult: u32, n: usize) -> u32 {
    let scale = libm::ceil(libm::log10(n as f64 + 1.0)) as u32;
    retransmit_mult * scale
}

/// Order of the queue (memberlist's btree): fewest transmits first, then largest, then newest.
type Order = (u32, Reverse<usize>, Reverse<u64>);

#[derive(Debug)]
struct Item {
    /// Messages with the same key replace each other (memberlist keys by node name).
    key: Option<Box<str>>,
    msg: Bytes,
    /// Raise [`BroadcastQueue::take_notified`] when this item leaves the queue.
    notify: bool,
    /// Its place in the order.
    order: Order,
}

/// A queue of messages to piggyback and gossip. Ordered like memberlist's btree, so taking
/// and requeueing a message costs O(log n) even while thousands are queued (a cluster
/// forming at once). Items live in a slab; the order and the key index point into it, so a
/// transmission touches no string.
#[derive(Debug, Default)]
pub(crate) struct BroadcastQueue {
    order: BTreeMap<Order, usize>,
    slab: Vec<Option<Item>>,
    free: Vec<usize>,
    by_key: HashMap<Box<str>, usize>,
    next_id: u64,
    notified: bool,
    requeue: Vec<usize>,
}

impl BroadcastQueue {
    /// Queues `msg`, replacing a queued message with the same `key`.
    pub(crate) fn push(&mut self, key: Option<&str>, msg: Bytes, notify: bool) {
        if let Some(k) = key
            && let Some(slot) = self.by_key.remove(k)
        {
            self.remove(slot);
        }
        self.next_id += 1;
        let order = (0, Reverse(msg.len()), Reverse(self.next_id));
        let key: Option<Box<str>> = key.map(Box::from);
        let item = Item {
            key,
            msg,
            notify,
            order,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot] = Some(item);
                slot
            }
            None => {
                self.slab.push(Some(item));
                self.slab.len() - 1
            }
        };
        if let Some(Some(Item { key: Some(k), .. })) = self.slab.get(slot) {
            self.by_key.insert(k.clone(), slot);
        }
        self.order.insert(order, slot);
    }

    /// Removes an item (replaced, or sent often enough), noting a pending notification.
    fn remove(&mut self, slot: usize) -> Option<Item> {
        let item = self.slab.get_mut(slot)?.take()?;
        self.order.remove(&item.order);
        self.free.push(slot);
        self.notified |= item.notify;
        Some(item)
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
            let from = (t, Reverse(free), Reverse(u64::MAX));
            let to = (t, Reverse(0), Reverse(0));
            let Some((&order, &slot)) = self.order.range(from..=to).next() else {
                t += 1;
                continue;
            };
            self.order.remove(&order);
            let Some(item) = self.slab.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            used += overhead + item.msg.len();
            out.push(item.msg.clone());
            if order.0 + 1 >= transmit_limit {
                if let Some(item) = self.slab[slot].take() {
                    self.notified |= item.notify;
                    if let Some(k) = &item.key {
                        self.by_key.remove(k);
                    }
                }
                self.free.push(slot);
            } else {
                item.order = (order.0 + 1, order.1, order.2);
                self.requeue.push(slot);
            }
        }
        for slot in self.requeue.drain(..) {
            if let Some(Some(item)) = self.slab.get(slot) {
                self.order.insert(item.order, slot);
            }
        }
        used
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
}
