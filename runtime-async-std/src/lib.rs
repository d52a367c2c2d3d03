//! rumor on async-std and smol: one future (the [`Driver`]) owns the [`Memberlist`] state
//! machine, the UDP socket, the TCP listener and one timer; each open stream has a small task
//! that moves its bytes. No protocol decision is made here.
//!
//! Sockets and timers come from async-io, the reactor async-std and smol both run on, so the
//! driver runs on any executor: [`start`] hands it to you to spawn, and [`spawn`] (cargo
//! feature `async-std`, on by default) spawns it on async-std. The driver runs the stream tasks
//! itself, on a small executor it owns.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rumor_core::{Config, runtime::NodeOptions};
//! let options = NodeOptions::new("node-a", "127.0.0.1:7946".parse().unwrap());
//! let (handle, mut events, driver) = rumor_async_std::start(Config::lan(), options)?;
//! smol::spawn(driver).detach();
//! handle.join(vec!["127.0.0.1:7947".parse().unwrap()]).await.ok();
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use async_executor::Executor;
use async_io::{Async, Timer};
use futures_lite::future::{self, Boxed, race};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use rumor_core::runtime::{self, Clock, Faults, JoinResult, NodeError, NodeOptions, Waiters};
use rumor_core::{
    Config, Event, Instant, KvEntry, Member, Memberlist, StreamCommand, StreamId, StreamInput,
};

pub use rumor_core::runtime::{JoinResult as Joined, NodeError as Error};

/// Starts a node on async-std's executor: binds `options.bind` (UDP and TCP on one port) and
/// spawns its [`Driver`].
#[cfg(feature = "async-std")]
pub fn spawn(config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
    let (handle, events, driver) = start(config, options)?;
    async_std::task::spawn(driver);
    Ok((handle, events))
}

/// Binds `options.bind` (UDP and TCP on one port) and builds the node, which runs while the
/// returned [`Driver`] is polled: spawn it on any executor (`smol::spawn`,
/// `async_std::task::spawn`, ...).
pub fn start(config: Config, options: NodeOptions) -> io::Result<(Handle, Events, Driver)> {
    let bound = runtime::bind(options.bind)?;
    let clock = Clock::new();
    let core = runtime::new_core(config, &options, bound.local, &clock)?;
    let udp = Async::<UdpSocket>::try_from(bound.udp)?;
    let tcp = Async::<TcpListener>::try_from(bound.tcp)?;
    let (cmd_tx, cmd_rx) = async_channel::bounded(256);
    let (event_tx, event_rx) = async_channel::bounded(options.event_capacity.max(1));
    let tasks = Arc::new(Executor::new());
    let node = Node {
        core,
        clock,
        now: clock.now(),
        local: bound.local,
        faults: options.faults,
        waiters: Waiters::default(),
        streams: HashMap::new(),
        stop: None,
        tasks: tasks.clone(),
    };
    let driver = Driver(Box::pin(async move {
        tasks.run(node.run(udp, tcp, cmd_rx, event_tx)).await;
    }));
    let handle = Handle {
        tx: cmd_tx,
        local: bound.local,
    };
    Ok((handle, Events(event_rx), driver))
}

/// The future that runs a node: its loop and its stream tasks. It finishes after
/// [`Handle::shutdown`] or once every [`Handle`] is dropped; dropping it stops the node.
pub struct Driver(Boxed<()>);

impl Future for Driver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

type Job = Box<dyn FnOnce(&mut Node) + Send>;

/// A channel for one reply.
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    async_channel::bounded(1)
}

/// Commands for a running node. Cheap to clone; every method fails with
/// [`Error::Closed`] once the node has shut down.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: Sender<Job>,
    local: SocketAddr,
}

