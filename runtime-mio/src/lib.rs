//! rumor on mio, with no async at all: a [`Node`] owns the [`Memberlist`] state machine, one
//! mio [`Poll`], the UDP socket, the TCP listener and every open stream. You drive it on a
//! thread of your own, with [`Node::run`] or one [`Node::poll_once`] at a time; a [`Handle`]
//! sends it commands from other threads and wakes it. No protocol decision is made here.
//!
//! The loop is mio's `examples/udp_server.rs`: read each ready socket until `WouldBlock` (up to
//! a budget per wake-up, so one busy socket cannot starve the rest), and sleep in `poll` until
//! the core's one deadline. After every input it drains the core's outputs: datagrams, stream
//! commands, then events. Bad input is the core's to reject: its errors are ignored here.
//!
//! ```no_run
//! use std::time::Duration;
//! use rumor_core::{Config, runtime::NodeOptions};
//!
//! # fn main() -> std::io::Result<()> {
//! let options = NodeOptions::new("node-a", "127.0.0.1:7946".parse().expect("address"));
//! let (node, handle, events) = rumor_mio::Node::new(Config::lan(), options)?;
//! let driver = std::thread::spawn(move || node.run());
//! std::thread::spawn(move || {
//!     while let Some(event) = events.recv() {
//!         println!("{event:?}");
//!     }
//! });
//! let seed = "127.0.0.1:7947".parse().expect("address");
//! println!("{:?}", handle.join(vec![seed]));
//! std::thread::sleep(Duration::from_secs(60));
//! handle.leave(Duration::from_secs(1)).ok();
//! handle.shutdown().ok();
//! driver.join().expect("node thread")
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Poll, Registry, Token, Waker};
use rumor_core::runtime::{self, Clock, Faults, NodeOptions, Waiters};
use rumor_core::{Config, Event, Instant, KvEntry, Member, Memberlist, StreamCommand, StreamId};
use rumor_core::{StreamInput, runtime::JoinResult, runtime::NodeError};

pub use rumor_core::runtime::{JoinResult as Joined, NodeError as Error};

const UDP: Token = Token(0);
const LISTENER: Token = Token(1);
const WAKER: Token = Token(2);
/// Stream `id` is registered as token `STREAMS + id`.
const STREAMS: usize = 3;
/// Reads (datagrams, accepts, stream reads) from one source per wake-up; what is left is read
/// on the next turn, after the other sources and the timers (quinn's per-wake-up budget).
const BUDGET: usize = 64;
const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

fn token(id: StreamId) -> Token {
    Token(STREAMS + id.0 as usize)
}

type Job = Box<dyn FnOnce(&mut Node) + Send>;

/// Commands for a running node. Cheap to clone; every method fails with [`Error::Closed`]
/// once the node has shut down.
///
/// Every method blocks until the node has carried the command out, so call them from other
/// threads than the one driving the [`Node`]: called from that thread, they wait forever.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: Sender<Job>,
    waker: Arc<Waker>,
    local: SocketAddr,
}

