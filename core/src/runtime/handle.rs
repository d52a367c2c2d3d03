//! The application's side of a running node: a [`Handle`] whose commands queue up for the
//! node's driver, and the [`Reply`] each command resolves, for async code and threads alike.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::net::SocketAddr;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{JoinResult, NodeError, Pong};
use crate::{Instant, KvEntry, Member, Memberlist};

type Sender<T> = oneshot::Sender<Result<T, NodeError>>;

/// A call on the state machine, run inside the node.
type Job = Box<dyn FnOnce(&mut Memberlist, Instant) + Send>;

/// A command on its way to the driver.
pub(crate) enum Command {
    Join(Vec<SocketAddr>, Sender<JoinResult>),
    Ping(String, SocketAddr, Sender<Pong>),
    Leave(Duration, Sender<()>),
    Shutdown(Sender<()>),
    /// Any other command: a call on the state machine that answers its own reply.
    Core(Job),
}

/// What a [`Handle`] and its node's driver share.
pub(crate) struct Shared {
    inbox: Mutex<Inbox>,
    local: SocketAddr,
    name: Box<str>,
    /// Alive and suspect members, published by the driver after every input.
    alive: AtomicUsize,
    /// Lifeguard's health score, published likewise.
    health: AtomicU32,
    /// Live [`Handle`]s: the node shuts down when the last one is dropped.
    handles: AtomicUsize,
    /// Set whenever the inbox's waker is taken: a command arrived, or the last handle went.
    pending: AtomicBool,
}

#[derive(Default)]
struct Inbox {
    commands: VecDeque<Command>,
    /// The driver, waiting for a command.
    waker: Option<Waker>,
    closed: bool,
}

impl Shared {
    pub(crate) fn new(name: &str, local: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            inbox: Mutex::default(),
            local,
            name: name.into(),
            alive: AtomicUsize::new(1),
            health: AtomicU32::new(0),
            handles: AtomicUsize::new(0),
            pending: AtomicBool::new(true),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether every [`Handle`] is gone (then nothing can command the node any more).
    pub(crate) fn abandoned(&self) -> bool {
        self.handles.load(Ordering::Acquire) == 0
    }

    /// Moves the waiting commands into `into` (which should be empty); if there are none,
    /// `cx` is woken when one arrives. `held` is the driver's copy of the waker the inbox
    /// holds: while it is current and nothing arrived, this takes no lock.
    pub(crate) fn take_commands(
        &self,
        cx: &Context<'_>,
        held: &mut Option<Waker>,
        into: &mut VecDeque<Command>,
    ) {
        let current = held.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if current && !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut inbox = self.lock();
        self.pending.store(false, Ordering::Release);
        core::mem::swap(&mut inbox.commands, into);
        if !inbox
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inbox.waker = Some(cx.waker().clone());
        }
        *held = inbox.waker.clone();
    }

    /// Whether a shutdown waits in the inbox (a paused node still obeys it, as a stopped
    /// process still dies of SIGKILL).
    pub(crate) fn shutdown_waiting(&self) -> bool {
        let inbox = self.lock();
        inbox
            .commands
            .iter()
            .any(|c| matches!(c, Command::Shutdown(_)))
    }

    /// Refuses every later command and drops the waiting ones (their replies say `Closed`).
    pub(crate) fn close(&self) {
        let mut inbox = self.lock();
        inbox.closed = true;
        let dropped = core::mem::take(&mut inbox.commands);
        drop(inbox);
        drop(dropped);
    }

    pub(crate) fn publish(&self, alive: Option<usize>, health: u32) {
        if let Some(n) = alive {
            self.alive.store(n, Ordering::Relaxed);
        }
        self.health.store(health, Ordering::Relaxed);
    }
}

/// Commands for a running node, on any runtime. Cheap to clone and usable from any thread.
///
/// Each command is queued for the node when the method is called and returns a [`Reply`]:
/// `.await` it in async code, or [`Reply::wait`] for it on a thread. Dropping the reply does
/// not cancel the command: `drop(handle.broadcast(payload))` sends and does not wait. Every reply fails with [`NodeError::Closed`] once the node has
/// shut down. Commands run in the order they were called, between the node's other inputs.
/// Dropping the last handle of a node shuts it down.
pub struct Handle {
    shared: Arc<Shared>,
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            let waker = self.shared.lock().waker.take();
            self.shared.pending.store(true, Ordering::Release);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.shared.name)
            .field("local", &self.shared.local)
            .finish_non_exhaustive()
    }
}

/// The answer to one command: a future, or [`wait`](Self::wait) for it on a thread.
#[must_use = "the command runs anyway; await the reply or wait() for it to learn the outcome"]
pub struct Reply<T> {
    rx: oneshot::Receiver<Result<T, NodeError>>,
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").finish_non_exhaustive()
    }
}

