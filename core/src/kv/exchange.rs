//! The map and the relay as an [`Extension`]: routing rumor messages in and out of
//! memberlist's user messages, push/pull state and gossip, the exchange timer, and the map's
//! commands. Everything here reaches the node through [`Memberlist`]'s public methods.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use core::net::SocketAddr;

use hashbrown::{HashMap, HashSet};
use rand_core::Rng;

use super::codec::{
    self, ASK_STREAM, EntryLimits, HAS_ROWS, Kind, KvDecodeError, MARKER, RELAY_PLAIN_AT, Reader,
    Row, WANT_ROWS,
};
use super::store::{Refused, WriterId};
use super::{ExchangeMode, Kv, KvChange, KvEntry, KvError, KvStats, SyncRx};
use crate::extension::{Extension, Gossip, PushPullPeer};
use crate::wire::MessageType;
use crate::{BroadcastOptions, CommandError, Event, InputErrorKind, Instant, Memberlist};

type R<T> = Result<T, KvDecodeError>;

/// Most chunks waiting for a free stream, in units of `max_chunk` (16 MiB at 64 KiB).
const OUTBOX_CHUNKS: usize = 256;

/// Room a datagram leaves for a rumor message: memberlist's packet budget less the user
/// message's type byte, CRC, encryption and label (generously).
const DATAGRAM_SLACK: usize = 128;

/// The kind of a queued user broadcast (type byte first), if it is a rumor message.
fn queued_kind(b: &[u8]) -> Option<Kind> {
    match b.split_first() {
        Some((&t, rest)) if t == MessageType::User as u8 => match codec::classify(rest) {
            Some(Ok((k, _))) => Some(k),
            _ => None,
        },
        _ => None,
    }
}

/// The next tick of a period that started at `prev`, skipping ticks missed before `now`.
fn advance(prev: Instant, period: core::time::Duration, now: Instant) -> Instant {
    let next = prev + period;
    if next > now { next } else { now + period }
}

/// Builds messages of at most `limit` bytes out of writer groups. A group larger than what is
/// left is split; each part claims the version range it completes, `(from, last]`, so a
/// receiver raises its watermark only through parts that continue from it, whatever order
/// they arrive in and whichever are lost.
struct Chunks {
    next: Vec<u8>,
    limit: usize,
    done: Vec<Vec<u8>>,
    cur: Vec<u8>,
    header_len: usize,
    /// The open group part.
    group: Option<Part>,
}

/// The group part being written.
#[derive(Clone, Copy)]
struct Part {
    writer: WriterId,
    /// Where its header's claim and count are.
    at: usize,
    count: u32,
    /// The claim starts after this version.
    from: u64,
    /// The last version written.
    last: u64,
    /// The highest version a part may claim (the sender's watermark of the writer).
    cap: u64,
}

impl Chunks {
    fn new(first: Vec<u8>, next: Vec<u8>, limit: usize) -> Self {
        let header_len = first.len();
        let cur = first;
        Self {
            next,
            limit,
            done: Vec::new(),
            cur,
            header_len,
            group: None,
        }
    }

    fn flush(&mut self) {
        if self.done.is_empty() && self.cur.len() == self.header_len {
            return;
        }
        let next = self.next.clone();
        self.header_len = next.len();
        self.done.push(core::mem::replace(&mut self.cur, next));
    }

    /// Opens writer `w`'s group: its entries (in version order) follow the receiver's
    /// watermark `from`; parts may claim up to `cap`.
    fn open(&mut self, w: WriterId, name: &str, epoch: u32, from: u64, cap: u64) {
        if self.cur.len() > self.header_len
            && self.cur.len() + codec::group_head_len(name) > self.limit
        {
            self.flush();
        }
        let at = codec::put_group_head(&mut self.cur, name, epoch);
        self.group = Some(Part {
            writer: w,
            at,
            count: 0,
            from,
            last: from,
            cap,
        });
    }

    fn entry(&mut self, name: &str, epoch: u32, key: &str, version: u64, value: Option<&[u8]>) {
        let len = codec::entry_len(key, version, value);
        if let Some(p) = self.group
            && p.count > 0
            && self.cur.len() + len > self.limit
        {
            // This part completes (from, last]; the next one continues from there.
            let to = if p.last <= p.cap { p.last } else { 0 };
            codec::patch_group_head(&mut self.cur, p.at, p.from, to, p.count);
            self.group = None;
            self.flush();
            self.open(p.writer, name, epoch, p.last, p.cap);
        }
        codec::put_entry(&mut self.cur, key, version, value);
        if let Some(p) = &mut self.group {
            p.count += 1;
            p.last = version;
        }
    }

    /// Closes the group, its last part claiming up to `to` (0: nothing).
    fn close(&mut self, to: u64) {
        if let Some(p) = self.group.take() {
            codec::patch_group_head(&mut self.cur, p.at, p.from, to, p.count);
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if self.cur.len() > self.header_len || self.done.is_empty() {
            self.done.push(core::mem::take(&mut self.cur));
        }
        self.done
    }
}

/// How a request reached this node, which decides where and how much it may answer.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// A datagram from this source (which nothing proves).
    Datagram(SocketAddr),
    /// A stream user message from this peer (its IP proved by TCP's handshake).
    Stream(SocketAddr),
    /// A push/pull with this peer (a stream: its IP proved).
    PushPull(SocketAddr),
}

/// A peer's digest, mapped onto this node's writers.
struct PeerView {
    /// The peer's watermark per writer id of ours (0 if it has no row).
    have: Vec<u64>,
    /// The peer missed writes of a writer whose tombstones we forgot.
    behind: bool,
}

