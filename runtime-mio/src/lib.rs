//! rumor on mio, with no async at all: a [`Reactor`] hosts any number of nodes on one mio
//! [`Poll`] and one thread. Each node is the runtime-independent
//! [`Driver`], which owns the state machine, its streams and its
//! commands; this crate supplies only mio's sockets, and the reactor polls a node when one of
//! its sockets is ready, a command or room for events arrived, or its deadline passed. No
//! protocol decision is made here.
//!
//! The loop is mio's `examples/udp_server.rs`: sockets are read until `WouldBlock` (up to a
//! budget per wake-up, so one busy socket cannot starve the rest), and `poll` sleeps until the
//! earliest deadline of all nodes. [`Handle`]s work from any other thread: their replies
//! [`wait`](Reply::wait) there, and the reactor is woken through a mio [`Waker`].
//!
//! ```no_run
//! use std::time::Duration;
//! use rumor_core::{Config, runtime::NodeOptions};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut reactor = rumor_mio::Reactor::new()?;
//! let mut handles = Vec::new();
//! for i in 0..100 {
//!     let options = NodeOptions::new(format!("node-{i}"), "127.0.0.1:0".parse().expect("address"));
//!     let (handle, _events) = reactor.add(Config::lan(), options)?;
//!     handles.push(handle);
//! }
//! let seed = handles[0].local_addr();
//! let driver = std::thread::spawn(move || reactor.run());
//! for h in &handles[1..] {
//!     h.join(vec![seed]).wait().ok();
//! }
//! std::thread::sleep(Duration::from_secs(60));
//! for h in &handles {
//!     h.shutdown().wait().ok();
//! }
//! driver.join().expect("reactor thread")
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll as Ready};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Poll, Registry, Token, Waker};
use rumor_core::runtime::{
    Accepted, Bound, Connection, Driver, Injector, NodeOptions, Pool, Received, Transport,
    nonblocking,
};
use rumor_core::{Config, StreamId};

pub use rumor_core::runtime::{Events, Handle, JoinResult, NodeError, Pong, Reply};

/// The reactor's own waker; every other token is `slot << 2 | source`.
const WAKER: Token = Token(usize::MAX);
const UDP: usize = 0;
const LISTENER: usize = 1;
const STREAM: usize = 2;
const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// Starts a node on a reactor of its own, on a new thread that ends when the node shuts down.
pub fn spawn(config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
    let mut reactor = Reactor::new()?;
    let (handle, events) = reactor.add(config, options)?;
    let name = format!("rumor {}", handle.name());
    std::thread::Builder::new()
        .name(name)
        .spawn(move || reactor.run())?;
    Ok((handle, events))
}

/// Many nodes on one mio [`Poll`] (a [`Pool`] of drivers), run on one thread with
/// [`run`](Self::run) or one [`poll_once`](Self::poll_once) at a time. Add nodes with
/// [`add`](Self::add) between turns, or from other threads through a [`Spawner`].
#[derive(Debug)]
pub struct Reactor {
    poll: Poll,
    ready: mio::Events,
    pool: Pool<Mio>,
    registry: Arc<Registry>,
}

/// Adds nodes to a [`Reactor`] from any thread. While one exists, [`Reactor::run`] keeps
/// running even with no node.
#[derive(Debug, Clone)]
pub struct Spawner {
    injector: Injector<Mio>,
    registry: Arc<Registry>,
}

impl Spawner {
    /// Binds `options.bind` (UDP and TCP on one port) and hands the node to the reactor,
    /// which starts it on its next turn.
    pub fn spawn(&self, config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
        let registry = self.registry.clone();
        let (driver, handle, events) =
            Driver::new(config, options, |bound| Ok(Mio::new(bound, registry)))?;
        self.injector.add(driver);
        Ok((handle, events))
    }
}