impl Handle {
    /// The address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node) -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot();
        let job: Job = Box::new(move |n| {
            let _ = tx.try_send(f(n));
        });
        self.tx.send(job).await.map_err(|_| NodeError::Closed)?;
        rx.recv().await.map_err(|_| NodeError::Closed)
    }

    /// Joins the cluster through `seeds`: resolves once every seed answered a push/pull or
    /// failed to.
    pub async fn join(&self, seeds: Vec<SocketAddr>) -> Result<JoinResult, NodeError> {
        let rx = self
            .call(move |n| {
                let (tx, rx) = oneshot();
                let id = n.core.join(n.now, &seeds);
                n.waiters.join(id, tx);
                rx
            })
            .await?;
        rx.recv().await.map_err(|_| NodeError::Closed)
    }

    /// Leaves gracefully: resolves once the leave has been gossiped or `timeout` passed.
    /// The node keeps running until [`shutdown`](Self::shutdown).
    pub async fn leave(&self, timeout: Duration) -> Result<(), NodeError> {
        let rx = self
            .call(move |n| {
                let (tx, rx) = oneshot();
                n.waiters.leave(tx);
                n.core.leave(n.now, timeout);
                rx
            })
            .await?;
        rx.recv().await.map_err(|_| NodeError::Closed)
    }

    /// Queues a user broadcast (memberlist's transmit-limited gossip).
    pub async fn broadcast(&self, payload: Vec<u8>) -> Result<(), NodeError> {
        self.call(move |n| n.core.broadcast(&payload)).await
    }

    /// Sends a user message to the member called `to`, as a datagram or over a stream.
    pub async fn send(
        &self,
        to: String,
        payload: Vec<u8>,
        reliable: bool,
    ) -> Result<(), NodeError> {
        Ok(self
            .call(move |n| n.core.send(n.now, &to, &payload, reliable))
            .await??)
    }

    /// Changes the node's metadata and gossips it.
    pub async fn set_meta(&self, meta: Vec<u8>) -> Result<(), NodeError> {
        Ok(self.call(move |n| n.core.set_meta(n.now, &meta)).await??)
    }

    /// Sets `key` to `value` in the replicated map ([`Config::kv`]
    /// must enable it); returns the write's version.
    pub async fn kv_set(&self, key: String, value: Vec<u8>) -> Result<u64, NodeError> {
        Ok(self
            .call(move |n| n.core.kv_set(n.now, &key, &value))
            .await??)
    }

    /// Deletes `key` from the replicated map; returns the delete's version.
    pub async fn kv_delete(&self, key: String) -> Result<u64, NodeError> {
        Ok(self.call(move |n| n.core.kv_delete(n.now, &key)).await??)
    }

    /// The current entry of `key` in the replicated map.
    pub async fn kv_get(&self, key: String) -> Result<Option<KvEntry>, NodeError> {
        self.call(move |n| n.core.kv_get(&key)).await
    }

    /// Delivers [`Event::KeyChanged`] for keys starting with
    /// `prefix` (the empty prefix: every key) on this node's event stream.
    pub async fn kv_subscribe(&self, prefix: String) -> Result<(), NodeError> {
        self.call(move |n| n.core.kv_subscribe(&prefix)).await
    }

    /// Stops the events of an earlier `kv_subscribe`; false if there was none.
    pub async fn kv_unsubscribe(&self, prefix: String) -> Result<bool, NodeError> {
        self.call(move |n| n.core.kv_unsubscribe(&prefix)).await
    }

    /// Sets the application state this node offers in push/pull exchanges.
    pub async fn set_local_state(&self, state: Vec<u8>) -> Result<(), NodeError> {
        self.call(move |n| n.core.set_local_state(&state)).await
    }

    /// A snapshot of the member table.
    pub async fn members(&self) -> Result<Vec<Member>, NodeError> {
        self.call(|n| n.core.members().collect()).await
    }

    /// Runs `f` on the state machine inside the node's loop, for what the other methods do
    /// not cover (key ring changes, health score, ...).
    pub async fn with_core<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memberlist, Instant) -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        self.call(move |n| f(&mut n.core, n.now)).await
    }

    /// Stops the node without leaving (leave first for a graceful exit); resolves once its
    /// sockets are closed.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        let rx = self
            .call(|n| {
                let (tx, rx) = oneshot();
                n.stop = Some(tx);
                rx
            })
            .await?;
        rx.recv().await.map_err(|_| NodeError::Closed)
    }
}

