//! rumor on tokio: one task per node polls the runtime-independent
//! [`Driver`], which owns the state machine, its streams and its
//! commands. This crate supplies only tokio's sockets and one timer. No protocol decision is
//! made here.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rumor_core::{Config, runtime::NodeOptions};
//! let options = NodeOptions::new("node-a", "127.0.0.1:7946".parse().unwrap());
//! let (handle, events) = rumor_tokio::spawn(Config::lan(), options)?;
//! handle.join(vec!["127.0.0.1:7947".parse().unwrap()]).await.ok();
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use rumor_core::runtime::{
    Accepted, Bound, Connection, Dialing, Driver, NodeOptions, Received, Transport,
};
use rumor_core::{Config, StreamId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Sleep;

pub use rumor_core::runtime::{Events, Handle, JoinResult, NodeError, Pong, Reply};

/// Starts a node on the current tokio runtime: binds `options.bind` (UDP and TCP on one
/// port) and spawns the task that runs it. Must be called from within a tokio runtime.
pub fn spawn(config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
    let (mut driver, handle, events) = Driver::new(config, options, Tokio::new)?;
    tokio::spawn(std::future::poll_fn(move |cx| driver.poll(cx)));
    Ok((handle, events))
}

/// A node's sockets and timer on tokio.
struct Tokio {
    udp: UdpSocket,
    tcp: TcpListener,
    sleep: Pin<Box<Sleep>>,
}

impl Tokio {
    fn new(bound: Bound) -> io::Result<Self> {
        Ok(Self {
            udp: UdpSocket::from_std(bound.udp)?,
            tcp: TcpListener::from_std(bound.tcp)?,
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
        })
    }
}

impl Transport for Tokio {
    type Connection = Dialing<Stream>;

    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Received> {
        let mut read = ReadBuf::new(buf);
        let from = ready!(self.udp.poll_recv_from(cx, &mut read))?;
        Poll::Ready(Ok((read.filled().len(), from)))
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Accepted<Dialing<Stream>>> {
        let (stream, peer) = ready!(self.tcp.poll_accept(cx))?;
        Poll::Ready(Ok((Dialing::Open(open(stream)), peer)))
    }

    fn connect(&mut self, _: StreamId, to: SocketAddr) -> io::Result<Dialing<Stream>> {
        let connect = async move { TcpStream::connect(to).await.map(open) };
        Ok(Dialing::Connecting(Box::pin(connect)))
    }

    fn set_timer(&mut self, at: std::time::Instant) {
        self.sleep.as_mut().reset(at.into());
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.sleep.as_mut().poll(cx)
    }
}

/// An open stream.
struct Stream(TcpStream);

impl Connection for Stream {
    fn poll_connect(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut read = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut read))?;
        Poll::Ready(Ok(read.filled().len()))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn shutdown(&mut self) {
        // A TCP shutdown completes at once: this poll never waits.
        let _ = Pin::new(&mut self.0).poll_shutdown(&mut Context::from_waker(Waker::noop()));
    }
}

/// Sets `TCP_NODELAY` (memberlist's streams are small request-reply messages).
fn open(stream: TcpStream) -> Stream {
    let _ = stream.set_nodelay(true);
    Stream(stream)
}