impl Handle {
    /// The address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Runs `f` inside the node and waits for the reply it hands on, now or later.
    fn wait<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, SyncSender<T>) + Send + 'static,
    ) -> Result<T, NodeError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job = Box::new(move |n: &mut Node| f(n, tx));
        self.tx.send(job).map_err(|_| NodeError::Closed)?;
        // Should waking fail, the node still runs the job when its next deadline wakes it.
        let _ = self.waker.wake();
        rx.recv().map_err(|_| NodeError::Closed)
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node) -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        self.wait(move |n, tx| tx.send(f(n)).unwrap_or(()))
    }

    /// Joins the cluster through `seeds`: returns once every seed answered a push/pull or
    /// failed to.
    pub fn join(&self, seeds: Vec<SocketAddr>) -> Result<JoinResult, NodeError> {
        self.wait(move |n, tx| n.waiters.join(n.core.join(n.now, &seeds), tx))
    }

    /// Leaves gracefully: returns once the leave has been gossiped or `timeout` passed. The
    /// node keeps running until [`shutdown`](Self::shutdown).
    pub fn leave(&self, timeout: Duration) -> Result<(), NodeError> {
        self.wait(move |n, tx| {
            n.waiters.leave(tx);
            n.core.leave(n.now, timeout);
        })
    }

    /// Queues a user broadcast (memberlist's transmit-limited gossip).
    pub fn broadcast(&self, payload: Vec<u8>) -> Result<(), NodeError> {
        self.call(move |n| n.core.broadcast(&payload))
    }

    /// Sends a user message to the member called `to`, as a datagram or over a stream.
    pub fn send(&self, to: String, payload: Vec<u8>, reliable: bool) -> Result<(), NodeError> {
        Ok(self.call(move |n| n.core.send(n.now, &to, &payload, reliable))??)
    }

    /// Changes the node's metadata and gossips it.
    pub fn set_meta(&self, meta: Vec<u8>) -> Result<(), NodeError> {
        Ok(self.call(move |n| n.core.set_meta(n.now, &meta))??)
    }

    /// Sets `key` to `value` in the replicated map ([`Config::kv`]
    /// must enable it); returns the write's version.
    pub fn kv_set(&self, key: String, value: Vec<u8>) -> Result<u64, NodeError> {
        Ok(self.call(move |n| n.core.kv_set(n.now, &key, &value))??)
    }

    /// Deletes `key` from the replicated map; returns the delete's version.
    pub fn kv_delete(&self, key: String) -> Result<u64, NodeError> {
        Ok(self.call(move |n| n.core.kv_delete(n.now, &key))??)
    }

    /// The current entry of `key` in the replicated map.
    pub fn kv_get(&self, key: String) -> Result<Option<KvEntry>, NodeError> {
        self.call(move |n| n.core.kv_get(&key))
    }

    /// Delivers [`Event::KeyChanged`] for keys starting with
    /// `prefix` (the empty prefix: every key) on this node's event stream.
    pub fn kv_subscribe(&self, prefix: String) -> Result<(), NodeError> {
        self.call(move |n| n.core.kv_subscribe(&prefix))
    }

    /// Stops the events of an earlier `kv_subscribe`; false if there was none.
    pub fn kv_unsubscribe(&self, prefix: String) -> Result<bool, NodeError> {
        self.call(move |n| n.core.kv_unsubscribe(&prefix))
    }

    /// Sets the application state this node offers in push/pull exchanges.
    pub fn set_local_state(&self, state: Vec<u8>) -> Result<(), NodeError> {
        self.call(move |n| n.core.set_local_state(&state))
    }

    /// A snapshot of the member table.
    pub fn members(&self) -> Result<Vec<Member>, NodeError> {
        self.call(|n| n.core.members().collect())
    }

    /// Runs `f` on the state machine inside the node's loop, for what the other methods do
    /// not cover (key ring changes, health score, ...).
    pub fn with_core<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memberlist, Instant) -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        self.call(move |n| f(&mut n.core, n.now))
    }

    /// Stops the node without leaving (leave first for a graceful exit); returns once its
    /// sockets are closed. [`Node::run`] then returns and [`Node::poll_once`] returns `false`.
    pub fn shutdown(&self) -> Result<(), NodeError> {
        self.call(|n| {
            n.io = None;
            n.waiters = Waiters::default();
        })
    }
}

/// The node's events, in order. The node waits when the application falls
/// `event_capacity` events behind, rather than dropping any; once this receiver is dropped,
/// events are discarded.
#[derive(Debug)]
pub struct Events(Receiver<Event>);

impl Events {
    /// The next event, waiting for it; `None` once the node has shut down.
    pub fn recv(&self) -> Option<Event> {
        self.0.recv().ok()
    }

    /// The next event, waiting at most `timeout`; tells a timeout from a shut-down node.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.0.recv_timeout(timeout)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.0.try_recv().ok()
    }
}

