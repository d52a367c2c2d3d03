//! A rumor node driven by a hand-written loop over `std::net` sockets: no async runtime, no
//! poll library, no threads. This is what a custom event loop has to do around the sans-IO
//! [`Memberlist`]; copy it and replace the waiting part with your own reactor.
//!
//! One turn of the loop ([`LoopNode::step`]) is:
//!
//! 1. **Drain the outputs**, in order, until each returns `None`: `poll_transmit` (datagrams
//!    to send), `poll_stream` (connect / send / close a TCP stream), `poll_event` (what the
//!    application should know).
//! 2. **Wait for input**, at most until the core's one deadline (`poll_timeout`).
//! 3. **Feed every input** to the core with the current time, and after each one drain the
//!    outputs again (the str0m rule: after every input, drain every output before the next).
//!    When the deadline has passed, `handle_timeout`.
//!
//! Nothing here decides anything about the protocol: the loop moves bytes and time.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use rumor::runtime::{self, Clock, Faults, NodeOptions};
use rumor::{
    CommandError, Config, Event, Instant, Member, Memberlist, StreamCommand, StreamId, StreamInput,
};

/// The longest the loop blocks on the UDP socket before it looks at the TCP listener and the
/// open streams. std has no way to wait on several sockets at once (that is what poll(2),
/// mio or an async runtime are for), so streams are checked this often; push/pull and
/// reliable sends see at most this much extra latency per round trip.
const STREAM_POLL: Duration = Duration::from_millis(5);

/// The most datagrams one step takes in.
const DATAGRAM_BUDGET: usize = 64;

/// One open TCP connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    /// Bytes the core sent that the socket has not taken yet (it is non-blocking).
    pending: Vec<u8>,
    /// The peer closed its side: nothing more to read, but we may still write.
    read_closed: bool,
    /// The core said `Close`: flush `pending`, then drop; give up at this time.
    closing: Option<Instant>,
}

/// What a stream did, waiting to be fed to the core.
#[derive(Debug, Clone, Copy)]
enum Report {
    Connected,
    Closed,
    Failed,
}

/// A rumor node with its sockets, driven one [`step`](Self::step) at a time.
#[derive(Debug)]
pub(crate) struct LoopNode {
    core: Memberlist,
    clock: Clock,
    udp: UdpSocket,
    tcp: TcpListener,
    local: SocketAddr,
    streams: HashMap<StreamId, Conn>,
    /// Stream outcomes noticed while draining outputs, fed to the core right after.
    reports: VecDeque<(StreamId, Report)>,
    /// Test hook (loss, partitions, pauses); `None` in production.
    faults: Option<Arc<dyn Faults>>,
    /// Where `poll_transmit` writes each datagram; reused, so sending allocates nothing.
    out: Vec<u8>,
    /// Where datagrams and stream bytes are read into.
    buf: Vec<u8>,
    /// Scratch list of stream ids, reused every step.
    ids: Vec<StreamId>,
}

impl LoopNode {
    /// Binds UDP and TCP on `options.bind` (one port for both, as memberlist does) and builds
    /// the state machine.
    pub(crate) fn new(config: Config, options: NodeOptions) -> io::Result<Self> {
        let bound = runtime::bind(options.bind)?;
        let clock = Clock::new();
        let core = runtime::new_core(config, &options, bound.local, &clock)?;
        Ok(Self {
            core,
            clock,
            udp: bound.udp,
            tcp: bound.tcp,
            local: bound.local,
            streams: HashMap::new(),
            reports: VecDeque::new(),
            faults: options.faults,
            out: Vec::with_capacity(runtime::READ_BUF),
            buf: vec![0; runtime::READ_BUF],
            ids: Vec::new(),
        })
    }

    /// The address the sockets are bound to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// One turn of the loop: drain the outputs, wait for input for at most `max_wait` (and
    /// never past the core's deadline), feed what arrived. Events go to `on_event`. Returns
    /// `false` if the node is paused by its fault hook and did nothing.
    pub(crate) fn step(&mut self, max_wait: Duration, on_event: &mut impl FnMut(Event)) -> bool {
        // A paused node (a test freezing it like SIGSTOP) does nothing at all: input waits in
        // the socket buffers, deadlines pass unnoticed.
        if self.faults.as_ref().is_some_and(|f| f.paused()) {
            std::thread::sleep(runtime::PAUSE_POLL);
            return false;
        }

        // 1. Outputs. Commands called since the last step (join, broadcast, ...) left some.
        self.drain(on_event);

        // 2. Wait. The core reports one deadline; sleep no longer than that.
        let deadline = self.core.poll_timeout();
        let wait = deadline
            .map_or(max_wait, |d| self.clock.until(d))
            .min(max_wait)
            .min(STREAM_POLL);

        // 3. Inputs, each followed by a drain. Datagrams first: we block on that socket for
        // the first one, then take what else is waiting, up to a budget so that a flood of
        // datagrams cannot starve the streams and the timers.
        for i in 0..DATAGRAM_BUDGET {
            let Some((n, from)) = self.recv_datagram((i == 0).then_some(wait)) else {
                break;
            };
            // Bad input never stops the node: the core returns a typed error (saying whether
            // anything was applied); a real node would log it. The same goes for every
            // `handle_*` below.
            let _ = self
                .core
                .handle_packet(self.clock.now(), from, &self.buf[..n]);
            self.drain(on_event);
        }
        self.accept(on_event);
        self.pump_streams(on_event);

        // The deadline: compare the clock, do not trust that the wait lasted as long as asked.
        // Ask the core again: the inputs may have brought it forward.
        let now = self.clock.now();
        if self.core.poll_timeout().is_some_and(|d| now >= d) {
            self.core.handle_timeout(now);
            self.drain(on_event);
        }
        true
    }