impl<T> Reply<T> {
    /// Blocks this thread until the node answers. Never call it on the thread that drives
    /// the node (a mio reactor, a hand-written loop): that thread would wait for itself.
    pub fn wait(self) -> Result<T, NodeError> {
        self.rx.recv().unwrap_or(Err(NodeError::Closed))
    }
}

impl<T> Future for Reply<T> {
    type Output = Result<T, NodeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(NodeError::Closed)))
    }
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.handles.fetch_add(1, Ordering::AcqRel);
        Self { shared }
    }

    /// Queues a command that sends its own reply; a closed node drops it (and its reply).
    fn submit<T>(&self, make: impl FnOnce(Sender<T>) -> Command) -> Reply<T> {
        let (tx, rx) = oneshot::channel();
        let mut inbox = self.shared.lock();
        if !inbox.closed {
            inbox.commands.push_back(make(tx));
            self.shared.pending.store(true, Ordering::Release);
            if let Some(w) = inbox.waker.take() {
                drop(inbox);
                w.wake();
            }
        }
        Reply { rx }
    }

    /// Runs `f` on the state machine inside the node, between its other inputs.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memberlist, Instant) -> Result<T, NodeError> + Send + 'static,
    ) -> Reply<T> {
        self.submit(|tx| {
            Command::Core(Box::new(move |core, now| {
                let _ = tx.send(f(core, now));
            }))
        })
    }

    /// The address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Alive and suspect members, this node included (memberlist's `NumMembers`), as of the
    /// node's last input: read without a round trip to the node.
    pub fn num_members(&self) -> usize {
        self.shared.alive.load(Ordering::Relaxed)
    }

    /// Lifeguard's health score (memberlist's `GetHealthScore`): 0 is healthy. Read without a
    /// round trip to the node.
    pub fn health_score(&self) -> u32 {
        self.shared.health.load(Ordering::Relaxed)
    }

    /// This node as its own table lists it (memberlist's `LocalNode`).
    pub fn local_node(&self) -> Reply<Member> {
        self.call(|core, _| core.local_node().ok_or(NodeError::Closed))
    }

    /// Joins the cluster through `seeds`: resolves once every seed answered a push/pull or
    /// failed to (memberlist's `Join`).
    pub fn join(&self, seeds: Vec<SocketAddr>) -> Reply<JoinResult> {
        self.submit(|tx| Command::Join(seeds, tx))
    }

    /// Leaves gracefully: resolves once the leave has been gossiped or `timeout` passed
    /// (memberlist's `Leave`). The node keeps running until [`shutdown`](Self::shutdown).
    pub fn leave(&self, timeout: Duration) -> Reply<()> {
        self.submit(|tx| Command::Leave(timeout, tx))
    }

    /// Stops the node without leaving (leave first for a graceful exit); resolves once its
    /// sockets are closed (memberlist's `Shutdown`).
    pub fn shutdown(&self) -> Reply<()> {
        self.submit(Command::Shutdown)
    }

    /// Joins through seeds given as `host:port` (or a bare host, on this node's port),
    /// resolving each name to every address it has and trying them all, as memberlist's
    /// `Join` does. Names are resolved on a thread of their own; a name that resolves to
    /// nothing counts as a failed seed.
    pub fn join_hosts(&self, hosts: Vec<String>) -> Reply<JoinResult> {
        use std::net::ToSocketAddrs;
        let (tx, rx) = oneshot::channel();
        let handle = self.clone();
        let port = self.local_addr().port();
        let resolve = move || {
            let mut addrs = Vec::new();
            let mut unresolved = 0;
            for host in &hosts {
                let found = match host.to_socket_addrs() {
                    Ok(found) => Ok(found.collect::<Vec<_>>()),
                    // No port: memberlist's default port is the node's own.
                    Err(_) => (host.as_str(), port)
                        .to_socket_addrs()
                        .map(Iterator::collect),
                };
                match found {
                    Ok(found) if !found.is_empty() => addrs.extend(found),
                    _ => unresolved += 1,
                }
            }
            let r = handle.join(addrs).wait().map(|mut j| {
                j.failed += unresolved;
                j
            });
            let _ = tx.send(r);
        };
        // Should no thread start, the sender goes with the closure and the reply says
        // `Closed`.
        let _ = std::thread::Builder::new()
            .name("rumor resolve".into())
            .spawn(resolve);
        Reply { rx }
    }

    /// Pings the member called `node` at `addr` once, outside the probe schedule
    /// (memberlist's `Ping`): resolves to the round-trip time and the ack's payload, or
    /// [`NodeError::NoResponse`] after `probe_timeout`.
    pub fn ping(&self, node: String, addr: SocketAddr) -> Reply<Pong> {
        self.submit(|tx| Command::Ping(node, addr, tx))
    }

    /// Queues a user broadcast (memberlist's transmit-limited gossip).
    pub fn broadcast(&self, payload: Vec<u8>) -> Reply<()> {
        self.call(move |core, _| {
            core.broadcast(&payload);
            Ok(())
        })
    }

    /// Queues a relayed broadcast (rumor's extension, on when `Config::kv` or
    /// `Config::relay_broadcasts` is): every rumor node delivers it once and passes it on
    /// once, so it reaches the whole cluster, unlike memberlist's sender-limited broadcast.
    pub fn broadcast_relayed(&self, payload: Vec<u8>) -> Reply<()> {
        self.call(move |core, _| {
            core.with_extension::<crate::Kv, _>(|kv, node| kv.broadcast_relayed(node, &payload))
                .ok_or(NodeError::Kv(crate::KvError::Disabled))
        })
    }

    /// Queues a user broadcast, named (a newer one with the same name replaces it while it is
    /// queued) or unique, with an [`Event::BroadcastFinished`](crate::Event::BroadcastFinished)
    /// when it leaves the queue if `notify`; resolves to the id that event carries. See
    /// [`Memberlist::broadcast_with`].
    pub fn broadcast_with(
        &self,
        payload: Vec<u8>,
        name: Option<String>,
        notify: bool,
    ) -> Reply<u64> {
        self.call(move |core, _| {
            let name = name.as_deref();
            Ok(core.broadcast_with(&payload, crate::BroadcastOptions { name, notify }))
        })
    }

    /// Sends a user message to `to`, member or not (memberlist's `SendToAddress`).
    pub fn send_to_addr(&self, to: SocketAddr, payload: Vec<u8>, reliable: bool) -> Reply<()> {
        self.call(move |core, now| Ok(core.send_to_addr(now, to, &payload, reliable)?))
    }

    /// Sends a user message to the member called `to`, as a datagram or, if `reliable`, over
    /// a stream (memberlist's `SendBestEffort` and `SendReliable`).
    pub fn send(&self, to: String, payload: Vec<u8>, reliable: bool) -> Reply<()> {
        self.call(move |core, now| Ok(core.send(now, &to, &payload, reliable)?))
    }

    /// Changes the node's metadata and gossips it (memberlist's `UpdateNode`).
    pub fn set_meta(&self, meta: Vec<u8>) -> Reply<()> {
        self.call(move |core, now| Ok(core.set_meta(now, &meta)?))
    }

    /// Sets the application state this node offers in push/pull exchanges.
    pub fn set_local_state(&self, state: Vec<u8>) -> Reply<()> {
        self.call(move |core, _| {
            core.set_local_state(&state);
            Ok(())
        })
    }

    /// The live members, alive or suspect, this node included (memberlist's `Members`).
    pub fn members(&self) -> Reply<Vec<Member>> {
        self.call(|core, _| Ok(core.members().collect()))
    }

    /// Every member this node knows, dead and left ones included until they are reaped.
    pub fn all_members(&self) -> Reply<Vec<Member>> {
        self.call(|core, _| Ok(core.all_members().collect()))
    }

    /// Sets `key` to `value` in the replicated map ([`Config::kv`](crate::Config::kv) must
    /// enable it); resolves to the write's version.
    pub fn kv_set(&self, key: String, value: Vec<u8>) -> Reply<u64> {
        self.call(move |core, now| Ok(core.kv_set(now, &key, &value)?))
    }

    /// Deletes `key` from the replicated map; resolves to the delete's version.
    pub fn kv_delete(&self, key: String) -> Reply<u64> {
        self.call(move |core, now| Ok(core.kv_delete(now, &key)?))
    }

    /// The current entry of `key` in the replicated map.
    pub fn kv_get(&self, key: String) -> Reply<Option<KvEntry>> {
        self.call(move |core, _| Ok(core.kv_get(&key)))
    }

    /// Delivers [`Event::KeyChanged`](crate::Event::KeyChanged) for keys starting with
    /// `prefix` (the empty prefix: every key) on this node's events.
    pub fn kv_subscribe(&self, prefix: String) -> Reply<()> {
        self.call(move |core, _| {
            core.kv_subscribe(&prefix);
            Ok(())
        })
    }

    /// Stops the events of an earlier `kv_subscribe`; false if there was none.
    pub fn kv_unsubscribe(&self, prefix: String) -> Reply<bool> {
        self.call(move |core, _| Ok(core.kv_unsubscribe(&prefix)))
    }

    /// Runs `f` on the state machine inside the node, for what the other methods do not
    /// cover (key ring changes, the replicated map's statistics, ...).
    pub fn with_core<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memberlist, Instant) -> T + Send + 'static,
    ) -> Reply<T> {
        self.call(move |core, now| Ok(f(core, now)))
    }
}