impl Kv {
    fn first_sight(&mut self, id: u64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        while self.seen_order.len() > self.relay_memory.max(1) {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn subscribed(&self, key: &str) -> bool {
        self.subs.iter().any(|p| key.starts_with(&**p))
    }

    fn is_capable(&self, addr: SocketAddr) -> bool {
        self.assume_rumor_peers || self.capable.contains(&addr)
    }

    fn learn_capable_addr(&mut self, node: &Memberlist, addr: SocketAddr) {
        if self.capable.len() < 2 * node.num_known() + 16 {
            self.capable.insert(addr);
        }
    }

    /// A push/pull we started was answered with (or without) rumor's section.
    fn note_section(&mut self, node: &Memberlist, to: SocketAddr, section: bool) {
        if section {
            self.plain.remove(&to);
        } else if self.plain.len() < 2 * node.num_known() + 16 {
            self.plain.insert(to);
        }
    }

    fn learn_capable(&mut self, node: &Memberlist, name: &str) {
        if name == &*self.name {
            return;
        }
        if let Some(a) = node.member_addr(name) {
            self.learn_capable_addr(node, a);
        }
    }

    fn notify(&mut self, change: KvChange) {
        if self.subscribed(&change.key) {
            self.events.push_back(Event::KeyChanged(change));
        }
    }

    fn count(&self, c: crate::observe::Counter, n: u64) {
        self.metrics.count(c, n);
    }

    // ----- application commands -----

    /// Sets `key` to `value`; returns the write's version. The write is gossiped at once and
    /// reaches the others through gossip and exchanges.
    pub fn set(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        key: &str,
        value: &[u8],
    ) -> Result<u64, KvError> {
        if value.len() > self.config.max_value {
            return Err(KvError::ValueTooLarge(value.len()));
        }
        self.local_write(node, now, key, Some(value))
    }

    /// Deletes `key` (a tombstone, kept for `tombstone_ttl`); returns the delete's version.
    pub fn delete(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        key: &str,
    ) -> Result<u64, KvError> {
        self.local_write(node, now, key, None)
    }

    fn local_write(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<u64, KvError> {
        if key.len() > self.config.max_key {
            return Err(KvError::KeyTooLong(key.len()));
        }
        let store = self.store.as_mut().ok_or(KvError::Disabled)?;
        let version = store.next_version();
        let me = store.me;
        let change = store
            .apply(key, version, me, value, now)
            .map_err(|_| KvError::Full)?;
        self.stats.applied += 1;
        self.gossip_write(node, me, key, version, value);
        self.notify(change);
        Ok(version)
    }

    /// Queues one write for gossip, under its key's name, if it fits a datagram.
    fn gossip_write(
        &mut self,
        node: &mut Memberlist,
        writer: WriterId,
        key: &str,
        version: u64,
        value: Option<&[u8]>,
    ) {
        if !self.config.gossip_writes {
            return;
        }
        let Some(store) = &self.store else { return };
        // Both buffers are reused: gossiping a write allocates only what the queue keeps.
        let (msg, name) = (&mut self.scratch, &mut self.name_buf);
        if encode_write(
            store,
            writer,
            key,
            version,
            value,
            self.udp_buffer_size,
            msg,
        ) {
            name.clear();
            name.push_str("\0kv\0");
            name.push_str(key);
            let options = BroadcastOptions {
                name: Some(name),
                notify: false,
            };
            node.broadcast_with(msg, options);
        }
    }

    /// The current entry of `key` (a deleted key reads as a `None` value until its
    /// tombstone expires).
    pub fn get(&self, key: &str) -> Option<KvEntry> {
        let store = self.store.as_ref()?;
        let s = store.entries.get(key)?;
        Some(KvEntry {
            value: s.value.clone(),
            version: s.version,
            writer: store.writers[s.writer as usize].name.clone(),
        })
    }

    /// Every key held with its entry, tombstones included, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, KvEntry)> + '_ {
        self.store.iter().flat_map(|store| {
            store.entries.iter().map(|(k, s)| {
                (
                    &**k,
                    KvEntry {
                        value: s.value.clone(),
                        version: s.version,
                        writer: store.writers[s.writer as usize].name.clone(),
                    },
                )
            })
        })
    }

    /// Keys held, tombstones included.
    pub fn len(&self) -> usize {
        self.store.as_ref().map_or(0, |s| s.entries.len())
    }

    /// Whether the map holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A hash of the whole map (keys, versions, writers, values), equal on two nodes that
    /// hold the same map: a cheap convergence check.
    pub fn fingerprint(&self) -> u64 {
        let Some(store) = self.store.as_ref() else {
            return 0;
        };
        store.entries.iter().fold(0u64, |acc, (k, s)| {
            let w = &store.writers[s.writer as usize];
            let mut h = Fnv::default();
            h.put(k.as_bytes());
            h.put(&s.version.to_be_bytes());
            h.put(w.name.as_bytes());
            h.put(&w.epoch.to_be_bytes());
            match &s.value {
                Some(v) => {
                    h.put(&[1]);
                    h.put(v);
                }
                None => h.put(&[0]),
            }
            acc ^ h.0
        })
    }

    /// Emits [`Event::KeyChanged`] for keys starting with `prefix` (the empty prefix: all).
    pub fn subscribe(&mut self, prefix: &str) {
        if !self.subs.iter().any(|p| &**p == prefix) {
            self.subs.push(Box::from(prefix));
        }
    }

    /// Stops the events of a [`subscribe`](Self::subscribe); false if there was none.
    pub fn unsubscribe(&mut self, prefix: &str) -> bool {
        let before = self.subs.len();
        self.subs.retain(|p| &**p != prefix);
        before != self.subs.len()
    }

    /// Traffic counters of the map and the relay.
    pub fn stats(&self) -> KvStats {
        KvStats {
            rumor_peers: self.capable.len() as u64,
            ..self.stats
        }
    }

    /// Bytes of this node's digest as an exchange sends it (marker and header included).
    pub fn digest_len(&self) -> usize {
        self.digest_message(0).len()
    }

    // ----- relayed broadcasts -----

    /// Queues `payload` as a relayed broadcast, whatever `Config::relay_broadcasts` says:
    /// every rumor node delivers it once and passes it on once, so it reaches the whole
    /// cluster; members not known to run rumor get it as a plain user message.
    pub fn broadcast_relayed(&mut self, node: &mut Memberlist, payload: &[u8]) {
        let envelope = self.relay_envelope(payload);
        node.broadcast_with(&envelope, BroadcastOptions::default());
    }

    /// An application broadcast in a relay envelope (the user message type byte first).
    fn relay_envelope(&mut self, payload: &[u8]) -> Vec<u8> {
        let id = self.rng.next_u64();
        self.first_sight(id);
        let mut v = Vec::with_capacity(RELAY_PLAIN_AT + payload.len());
        codec::start(&mut v, Kind::Relay);
        v.extend_from_slice(&id.to_be_bytes());
        v.push(MessageType::User as u8);
        v.extend_from_slice(payload);
        v
    }

    fn on_relay(&mut self, node: &mut Memberlist, sender: SocketAddr, body: &[u8]) -> R<()> {
        let mut r = Reader::new(body);
        let id = r.u64()?;
        let inner = r.u8()?;
        if inner != MessageType::User as u8 {
            return Err(KvDecodeError::Unknown(inner));
        }
        let payload = r.rest();
        if !self.first_sight(id) {
            return Ok(());
        }
        if !payload.is_empty() {
            self.events.push_back(Event::UserMessage {
                payload: payload.to_vec(),
                from: sender,
            });
        }
        // Relayed is a property of the message: every rumor node passes it on once, whatever
        // its own `relay_broadcasts` (which only decides how its own broadcasts go out).
        {
            let mut v = Vec::with_capacity(MARKER.len() + 1 + body.len());
            codec::start(&mut v, Kind::Relay);
            v.extend_from_slice(body);
            node.broadcast_with(&v, BroadcastOptions::default());
            self.stats.relayed += 1;
            self.count(crate::observe::Counter::Relayed, 1);
        }
        Ok(())
    }

    // ----- input -----

    fn on_rumor_message(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        from: Option<SocketAddr>,
        sender: SocketAddr,
        kind: Kind,
        body: &[u8],
    ) -> R<()> {
        if let Some(addr) = from {
            self.learn_capable_addr(node, addr);
        }
        let via = from.map_or(Via::Stream(sender), Via::Datagram);
        // The whole user message, marker included: what the request cost its sender.
        let request_len = body.len() + MARKER.len() + 1;
        match kind {
            Kind::Relay => self.on_relay(node, sender, body),
            _ if self.store.is_none() => Ok(()),
            Kind::Writes => self.on_groups(node, now, &mut Reader::new(body), true, false),
            Kind::Digest => self.on_digest(node, now, via, request_len, body),
            Kind::Delta => self.on_delta(node, now, via, body),
            Kind::Sync => self.on_sync(node, now, body),
            Kind::State => Err(KvDecodeError::Unknown(Kind::State as u8)),
        }
    }

    fn malformed(&mut self, e: KvDecodeError) -> InputErrorKind {
        self.stats.malformed += 1;
        self.count(crate::observe::Counter::KvMalformed, 1);
        crate::observe::decision!(debug, error = %e, "malformed rumor message");
        InputErrorKind::Kv(e)
    }

    fn on_state_section<'a>(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        peer: SocketAddr,
        body: &'a [u8],
    ) -> R<&'a [u8]> {
        let mut r = Reader::new(body);
        let len = r.u32()? as usize;
        let section = r.take(len)?;
        let app = r.rest();
        let mut s = Reader::new(section);
        let from = s.str("node name", codec::MAX_NAME)?;
        self.learn_capable(node, from);
        let view = self.peer_view(&mut s)?;
        let n = s.count("rumor peers", 1)?;
        for _ in 0..n {
            let name = s.str("node name", codec::MAX_NAME)?;
            self.learn_capable(node, name);
        }
        if self.store.is_some() {
            self.answer(node, now, Via::PushPull(peer), 0, from, &view, false);
        }
        Ok(app)
    }