impl Reactor {
    /// A reactor with no node yet.
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        // Should waking fail, the node still runs at its next deadline.
        let pool = Pool::new(move || drop(waker.wake()));
        Ok(Self {
            registry: Arc::new(poll.registry().try_clone()?),
            poll,
            ready: mio::Events::with_capacity(1024),
            pool,
        })
    }

    /// A [`Spawner`] that adds nodes to this reactor from other threads.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            injector: self.pool.injector(),
            registry: self.registry.clone(),
        }
    }

    /// Adds a node: binds `options.bind` (UDP and TCP on one port) and registers its sockets.
    /// It starts on the reactor's next turn.
    pub fn add(&mut self, config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
        let r = self.spawner().spawn(config, options);
        self.pool.intake(Mio::attach)?;
        r
    }

    /// How many nodes the reactor runs.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    /// Whether the reactor runs no node.
    pub fn is_empty(&self) -> bool {
        self.pool.is_empty()
    }

    /// Runs every node until each has shut down and no [`Spawner`] is left. An error is one
    /// from the OS poll itself; bad input from the network never stops a node.
    pub fn run(mut self) -> io::Result<()> {
        while self.poll_once(None)? {}
        Ok(())
    }

    /// Waits for input at most until the earliest deadline of all nodes (or `max_wait`, if
    /// sooner), then polls every node that has something to do. Returns `false` once no node
    /// is left and no [`Spawner`] could add one.
    pub fn poll_once(&mut self, max_wait: Option<Duration>) -> io::Result<bool> {
        self.pool.intake(Mio::attach)?;
        let timeout = [self.pool.timeout(), max_wait].into_iter().flatten().min();
        if let Err(e) = self.poll.poll(&mut self.ready, timeout)
            && e.kind() != ErrorKind::Interrupted
        {
            return Err(e);
        }
        for event in self.ready.iter() {
            let (slot, source) = (event.token().0 >> 2, event.token().0 & 3);
            if event.token() == WAKER {
                continue;
            }
            if let Some(mio) = self.pool.get_mut(slot).and_then(Driver::transport_mut) {
                match source {
                    UDP => mio.udp_ready = true,
                    LISTENER => mio.tcp_ready = true,
                    _ => {}
                }
            }
            self.pool.ready(slot);
        }
        self.pool.run();
        Ok(!self.pool.is_finished())
    }
}

/// A node's sockets on a reactor's [`Poll`].
#[derive(Debug)]
struct Mio {
    udp: UdpSocket,
    tcp: TcpListener,
    registry: Arc<Registry>,
    slot: usize,
    /// Readiness seen and not yet read to `WouldBlock` (mio is edge-triggered).
    udp_ready: bool,
    tcp_ready: bool,
}

impl Mio {
    fn new(bound: Bound, registry: Arc<Registry>) -> Self {
        Self {
            udp: UdpSocket::from_std(bound.udp),
            tcp: TcpListener::from_std(bound.tcp),
            registry,
            slot: 0,
            udp_ready: true,
            tcp_ready: true,
        }
    }

    fn token(&self, source: usize) -> Token {
        Token(self.slot << 2 | source)
    }

    /// Registers the sockets for the node in `slot`.
    fn attach(slot: usize, mio: &mut Mio) -> io::Result<()> {
        mio.slot = slot;
        let (udp, tcp) = (mio.token(UDP), mio.token(LISTENER));
        let r = &mio.registry;
        r.register(&mut mio.udp, udp, Interest::READABLE)?;
        r.register(&mut mio.tcp, tcp, Interest::READABLE)
    }
}

/// `Ready` unless the operation would block, which clears `ready` until mio reports again.
fn edge<T>(ready: &mut bool, op: impl FnOnce() -> io::Result<T>) -> Ready<io::Result<T>> {
    if !*ready {
        return Ready::Pending;
    }
    match op() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            *ready = false;
            Ready::Pending
        }
        r => Ready::Ready(r),
    }
}

impl Transport for Mio {
    type Connection = Stream;

    fn poll_recv(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Ready<Received> {
        edge(&mut self.udp_ready, || self.udp.recv_from(buf))
    }

    fn poll_accept(&mut self, _: &mut Context<'_>) -> Ready<Accepted<Stream>> {
        edge(&mut self.tcp_ready, || self.tcp.accept()).map_ok(|(s, peer)| (Stream(s), peer))
    }

    fn connect(&mut self, id: StreamId, to: SocketAddr) -> io::Result<Stream> {
        let mut stream = Stream(TcpStream::connect(to)?);
        self.register(id, &mut stream)?;
        Ok(stream)
    }

    fn register(&mut self, _: StreamId, stream: &mut Stream) -> io::Result<()> {
        let _ = stream.0.set_nodelay(true);
        let token = self.token(STREAM);
        self.registry.register(&mut stream.0, token, BOTH)
    }

    fn deregister(&mut self, stream: &mut Stream) {
        let _ = self.registry.deregister(&mut stream.0);
    }
}

/// A stream on mio. Every stream event polls its node, which tries each of its streams.
#[derive(Debug)]
struct Stream(TcpStream);

impl Connection for Stream {
    /// mio's `TcpStream::connect` steps 4 and 5: a connect error, or connected once the peer
    /// address is known.
    fn poll_connect(&mut self, _: &mut Context<'_>) -> Ready<io::Result<()>> {
        let error = self.0.take_error().and_then(|e| e.map_or(Ok(()), Err));
        match error.and_then(|()| self.0.peer_addr()) {
            Ok(_) => Ready::Ready(Ok(())),
            Err(e) if e.kind() == ErrorKind::NotConnected => Ready::Pending,
            Err(e) => Ready::Ready(Err(e)),
        }
    }

    fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Ready<io::Result<usize>> {
        nonblocking(self.0.read(buf))
    }

    fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Ready<io::Result<usize>> {
        nonblocking(self.0.write(buf))
    }

    fn shutdown(&mut self) {
        let _ = self.0.shutdown(Shutdown::Write);
    }
}
