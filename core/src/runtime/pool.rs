//! Many nodes on one thread: a [`Pool`] of drivers that a readiness loop (mio, epoll, kqueue,
//! a hand-written `poll(2)` loop) runs together, polling a node only when one of its sockets
//! was ready, its waker fired (a command, room for events) or its deadline passed.

use alloc::boxed::Box;
use alloc::collections::BinaryHeap;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Waker};
use core::time::Duration;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Driver, Transport};

/// What the pool shares with its nodes' wakers and its [`Injector`]s.
struct Shared<T: Transport> {
    /// Nodes whose waker fired since the loop last looked.
    woken: Mutex<Vec<usize>>,
    /// Nodes handed over by an [`Injector`], waiting for a slot.
    incoming: Mutex<Vec<Driver<T>>>,
    injectors: AtomicUsize,
    /// Wakes the loop's thread (a mio `Waker`, an eventfd, ...).
    wake: Box<dyn Fn() + Send + Sync>,
}

fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes one node of a pool.
struct NodeWaker<T: Transport> {
    slot: usize,
    shared: Arc<Shared<T>>,
}

impl<T: Transport> Wake for NodeWaker<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.shared.woken).push(self.slot);
        (self.shared.wake)();
    }
}

struct Slot<T: Transport> {
    driver: Driver<T>,
    waker: Waker,
    /// The deadline this node is in the timer heap for.
    scheduled: Option<Instant>,
    /// Already on this turn's list of nodes to poll.
    due: bool,
}

/// Drivers run together by one thread. Each node is polled with a waker of its own, which
/// puts it on the pool's list and calls the loop's wake function; deadlines sit in one heap.
///
/// A loop turn: [`intake`](Self::intake) nodes from [`Injector`]s, sleep at most
/// [`timeout`](Self::timeout), mark the nodes whose sockets were ready with
/// [`ready`](Self::ready), then [`run`](Self::run).
pub struct Pool<T: Transport> {
    shared: Arc<Shared<T>>,
    slots: Vec<Option<Slot<T>>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    due: Vec<usize>,
}

impl<T: Transport> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("nodes", &self.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

/// Hands nodes to a [`Pool`] from any thread. While one exists, the pool is not
/// [`finished`](Pool::is_finished).
pub struct Injector<T: Transport>(Arc<Shared<T>>);

impl<T: Transport> fmt::Debug for Injector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Injector").finish_non_exhaustive()
    }
}

impl<T: Transport> Clone for Injector<T> {
    fn clone(&self) -> Self {
        self.0.injectors.fetch_add(1, Ordering::AcqRel);
        Self(self.0.clone())
    }
}

impl<T: Transport> Drop for Injector<T> {
    fn drop(&mut self) {
        self.0.injectors.fetch_sub(1, Ordering::AcqRel);
        (self.0.wake)();
    }
}

impl<T: Transport> Injector<T> {
    /// Hands `driver` to the pool, which takes it on its next [`intake`](Pool::intake).
    pub fn add(&self, driver: Driver<T>) {
        lock(&self.0.incoming).push(driver);
        (self.0.wake)();
    }
}

impl<T: Transport> Pool<T> {
    /// An empty pool; `wake` wakes the loop's thread from any other.
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            shared: Arc::new(Shared {
                woken: Mutex::default(),
                incoming: Mutex::default(),
                injectors: AtomicUsize::new(0),
                wake: Box::new(wake),
            }),
            slots: Vec::new(),
            timers: BinaryHeap::new(),
            due: Vec::new(),
        }
    }

    /// An [`Injector`] for this pool.
    pub fn injector(&self) -> Injector<T> {
        self.shared.injectors.fetch_add(1, Ordering::AcqRel);
        Injector(self.shared.clone())
    }

    /// How many nodes run in the pool.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no node runs in the pool.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether no node runs and no [`Injector`] could add one.
    pub fn is_finished(&self) -> bool {
        self.is_empty() && self.shared.injectors.load(Ordering::Acquire) == 0
    }

    /// Takes the nodes injectors handed over: gives each a slot, lets `attach` register its
    /// sockets under that slot number, and polls it on the next [`run`](Self::run). A node
    /// `attach` fails for is dropped (shut down), and the error returned.
    pub fn intake(
        &mut self,
        mut attach: impl FnMut(usize, &mut T) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let incoming = core::mem::take(&mut *lock(&self.shared.incoming));
        let mut result = Ok(());
        for mut driver in incoming {
            let i = self
                .slots
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| {
                    self.slots.push(None);
                    self.slots.len() - 1
                });
            if let Some(Err(e)) = driver.transport_mut().map(|t| attach(i, t)) {
                result = Err(e);
                continue;
            }
            let shared = self.shared.clone();
            let waker = Waker::from(Arc::new(NodeWaker { slot: i, shared }));
            let scheduled = None;
            let mut slot = Slot {
                driver,
                waker,
                scheduled,
                due: false,
            };
            mark(&mut self.due, &mut slot, i);
            self.slots[i] = Some(slot);
        }
        result
    }

    /// The node in slot `i`, to update its transport's readiness.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Driver<T>> {
        self.slots.get_mut(i)?.as_mut().map(|s| &mut s.driver)
    }

    /// Marks the node in slot `i` to be polled on the next [`run`](Self::run).
    pub fn ready(&mut self, i: usize) {
        if let Some(Some(slot)) = self.slots.get_mut(i) {
            mark(&mut self.due, slot, i);
        }
    }

    /// How long the loop may sleep: until the earliest deadline, zero if a node is due.
    pub fn timeout(&self) -> Option<Duration> {
        if !self.due.is_empty() || !lock(&self.shared.woken).is_empty() {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        self.timers
            .peek()
            .map(|Reverse((t, _))| t.saturating_duration_since(now))
    }

    /// Polls every node that is due: marked ready, woken, or past its deadline. Nodes that
    /// shut down leave the pool.
    pub fn run(&mut self) {
        let woken = core::mem::take(&mut *lock(&self.shared.woken));
        for i in woken {
            self.ready(i);
        }
        let now = Instant::now();
        while let Some(&Reverse((t, i))) = self.timers.peek()
            && t <= now
        {
            self.timers.pop();
            if let Some(Some(slot)) = self.slots.get_mut(i)
                && slot.scheduled == Some(t)
            {
                slot.scheduled = None;
                mark(&mut self.due, slot, i);
            }
        }
        for i in core::mem::take(&mut self.due) {
            self.turn(i);
        }
        self.drop_stale_timers();
    }

    /// Pops the heap's top entries for deadlines their nodes have since moved (a probe's ack
    /// timeout once the ack came): [`timeout`](Self::timeout) peeks the top, and a stale one
    /// there would wake the loop for nothing (about one wake-up per node-second).
    fn drop_stale_timers(&mut self) {
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            let live = self
                .slots
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|slot| slot.scheduled == Some(t));
            if live {
                return;
            }
            self.timers.pop();
        }
    }

    /// Polls one node; frees its slot once it has shut down.
    fn turn(&mut self, i: usize) {
        let Some(Some(slot)) = self.slots.get_mut(i) else {
            return;
        };
        slot.due = false;
        if slot
            .driver
            .poll(&mut Context::from_waker(&slot.waker))
            .is_ready()
        {
            self.slots[i] = None;
            return;
        }
        let at = slot.driver.wake_at();
        if at != slot.scheduled {
            slot.scheduled = at;
            if let Some(t) = at {
                self.timers.push(Reverse((t, i)));
            }
        }
    }
}