    /// rumor's section of this node's push/pull state: its name, its digest and the rumor
    /// members it knows.
    fn put_section(&self, node: &Memberlist, app: &[u8], out: &mut Vec<u8>) {
        let mut section = Vec::new();
        codec::put_bytes(&mut section, self.name.as_bytes());
        self.put_rows(&mut section);
        // The members known to run rumor, so that knowledge spreads with push/pull.
        let at = section.len();
        section.extend_from_slice(&[0; 4]);
        let mut n = 0u32;
        for m in node.member_views() {
            let live = matches!(
                m.state,
                crate::MemberState::Alive | crate::MemberState::Suspect
            );
            if live && m.name != &*self.name && self.capable.contains(&m.addr) {
                codec::put_bytes(&mut section, m.name.as_bytes());
                n += 1;
            }
        }
        section[at..at + 4].copy_from_slice(&n.to_be_bytes());
        out.reserve(section.len() + 9 + app.len());
        codec::start(out, Kind::State);
        out.extend_from_slice(&(section.len() as u32).to_be_bytes());
        out.extend_from_slice(&section);
        out.extend_from_slice(app);
    }

    fn put_rows(&self, out: &mut Vec<u8>) {
        // Writers that never wrote (every node's own, until it does) say nothing.
        let writers = self.store.as_ref().map_or(&[][..], |s| &s.writers[..]);
        let said = |w: &&super::store::Writer| w.watermark > 0 || w.purged > 0;
        let n = writers.iter().filter(said).count();
        out.extend_from_slice(&(n as u32).to_be_bytes());
        for w in writers.iter().filter(said) {
            codec::put_row(
                out,
                &Row {
                    name: &w.name,
                    epoch: w.epoch,
                    watermark: w.watermark,
                    purged: w.purged,
                },
            );
        }
    }