/// One open stream: the socket and what still has to be written to it.
struct Conn {
    sock: TcpStream,
    out: Vec<u8>,
    /// An outbound connect has not completed yet.
    connecting: bool,
    /// The core closed the stream: flush `out` by this deadline, then shut down.
    closing: Option<Instant>,
    /// The peer closed its side (reported once).
    eof: bool,
    /// Registered with `WRITABLE` interest.
    writable: bool,
}

impl Conn {
    /// Moves the stream on by one step: completes a connect (mio's `TcpStream::connect`
    /// steps 4 and 5), writes what is buffered, reads once. `None`: nothing more until the
    /// next readiness event, or a closing stream is done (its buffer is empty).
    fn step<'b>(&mut self, buf: &'b mut [u8]) -> Option<StreamInput<'b>> {
        if self.connecting {
            let error = self.sock.take_error().and_then(|e| e.map_or(Ok(()), Err));
            return match error.and_then(|()| self.sock.peer_addr()) {
                Ok(_) => {
                    self.connecting = false;
                    Some(StreamInput::Connected)
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => None,
                Err(_) => Some(StreamInput::Failed),
            };
        }
        while !self.out.is_empty() {
            match self.sock.write(&self.out) {
                Ok(n) if n > 0 => drop(self.out.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The core has forgotten a closing stream: failed or flushed, it is done.
                _ if self.closing.is_some() => self.out.clear(),
                _ => return Some(StreamInput::Failed),
            }
        }
        if self.closing.is_some() || self.eof {
            return None;
        }
        match self.sock.read(buf) {
            Ok(0) => {
                self.eof = true;
                Some(StreamInput::Closed)
            }
            Ok(n) => Some(StreamInput::Data(&buf[..n])),
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == ErrorKind::Interrupted => self.step(buf),
            Err(_) => Some(StreamInput::Failed),
        }
    }

    /// Asks for `WRITABLE` events only while a connect or a write is pending.
    fn rearm(&mut self, registry: &Registry, id: StreamId) {
        let want = self.connecting || !self.out.is_empty();
        if want != self.writable {
            self.writable = want;
            let interest = if want { BOTH } else { Interest::READABLE };
            // If this fails, the core's stream timeout ends the stream.
            let _ = registry.reregister(&mut self.sock, token(id), interest);
        }
    }
}

/// The sockets and channels of a running node; dropped at shutdown.
struct Io {
    udp: UdpSocket,
    tcp: TcpListener,
    streams: HashMap<StreamId, Conn>,
    jobs: Receiver<Job>,
    events: SyncSender<Event>,
}

impl Io {
    /// Shuts a stream down and forgets it.
    fn finish(&mut self, registry: &Registry, id: StreamId) {
        if let Some(mut c) = self.streams.remove(&id) {
            let _ = c.sock.shutdown(Shutdown::Write);
            let _ = registry.deregister(&mut c.sock);
        }
    }
}

/// A rumor node on a mio event loop. Drive it with [`run`](Self::run) or
/// [`poll_once`](Self::poll_once) on one thread; command it through its [`Handle`] from
/// others.
pub struct Node {
    core: Memberlist,
    clock: Clock,
    now: Instant,
    local: SocketAddr,
    faults: Option<Arc<dyn Faults>>,
    waiters: Waiters<SyncSender<JoinResult>, SyncSender<()>>,
    poll: Poll,
    ready: mio::Events,
    /// `None` once shut down.
    io: Option<Io>,
    /// Sources that used up their budget, to be read again without waiting.
    again: Vec<Token>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let streams = self.io.as_ref().map(|io| io.streams.len());
        let mut d = f.debug_struct("Node");
        d.field("local", &self.local).field("streams", &streams);
        d.finish_non_exhaustive()
    }
}

