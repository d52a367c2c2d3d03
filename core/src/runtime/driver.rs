//! The node loop, written once for every runtime: a [`Driver`] owns the state machine, the
//! open streams and their buffers, the commands from the [`Handle`], the waiters for joins
//! and leaves, and the events on their way to the application. A runtime adapter supplies
//! only its sockets and a timer, as a [`Transport`], and polls the driver when something may
//! have happened.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::net::SocketAddr;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::HashMap;
use std::io;
use std::net::UdpSocket;

use super::events::{EventQueue, Events};
use super::handle::{Command, Handle, Shared};
use super::{Bound, Clock, Faults, JoinResult, NodeError, NodeOptions};
use crate::{Config, Event, Instant, Memberlist, StreamCommand, StreamId, StreamInput};

/// A datagram [`Transport::poll_recv`] received: its length and sender.
pub type Received = io::Result<(usize, SocketAddr)>;

/// A connection [`Transport::poll_accept`] accepted, and its peer.
pub type Accepted<C> = io::Result<(C, SocketAddr)>;

/// A node's sockets and timer as one runtime provides them. The driver calls the `poll_*`
/// methods the way futures are polled: `Pending` means "nothing now", and the runtime wakes
/// the `Context`'s waker when there may be something (a readiness-based loop such as mio may
/// instead poll the driver again after each readiness event and ignore the waker).
pub trait Transport: Send + 'static {
    /// One stream connection.
    type Connection: Connection;

    /// Receives one datagram into `buf`: its length and sender.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Received>;

    /// Accepts one inbound connection and its peer's address.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Accepted<Self::Connection>>;

    /// Starts connecting stream `id` to `to`; the driver then polls
    /// [`Connection::poll_connect`]. The core abandons a connect that takes longer than its
    /// `tcp_timeout`, so this need not time out itself.
    fn connect(&mut self, id: StreamId, to: SocketAddr) -> io::Result<Self::Connection>;

    /// Prepares an accepted connection that the core numbered `id` (a readiness loop
    /// registers it here).
    fn register(&mut self, id: StreamId, conn: &mut Self::Connection) -> io::Result<()> {
        let _ = (id, conn);
        Ok(())
    }

    /// A connection is done with (a readiness loop deregisters it here); it is dropped next.
    fn deregister(&mut self, conn: &mut Self::Connection) {
        let _ = conn;
    }

    /// Arms the timer for `at`, replacing any earlier deadline. [`Driver::poll`] calls it
    /// only when the deadline changed, then polls [`poll_timer`](Self::poll_timer).
    fn set_timer(&mut self, at: std::time::Instant) {
        let _ = at;
    }

    /// Waits for the armed deadline. A loop that sleeps on its own (until
    /// [`Driver::wake_at`]) keeps the default, which never fires.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Pending
    }
}

/// One stream connection, non-blocking, polled like [`Transport`].
pub trait Connection: Send {
    /// Whether an outbound connect finished: `Ready(Ok)` when connected.
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads what arrived; `Ready(Ok(0))` at the end of the peer's stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes what the socket takes now.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Ends our side of the stream (a FIN after the last byte), best effort.
    fn shutdown(&mut self);
}

/// The convention of [`Transport`] and [`Connection`] for non-blocking sockets:
/// `WouldBlock` is `Pending`.
pub fn nonblocking<T>(r: io::Result<T>) -> Poll<io::Result<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        r => Poll::Ready(r),
    }
}

/// A std stream set non-blocking, for loops that wait on std sockets themselves; connected
/// from the start (std has no non-blocking connect).
impl Connection for std::net::TcpStream {
    fn poll_connect(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        nonblocking(io::Read::read(self, buf))
    }
    fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        nonblocking(io::Write::write(self, buf))
    }
    fn shutdown(&mut self) {
        let _ = std::net::TcpStream::shutdown(self, std::net::Shutdown::Write);
    }
}