    fn peer_view(&self, r: &mut Reader<'_>) -> R<PeerView> {
        let Some(store) = self.store.as_ref() else {
            codec::read_rows(r, self.config.max_writers, |_| {})?;
            return Ok(PeerView {
                have: Vec::new(),
                behind: false,
            });
        };
        let mut have = alloc::vec![0u64; store.writers.len()];
        codec::read_rows(r, self.config.max_writers, |row| {
            if let Some(id) = store.find_writer(row.name, row.epoch) {
                have[id as usize] = row.watermark;
            }
        })?;
        let behind = store.writers.iter().zip(&have).any(|(w, &h)| w.purged > h);
        Ok(PeerView { have, behind })
    }

    /// The address to answer a request from the member called `name` at: that member's,
    /// and only if the request came from it (the datagram's source, or a stream from its IP).
    /// Requests naming another member are dropped: an answer never goes to a third party.
    fn requester(&mut self, node: &Memberlist, name: &str, via: Via) -> Option<SocketAddr> {
        let addr = node.member_addr(name);
        let ok = match (addr, via) {
            (Some(a), Via::Datagram(src)) => a == src,
            (Some(a), Via::Stream(peer) | Via::PushPull(peer)) => a.ip() == peer.ip(),
            (None, _) => false,
        };
        if !ok {
            self.stats.refused_requests += 1;
        }
        addr.filter(|_| ok)
    }

    /// A per-peer budget: one answer per peer every quarter exchange interval (at least
    /// 50 ms), so that repeated requests cannot make this node send without end.
    fn budget(&mut self, node: &Memberlist, to: SocketAddr, now: Instant) -> bool {
        let gap = (self.config.exchange_interval / 4).max(core::time::Duration::from_millis(50));
        if self
            .answered
            .get(&to)
            .is_some_and(|&t| now.saturating_duration_since(t) < gap)
        {
            self.stats.refused_requests += 1;
            return false;
        }
        if self.answered.len() >= 2 * node.num_known() + 16 {
            self.answered
                .retain(|_, t| now.saturating_duration_since(*t) < gap);
        }
        if self.answered.len() < 2 * node.num_known() + 16 {
            self.answered.insert(to, now);
        }
        true
    }