    /// Drains every output of the core, in the documented order, until all are empty.
    fn drain(&mut self, on_event: &mut impl FnMut(Event)) {
        loop {
            let now = self.clock.now();
            while let Some(t) = self.core.poll_transmit(now, &mut self.out) {
                let allowed = self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.send_datagram(self.local, t.to));
                if allowed {
                    // UDP is lossy anyway: a full send buffer (WouldBlock) just drops it.
                    let _ = self.udp.send_to(&self.out[..t.len], t.to);
                }
            }
            while let Some(c) = self.core.poll_stream() {
                self.stream_command(c);
            }
            while let Some(e) = self.core.poll_event() {
                on_event(e);
            }
            // A connect's outcome is an input: feed it now that the outputs are drained, one
            // at a time, and drain again what it caused.
            let Some((id, report)) = self.reports.pop_front() else {
                return;
            };
            let input = match report {
                Report::Connected => StreamInput::Connected,
                Report::Closed => StreamInput::Closed,
                Report::Failed => StreamInput::Failed,
            };
            let _ = self.core.handle_stream(self.clock.now(), id, input);
        }
    }

    /// Carries out one stream command.
    fn stream_command(&mut self, c: StreamCommand) {
        match c {
            StreamCommand::Connect { id, to } => {
                let allowed = self
                    .faults
                    .as_ref()
                    .is_none_or(|f| f.connect(self.local, to));
                // std has no non-blocking connect: this blocks the whole loop until the peer
                // answers or `tcp_timeout` passes. On a LAN a refused or accepted connect is
                // quick; an unreachable host stalls the node. A reactor would register the
                // socket and report `Connected` when it becomes writable.
                let timeout = self.core.config().tcp_timeout;
                let stream = allowed
                    .then(|| TcpStream::connect_timeout(&to, timeout))
                    .and_then(Result::ok)
                    .filter(|s| s.set_nonblocking(true).is_ok());
                match stream {
                    Some(stream) => {
                        let _ = stream.set_nodelay(true);
                        self.streams.insert(id, Conn::new(stream));
                        self.reports.push_back((id, Report::Connected));
                    }
                    None => self.reports.push_back((id, Report::Failed)),
                }
            }
            StreamCommand::Send { id, data } => {
                // Queue the bytes and write what the socket takes now; the rest goes out
                // in later steps. A stream that already failed ignores them.
                if let Some(conn) = self.streams.get_mut(&id) {
                    if conn.pending.is_empty() {
                        conn.pending = data;
                    } else {
                        conn.pending.extend_from_slice(&data);
                    }
                    self.flush(id);
                }
            }
            StreamCommand::Close { id } => {
                let give_up = self.clock.now() + self.core.config().tcp_timeout;
                if let Some(conn) = self.streams.get_mut(&id) {
                    conn.closing = Some(give_up);
                    self.flush(id);
                }
            }
        }
    }

    /// Writes a stream's pending bytes until the socket would block. Drops the stream once a
    /// closing one is flushed; reports `Failed` on a write error.
    fn flush(&mut self, id: StreamId) {
        let Some(conn) = self.streams.get_mut(&id) else {
            return;
        };
        let mut written = 0;
        let result = loop {
            if written == conn.pending.len() {
                break Ok(());
            }
            match conn.stream.write(&conn.pending[written..]) {
                Ok(0) => break Err(()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break Err(()),
            }
        };
        conn.pending.drain(..written);
        let flushed = conn.pending.is_empty();
        match (result, conn.closing) {
            (Err(()), None) => {
                self.streams.remove(&id);
                self.reports.push_back((id, Report::Failed));
            }
            // The core already closed it and expects nothing more: just let it go.
            (Err(()), Some(_)) => drop(self.streams.remove(&id)),
            (Ok(()), Some(_)) if flushed => {
                // FIN after the last byte, then close the socket.
                if let Some(conn) = self.streams.remove(&id) {
                    let _ = conn.stream.shutdown(Shutdown::Write);
                }
            }
            (Ok(()), _) => {}
        }
    }

    /// Receives one datagram: blocks up to `wait` if given, else only takes what is there.
    fn recv_datagram(&mut self, wait: Option<Duration>) -> Option<(usize, SocketAddr)> {
        // The socket is non-blocking. To wait, switch it to blocking with a read timeout for
        // this one call (a zero timeout means "forever" to the OS, hence the check).
        let blocking = wait.is_some_and(|w| !w.is_zero());
        if blocking {
            let _ = self.udp.set_nonblocking(false);
            let _ = self.udp.set_read_timeout(wait);
        }
        let r = self.udp.recv_from(&mut self.buf);
        if blocking {
            let _ = self.udp.set_nonblocking(true);
        }
        // WouldBlock / TimedOut: nothing arrived. Other errors (Windows reports ICMP port
        // unreachable as ConnectionReset) are not the node's problem either.
        r.ok()
    }

    /// Accepts every waiting inbound connection.
    fn accept(&mut self, on_event: &mut impl FnMut(Event)) {
        loop {
            let (stream, peer) = match self.tcp.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock: no one waiting. Other errors (out of file descriptors, a
                // connection reset before accept): try again next step.
                Err(_) => return,
            };
            // The core may refuse (too many inbound streams): dropping closes it.
            let Some(id) = self.core.accept_stream(self.clock.now(), peer) else {
                continue;
            };
            // Some platforms let accepted sockets inherit the listener's non-blocking mode,
            // some do not: set it either way.
            if stream.set_nonblocking(true).is_err() {
                let _ = self
                    .core
                    .handle_stream(self.clock.now(), id, StreamInput::Failed);
            } else {
                let _ = stream.set_nodelay(true);
                self.streams.insert(id, Conn::new(stream));
            }
            self.drain(on_event);
        }
    }

    /// Writes and reads every open stream until it would block, feeding each read to the
    /// core (then draining) as it comes.
    fn pump_streams(&mut self, on_event: &mut impl FnMut(Event)) {
        // Feeding input may open or close other streams: walk a snapshot of the ids.
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.streams.keys().copied());
        for &id in &ids {
            self.flush(id);
            self.drain(on_event);
            self.read_stream(id, on_event);
        }
        self.ids = ids;
    }

    /// Reads one stream until it would block.
    fn read_stream(&mut self, id: StreamId, on_event: &mut impl FnMut(Event)) {
        loop {
            let Some(conn) = self.streams.get_mut(&id) else {
                return;
            };
            // A closing stream expects no input; a half-closed one has none left.
            if conn.closing.is_some() || conn.read_closed {
                if conn.closing.is_some_and(|t| self.clock.now() >= t) {
                    // A peer that never reads what we flush must not hold a socket forever.
                    self.streams.remove(&id);
                }
                return;
            }
            let input = match conn.stream.read(&mut self.buf) {
                Ok(0) => {
                    conn.read_closed = true;
                    Report::Closed
                }
                Ok(n) => {
                    let _ = self.core.handle_stream(
                        self.clock.now(),
                        id,
                        StreamInput::Data(&self.buf[..n]),
                    );
                    self.drain(on_event);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.streams.remove(&id);
                    Report::Failed
                }
            };
            self.reports.push_back((id, input));
            self.drain(on_event);
        }
    }

    // Commands: plain calls into the core with the current time. Their outputs come out at
    // the start of the next step.

    /// Joins the cluster through `seeds`; [`Event::JoinFinished`] with the returned id
    /// reports how it went.
    pub(crate) fn join(&mut self, seeds: &[SocketAddr]) -> u64 {
        self.core.join(self.clock.now(), seeds)
    }

    /// Leaves gracefully; [`Event::LeaveFinished`] says when the node may stop.
    pub(crate) fn leave(&mut self, timeout: Duration) {
        self.core.leave(self.clock.now(), timeout);
    }

    /// Queues a user broadcast.
    pub(crate) fn broadcast(&mut self, payload: &[u8]) {
        self.core.broadcast(payload);
    }

    /// Sends a user message to the member called `to`, as a datagram or over a stream.
    pub(crate) fn send(
        &mut self,
        to: &str,
        payload: &[u8],
        reliable: bool,
    ) -> Result<(), CommandError> {
        self.core.send(self.clock.now(), to, payload, reliable)
    }

    /// Changes this node's metadata and gossips it.
    pub(crate) fn set_meta(&mut self, meta: &[u8]) -> Result<(), CommandError> {
        self.core.set_meta(self.clock.now(), meta)
    }

    /// Sets the application state offered in push/pull exchanges.
    pub(crate) fn set_local_state(&mut self, state: &[u8]) {
        self.core.set_local_state(state);
    }

    /// The state machine and the current time, for what the methods above do not cover
    /// (the replicated map, key ring changes, ...). Outputs are drained on the next `step`.
    pub(crate) fn core_mut(&mut self) -> (&mut Memberlist, Instant) {
        (&mut self.core, self.clock.now())
    }

    /// A snapshot of the member table.
    pub(crate) fn members(&self) -> Vec<Member> {
        self.core.members().collect()
    }
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            read_closed: false,
            closing: None,
        }
    }
}