/// The node's events, in order. The node waits when the application falls
/// `event_capacity` events behind, rather than dropping any.
#[derive(Debug)]
pub struct Events(Receiver<Event>);

impl Events {
    /// The next event; `None` once the node has shut down.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await.ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }

    /// The events as a `Stream` (futures-lite's, which is futures-core's), ending when the
    /// node shuts down. Pin it (`std::pin::pin!`) to call `next()`.
    pub fn into_stream(self) -> impl futures_lite::Stream<Item = Event> + Send + 'static {
        self.0
    }
}

/// What a stream task reports.
enum Report {
    Connected,
    Data(Vec<u8>),
    Closed,
    Failed,
}

type StreamReport = (StreamId, Report);

struct Node {
    core: Memberlist,
    clock: Clock,
    now: Instant,
    local: SocketAddr,
    faults: Option<Arc<dyn Faults>>,
    waiters: Waiters<Sender<JoinResult>, Sender<()>>,
    streams: HashMap<StreamId, Sender<Vec<u8>>>,
    stop: Option<Sender<()>>,
    /// Runs the stream tasks; the [`Driver`] polls it alongside the loop.
    tasks: Arc<Executor<'static>>,
}

enum Input {
    Datagram(usize, SocketAddr),
    Accepted(Async<TcpStream>, SocketAddr),
    Stream(StreamReport),
    Job(Job),
    Timer,
    /// A failed receive or accept: nothing to hand the core.
    Retry,
    Quit,
}

