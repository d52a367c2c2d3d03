//! Everything a node needs around the state machine, written once for every runtime: the
//! [`Driver`] (the node loop: the state machine, its streams and their buffers, the drain order
//! after every input, commands, join and leave waiters, event backpressure), the [`Handle`]
//! and [`Events`] an application holds, the clock conversion, the options that start a node,
//! binding the UDP socket and TCP listener on one port, and the fault-injection hook that
//! test backends use to drop datagrams, cut links and freeze a node.
//!
//! A runtime adapter implements [`Transport`] (its sockets and one timer) and polls the
//! driver; nothing else. This module is `std` glue (compiled only with the `std` feature); the
//! [`Memberlist`] state machine never uses it and never does I/O.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;
use std::io;
use std::net::{TcpListener, UdpSocket};

use crate::{CommandError, Config, ConfigError, Instant, Memberlist};

mod driver;
mod events;
mod handle;
mod pool;

pub use driver::{
    Accepted, ConnectFuture, Connection, Dialing, Driver, READ_BUF, Received, Transport,
    nonblocking,
};
pub use events::Events;
pub use handle::{Handle, Reply};

pub use pool::{Injector, Pool};

/// Converts between the OS monotonic clock and the core's [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }

    /// The current time as the core counts it.
    pub fn now(&self) -> Instant {
        Instant::from_duration(self.origin.elapsed())
    }

    /// The OS instant of a core deadline.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.origin + t.as_duration()
    }

    /// How long from now until `t` (zero if it passed).
    pub fn until(&self, t: Instant) -> Duration {
        t.as_duration().saturating_sub(self.origin.elapsed())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// A fault-injection hook an adapter consults on its I/O paths. Production nodes have none;
/// conformance backends install one per node to simulate loss, partitions and pauses on real
/// sockets. Every method defaults to "no fault".
pub trait Faults: Send + Sync + fmt::Debug {
    /// Whether a datagram this node (`from`) sends to `to` goes out; `false` drops it.
    fn send_datagram(&self, from: SocketAddr, to: SocketAddr) -> bool {
        let _ = (from, to);
        true
    }
    /// Whether this node (`from`) may open a stream to `to`; `false` fails the connect.
    fn connect(&self, from: SocketAddr, to: SocketAddr) -> bool {
        let _ = (from, to);
        true
    }
    /// While `true`, the node does nothing at all: no reads, no timers, no commands, as if
    /// its process were stopped with SIGSTOP. Input waits in the socket buffers.
    fn paused(&self) -> bool {
        false
    }
}

/// How long an adapter waits after a failed `accept` (out of file descriptors, say) before it
/// accepts again, so that a persistent error does not spin the loop.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How often a paused node checks whether it may continue.
pub const PAUSE_POLL: Duration = Duration::from_millis(5);

/// Everything that starts a node besides the protocol [`Config`].
#[derive(Clone)]
pub struct NodeOptions {
    /// The node's unique name.
    pub name: String,
    /// Where to bind the UDP socket and the TCP listener (one port for both; port 0 picks a
    /// free one).
    pub bind: SocketAddr,
    /// The address other nodes use; by default the bound address (which must then not be
    /// unspecified). An unspecified IP or port 0 here takes the bound one.
    pub advertise: Option<SocketAddr>,
    /// Application metadata (at most 512 bytes).
    pub meta: Vec<u8>,
    /// Seed for every random choice and nonce; by default drawn from the OS.
    pub seed: Option<[u8; 32]>,
    /// How many events may wait for the application before the node waits for it.
    pub event_capacity: usize,
    /// Test hook for injected faults.
    pub faults: Option<Arc<dyn Faults>>,
    /// Labels added to [`Config::metric_labels`] for this node (memberlist's
    /// `MetricLabels`), such as `("node", name)` in a process that runs several nodes.
    pub metric_labels: Vec<(String, String)>,
}

impl fmt::Debug for NodeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeOptions")
            .field("name", &self.name)
            .field("bind", &self.bind)
            .field("advertise", &self.advertise)
            .field("meta", &self.meta.len())
            .field("event_capacity", &self.event_capacity)
            .field("faults", &self.faults)
            .field("metric_labels", &self.metric_labels)
            .finish_non_exhaustive()
    }
}