/// A future that connects, for async runtimes whose connect is a future.
pub type ConnectFuture<S> = Pin<Box<dyn Future<Output = io::Result<S>> + Send>>;

/// An outbound connection that an async runtime is still dialling, then the open stream.
pub enum Dialing<S> {
    /// The connect future.
    Connecting(ConnectFuture<S>),
    /// The connected stream.
    Open(S),
}

impl<S> core::fmt::Debug for Dialing<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Connecting(_) => "Dialing::Connecting",
            Self::Open(_) => "Dialing::Open",
        })
    }
}

impl<S: Connection> Connection for Dialing<S> {
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Self::Connecting(connect) = self {
            let stream = core::task::ready!(connect.as_mut().poll(cx))?;
            *self = Self::Open(stream);
        }
        Poll::Ready(Ok(()))
    }
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Self::Open(s) => s.poll_read(cx, buf),
            Self::Connecting(_) => Poll::Pending,
        }
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Self::Open(s) => s.poll_write(cx, buf),
            Self::Connecting(_) => Poll::Pending,
        }
    }
    fn shutdown(&mut self) {
        if let Self::Open(s) = self {
            s.shutdown();
        }
    }
}

/// Reads from one source (datagrams, accepts, one stream) per poll; the rest waits for the
/// next poll, after the other sources and the timers (quinn's per-wake-up budget).
const BUDGET: usize = 64;

/// How many times one [`Driver::poll`] goes round before it yields to other tasks.
const PASSES: usize = 8;

/// The size of the buffer datagrams and stream bytes are read into: the largest UDP payload.
pub const READ_BUF: usize = 65_536;

std::thread_local! {
    /// The buffer datagrams and stream bytes are read into, one per thread rather than one
    /// per node: what is read is handed to the core before the next read, so every node a
    /// thread drives can share it (64 KiB each was most of a node's memory).
    static READ: core::cell::Cell<Vec<u8>> = const { core::cell::Cell::new(Vec::new()) };
}

/// Lends `f` this thread's read buffer ([`READ_BUF`] bytes). Re-entered (a transport that
/// polls another driver from inside a read), the inner call gets a buffer of its own.
fn with_read_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = READ.with(|b| b.take());
    if buf.len() < READ_BUF {
        buf = alloc::vec![0; READ_BUF];
    }
    let r = f(&mut buf);
    READ.with(|b| b.set(buf));
    r
}

/// One open stream: the connection and what still has to be written to it.
struct Conn<C> {
    io: C,
    out: Vec<u8>,
    /// How much of `out` went out already.
    written: usize,
    connecting: bool,
    /// The core closed the stream: flush `out` by then, then shut down.
    closing: Option<Instant>,
    /// The peer closed its side (reported once).
    eof: bool,
}

/// What one step of a stream produced.
enum Step<'b> {
    Input(StreamInput<'b>),
    /// Closed and flushed (or failed while closing): forget it.
    Done,
    /// Nothing until the connection is ready again.
    Idle,
}

impl<C: Connection> Conn<C> {
    fn new(io: C, connecting: bool) -> Self {
        Self {
            io,
            out: Vec::new(),
            written: 0,
            connecting,
            closing: None,
            eof: false,
        }
    }

