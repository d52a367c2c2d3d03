//! The transmit-limited broadcast queue (memberlist `queue.go`, `TransmitLimitedQueue`).
//!
//! Each message is handed out at most `retransmit_mult * ceil(log10(n + 1))` times, fewest
//! transmissions first, then largest first, then newest first. A message about a member
//! replaces any queued message about the same member. Messages are encoded once and shared
//! (`Bytes`), so piggybacking copies no message and allocates nothing.

use alloc::boxed::Box;
use alloc::vec::Vec;

use bytes::Bytes;

/// `retransmit_mult * ceil(log10(n + 1))` (memberlist `retransmitLimit`).
pub(crate) fn retransmit_limit(retransmit_mult: u32, n: usize) -> u32 {
    let scale = libm::ceil(libm::log10(n as f64 + 1.0)) as u32;
    retransmit_mult * scale
}

#[derive(Debug)]
struct Item {
    /// Messages with the same key replace each other (memberlist keys by node name).
    key: Option<Box<str>>,
    msg: Bytes,
    transmits: u32,
    id: u64,
    /// Raise [`BroadcastQueue::take_notified`] when this item leaves the queue.
    notify: bool,
}

/// A queue of messages to piggyback and gossip.
#[derive(Debug, Default)]
pub(crate) struct BroadcastQueue {
    items: Vec<Item>,
    next_id: u64,
    notified: bool,
}

impl BroadcastQueue {
    /// Queues `msg`, replacing a queued message with the same `key`.
    pub(crate) fn push(&mut self, key: Option<&str>, msg: Bytes, notify: bool) {
        if let Some(k) = key
            && let Some(i) = self
                .items
                .iter()
                .position(|it| it.key.as_deref() == Some(k))
        {
            let old = self.items.remove(i);
            self.notified |= old.notify;
        }
        self.next_id += 1;
        self.items.push(Item {
            key: key.map(Box::from),
            msg,
            transmits: 0,
            id: self.next_id,
            notify,
        });
        self.sort();
    }

    fn sort(&mut self) {
        // Fewest transmits first, then largest, then newest (memberlist's btree order).
        self.items.sort_unstable_by(|a, b| {
            (a.transmits, b.msg.len(), b.id).cmp(&(b.transmits, a.msg.len(), a.id))
        });
    }

    /// Number of queued messages.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Takes messages for one packet: each costs `overhead` plus its length, within `limit`
    /// bytes in all. Appends them to `out` and returns the bytes used (overheads included).
    /// Each taken message counts one transmission; at `transmit_limit` it leaves the queue.
    pub(crate) fn take(
        &mut self,
        overhead: usize,
        limit: usize,
        transmit_limit: u32,
        out: &mut Vec<Bytes>,
    ) -> usize {
        let mut used = 0usize;
        let mut taken = false;
        for it in &mut self.items {
            let Some(free) = limit.checked_sub(used + overhead) else {
                break;
            };
            if free == 0 {
                break;
            }
            if it.msg.len() > free {
                continue;
            }
            used += overhead + it.msg.len();
            out.push(it.msg.clone());
            it.transmits += 1;
            taken = true;
        }
        if taken {
            let mut notified = false;
            self.items.retain(|it| {
                let keep = it.transmits < transmit_limit;
                notified |= !keep && it.notify;
                keep
            });
            self.notified |= notified;
            self.sort();
        }
        used
    }

    /// True once since a `notify` message left the queue (sent often enough, or replaced).
    pub(crate) fn take_notified(&mut self) -> bool {
        core::mem::take(&mut self.notified)
    }

    /// True if a `notify` message is still queued.
    pub(crate) fn has_notify(&self) -> bool {
        self.items.iter().any(|it| it.notify)
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