    /// Answers the member called `name` with what its digest shows it lacks: a delta, or
    /// everything if it is behind a forgotten tombstone; `rows` adds our digest, asking for
    /// what we lack in return. The answer goes only to the requester (see
    /// [`requester`](Self::requester)), within its budget, and a request that came in a
    /// datagram (whose source nothing proves) gets at most three times its size back: a
    /// larger answer waits for the requester to ask again over a stream.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        via: Via,
        request_len: usize,
        name: &str,
        view: &PeerView,
        rows: bool,
    ) {
        let Some(to) = self.requester(node, name, via) else {
            return;
        };
        if !matches!(via, Via::PushPull(_)) && !self.budget(node, to, now) {
            return;
        }
        let msgs = if view.behind {
            self.build_full()
        } else {
            self.build_delta(view, rows)
        };
        let total: usize = msgs.iter().map(Vec::len).sum();
        if matches!(via, Via::Datagram(_)) && total > 3 * request_len.max(1) {
            // A digest with no rows: about the request's own size.
            let mut ask = Vec::new();
            codec::start(&mut ask, Kind::Digest);
            ask.push(ASK_STREAM | if rows { WANT_ROWS } else { 0 });
            codec::put_bytes(&mut ask, self.name.as_bytes());
            ask.extend_from_slice(&0u32.to_be_bytes());
            self.kv_send(node, now, to, ask);
            return;
        }
        for m in msgs {
            self.kv_send(node, now, to, m);
        }
    }

    fn on_digest(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        via: Via,
        request_len: usize,
        body: &[u8],
    ) -> R<()> {
        let mut r = Reader::new(body);
        let flags = r.u8()?;
        let from = r.str("node name", codec::MAX_NAME)?;
        let view = self.peer_view(&mut r)?;
        if !r.is_empty() {
            return Err(KvDecodeError::Trailing);
        }
        self.learn_capable(node, from);
        if flags & ASK_STREAM != 0 {
            // Our digest's answer is too large for a datagram: ask again over a stream, if
            // we did ask this member.
            if let Some(to) = self.requester(node, from, via)
                && self.pending.is_some_and(|(p, _)| p == to)
            {
                let again = self.digest_message(flags & WANT_ROWS);
                let _ = node.send_to_addr(now, to, &again, true);
            }
            return Ok(());
        }
        self.answer(
            node,
            now,
            via,
            request_len,
            from,
            &view,
            flags & WANT_ROWS != 0,
        );
        Ok(())
    }

    fn on_delta(&mut self, node: &mut Memberlist, now: Instant, via: Via, body: &[u8]) -> R<()> {
        let mut r = Reader::new(body);
        let flags = r.u8()?;
        let from = r.str("node name", codec::MAX_NAME)?;
        let view = if flags & HAS_ROWS != 0 {
            Some(self.peer_view(&mut r)?)
        } else {
            None
        };
        self.learn_capable(node, from);
        self.on_groups(node, now, &mut r, false, false)?;
        // Rows ask for what the sender lacks: answered only to the member this node asked
        // (push/pull mode's third message), never to an unsolicited delta.
        if let Some(view) = view
            && let Some(to) = self.requester(node, from, via)
            && self.pending.is_some_and(|(p, _)| p == to)
        {
            self.pending = None;
            self.answer(node, now, Via::PushPull(to), 0, from, &view, false);
        }
        Ok(())
    }

    fn on_sync(&mut self, node: &mut Memberlist, now: Instant, body: &[u8]) -> R<()> {
        let mut r = Reader::new(body);
        let from = r.str("node name", codec::MAX_NAME)?;
        let id = r.u64()?;
        let index = r.u32()?;
        let total = r.u32()?;
        if index >= total || total as usize > self.config.max_keys + 1 {
            return Err(KvDecodeError::TooLarge {
                what: "full exchange chunk index",
                len: index as usize,
                limit: total as usize,
            });
        }
        self.learn_capable(node, from);
        let stale = self.tcp_timeout.saturating_mul(4);
        let track = match &self.rx {
            Some(rx) if rx.id == id => true,
            Some(rx) if now.saturating_duration_since(rx.started) < stale => false,
            _ => {
                let mut rows = HashMap::new();
                let max = self.config.max_writers;
                codec::read_rows(&mut r.clone(), max, |row| {
                    rows.insert(
                        (Box::from(row.name), row.epoch),
                        (row.watermark, row.purged),
                    );
                })?;
                self.rx = Some(SyncRx {
                    id,
                    started: now,
                    total,
                    got: HashSet::new(),
                    keys: HashSet::new(),
                    rows,
                    refused: false,
                });
                true
            }
        };
        codec::read_rows(&mut r, self.config.max_writers, |_| {})?;
        self.on_groups(node, now, &mut r, false, track)?;
        if track && let Some(rx) = &mut self.rx {
            rx.got.insert(index);
            if rx.got.len() as u32 >= rx.total {
                self.complete_sync();
            }
        }
        Ok(())
    }

    /// A whole full state arrived: drop what it shows superseded, adopt its watermarks and
    /// forgotten-tombstone floors.
    fn complete_sync(&mut self) {
        let Some(rx) = self.rx.take() else {
            return;
        };
        let Some(mut store) = self.store.take() else {
            return;
        };
        let h = &self.hasher;
        let gone: Vec<Box<str>> = store
            .entries
            .iter()
            .filter(|(k, s)| {
                let w = &store.writers[s.writer as usize];
                !rx.keys.contains(&h.hash_one(&***k))
                    && rx
                        .rows
                        .get(&(w.name.clone(), w.epoch))
                        .is_some_and(|&(wm, _)| s.version <= wm)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut changes = Vec::with_capacity(gone.len());
        for k in gone {
            if let Some(slot) = store.remove(&k)
                && slot.value.is_some()
            {
                changes.push(KvChange {
                    key: k,
                    value: None,
                    old_version: Some(slot.version),
                    version: 0,
                    writer: Box::from(""),
                });
            }
        }
        if !rx.refused {
            for ((name, epoch), (wm, purged)) in &rx.rows {
                if *wm == 0 && *purged == 0 {
                    continue;
                }
                if let Some(id) = store.writer_id(name, *epoch, true) {
                    let w = &mut store.writers[id as usize];
                    w.watermark = w.watermark.max(*wm);
                    w.purged = w.purged.max(*purged);
                }
            }
        }
        self.store = Some(store);
        for c in changes {
            self.notify(c);
        }
    }

    /// Applies the writer groups left in `r`. `gossip`: pass fresh writes on; `track`: note
    /// the keys for the full exchange being received.
    fn on_groups(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        r: &mut Reader<'_>,
        gossip: bool,
        track: bool,
    ) -> R<()> {
        let Some(mut store) = self.store.take() else {
            return Ok(());
        };
        let mut changes = Vec::new();
        let res = self.apply_groups(now, r, &mut store, track, &mut changes);
        self.store = Some(store);
        for (writer, c) in changes {
            if gossip {
                self.gossip_write(node, writer, &c.key, c.version, c.value.as_deref());
            }
            self.notify(c);
        }
        res
    }

    fn apply_groups(
        &mut self,
        now: Instant,
        r: &mut Reader<'_>,
        store: &mut super::store::Store,
        track: bool,
        changes: &mut Vec<(WriterId, KvChange)>,
    ) -> R<()> {
        let limits = EntryLimits {
            max_key: self.config.max_key,
            max_value: self.config.max_value,
        };
        let max_keys = self.config.max_keys;
        while !r.is_empty() {
            let head = codec::read_group_head(r)?;
            let w = store.writer_id(head.name, head.epoch, true);
            let mut complete = w.is_some();
            for _ in 0..head.count {
                let e = codec::read_entry(r, limits)?;
                if track && let Some(rx) = &mut self.rx {
                    if rx.keys.len() < max_keys {
                        rx.keys.insert(self.hasher.hash_one(e.key));
                    } else {
                        rx.refused = true;
                    }
                }
                let Some(w) = w else {
                    self.stats.refused += 1;
                    continue;
                };
                match store.apply(e.key, e.version, w, e.value, now) {
                    Ok(c) => {
                        self.stats.applied += 1;
                        self.count(crate::observe::Counter::KvApplied, 1);
                        changes.push((w, c));
                    }
                    Err(Refused::Older) => {}
                    Err(_) => {
                        self.stats.refused += 1;
                        self.count(crate::observe::Counter::KvRefused, 1);
                        complete = false;
                    }
                }
            }
            match w {
                Some(w) if complete && head.to > 0 => {
                    // Only a part that continues from what this node has extends it.
                    let wr = &mut store.writers[w as usize];
                    if head.from <= wr.watermark {
                        wr.watermark = wr.watermark.max(head.to);
                    }
                }
                _ if track => {
                    if let Some(rx) = &mut self.rx {
                        rx.refused |= !complete;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    // ----- output -----

    /// Sends one rumor message to `to`: as a datagram when it fits, else over a stream.
    fn kv_send(&mut self, node: &mut Memberlist, now: Instant, to: SocketAddr, msg: Vec<u8>) {
        self.stats.exchange_messages += 1;
        self.stats.exchange_bytes += msg.len() as u64;
        self.count(crate::observe::Counter::KvMessages, 1);
        self.count(crate::observe::Counter::KvBytes, msg.len() as u64);
        if msg.len() + DATAGRAM_SLACK <= self.udp_buffer_size {
            let _ = node.send_to_addr(now, to, &msg, false);
        } else {
            self.outbox_bytes += msg.len();
            self.outbox.push_back((to, msg));
            // Bounded: the oldest waiting messages give way.
            while self.outbox_bytes > self.config.max_chunk * OUTBOX_CHUNKS {
                let Some((_, old)) = self.outbox.pop_front() else {
                    break;
                };
                self.outbox_bytes -= old.len();
                self.stats.outbox_dropped += 1;
            }
            self.kv_flush(node, now);
        }
    }

    /// Sends waiting stream messages while the node has outbound streams free.
    fn kv_flush(&mut self, node: &mut Memberlist, now: Instant) {
        while let Some((to, msg)) = self.outbox.pop_front() {
            match node.send_to_addr(now, to, &msg, true) {
                Err(CommandError::TooManyStreams) => {
                    self.outbox.push_front((to, msg));
                    return;
                }
                _ => self.outbox_bytes -= msg.len(),
            }
        }
    }

    fn digest_message(&self, flags: u8) -> Vec<u8> {
        let mut m = Vec::new();
        codec::start(&mut m, Kind::Digest);
        m.push(flags);
        codec::put_bytes(&mut m, self.name.as_bytes());
        self.put_rows(&mut m);
        m
    }

    fn send_digest(&mut self, node: &mut Memberlist, now: Instant, to: SocketAddr, flags: u8) {
        let m = self.digest_message(flags);
        self.kv_send(node, now, to, m);
    }

    /// Entries the peer lacks, grouped by writer, in version order; plus a watermark-only
    /// group for each writer whose watermark is ahead of the peer's.
    fn build_delta(&self, view: &PeerView, rows: bool) -> Vec<Vec<u8>> {
        let Some(store) = self.store.as_ref() else {
            return Vec::new();
        };
        let have = |w: WriterId| view.have.get(w as usize).copied().unwrap_or(0);
        let mut picks: Vec<(WriterId, u64, &str)> = store
            .entries
            .iter()
            .filter(|(_, s)| s.version > have(s.writer))
            .map(|(k, s)| (s.writer, s.version, &**k))
            .collect();
        let ahead = store
            .writers
            .iter()
            .enumerate()
            .any(|(i, w)| w.watermark > have(i as WriterId));
        if picks.is_empty() && !ahead && !rows {
            return Vec::new();
        }
        picks.sort_unstable();
        let mut first = Vec::new();
        codec::start(&mut first, Kind::Delta);
        first.push(if rows { HAS_ROWS } else { 0 });
        codec::put_bytes(&mut first, self.name.as_bytes());
        let mut next = first.clone();
        if let Some(f) = next.get_mut(MARKER.len() + 1) {
            *f = 0;
        }
        if rows {
            self.put_rows(&mut first);
        }
        let mut chunks = Chunks::new(first, next, self.config.max_chunk);
        let mut i = 0;
        for (id, w) in store.writers.iter().enumerate() {
            let id = id as WriterId;
            let start = i;
            while i < picks.len() && picks[i].0 == id {
                i += 1;
            }
            if start == i && w.watermark <= have(id) {
                continue;
            }
            chunks.open(id, &w.name, w.epoch, have(id), w.watermark);
            for &(_, version, key) in &picks[start..i] {
                let value = store.entries.get(key).and_then(|s| s.value.as_deref());
                chunks.entry(&w.name, w.epoch, key, version, value);
            }
            chunks.close(if w.watermark > have(id) {
                w.watermark
            } else {
                0
            });
        }
        chunks.finish()
    }

    /// Everything this node holds, in chunks that together let the receiver drop what they
    /// show superseded.
    fn build_full(&mut self) -> Vec<Vec<u8>> {
        let id = self.rng.next_u64();
        let Some(store) = self.store.as_ref() else {
            return Vec::new();
        };
        let mut picks: Vec<(WriterId, u64, &str)> = store
            .entries
            .iter()
            .map(|(k, s)| (s.writer, s.version, &**k))
            .collect();
        picks.sort_unstable();
        let mut header = Vec::new();
        codec::start(&mut header, Kind::Sync);
        codec::put_bytes(&mut header, self.name.as_bytes());
        header.extend_from_slice(&id.to_be_bytes());
        let at = header.len();
        header.extend_from_slice(&[0; 8]);
        self.put_rows(&mut header);
        let mut chunks = Chunks::new(header.clone(), header, self.config.max_chunk);
        let mut i = 0;
        for (wid, w) in store.writers.iter().enumerate() {
            let wid = wid as WriterId;
            let start = i;
            while i < picks.len() && picks[i].0 == wid {
                i += 1;
            }
            if start == i && w.watermark == 0 {
                continue;
            }
            chunks.open(wid, &w.name, w.epoch, 0, w.watermark);
            for &(_, version, key) in &picks[start..i] {
                let value = store.entries.get(key).and_then(|s| s.value.as_deref());
                chunks.entry(&w.name, w.epoch, key, version, value);
            }
            chunks.close(w.watermark);
        }
        let mut all = chunks.finish();
        let total = all.len() as u32;
        for (n, m) in all.iter_mut().enumerate() {
            m[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
            m[at + 4..at + 8].copy_from_slice(&total.to_be_bytes());
        }
        self.stats.full_syncs += 1;
        self.count(crate::observe::Counter::KvFullExchange, 1);
        crate::observe::decision!(debug, chunks = all.len(), "replicated map: full exchange");
        all
    }

    /// Sends a full exchange to `to` (push mode: this node's own initiative).
    fn send_full(&mut self, node: &mut Memberlist, now: Instant, to: SocketAddr) {
        for m in self.build_full() {
            self.kv_send(node, now, to, m);
        }
    }

    // ----- timers -----

    /// One exchange round: forget old tombstones and stalled full exchanges, then exchange
    /// with one random rumor peer in the configured mode.
    fn exchange_round(&mut self, node: &mut Memberlist, now: Instant) {
        let interval = self.config.exchange_interval;
        if interval.is_zero() || now < self.next_exchange {
            return;
        }
        self.next_exchange = advance(self.next_exchange, interval, now);
        self.rounds += 1;
        if self.rounds.is_multiple_of(16) {
            self.forget_gone_capable(node);
        }
        if let Some(rx) = &self.rx
            && now.saturating_duration_since(rx.started) > self.tcp_timeout.saturating_mul(4)
        {
            self.rx = None;
        }
        let ttl = self.config.tombstone_ttl;
        if let Some(store) = self.store.as_mut() {
            store.expire_tombstones(now, ttl);
        }
        if self.store.is_none() || node.has_left() {
            return;
        }
        let Some((_, addr)) = self.pick_rumor_peer(node) else {
            return;
        };
        self.pending = Some((addr, now));
        match self.config.mode {
            ExchangeMode::Push => self.send_full(node, now, addr),
            ExchangeMode::Pull | ExchangeMode::PushPull => {
                let flags = if self.config.mode == ExchangeMode::PushPull {
                    WANT_ROWS
                } else {
                    0
                };
                self.send_digest(node, now, addr, flags);
            }
        }
    }

    /// A random live member other than this node that runs rumor: a few random tries, then
    /// a scan from a random place.
    fn pick_rumor_peer(&mut self, node: &Memberlist) -> Option<(Box<str>, SocketAddr)> {
        let n = node.num_known();
        if n < 2 {
            return None;
        }
        let ok = |kv: &Self, i: usize| {
            let m = node.member_at(i)?;
            let live = matches!(
                m.state,
                crate::MemberState::Alive | crate::MemberState::Suspect
            );
            (m.name != &*kv.name && live && kv.is_capable(m.addr))
                .then(|| (Box::from(m.name), m.addr))
        };
        for _ in 0..8 {
            let i = (self.rng.next_u64() % n as u64) as usize;
            if let Some(found) = ok(self, i) {
                return Some(found);
            }
        }
        let start = (self.rng.next_u64() % n as u64) as usize;
        (0..n).find_map(|k| ok(self, (start + k) % n))
    }

    /// Forgets capable addresses that no live member has any more.
    fn forget_gone_capable(&mut self, node: &Memberlist) {
        if self.capable.is_empty() && self.plain.is_empty() {
            return;
        }
        let live: HashSet<SocketAddr> = node
            .member_views()
            .filter(|m| {
                matches!(
                    m.state,
                    crate::MemberState::Alive | crate::MemberState::Suspect
                )
            })
            .map(|m| m.addr)
            .collect();
        self.capable.retain(|a| live.contains(a));
        self.plain.retain(|a| live.contains(a));
    }
}

impl Extension for Kv {
    fn on_message(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        from: Option<SocketAddr>,
        sender: SocketAddr,
        payload: &[u8],
    ) -> Result<bool, InputErrorKind> {
        self.last = now;
        match codec::classify(payload) {
            None => Ok(false),
            Some(Ok((kind, body))) => self
                .on_rumor_message(node, now, from, sender, kind, body)
                .map(|()| true)
                .map_err(|e| self.malformed(e)),
            Some(Err(e)) => Err(self.malformed(e)),
        }
    }

    fn push_pull_state(
        &mut self,
        node: &Memberlist,
        _join: bool,
        peer: PushPullPeer<'_>,
        app: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        // rumor's section goes to every peer but those that answered a push/pull without one
        // (Go nodes, or rumor with extensions off); an answer carries one only if the
        // request did (a Go application sees only what it asked for).
        let section = match peer {
            PushPullPeer::Dialed(to) => !self.plain.contains(&to),
            PushPullPeer::Answering { request, .. } => super::is_state_section(request),
        };
        if section {
            self.put_section(node, app, out);
        }
        section
    }

    fn on_push_pull_state<'a>(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        peer: PushPullPeer<'_>,
        state: &'a [u8],
    ) -> Result<&'a [u8], InputErrorKind> {
        self.last = now;
        let from = match peer {
            PushPullPeer::Dialed(to) => to,
            PushPullPeer::Answering { from, .. } => from,
        };
        let (app, section) = match codec::classify(state) {
            Some(Ok((Kind::State, body))) => {
                let app = self.on_state_section(node, now, from, body).map_err(|e| {
                    self.stats.malformed += 1;
                    InputErrorKind::Kv(e)
                })?;
                (app, true)
            }
            _ => (state, false),
        };
        if let PushPullPeer::Dialed(to) = peer {
            self.note_section(node, to, section);
        }
        Ok(app)
    }

    fn gossip_to(&mut self, to: SocketAddr, message: &[u8]) -> Gossip {
        let capable = self.is_capable(to);
        match queued_kind(message) {
            // A peer not known to run rumor gets a relay envelope as the plain user
            // message inside it, and no map gossip.
            Some(Kind::Relay) if !capable => Gossip::From(RELAY_PLAIN_AT),
            Some(Kind::Writes) if !capable => Gossip::Skip,
            Some(Kind::Writes) => {
                self.stats.gossip_sends += 1;
                Gossip::Send
            }
            _ => Gossip::Send,
        }
    }

    fn wrap_broadcast(&mut self, _node: &mut Memberlist, payload: &[u8]) -> Option<Vec<u8>> {
        self.relay.then(|| self.relay_envelope(payload))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let interval = self.config.exchange_interval;
        if !self.outbox.is_empty() {
            // Streams free up as they finish: look again within a gossip interval.
            let soon = self.last + self.gossip_interval;
            return Some(if interval.is_zero() {
                soon
            } else {
                soon.min(self.next_exchange)
            });
        }
        (!interval.is_zero()).then_some(self.next_exchange)
    }

    fn handle_timeout(&mut self, node: &mut Memberlist, now: Instant) {
        self.last = now;
        self.kv_flush(node, now);
        self.exchange_round(node, now);
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// FNV-1a, 64 bits: a hash that is the same on every node (the map's fingerprint).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn put(&mut self, bytes: &[u8]) {
        // Length first, so that field boundaries count.
        for &b in (bytes.len() as u32).to_be_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// One write as a gossip message (a user message's payload) in `v`; false if it does not
/// fit a datagram.
fn encode_write(
    store: &super::store::Store,
    writer: WriterId,
    key: &str,
    version: u64,
    value: Option<&[u8]>,
    udp_buffer_size: usize,
    v: &mut Vec<u8>,
) -> bool {
    let Some(w) = store.writers.get(writer as usize) else {
        return false;
    };
    let len =
        MARKER.len() + 1 + codec::group_head_len(&w.name) + codec::entry_len(key, version, value);
    // The user message's type byte comes on top.
    if 1 + len + DATAGRAM_SLACK > udp_buffer_size {
        return false;
    }
    v.clear();
    codec::start(v, Kind::Writes);
    let at = codec::put_group_head(v, &w.name, w.epoch);
    codec::put_entry(v, key, version, value);
    codec::patch_group_head(v, at, 0, 0, 1);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    type Group = (u64, u64, Vec<u64>);

    /// Reads back the groups of messages built by `Chunks` (after a header of `skip` bytes):
    /// each part's claim and versions.
    fn groups(msgs: &[Vec<u8>], skip: usize) -> Vec<Group> {
        let limits = EntryLimits {
            max_key: 100,
            max_value: 100,
        };
        let mut out = Vec::new();
        for m in msgs {
            let mut r = Reader::new(&m[skip..]);
            while !r.is_empty() {
                let h = codec::read_group_head(&mut r).unwrap();
                let mut versions = Vec::new();
                for _ in 0..h.count {
                    versions.push(codec::read_entry(&mut r, limits).unwrap().version);
                }
                out.push((h.from, h.to, versions));
            }
        }
        out
    }

    #[test]
    fn split_groups_claim_contiguous_ranges() {
        let header = alloc::vec![0xaa; 10];
        let mut c = Chunks::new(header.clone(), header, 200);
        // The receiver has writer-a up to 3; the sender up to 22, plus 23 and 24 from gossip
        // (past its watermark).
        c.open(0, "writer-a", 1, 3, 22);
        for v in 4..=24u64 {
            c.entry(
                "writer-a",
                1,
                &alloc::format!("key-{v:03}"),
                v,
                Some(&[7; 20]),
            );
        }
        c.close(22);
        c.open(1, "writer-b", 2, 0, 5);
        c.close(5);
        let msgs = c.finish();
        assert!(msgs.len() > 2, "{} messages", msgs.len());
        assert!(msgs.iter().all(|m| m.len() <= 200));
        let gs = groups(&msgs, 10);
        let all: Vec<u64> = gs.iter().flat_map(|g| g.2.iter().copied()).collect();
        assert_eq!(
            all,
            (4..=24).collect::<Vec<_>>(),
            "every entry once, in order"
        );
        // Parts chain: each starts where the previous ended, and claims its last version
        // (never past the sender's watermark).
        let a: Vec<&Group> = gs.iter().take(gs.len() - 1).collect();
        assert_eq!(a[0].0, 3);
        for w in a.windows(2) {
            assert_eq!(w[1].0, *w[0].2.last().unwrap());
        }
        for p in &a[..a.len() - 1] {
            let last = *p.2.last().unwrap();
            assert_eq!(p.1, if last <= 22 { last } else { 0 });
        }
        assert_eq!(a[a.len() - 1].1, 22);
        assert_eq!(gs[gs.len() - 1], (0, 5, Vec::new()));
    }

    fn kv_node(name: &str) -> Memberlist {
        let config = crate::Config {
            kv: super::super::KvConfig::enabled(),
            ..crate::Config::lan()
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], 7946));
        Memberlist::new(config, name, addr, b"", [1; 32], Instant::ZERO).unwrap()
    }

    /// Hands `msg` to the node's map as a user message that arrived over a stream.
    fn deliver(m: &mut Memberlist, now: Instant, msg: &[u8]) {
        let sender = SocketAddr::from(([127, 0, 0, 9], 9));
        let r = m.with_extension::<Kv, _>(|kv, node| kv.on_message(node, now, None, sender, msg));
        assert_eq!(r, Some(Ok(true)));
    }

    fn watermark(m: &Memberlist, name: &str, epoch: u32) -> u64 {
        let store = m.kv().unwrap().store.as_ref().unwrap();
        store
            .find_writer(name, epoch)
            .map_or(0, |w| store.writers[w as usize].watermark)
    }

    #[test]
    fn a_lost_or_late_part_holds_the_watermark_back_until_it_arrives() {
        // Writer "w" (epoch 9) wrote versions 1..=30; a delta of it in parts of about 200 bytes.
        let mut header = Vec::new();
        codec::start(&mut header, Kind::Delta);
        header.push(0);
        codec::put_bytes(&mut header, b"peer");
        let mut c = Chunks::new(header.clone(), header, 200);
        c.open(0, "w", 9, 0, 30);
        for v in 1..=30u64 {
            c.entry("w", 9, &alloc::format!("key-{v:03}"), v, Some(&[7; 20]));
        }
        c.close(30);
        let msgs = c.finish();
        assert!(msgs.len() >= 4);
        let mut b = kv_node("b");
        let now = Instant::ZERO;
        // Every part but the second arrives: all their entries apply, but the watermark
        // stops where the gap begins.
        for (i, m) in msgs.iter().enumerate() {
            if i != 1 {
                deliver(&mut b, now, m);
            }
        }
        let wm = watermark(&b, "w", 9);
        assert!(wm > 0 && wm < 30, "watermark {wm} stops at the gap");
        assert!(b.kv_len() < 30 && b.kv_len() > 20);
        // The missing part arrives late: the watermark extends through it (but not through
        // the parts that came before it, which a later exchange sends again).
        deliver(&mut b, now, &msgs[1]);
        assert_eq!(b.kv_len(), 30);
        assert!(watermark(&b, "w", 9) > wm);
        // Resent in order, the parts bring it to the end.
        for m in &msgs {
            deliver(&mut b, now, m);
        }
        assert_eq!(watermark(&b, "w", 9), 30);
    }

    #[test]
    fn an_empty_build_is_one_header_only_message() {
        let c = Chunks::new(alloc::vec![1, 2, 3], alloc::vec![1, 2], 100);
        assert_eq!(c.finish(), alloc::vec![alloc::vec![1, 2, 3]]);
    }
}