impl Node {
    /// Creates a node: binds `options.bind` (UDP and TCP on one port) and registers its
    /// sockets with a new mio [`Poll`]. Nothing happens until the node is driven.
    pub fn new(config: Config, options: NodeOptions) -> io::Result<(Node, Handle, Events)> {
        let bound = runtime::bind(options.bind)?;
        let clock = Clock::new();
        let core = runtime::new_core(config, &options, bound.local, &clock)?;
        let poll = Poll::new()?;
        let mut udp = UdpSocket::from_std(bound.udp);
        let mut tcp = TcpListener::from_std(bound.tcp);
        let registry = poll.registry();
        registry.register(&mut udp, UDP, Interest::READABLE)?;
        registry.register(&mut tcp, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(registry, WAKER)?);
        let (tx, jobs) = mpsc::channel();
        let (events, event_rx) = mpsc::sync_channel(options.event_capacity);
        let streams = HashMap::new();
        let node = Node {
            core,
            clock,
            now: clock.now(),
            local: bound.local,
            faults: options.faults,
            waiters: Waiters::default(),
            poll,
            ready: mio::Events::with_capacity(256),
            io: Some(Io {
                udp,
                tcp,
                streams,
                jobs,
                events,
            }),
            again: Vec::new(),
            buf: vec![0; runtime::READ_BUF],
            out: Vec::with_capacity(runtime::READ_BUF),
        };
        let local = bound.local;
        Ok((node, Handle { tx, waker, local }, Events(event_rx)))
    }

    /// Runs the node until [`Handle::shutdown`]. An error is one from the OS poll itself;
    /// bad input from the network never stops the node.
    pub fn run(mut self) -> io::Result<()> {
        while self.poll_once(None)? {}
        Ok(())
    }

    /// Waits for input at most until the core's next deadline (or `max_wait`, if sooner),
    /// then handles whatever arrived: datagrams, streams, commands, the deadline. Returns
    /// `false` once the node has shut down.
    pub fn poll_once(&mut self, max_wait: Option<Duration>) -> io::Result<bool> {
        let Some(_) = &self.io else { return Ok(false) };
        let deadline = self.core.poll_timeout().map(|t| self.clock.until(t));
        let again = (!self.again.is_empty()).then_some(Duration::ZERO);
        let timeout = [deadline, max_wait, again].into_iter().flatten().min();
        if let Err(e) = self.poll.poll(&mut self.ready, timeout)
            && e.kind() != ErrorKind::Interrupted
        {
            return Err(e);
        }
        while self.faults.as_ref().is_some_and(|f| f.paused()) {
            std::thread::sleep(runtime::PAUSE_POLL);
        }
        let ready = std::mem::replace(&mut self.ready, mio::Events::with_capacity(0));
        let again = std::mem::take(&mut self.again);
        for t in ready.iter().map(mio::event::Event::token).chain(again) {
            match t {
                UDP => self.read_datagrams(),
                LISTENER => self.accept(),
                WAKER => {}
                t => self.stream_ready(StreamId((t.0 - STREAMS) as u64)),
            }
        }
        self.ready = ready;
        while let Some(Ok(job)) = self.io.as_ref().map(|io| io.jobs.try_recv()) {
            self.now = self.clock.now();
            job(self);
            self.flush();
        }
        // Every wake-up ends with the timers (early calls are harmless): a deadline may have
        // passed, and a command may have finished at once (a join whose seeds all failed).
        self.now = self.clock.now();
        self.core.handle_timeout(self.now);
        self.flush();
        if let Some(io) = &mut self.io {
            // A peer that will not take what is left must not hold its socket forever.
            io.streams
                .retain(|_, c| c.closing.is_none_or(|t| self.now < t));
        }
        Ok(self.io.is_some())
    }