impl Node {
    async fn run(
        mut self,
        udp: Async<UdpSocket>,
        tcp: Async<TcpListener>,
        jobs: Receiver<Job>,
        events: Sender<Event>,
    ) {
        let (report_tx, reports) = async_channel::bounded::<StreamReport>(256);
        let mut buf = vec![0u8; runtime::READ_BUF];
        let mut out = Vec::with_capacity(runtime::READ_BUF);
        loop {
            // Drain the core's outputs, then wait for one input.
            while let Some(t) = self.core.poll_transmit(self.now, &mut out) {
                if self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.send_datagram(self.local, t.to))
                {
                    let _ = udp.send_to(&out[..t.len], t.to).await;
                }
            }
            while let Some(c) = self.core.poll_stream() {
                self.stream_command(c, &report_tx);
            }
            while let Some(e) = self.core.poll_event() {
                self.waiters.resolve(
                    &e,
                    |r, j| {
                        let _ = r.try_send(j);
                    },
                    |r| {
                        let _ = r.try_send(());
                    },
                );
                let _ = events.send(e).await;
            }
            if self.stop.is_some() {
                break;
            }
            let deadline = self.core.poll_timeout().map(|t| self.clock.to_std(t));
            let datagram = async {
                let r = udp.recv_from(&mut buf).await;
                r.map_or(Input::Retry, |(n, from)| Input::Datagram(n, from))
            };
            let accept = async {
                match tcp.accept().await {
                    Ok((s, peer)) => Input::Accepted(s, peer),
                    Err(_) => {
                        async_io::Timer::after(runtime::ACCEPT_BACKOFF).await;
                        Input::Retry
                    }
                }
            };
            // The loop holds a report sender, so `reports` never closes.
            let report = async { reports.recv().await.map_or(Input::Retry, Input::Stream) };
            let job = async { jobs.recv().await.map_or(Input::Quit, Input::Job) };
            let timer = async {
                deadline.map_or_else(Timer::never, Timer::at).await;
                Input::Timer
            };
            // `race` picks at random among ready inputs, so none starves the others.
            let input = race(race(datagram, accept), race(race(report, job), timer)).await;
            if matches!(input, Input::Retry) {
                continue;
            }
            while self.faults.as_ref().is_some_and(|f| f.paused()) {
                Timer::after(runtime::PAUSE_POLL).await;
            }
            self.now = self.clock.now();
            let now = self.now;
            match input {
                Input::Datagram(n, from) => {
                    let _ = self.core.handle_packet(now, from, &buf[..n]);
                }
                Input::Accepted(s, peer) => match self.core.accept_stream(now, peer) {
                    Some(id) => self.open(id, false, async move { Ok(s) }, &report_tx),
                    None => drop(s),
                },
                Input::Stream((id, report)) => {
                    let input = match &report {
                        Report::Connected => StreamInput::Connected,
                        Report::Data(d) => StreamInput::Data(d),
                        Report::Closed => StreamInput::Closed,
                        Report::Failed => StreamInput::Failed,
                    };
                    if matches!(report, Report::Failed) {
                        self.streams.remove(&id);
                    }
                    let _ = self.core.handle_stream(now, id, input);
                }
                Input::Job(job) => {
                    job(&mut self);
                    self.core.handle_timeout(self.now);
                }
                Input::Timer => self.core.handle_timeout(now),
                Input::Retry => {}
                Input::Quit => break,
            }
        }
        drop((udp, tcp, self.streams));
        if let Some(stop) = self.stop.take() {
            let _ = stop.try_send(());
        }
    }

    fn stream_command(&mut self, c: StreamCommand, reports: &Sender<StreamReport>) {
        match c {
            StreamCommand::Connect { id, to } => {
                let allowed = self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.connect(self.local, to));
                let timeout = self.core.config().tcp_timeout;
                self.open(
                    id,
                    true,
                    async move {
                        if !allowed {
                            return Err(io::ErrorKind::ConnectionRefused.into());
                        }
                        deadline(timeout, Async::<TcpStream>::connect(to)).await
                    },
                    reports,
                );
            }
            StreamCommand::Send { id, data } => {
                if let Some(tx) = self.streams.get(&id) {
                    let _ = tx.try_send(data);
                }
            }
            // Dropping the sender lets the stream task flush and close.
            StreamCommand::Close { id } => drop(self.streams.remove(&id)),
        }
    }

    /// Starts the task that owns one connection: reports `Connected` for outbound streams,
    /// then every read, and writes what the core sends until it closes.
    fn open(
        &mut self,
        id: StreamId,
        outbound: bool,
        connect: impl Future<Output = io::Result<Async<TcpStream>>> + Send + 'static,
        reports: &Sender<StreamReport>,
    ) {
        let (tx, rx) = async_channel::unbounded::<Vec<u8>>();
        self.streams.insert(id, tx);
        let reports = reports.clone();
        // A peer that never reads must not hold the task and its socket forever.
        let limit = self.core.config().tcp_timeout;
        let task = self.tasks.spawn(async move {
            let s = match connect.await {
                Ok(s) => s,
                Err(_) => return drop(reports.send((id, Report::Failed)).await),
            };
            if outbound && reports.send((id, Report::Connected)).await.is_err() {
                return;
            }
            let (mut r, mut w) = (&s, &s);
            // Reads until the peer closes (then the stream only writes) or a read fails.
            let read = async {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let report = match r.read(&mut buf).await {
                        Ok(0) => Report::Closed,
                        Ok(n) => Report::Data(buf[..n].to_vec()),
                        Err(_) => Report::Failed,
                    };
                    let (failed, eof) = (
                        matches!(report, Report::Failed),
                        matches!(report, Report::Closed),
                    );
                    if reports.send((id, report)).await.is_err() || failed {
                        return;
                    }
                    if eof {
                        future::pending::<()>().await;
                    }
                }
            };
            // Writes what the core sends; closing the channel closes the stream.
            let write = async {
                while let Ok(data) = rx.recv().await {
                    if deadline(limit, w.write_all(&data)).await.is_err() {
                        return drop(reports.send((id, Report::Failed)).await);
                    }
                }
                let _ = w.close().await;
            };
            future::or(read, write).await;
        });
        task.detach();
    }
}

/// `f`'s result, or a `TimedOut` error once `limit` has passed.
async fn deadline<T>(limit: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    future::or(f, async {
        Timer::after(limit).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}
