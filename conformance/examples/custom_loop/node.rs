//! A rumor node driven by a hand-written loop over `std::net` sockets: no async runtime, no
//! poll library, no threads. Copy it and replace the waiting part with your own reactor.
//!
//! rumor's [`Driver`] does everything around the sans-IO [`Memberlist`](rumor_core::Memberlist)
//! that does not touch the OS: it drains the state machine's outputs after every input, keeps
//! the open streams and what is still to be written to them, runs the commands of the
//! [`Handle`], and holds events until the application takes them. A loop supplies two things:
//!
//! 1. **Sockets**, as a [`Transport`]: non-blocking reads and writes that answer `Pending` for
//!    `WouldBlock` (here, std's UDP socket and TCP listener; rumor implements
//!    [`Connection`](rumor_core::runtime::Connection) for std's `TcpStream`).
//! 2. **Waiting**: call [`Driver::poll`] after anything may have happened, then sleep until
//!    input arrives or [`Driver::wake_at`] passes.
//!
//! Nothing here decides anything about the protocol: the loop moves bytes and time.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rumor_core::runtime::{
    Accepted, Bound, Driver, Events, Handle, NodeOptions, Received, Transport, nonblocking,
};
use rumor_core::{Config, StreamId};

/// The longest the loop sleeps on the UDP socket before it looks at the TCP listener, the
/// open streams and the handle's commands. std cannot wait on several sockets at once (that
/// is what poll(2), mio or an async runtime are for), so they are checked this often: stream
/// round trips and commands see at most this much extra latency.
const TURN: Duration = Duration::from_millis(5);

/// A node's std sockets.
pub(crate) struct StdNet {
    udp: UdpSocket,
    tcp: TcpListener,
    /// How long a connect may block (memberlist's `TCPTimeout`).
    connect_timeout: Duration,
}

impl Transport for StdNet {
    type Connection = TcpStream;

    fn poll_recv(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<Received> {
        nonblocking(self.udp.recv_from(buf))
    }

    fn poll_accept(&mut self, _: &mut Context<'_>) -> Poll<Accepted<TcpStream>> {
        // Some platforms let accepted sockets inherit the listener's non-blocking mode, some
        // do not: set it either way.
        nonblocking(self.tcp.accept().and_then(|(s, peer)| {
            s.set_nonblocking(true)?;
            let _ = s.set_nodelay(true);
            Ok((s, peer))
        }))
    }

    fn connect(&mut self, _: StreamId, to: SocketAddr) -> io::Result<TcpStream> {
        // std has no non-blocking connect: this blocks the whole loop until the peer answers
        // or the timeout passes. On a LAN a refused or accepted connect is quick; an
        // unreachable host stalls the node. A reactor would register the socket and report
        // it connected once it becomes writable (`Connection::poll_connect`).
        let s = TcpStream::connect_timeout(&to, self.connect_timeout)?;
        s.set_nonblocking(true)?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }
}

impl StdNet {
    /// Sleeps until a datagram is waiting or `wait` has passed, leaving it in the socket.
    fn wait(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        // Block on the socket for this one call, with a read timeout, and peek: the datagram
        // stays for the driver to read.
        let _ = self.udp.set_nonblocking(false);
        let _ = self.udp.set_read_timeout(Some(wait));
        let _ = self.udp.peek_from(&mut [0; 1]);
        let _ = self.udp.set_nonblocking(true);
    }
}

/// Binds UDP and TCP on `options.bind` (one port for both, as memberlist does) and builds the
/// node: its driver for this loop, its handle and its events.
pub(crate) fn start(
    config: Config,
    options: NodeOptions,
) -> io::Result<(Driver<StdNet>, Handle, Events)> {
    let connect_timeout = config.tcp_timeout;
    Driver::new(config, options, |bound: Bound| {
        Ok(StdNet {
            udp: bound.udp,
            tcp: bound.tcp,
            connect_timeout,
        })
    })
}

/// One turn of the loop: let the driver handle whatever arrived (commands, datagrams,
/// connections, stream bytes, deadlines), then sleep until a datagram arrives, the driver's
/// next deadline, or at most [`TURN`]. Returns `false` once the node has shut down.
pub(crate) fn turn(driver: &mut Driver<StdNet>) -> bool {
    // Nothing wakes this loop but its own sleep, so the waker does nothing.
    if driver
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready()
    {
        return false;
    }
    let wait = driver
        .wake_at()
        .map_or(TURN, |t| t.saturating_duration_since(Instant::now()))
        .min(TURN);
    if let Some(net) = driver.transport_mut() {
        net.wait(wait);
    }
    true
}
