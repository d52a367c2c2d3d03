//! The replicated map itself: entries under last-writer-wins, writers with their watermarks,
//! tombstones and their expiry. No I/O and no knowledge of peers; [`super::exchange`] moves
//! its contents between nodes.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::time::Duration;

use hashbrown::HashMap;

use super::KvChange;
use crate::time::Instant;

/// Index of a writer in [`Store::writers`].
pub(crate) type WriterId = u32;

/// A node incarnation that writes: its name and a random epoch drawn at start, so a node that
/// restarts empty (its version clock back at zero) never reuses a (writer, version) pair.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) name: Box<str>,
    pub(crate) epoch: u32,
    /// Every write of this writer up to this version is held here, or was superseded by a
    /// newer write that is (Scuttlebutt's per-writer version). Advanced only by this node's
    /// own writes and by complete deltas, never by gossip, which may skip versions.
    pub(crate) watermark: u64,
    /// The newest version of this writer's tombstones this node forgot. A peer whose
    /// watermark is below it may still hold a value that tombstone deleted.
    pub(crate) purged: u64,
    /// Entries held whose last write is this writer's.
    pub(crate) live: u32,
}

/// One key's current value.
#[derive(Debug)]
pub(crate) struct Slot {
    /// `None` is a tombstone.
    pub(crate) value: Option<Box<[u8]>>,
    pub(crate) version: u64,
    pub(crate) writer: WriterId,
    /// When this node learned it (tombstones expire from here).
    pub(crate) at: Instant,
}

/// Why a write was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not newer than what is held.
    Older,
    /// The map holds `max_keys` keys.
    Full,
}

/// The map, its writers and the Lamport clock that versions new writes.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) entries: HashMap<Box<str>, Slot>,
    pub(crate) writers: Vec<Writer>,
    /// Writer ids by name (a name has one id per epoch it wrote under).
    by_name: HashMap<Box<str>, Vec<WriterId>>,
    /// This node's own writer.
    pub(crate) me: WriterId,
    /// The highest version seen anywhere: a new write is one more.
    clock: u64,
    tombstones: usize,
    max_keys: usize,
    max_writers: usize,
}

impl Store {
    pub(crate) fn new(name: &str, epoch: u32, max_keys: usize, max_writers: usize) -> Self {
        let mut s = Self {
            entries: HashMap::new(),
            writers: Vec::new(),
            by_name: HashMap::new(),
            me: 0,
            clock: 0,
            tombstones: 0,
            max_keys,
            max_writers: max_writers.max(1),
        };
        s.me = s.writer_id(name, epoch, true).unwrap_or(0);
        s
    }

    /// The id of writer `(name, epoch)`; creates it if `create` and there is room.
    pub(crate) fn writer_id(&mut self, name: &str, epoch: u32, create: bool) -> Option<WriterId> {
        if let Some(ids) = self.by_name.get(name)
            && let Some(&id) = ids
                .iter()
                .find(|&&id| self.writers[id as usize].epoch == epoch)
        {
            return Some(id);
        }
        if !create || self.writers.len() >= self.max_writers {
            return None;
        }
        let id = self.writers.len() as WriterId;
        self.writers.push(Writer {
            name: Box::from(name),
            epoch,
            watermark: 0,
            purged: 0,
            live: 0,
        });
        self.by_name.entry(Box::from(name)).or_default().push(id);
        Some(id)
    }

    /// The writer `(name, epoch)` if known.
    pub(crate) fn find_writer(&self, name: &str, epoch: u32) -> Option<WriterId> {
        self.by_name.get(name)?.iter().copied().find(|&id| {
            self.writers
                .get(id as usize)
                .is_some_and(|w| w.epoch == epoch)
        })
    }

    /// Last-writer-wins: by version, then writer name, then epoch; one total order, so every
    /// node keeps the same write.
    pub(crate) fn newer(&self, version: u64, writer: WriterId, than: &Slot) -> bool {
        self.order(version, writer, than.version, than.writer) == Ordering::Greater
    }

