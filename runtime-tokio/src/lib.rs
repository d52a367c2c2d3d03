//! rumor on tokio: one task owns the [`Memberlist`] state machine, the UDP socket, the TCP
//! listener and one timer; each open stream has a small task that moves its bytes. No
//! protocol decision is made here.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rumor_core::{Config, runtime::NodeOptions};
//! let options = NodeOptions::new("node-a", "127.0.0.1:7946".parse().unwrap());
//! let (handle, mut events) = rumor_tokio::spawn(Config::lan(), options)?;
//! handle.join(vec!["127.0.0.1:7947".parse().unwrap()]).await.ok();
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumor_core::runtime::{self, Clock, Faults, JoinResult, NodeError, NodeOptions, Waiters};
use rumor_core::{
    Config, Event, Instant, KvEntry, Member, Memberlist, StreamCommand, StreamId, StreamInput,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

pub use rumor_core::runtime::{JoinResult as Joined, NodeError as Error};

/// Starts a node on the current tokio runtime: binds `options.bind` (UDP and TCP on one
/// port) and spawns the task that runs it. Must be called from within a tokio runtime.
pub fn spawn(config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
    let bound = runtime::bind(options.bind)?;
    let clock = Clock::new();
    let core = runtime::new_core(config, &options, bound.local, &clock)?;
    let udp = UdpSocket::from_std(bound.udp)?;
    let tcp = TcpListener::from_std(bound.tcp)?;
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (event_tx, event_rx) = mpsc::channel(options.event_capacity.max(1));
    let node = Node {
        core,
        clock,
        now: clock.now(),
        local: bound.local,
        faults: options.faults,
        waiters: Waiters::default(),
        streams: HashMap::new(),
        stop: None,
    };
    tokio::spawn(node.run(udp, tcp, cmd_rx, event_tx));
    let handle = Handle {
        tx: cmd_tx,
        local: bound.local,
    };
    Ok((handle, Events(event_rx)))
}

type Job = Box<dyn FnOnce(&mut Node) + Send>;

/// Commands for a running node. Cheap to clone; every method fails with
/// [`Error::Closed`] once the node has shut down.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Job>,
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
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |n| {
            let _ = tx.send(f(n));
        });
        self.tx.send(job).await.map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)
    }

    /// Joins the cluster through `seeds`: resolves once every seed answered a push/pull or
    /// failed to.
    pub async fn join(&self, seeds: Vec<SocketAddr>) -> Result<JoinResult, NodeError> {
        let rx = self
            .call(move |n| {
                let (tx, rx) = oneshot::channel();
                let id = n.core.join(n.now, &seeds);
                n.waiters.join(id, tx);
                rx
            })
            .await?;
        rx.await.map_err(|_| NodeError::Closed)
    }

    /// Leaves gracefully: resolves once the leave has been gossiped or `timeout` passed.
    /// The node keeps running until [`shutdown`](Self::shutdown).
    pub async fn leave(&self, timeout: Duration) -> Result<(), NodeError> {
        let rx = self
            .call(move |n| {
                let (tx, rx) = oneshot::channel();
                n.waiters.leave(tx);
                n.core.leave(n.now, timeout);
                rx
            })
            .await?;
        rx.await.map_err(|_| NodeError::Closed)
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

    /// Runs `f` on the state machine inside the node's task, for what the other methods do
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
                let (tx, rx) = oneshot::channel();
                n.stop = Some(tx);
                rx
            })
            .await?;
        rx.await.map_err(|_| NodeError::Closed)
    }
}

/// The node's events, in order. The node waits when the application falls
/// `event_capacity` events behind, rather than dropping any.
#[derive(Debug)]
pub struct Events(mpsc::Receiver<Event>);

impl Events {
    /// The next event; `None` once the node has shut down.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.0.try_recv().ok()
    }

    /// Polls for the next event, for use as a `Stream`:
    /// `futures::stream::poll_fn(move |cx| events.poll_recv(cx))`.
    pub fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Event>> {
        self.0.poll_recv(cx)
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
    waiters: Waiters<oneshot::Sender<JoinResult>, oneshot::Sender<()>>,
    streams: HashMap<StreamId, mpsc::UnboundedSender<Vec<u8>>>,
    stop: Option<oneshot::Sender<()>>,
}

enum Input {
    Datagram(usize, SocketAddr),
    Accepted(TcpStream, SocketAddr),
    Stream(StreamReport),
    Job(Job),
    Timer,
    Quit,
}

impl Node {
    async fn run(
        mut self,
        udp: UdpSocket,
        tcp: TcpListener,
        mut jobs: mpsc::Receiver<Job>,
        events: mpsc::Sender<Event>,
    ) {
        let (report_tx, mut reports) = mpsc::channel::<StreamReport>(256);
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
                        let _ = r.send(j);
                    },
                    |r| {
                        let _ = r.send(());
                    },
                );
                let _ = events.send(e).await;
            }
            if self.stop.is_some() {
                break;
            }
            let deadline = self.core.poll_timeout().map(|t| self.clock.to_std(t));
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                r = udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => Input::Datagram(n, from),
                    Err(_) => continue,
                },
                r = tcp.accept() => match r {
                    Ok((s, peer)) => Input::Accepted(s, peer),
                    Err(_) => {
                        tokio::time::sleep(runtime::ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                Some(r) = reports.recv() => Input::Stream(r),
                j = jobs.recv() => j.map_or(Input::Quit, Input::Job),
                () = sleep => Input::Timer,
            };
            while self.faults.as_ref().is_some_and(|f| f.paused()) {
                tokio::time::sleep(runtime::PAUSE_POLL).await;
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
                Input::Quit => break,
            }
        }
        drop((udp, tcp, self.streams));
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    fn stream_command(&mut self, c: StreamCommand, reports: &mpsc::Sender<StreamReport>) {
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
                        let s = tokio::time::timeout(timeout, TcpStream::connect(to)).await;
                        let s = s.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                        Ok(s)
                    },
                    reports,
                );
            }
            StreamCommand::Send { id, data } => {
                if let Some(tx) = self.streams.get(&id) {
                    let _ = tx.send(data);
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
        connect: impl Future<Output = io::Result<TcpStream>> + Send + 'static,
        reports: &mpsc::Sender<StreamReport>,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        self.streams.insert(id, tx);
        let reports = reports.clone();
        // A peer that never reads must not hold the task and its socket forever.
        let limit = self.core.config().tcp_timeout;
        tokio::spawn(async move {
            let mut s = match connect.await {
                Ok(s) => s,
                Err(_) => return drop(reports.send((id, Report::Failed)).await),
            };
            if outbound && reports.send((id, Report::Connected)).await.is_err() {
                return;
            }
            let (mut r, mut w) = s.split();
            let mut buf = vec![0u8; 16 * 1024];
            let mut reading = true;
            loop {
                tokio::select! {
                    n = r.read(&mut buf), if reading => {
                        let report = match n {
                            Ok(0) => { reading = false; Report::Closed }
                            Ok(n) => Report::Data(buf[..n].to_vec()),
                            Err(_) => Report::Failed,
                        };
                        let failed = matches!(report, Report::Failed);
                        if reports.send((id, report)).await.is_err() || failed { return; }
                    }
                    m = rx.recv() => match m {
                        Some(data) => {
                            let r = tokio::time::timeout(limit, w.write_all(&data)).await;
                            if !matches!(r, Ok(Ok(()))) {
                                return drop(reports.send((id, Report::Failed)).await);
                            }
                        }
                        None => return drop(tokio::time::timeout(limit, w.shutdown()).await),
                    },
                }
            }
        });
    }
}