impl NodeOptions {
    /// A node called `name` bound to `bind`, no metadata, an OS seed, 1,024 queued events.
    pub fn new(name: impl Into<String>, bind: SocketAddr) -> Self {
        Self {
            name: name.into(),
            bind,
            advertise: None,
            meta: Vec::new(),
            seed: None,
            event_capacity: 1024,
            faults: None,
            metric_labels: Vec::new(),
        }
    }

    /// Sets the metadata.
    pub fn meta(mut self, meta: impl Into<Vec<u8>>) -> Self {
        self.meta = meta.into();
        self
    }

    /// Adds a label to every metric of this node.
    pub fn metric_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metric_labels.push((key.into(), value.into()));
        self
    }
}

/// A node's sockets, bound on one port as memberlist binds them (TCP first, then UDP on the
/// same port), set non-blocking.
#[derive(Debug)]
pub struct Bound {
    /// The datagram socket.
    pub udp: UdpSocket,
    /// The stream listener.
    pub tcp: TcpListener,
    /// The address both are bound to.
    pub local: SocketAddr,
}

/// Binds the node's sockets for `bind`. With port 0, tries a few ports until UDP can take the
/// port TCP got.
pub fn bind(bind: SocketAddr) -> io::Result<Bound> {
    let mut last = None;
    for _ in 0..if bind.port() == 0 { 16 } else { 1 } {
        let tcp = TcpListener::bind(bind)?;
        let local = tcp.local_addr()?;
        match UdpSocket::bind(local) {
            Ok(udp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok(Bound { udp, tcp, local });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port")))
}

/// A seed from the operating system's generator.
pub fn os_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(io::Error::other)?;
    Ok(seed)
}

/// Builds the state machine for a node whose sockets are bound at `local`.
pub fn new_core(
    mut config: Config,
    options: &NodeOptions,
    local: SocketAddr,
    clock: &Clock,
) -> io::Result<Memberlist> {
    let mut advertise = options.advertise.unwrap_or(local);
    if advertise.ip().is_unspecified() {
        advertise.set_ip(local.ip());
    }
    if advertise.port() == 0 {
        advertise.set_port(local.port());
    }
    if advertise.ip().is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bound to an unspecified address: set an advertise address",
        ));
    }
    config
        .metric_labels
        .extend(options.metric_labels.iter().cloned());
    let seed = match options.seed {
        Some(s) => s,
        None => os_seed()?,
    };
    Memberlist::new(
        config,
        &options.name,
        advertise,
        &options.meta,
        seed,
        clock.now(),
    )
    .map_err(|e: ConfigError| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// What a join achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinResult {
    /// Seeds that completed a push/pull.
    pub contacted: usize,
    /// Seeds that did not.
    pub failed: usize,
}

/// The answer to an explicit ping ([`Handle::ping`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    /// The round-trip time.
    pub rtt: Duration,
    /// The ack's payload (the peer's [`Hooks::ack_payload`](crate::Hooks::ack_payload)).
    pub payload: Vec<u8>,
}

/// Why a `Handle` command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// The node has shut down.
    Closed,
    /// The core refused the command.
    Command(CommandError),
    /// The replicated map refused the command.
    Kv(crate::kv::KvError),
    /// No ack came back in time (memberlist's `NoPingResponseError`).
    NoResponse,
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the node has shut down"),
            Self::Command(e) => write!(f, "{e}"),
            Self::Kv(e) => write!(f, "{e}"),
            Self::NoResponse => f.write_str("no response to the ping"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<crate::kv::KvError> for NodeError {
    fn from(e: crate::kv::KvError) -> Self {
        Self::Kv(e)
    }
}

impl From<CommandError> for NodeError {
    fn from(e: CommandError) -> Self {
        Self::Command(e)
    }
}