    fn order(&self, va: u64, wa: WriterId, vb: u64, wb: WriterId) -> Ordering {
        let (a, b) = (&self.writers[wa as usize], &self.writers[wb as usize]);
        va.cmp(&vb)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.epoch.cmp(&b.epoch))
    }

    /// The next version for a local write.
    pub(crate) fn next_version(&mut self) -> u64 {
        self.clock += 1;
        let me = self.me as usize;
        self.writers[me].watermark = self.clock;
        self.clock
    }

    /// Applies a write if it is newer than what `key` holds; returns the change.
    pub(crate) fn apply(
        &mut self,
        key: &str,
        version: u64,
        writer: WriterId,
        value: Option<&[u8]>,
        now: Instant,
    ) -> Result<KvChange, Refused> {
        self.clock = self.clock.max(version);
        let old = match self.entries.get(key) {
            Some(slot) if !self.newer(version, writer, slot) => return Err(Refused::Older),
            Some(slot) => Some((slot.version, slot.writer, slot.value.is_none())),
            None if self.entries.len() >= self.max_keys => return Err(Refused::Full),
            None => None,
        };
        let slot = Slot {
            value: value.map(Box::from),
            version,
            writer,
            at: now,
        };
        if let Some((_, w, dead)) = old {
            self.writers[w as usize].live -= 1;
            self.tombstones -= usize::from(dead);
        }
        self.writers[writer as usize].live += 1;
        self.tombstones += usize::from(value.is_none());
        let change = KvChange {
            key: Box::from(key),
            value: value.map(Box::from),
            old_version: old.map(|(v, ..)| v),
            version,
            writer: self.writers[writer as usize].name.clone(),
        };
        match self.entries.get_mut(key) {
            Some(s) => *s = slot,
            None => {
                self.entries.insert(Box::from(key), slot);
            }
        }
        Ok(change)
    }

    /// Removes `key` (superseded by a forgotten tombstone, learned in a full exchange).
    pub(crate) fn remove(&mut self, key: &str) -> Option<Slot> {
        let slot = self.entries.remove(key)?;
        self.writers[slot.writer as usize].live -= 1;
        self.tombstones -= usize::from(slot.value.is_none());
        Some(slot)
    }

    /// Forgets tombstones older than `ttl` whose version its writer's watermark covers (an
    /// uncovered one may still be missing on a peer that our watermark claims is complete).
    pub(crate) fn expire_tombstones(&mut self, now: Instant, ttl: Duration) -> usize {
        if self.tombstones == 0 {
            return 0;
        }
        let writers = &mut self.writers;
        let before = self.entries.len();
        self.entries.retain(|_, s| {
            let w = &mut writers[s.writer as usize];
            let expired = s.value.is_none()
                && now.saturating_duration_since(s.at) >= ttl
                && s.version <= w.watermark;
            if expired {
                w.purged = w.purged.max(s.version);
                w.live -= 1;
            }
            !expired
        });
        let n = before - self.entries.len();
        self.tombstones -= n;
        n
    }

    /// Number of tombstones held.
    #[cfg(test)]
    pub(crate) fn tombstones(&self) -> usize {
        self.tombstones
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_writer_wins_by_version_then_name() {
        let t = Instant::ZERO;
        let mut s = Store::new("a", 1, 100, 10);
        let b = s.writer_id("b", 1, true).unwrap();
        let a = s.me;
        assert!(s.apply("k", 5, a, Some(b"a5"), t).is_ok());
        assert_eq!(s.apply("k", 4, b, Some(b"b4"), t), Err(Refused::Older));
        // Same version: "b" > "a".
        let c = s.apply("k", 5, b, Some(b"b5"), t).unwrap();
        assert_eq!(c.old_version, Some(5));
        assert_eq!(s.apply("k", 5, a, Some(b"a5"), t), Err(Refused::Older));
        assert_eq!(s.entries["k"].value.as_deref(), Some(&b"b5"[..]));
        assert_eq!(s.writers[a as usize].live, 0);
        assert_eq!(s.writers[b as usize].live, 1);
        // A local write goes past everything seen.
        assert_eq!(s.next_version(), 6);
    }

    #[test]
    fn tombstones_expire_only_when_covered() {
        let mut s = Store::new("a", 1, 100, 10);
        let b = s.writer_id("b", 7, true).unwrap();
        let t0 = Instant::ZERO;
        s.apply("x", 3, b, None, t0).unwrap();
        let later = t0 + Duration::from_secs(100);
        assert_eq!(s.expire_tombstones(later, Duration::from_secs(10)), 0);
        s.writers[b as usize].watermark = 3;
        assert_eq!(s.expire_tombstones(later, Duration::from_secs(10)), 1);
        assert_eq!(s.writers[b as usize].purged, 3);
        assert_eq!(s.tombstones(), 0);
        assert!(s.entries.is_empty());
    }

    #[test]
    fn bounds_hold() {
        let t = Instant::ZERO;
        let mut s = Store::new("a", 1, 1, 2);
        let me = s.me;
        s.apply("k1", 1, me, Some(b"v"), t).unwrap();
        assert_eq!(s.apply("k2", 2, me, Some(b"v"), t), Err(Refused::Full));
        assert!(s.writer_id("b", 1, true).is_some());
        assert!(s.writer_id("c", 1, true).is_none());
    }
}