    /// Moves the stream on by one step: completes a connect, writes what is buffered, reads
    /// once.
    fn step<'b>(&mut self, cx: &mut Context<'_>, buf: &'b mut [u8]) -> Step<'b> {
        if self.connecting {
            return match self.io.poll_connect(cx) {
                Poll::Ready(Ok(())) => {
                    self.connecting = false;
                    Step::Input(StreamInput::Connected)
                }
                Poll::Ready(Err(_)) => Step::Input(StreamInput::Failed),
                Poll::Pending => Step::Idle,
            };
        }
        while self.written < self.out.len() {
            match self.io.poll_write(cx, &self.out[self.written..]) {
                Poll::Ready(Ok(n)) if n > 0 => self.written += n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(_) if self.closing.is_some() => return Step::Done,
                Poll::Ready(_) => return Step::Input(StreamInput::Failed),
                Poll::Pending => return Step::Idle,
            }
        }
        self.out.clear();
        self.written = 0;
        if self.closing.is_some() {
            self.io.shutdown();
            return Step::Done;
        }
        if self.eof {
            return Step::Idle;
        }
        match self.io.poll_read(cx, buf) {
            Poll::Ready(Ok(0)) => {
                self.eof = true;
                Step::Input(StreamInput::Closed)
            }
            Poll::Ready(Ok(n)) => Step::Input(StreamInput::Data(&buf[..n])),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Step::Idle,
            Poll::Ready(Err(_)) => Step::Input(StreamInput::Failed),
            Poll::Pending => Step::Idle,
        }
    }
}

/// One node, driven by polling: the [`Memberlist`] state machine, its streams, its commands
/// and its events, over a runtime's [`Transport`].
///
/// [`poll`](Self::poll) does one round of everything: commands from the [`Handle`], then
/// (while the application keeps up with events) datagrams, accepts and streams up to a budget
/// each, then the timers; after every input it drains the core's outputs (datagrams, stream
/// commands, events: the str0m rule) and finally waits on the transport's timer. It returns
/// `Ready` once the node has shut down. An async adapter runs it as
/// `poll_fn(|cx| driver.poll(cx)).await`; a readiness loop calls it after each event for the
/// node and sleeps until [`wake_at`](Self::wake_at).
pub struct Driver<T: Transport> {
    core: Memberlist,
    clock: Clock,
    now: Instant,
    local: SocketAddr,
    faults: Option<Arc<dyn Faults>>,
    /// `None` once shut down.
    transport: Option<T>,
    /// A second descriptor of the UDP socket, for sending: a send never waits for the
    /// runtime, and a full buffer drops the datagram as the network may.
    udp: Option<UdpSocket>,
    streams: HashMap<StreamId, Conn<T::Connection>>,
    /// Connects that failed at once, fed to the core after the outputs are drained.
    failed: Vec<StreamId>,
    /// Streams changed since they were last driven (a connect, a send, a close).
    dirty: bool,
    shared: Arc<Shared>,
    commands: VecDeque<Command>,
    events: Arc<EventQueue>,
    joins: Vec<(u64, oneshot::Sender<Result<JoinResult, NodeError>>)>,
    leaves: Vec<oneshot::Sender<Result<(), NodeError>>>,
    pings: Vec<(u32, oneshot::Sender<Result<super::Pong, NodeError>>)>,
    accept_paused: Option<Instant>,
    /// The deadline the transport's timer is set for.
    armed: Option<std::time::Instant>,
    /// [`wake_at`](Self::wake_at) as of the end of the last poll.
    next_wake: Option<std::time::Instant>,
    /// The waker the inbox holds, while it holds one.
    inbox_waker: Option<core::task::Waker>,
    /// The datagram being sent (as large as the largest the core wrote: `udp_buffer_size`).
    out: Vec<u8>,
    ids: Vec<StreamId>,
}