/// Puts a node on this turn's list, once.
fn mark<T: Transport>(due: &mut Vec<usize>, slot: &mut Slot<T>, i: usize) {
    if !slot.due {
        slot.due = true;
        due.push(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::runtime::{Accepted, Bound, NodeOptions, Received, nonblocking};
    use alloc::vec;
    use core::task::Poll;
    use std::io;
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};

    /// std's sockets, looked at on every turn (the test marks every node ready).
    struct Plain {
        udp: UdpSocket,
        tcp: TcpListener,
    }

    impl Transport for Plain {
        type Connection = TcpStream;

        fn poll_recv(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<Received> {
            nonblocking(self.udp.recv_from(buf))
        }

        fn poll_accept(&mut self, _: &mut Context<'_>) -> Poll<Accepted<TcpStream>> {
            nonblocking(self.tcp.accept()).map(|r| {
                let (s, peer) = r?;
                s.set_nonblocking(true)?;
                Ok((s, peer))
            })
        }

        fn connect(&mut self, _: crate::StreamId, to: SocketAddr) -> io::Result<TcpStream> {
            let s = TcpStream::connect(to)?;
            s.set_nonblocking(true)?;
            Ok(s)
        }
    }

    /// The loop sleeps until the heap's top: after every turn that top must be a deadline a
    /// node still holds. Each probe moves its node's deadline later (the ack timeout, then,
    /// once the ack came, the next probe), which left the old deadline on top and woke the
    /// loop for nothing.
    #[test]
    fn sleeps_until_a_deadline_a_node_holds() {
        let mut pool = Pool::new(|| {});
        let injector = pool.injector();
        let mut nodes = Vec::new();
        for name in ["a", "b"] {
            let options = NodeOptions::new(name, "127.0.0.1:0".parse().unwrap());
            let (driver, handle, events) = Driver::new(Config::lan(), options, |b: Bound| {
                Ok(Plain {
                    udp: b.udp,
                    tcp: b.tcp,
                })
            })
            .unwrap();
            injector.add(driver);
            nodes.push((handle, events));
        }
        pool.intake(|_, _| Ok(())).unwrap();
        let _join = nodes[1].0.join(vec![nodes[0].0.local_addr()]);
        let (mut moved_later, mut last) = (0, [None; 2]);
        // Each probe moves a deadline later about once a second; a loaded machine gets
        // as long as it needs.
        let end = Instant::now() + Duration::from_secs(60);
        while moved_later < 4 && Instant::now() < end {
            for i in 0..2 {
                pool.ready(i);
            }
            pool.run();
            let now = Instant::now();
            let held: Vec<_> = (0..2)
                .map(|i| pool.get_mut(i).and_then(|d| d.wake_at()))
                .collect();
            for (i, at) in held.iter().enumerate() {
                if let (Some(before), Some(at)) = (last[i], *at)
                    && before > now
                    && at > before
                {
                    moved_later += 1;
                }
                last[i] = *at;
            }
            let top = pool.timers.peek().map(|Reverse((t, _))| *t);
            assert_eq!(top, held.iter().flatten().min().copied());
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            moved_later >= 4,
            "{moved_later} deadlines moved later in 60 s"
        );
    }
}
