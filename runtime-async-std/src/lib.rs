//! rumor on async-std and smol: a [`Node`] is a future that polls the runtime-independent
//! [`Driver`], which owns the state machine, its streams and its
//! commands. This crate supplies only async-io's sockets and one timer. No protocol decision
//! is made here.
//!
//! async-io is the reactor async-std and smol both run on, so a [`Node`] runs on any executor:
//! [`start`] hands it to you to spawn, and [`spawn`] (cargo feature `async-std`, on by default)
//! spawns it on async-std.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rumor_core::{Config, runtime::NodeOptions};
//! let options = NodeOptions::new("node-a", "127.0.0.1:7946".parse().unwrap());
//! let (handle, events, node) = rumor_async_std::start(Config::lan(), options)?;
//! smol::spawn(node).detach();
//! handle.join(vec!["127.0.0.1:7947".parse().unwrap()]).await.ok();
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::future::Future;
use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_io::{Async, Timer};
use futures_lite::io::AsyncWrite;
use rumor_core::runtime::{
    Accepted, Bound, Connection, Dialing, Driver, NodeOptions, Received, Transport,
};
use rumor_core::{Config, StreamId};

pub use rumor_core::runtime::{Events, Handle, JoinResult, NodeError, Pong, Reply};

/// Starts a node on async-std's executor: binds `options.bind` (UDP and TCP on one port) and
/// spawns its [`Node`].
#[cfg(feature = "async-std")]
pub fn spawn(config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
    let (handle, events, node) = start(config, options)?;
    async_std::task::spawn(node);
    Ok((handle, events))
}

/// Binds `options.bind` (UDP and TCP on one port) and builds the node, which runs while the
/// returned [`Node`] is polled: spawn it on any executor (`smol::spawn`,
/// `async_std::task::spawn`, ...).
pub fn start(config: Config, options: NodeOptions) -> io::Result<(Handle, Events, Node)> {
    let (driver, handle, events) = Driver::new(config, options, AsyncIo::new)?;
    Ok((handle, events, Node(driver)))
}

/// The future that runs a node. It finishes after [`Handle::shutdown`] or once every
/// [`Handle`] is dropped; dropping it stops the node.
pub struct Node(Driver<AsyncIo>);

impl Future for Node {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll(cx)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A node's sockets and timer on async-io.
struct AsyncIo {
    udp: Async<UdpSocket>,
    tcp: Async<TcpListener>,
    timer: Timer,
}

impl AsyncIo {
    fn new(bound: Bound) -> io::Result<Self> {
        Ok(Self {
            udp: Async::try_from(bound.udp)?,
            tcp: Async::try_from(bound.tcp)?,
            timer: Timer::never(),
        })
    }
}

/// Runs a non-blocking operation on `source` once async-io reports it ready (asking first
/// costs nothing while nothing happened; trying first would cost a failing system call).
fn when_ready<S, T>(
    source: &Async<S>,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&S) -> io::Result<T>,
) -> Poll<io::Result<T>> {
    loop {
        ready!(source.poll_readable(cx))?;
        match op(source.get_ref()) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            r => return Poll::Ready(r),
        }
    }
}

impl Transport for AsyncIo {
    type Connection = Dialing<Stream>;

    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Received> {
        when_ready(&self.udp, cx, |udp| udp.recv_from(buf))
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Accepted<Dialing<Stream>>> {
        let (stream, peer) = ready!(when_ready(&self.tcp, cx, TcpListener::accept))?;
        Poll::Ready(Ok((Dialing::Open(open(Async::new(stream)?)), peer)))
    }

    fn connect(&mut self, _: StreamId, to: SocketAddr) -> io::Result<Dialing<Stream>> {
        let connect = async move { Async::<TcpStream>::connect(to).await.map(open) };
        Ok(Dialing::Connecting(Box::pin(connect)))
    }

    fn set_timer(&mut self, at: std::time::Instant) {
        self.timer.set_at(at);
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}

/// An open stream.
struct Stream(Async<TcpStream>);

impl Connection for Stream {
    fn poll_connect(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        when_ready(&self.0, cx, |mut s| s.read(buf))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn shutdown(&mut self) {
        let _ = self.0.get_ref().shutdown(Shutdown::Write);
    }
}

/// Sets `TCP_NODELAY` (memberlist's streams are small request-reply messages).
fn open(stream: Async<TcpStream>) -> Stream {
    let _ = stream.get_ref().set_nodelay(true);
    Stream(stream)
}