impl<T: Transport> core::fmt::Debug for Driver<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("local", &self.local)
            .field("streams", &self.streams.len())
            .field("running", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Driver<T> {
    /// Binds `options.bind` (UDP and TCP on one port), builds the state machine, and hands
    /// the bound sockets to `transport`, which wraps them for its runtime.
    pub fn new(
        config: Config,
        options: NodeOptions,
        transport: impl FnOnce(Bound) -> io::Result<T>,
    ) -> io::Result<(Self, Handle, Events)> {
        let bound = super::bind(options.bind)?;
        let clock = Clock::new();
        let core = super::new_core(config, &options, bound.local, &clock)?;
        let udp = bound.udp.try_clone()?;
        let local = bound.local;
        let shared = Shared::new(&options.name, local);
        let events = EventQueue::new(options.event_capacity);
        let driver = Self {
            core,
            clock,
            now: clock.now(),
            local,
            faults: options.faults,
            transport: Some(transport(bound)?),
            udp: Some(udp),
            streams: HashMap::new(),
            failed: Vec::new(),
            dirty: false,
            shared: shared.clone(),
            commands: VecDeque::new(),
            events: events.clone(),
            joins: Vec::new(),
            leaves: Vec::new(),
            pings: Vec::new(),
            accept_paused: None,
            armed: None,
            next_wake: None,
            inbox_waker: None,
            out: Vec::new(),
            ids: Vec::new(),
        };
        Ok((driver, Handle::new(shared), Events::new(events)))
    }

    /// The address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The transport, for a loop that waits on its sockets itself between polls.
    pub fn transport_mut(&mut self) -> Option<&mut T> {
        self.transport.as_mut()
    }

    /// Whether the node has shut down.
    pub fn is_stopped(&self) -> bool {
        self.transport.is_none()
    }

    /// When the driver next needs a poll even if no input arrives: the core's deadline, a
    /// closing stream's, the end of an accept back-off, or (while paused by the fault hook)
    /// the next look at whether it may go on.
    pub fn wake_at(&self) -> Option<std::time::Instant> {
        self.transport.as_ref()?;
        self.next_wake
    }

    fn compute_wake(&self) -> Option<std::time::Instant> {
        let at = if self.paused() {
            Some(self.now + super::PAUSE_POLL)
        } else {
            let closing = self.streams.values().filter_map(|c| c.closing);
            [self.core.poll_timeout(), self.accept_paused]
                .into_iter()
                .flatten()
                .chain(closing)
                .min()
        };
        at.map(|t| self.clock.to_std(t))
    }

    fn paused(&self) -> bool {
        self.faults.as_ref().is_some_and(|f| f.paused())
    }

    /// Runs the node until nothing more can happen now; `Ready` once it has shut down.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..PASSES {
            if self.transport.is_none() {
                return Poll::Ready(());
            }
            self.now = self.clock.now();
            // A paused node (a test freezing it like SIGSTOP) does nothing but die on request.
            if !self.paused() || self.shared.shutdown_waiting() {
                self.run_commands(cx);
                if self.transport.is_none() {
                    return Poll::Ready(());
                }
            }
            if !self.paused() && self.events.has_room(cx) {
                let mut busy = self.read_datagrams(cx);
                busy |= self.accept(cx);
                busy |= self.drive_streams(cx);
                self.run_timers();
                if busy {
                    self.next_wake = self.compute_wake();
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if core::mem::take(&mut self.dirty) {
                    continue;
                }
            }
            self.next_wake = self.compute_wake();
            let Some(at) = self.next_wake else {
                return Poll::Pending;
            };
            let Some(t) = self.transport.as_mut() else {
                continue;
            };
            if self.armed != Some(at) {
                t.set_timer(at);
                self.armed = Some(at);
            }
            if t.poll_timer(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = None;
        }
        self.next_wake = self.compute_wake();
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn run_commands(&mut self, cx: &Context<'_>) {
        self.shared
            .take_commands(cx, &mut self.inbox_waker, &mut self.commands);
        if self.commands.is_empty() && self.shared.abandoned() {
            return self.stop();
        }
        while let Some(command) = self.commands.pop_front() {
            self.now = self.clock.now();
            match command {
                Command::Join(seeds, reply) => {
                    let id = self.core.join(self.now, &seeds);
                    self.joins.push((id, reply));
                }
                Command::Ping(node, addr, reply) => match self.core.ping(self.now, &node, addr) {
                    Ok(id) => self.pings.push((id, reply)),
                    Err(e) => drop(reply.send(Err(e.into()))),
                },
                Command::Leave(timeout, reply) => {
                    self.leaves.push(reply);
                    self.core.leave(self.now, timeout);
                }
                Command::Shutdown(reply) => {
                    self.stop();
                    let _ = reply.send(Ok(()));
                    return;
                }
                Command::Core(f) => f(&mut self.core, self.now),
            }
            // Early calls are harmless; a command may have finished at once (a join whose
            // seeds all failed) or brought a deadline forward.
            self.core.handle_timeout(self.now);
            self.drain();
        }
    }

    fn read_datagrams(&mut self, cx: &mut Context<'_>) -> bool {
        with_read_buf(|buf| {
            for _ in 0..BUDGET {
                let Some(t) = self.transport.as_mut() else {
                    return false;
                };
                match t.poll_recv(cx, buf) {
                    Poll::Ready(Ok((n, from))) => {
                        self.now = self.clock.now();
                        // Bad input is the core's to reject; it never stops the node.
                        let _ = self.core.handle_packet(self.now, from, &buf[..n]);
                        self.drain();
                    }
                    Poll::Ready(Err(_)) => {}
                    Poll::Pending => return false,
                }
            }
            true
        })
    }

    fn accept(&mut self, cx: &mut Context<'_>) -> bool {
        if self.accept_paused.is_some_and(|t| self.now < t) {
            return false;
        }
        self.accept_paused = None;
        for _ in 0..BUDGET {
            let Some(t) = self.transport.as_mut() else {
                return false;
            };
            let (mut conn, peer) = match t.poll_accept(cx) {
                Poll::Ready(Ok(accepted)) => accepted,
                // Out of descriptors, say: back off rather than spin on it.
                Poll::Ready(Err(_)) => {
                    self.accept_paused = Some(self.now + super::ACCEPT_BACKOFF);
                    return false;
                }
                Poll::Pending => return false,
            };
            self.now = self.clock.now();
            // The core may refuse (too many inbound streams): dropping the connection closes it.
            let Some(id) = self.core.accept_stream(self.now, peer) else {
                continue;
            };
            if t.register(id, &mut conn).is_ok() {
                self.streams.insert(id, Conn::new(conn, false));
            } else {
                let _ = self.core.handle_stream(self.now, id, StreamInput::Failed);
            }
            self.drain();
        }
        true
    }

    /// Moves every open stream on; true if one used up its budget.
    fn drive_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let mut ids = core::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.streams.keys().copied());
        let mut busy = false;
        for &id in &ids {
            busy |= self.drive_stream(cx, id);
        }
        self.ids = ids;
        busy
    }

    fn drive_stream(&mut self, cx: &mut Context<'_>, id: StreamId) -> bool {
        with_read_buf(|buf| self.drive_stream_with(cx, id, buf))
    }

    fn drive_stream_with(&mut self, cx: &mut Context<'_>, id: StreamId, buf: &mut [u8]) -> bool {
        for _ in 0..BUDGET {
            let Some(c) = self.streams.get_mut(&id) else {
                return false;
            };
            let input = match c.step(cx, buf) {
                Step::Idle => return false,
                Step::Done => {
                    self.forget(id);
                    return false;
                }
                Step::Input(StreamInput::Failed) => {
                    self.forget(id);
                    StreamInput::Failed
                }
                Step::Input(input) => input,
            };
            self.now = self.clock.now();
            let _ = self.core.handle_stream(self.now, id, input);
            self.drain();
        }
        true
    }

    fn forget(&mut self, id: StreamId) {
        if let Some(mut c) = self.streams.remove(&id)
            && let Some(t) = self.transport.as_mut()
        {
            t.deregister(&mut c.io);
        }
    }

    fn run_timers(&mut self) {
        self.now = self.clock.now();
        // A peer that will not take what is left must not hold its connection forever.
        let now = self.now;
        let expired = |c: &Conn<T::Connection>| c.closing.is_some_and(|t| now >= t);
        while let Some(id) = self
            .streams
            .iter()
            .find_map(|(&id, c)| expired(c).then_some(id))
        {
            self.forget(id);
        }
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
            self.drain();
        }
    }

    /// Drains the core's outputs in the order it asks for: datagrams, stream commands,
    /// events. A connect that failed at once is an input: it is fed after the drain, and what
    /// it causes drained in turn.
    fn drain(&mut self) {
        loop {
            while let Some(t) = self.core.poll_transmit(self.now, &mut self.out) {
                let allowed = self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.send_datagram(self.local, t.to));
                if let Some(udp) = &self.udp
                    && allowed
                {
                    let _ = udp.send_to(&self.out[..t.len], t.to);
                }
            }
            while let Some(c) = self.core.poll_stream() {
                self.stream_command(c);
            }
            let mut membership = false;
            while let Some(e) = self.core.poll_event() {
                membership |= matches!(e, Event::MemberJoined(_) | Event::MemberLeft { .. });
                self.resolve(&e);
                self.events.push(e);
            }
            let alive = membership.then(|| self.core.num_members());
            self.shared.publish(alive, self.core.health_score());
            let Some(id) = self.failed.pop() else {
                return;
            };
            let _ = self.core.handle_stream(self.now, id, StreamInput::Failed);
        }
    }

    fn stream_command(&mut self, command: StreamCommand) {
        self.dirty = true;
        match command {
            StreamCommand::Connect { id, to } => {
                let allowed = self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.connect(self.local, to));
                let conn = match self.transport.as_mut() {
                    Some(t) if allowed => t.connect(id, to).ok(),
                    _ => None,
                };
                match conn {
                    Some(conn) => drop(self.streams.insert(id, Conn::new(conn, true))),
                    None => self.failed.push(id),
                }
            }
            StreamCommand::Send { id, data } => {
                if let Some(c) = self.streams.get_mut(&id) {
                    if c.out.is_empty() {
                        c.out = data;
                    } else {
                        c.out.extend_from_slice(&data);
                    }
                }
            }
            StreamCommand::Close { id } => {
                let limit = self.now + self.core.config().tcp_timeout;
                match self.streams.get_mut(&id) {
                    Some(c) if !c.connecting && c.written < c.out.len() => c.closing = Some(limit),
                    Some(c) => {
                        if !c.connecting {
                            c.io.shutdown();
                        }
                        self.forget(id);
                    }
                    None => {}
                }
            }
        }
    }

    /// Hands the replies that `event` completes to their callers.
    fn resolve(&mut self, event: &Event) {
        match *event {
            Event::JoinFinished {
                id,
                contacted,
                failed,
            } => {
                if let Some(i) = self.joins.iter().position(|(j, _)| *j == id) {
                    let (_, reply) = self.joins.swap_remove(i);
                    let _ = reply.send(Ok(JoinResult { contacted, failed }));
                }
            }
            Event::LeaveFinished => {
                for reply in self.leaves.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Event::PingResult {
                id,
                rtt,
                ref payload,
            } => {
                if let Some(i) = self.pings.iter().position(|(p, _)| *p == id) {
                    let (_, reply) = self.pings.swap_remove(i);
                    let pong = rtt.map(|rtt| super::Pong {
                        rtt,
                        payload: payload.clone(),
                    });
                    let _ = reply.send(pong.ok_or(NodeError::NoResponse));
                }
            }
            _ => {}
        }
    }

    /// Shuts the node down: closes its sockets and streams, refuses further commands, and
    /// lets the application read the events already queued, then the end.
    fn stop(&mut self) {
        self.streams.clear();
        self.transport = None;
        self.udp = None;
        self.shared.close();
        self.events.stop();
        self.joins.clear();
        self.leaves.clear();
        self.pings.clear();
    }
}

impl<T: Transport> Drop for Driver<T> {
    fn drop(&mut self) {
        self.shared.close();
        self.events.stop();
    }
}