    fn read_datagrams(&mut self) {
        for _ in 0..BUDGET {
            let Some(io) = &self.io else { return };
            match io.udp.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    self.now = self.clock.now();
                    let _ = self.core.handle_packet(self.now, from, &self.buf[..n]);
                    self.flush();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {}
            }
        }
        self.again.push(UDP);
    }

    fn accept(&mut self) {
        for _ in 0..BUDGET {
            let Some(io) = &mut self.io else { return };
            let (sock, peer) = match io.tcp.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            self.now = self.clock.now();
            if let Some(id) = self.core.accept_stream(self.now, peer) {
                self.open(id, Some(sock), false);
            }
        }
        self.again.push(LISTENER);
    }

    /// Registers a new stream (inbound, or outbound and still connecting). If there is no
    /// socket or it cannot be registered, tells the core the stream failed and drains what
    /// that causes (the only input fed from inside [`flush`](Self::flush)).
    fn open(&mut self, id: StreamId, sock: Option<TcpStream>, connecting: bool) {
        let interest = if connecting { BOTH } else { Interest::READABLE };
        let registry = self.poll.registry();
        if let Some(mut sock) = sock
            && registry.register(&mut sock, token(id), interest).is_ok()
            && let Some(io) = &mut self.io
        {
            let conn = Conn {
                sock,
                out: Vec::new(),
                connecting,
                closing: None,
                eof: false,
                writable: connecting,
            };
            io.streams.insert(id, conn);
        } else {
            let _ = self.core.handle_stream(self.now, id, StreamInput::Failed);
            self.flush();
        }
    }

    /// Moves a ready stream on, feeding the core what happened after each step.
    fn stream_ready(&mut self, id: StreamId) {
        for _ in 0..BUDGET {
            let registry = self.poll.registry();
            let Some(io) = &mut self.io else { return };
            let Some(c) = io.streams.get_mut(&id) else {
                return;
            };
            let input = match c.step(&mut self.buf) {
                Some(input) => input,
                None if c.closing.is_some() && c.out.is_empty() => return io.finish(registry, id),
                None => return c.rearm(registry, id),
            };
            if input == StreamInput::Failed {
                io.finish(registry, id);
            }
            self.now = self.clock.now();
            let _ = self.core.handle_stream(self.now, id, input);
            self.flush();
        }
        self.again.push(token(id));
    }

    /// Drains the core's outputs, in the order the core asks for: datagrams, stream commands,
    /// events.
    fn flush(&mut self) {
        while let Some(t) = self.core.poll_transmit(self.now, &mut self.out) {
            let faults = self.faults.as_ref();
            if let Some(io) = &self.io
                && faults.is_none_or(|f| f.send_datagram(self.local, t.to))
            {
                // A full send buffer drops the datagram, as the network may.
                let _ = io.udp.send_to(&self.out[..t.len], t.to);
            }
        }
        while let Some(c) = self.core.poll_stream() {
            self.stream_command(c);
        }
        while let Some(e) = self.core.poll_event() {
            self.waiters.resolve(
                &e,
                |r, j| r.send(j).unwrap_or(()),
                |r| r.send(()).unwrap_or(()),
            );
            if let Some(io) = &self.io {
                // Blocks while the application is behind; fails once it dropped `Events`.
                let _ = io.events.send(e);
            }
        }
    }

    /// Carries out one stream command.
    fn stream_command(&mut self, command: StreamCommand) {
        let registry = self.poll.registry();
        let Some(io) = &mut self.io else { return };
        match command {
            StreamCommand::Connect { id, to } => {
                let allowed = self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.connect(self.local, to));
                let sock = allowed.then(|| TcpStream::connect(to).ok()).flatten();
                self.open(id, sock, true);
            }
            StreamCommand::Send { id, data } => {
                if let Some(c) = io.streams.get_mut(&id) {
                    c.out.extend_from_slice(&data);
                    c.rearm(registry, id);
                }
            }
            StreamCommand::Close { id } => match io.streams.get_mut(&id) {
                Some(c) if !c.connecting && !c.out.is_empty() => {
                    c.closing = Some(self.now + self.core.config().tcp_timeout);
                }
                Some(_) => io.finish(registry, id),
                None => {}
            },
        }
    }
}
