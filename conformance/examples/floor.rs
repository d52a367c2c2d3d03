//! The floor under the cluster benchmark's steady CPU: N UDP sockets on 127.0.0.1 doing only
//! what a steady memberlist node does on the wire (once a second, at a random phase, a
//! datagram to a random other socket, which answers with one datagram), on the runtime the
//! benchmark runs rumor on, with no protocol at all. What rumor spends above this is rumor's;
//! what is under it is the kernel's and the runtime's.
//!
//! ```sh
//! cargo run --release -p rumor-conformance --features runner --example floor -- \
//!     [N] [SECONDS] [tokio|smol|mio]
//! ```

#[path = "common/cpu.rs"]
mod cpu;

use cpu::process_cpu;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The size of a memberlist ping or ack with a short node name, about.
const DATAGRAM: usize = 44;
const PING: u8 = 1;
const ACK: u8 = 2;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100);
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let runtime = args.get(2).map_or("tokio", String::as_str);
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<io::Result<_>>()?;
    let addrs: Arc<Vec<SocketAddr>> = Arc::new(
        sockets
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<io::Result<_>>()?,
    );
    // Warm up for a few seconds, then measure.
    let warm = Duration::from_secs(3);
    let window = Duration::from_secs(secs);
    let (cpu, sent) = match runtime {
        "tokio" => tokio_floor(sockets, addrs, warm, window)?,
        "mio" => mio_floor(sockets, addrs, warm, window)?,
        "smol" => smol_floor(sockets, addrs, warm, window)?,
        other => return Err(io::Error::other(format!("unknown runtime {other}"))),
    };
    let node_secs = n as f64 * window.as_secs_f64();
    println!(
        "{n} sockets on {runtime}, {secs} s: CPU {:.4} ms per node-second, {:.2} datagrams per node-second",
        cpu.as_secs_f64() * 1e3 / node_secs,
        sent as f64 / node_secs
    );
    Ok(())
}

/// A small xorshift: the floor needs random peers and phases, not good randomness.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn pick(state: &mut u64, n: usize, me: usize) -> usize {
    let j = (next(state) % (n as u64 - 1)) as usize;
    if j >= me { j + 1 } else { j }
}

fn tokio_floor(
    sockets: Vec<UdpSocket>,
    addrs: Arc<Vec<SocketAddr>>,
    warm: Duration,
    window: Duration,
) -> io::Result<(Duration, u64)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sent = Arc::new(AtomicU64::new(0));
    let n = addrs.len();
    let start = tokio::time::Instant::now();
    for (me, socket) in sockets.into_iter().enumerate() {
        socket.set_nonblocking(true)?;
        let addrs = addrs.clone();
        let sent = sent.clone();
        let _guard = rt.enter();
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        rt.spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15 ^ (me as u64 + 1);
            let phase = Duration::from_nanos(next(&mut rng) % 1_000_000_000);
            let mut tick = tokio::time::interval_at(start + phase, Duration::from_secs(1));
            let mut buf = [0u8; 1500];
            let mut out = [0u8; DATAGRAM];
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        out[0] = PING;
                        let to = addrs[pick(&mut rng, n, me)];
                        if socket.send_to(&out, to).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    r = socket.recv_from(&mut buf) => {
                        if let Ok((_, from)) = r && buf[0] == PING {
                            out[0] = ACK;
                            if socket.send_to(&out, from).await.is_ok() {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        });
    }
    let r = measure(&sent, warm, window);
    rt.shutdown_background();
    Ok(r)
}

/// After `warm`, the CPU time and the datagrams counted in `sent` over `window`.
fn measure(sent: &AtomicU64, warm: Duration, window: Duration) -> (Duration, u64) {
    std::thread::sleep(warm);
    let (c0, s0) = (process_cpu(), sent.load(Ordering::Relaxed));
    std::thread::sleep(window);
    let (c1, s1) = (process_cpu(), sent.load(Ordering::Relaxed));
    (c1 - c0, s1 - s0)
}

/// async-io (smol's and async-std's reactor) under a two-thread smol executor, as the
/// cluster benchmark runs rumor-async-std.
fn smol_floor(
    sockets: Vec<UdpSocket>,
    addrs: Arc<Vec<SocketAddr>>,
    warm: Duration,
    window: Duration,
) -> io::Result<(Duration, u64)> {
    use futures_lite::FutureExt as _;
    let ex = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stopped) = (ex.clone(), stopped.clone());
            std::thread::spawn(move || {
                let _ = smol::block_on(ex.run(stopped.recv()));
            })
        })
        .collect();
    let sent = Arc::new(AtomicU64::new(0));
    let n = addrs.len();
    let start = Instant::now();
    for (me, socket) in sockets.into_iter().enumerate() {
        let socket = smol::Async::new(socket)?;
        let (addrs, sent) = (addrs.clone(), sent.clone());
        ex.spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15 ^ (me as u64 + 1);
            let phase = Duration::from_nanos(next(&mut rng) % 1_000_000_000);
            let mut tick = start + phase;
            let mut buf = [0u8; 1500];
            let mut out = [0u8; DATAGRAM];
            loop {
                let timer = async {
                    smol::Timer::at(tick).await;
                    None
                };
                let recv = async { Some(socket.recv_from(&mut buf).await) };
                match recv.or(timer).await {
                    None => {
                        tick += Duration::from_secs(1);
                        out[0] = PING;
                        let to = addrs[pick(&mut rng, n, me)];
                        if socket.send_to(&out, to).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok((_, from))) if buf[0] == PING => {
                        out[0] = ACK;
                        if socket.send_to(&out, from).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(_) => {}
                }
            }
        })
        .detach();
    }
    let r = measure(&sent, warm, window);
    drop(stop);
    threads.into_iter().for_each(|t| drop(t.join()));
    Ok(r)
}

fn mio_floor(
    sockets: Vec<UdpSocket>,
    addrs: Arc<Vec<SocketAddr>>,
    warm: Duration,
    window: Duration,
) -> io::Result<(Duration, u64)> {
    use mio::{Events, Interest, Poll, Token};
    let n = addrs.len();
    let mut poll = Poll::new()?;
    let mut socks = Vec::with_capacity(n);
    for (i, s) in sockets.into_iter().enumerate() {
        s.set_nonblocking(true)?;
        let mut s = mio::net::UdpSocket::from_std(s);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        socks.push(s);
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let start = Instant::now();
    let mut due: Vec<Instant> = (0..n)
        .map(|_| start + Duration::from_nanos(next(&mut rng) % 1_000_000_000))
        .collect();
    let mut events = Events::with_capacity(256);
    let mut buf = [0u8; 1500];
    let mut out = [0u8; DATAGRAM];
    let mut sent = 0u64;
    let (mut c0, mut s0, mut measuring) = (Duration::ZERO, 0, false);
    loop {
        let now = Instant::now();
        if !measuring && now >= start + warm {
            (c0, s0, measuring) = (process_cpu(), sent, true);
        }
        if now >= start + warm + window {
            return Ok((process_cpu() - c0, sent - s0));
        }
        for me in 0..n {
            if due[me] <= now {
                due[me] += Duration::from_secs(1);
                out[0] = PING;
                let to = addrs[pick(&mut rng, n, me)];
                if socks[me].send_to(&out, to).is_ok() {
                    sent += 1;
                }
            }
        }
        let next_due = due.iter().min().copied().unwrap_or(now);
        poll.poll(&mut events, Some(next_due.saturating_duration_since(now)))?;
        for ev in &events {
            let me = ev.token().0;
            while let Ok((_, from)) = socks[me].recv_from(&mut buf) {
                if buf[0] == PING {
                    out[0] = ACK;
                    if socks[me].send_to(&out, from).is_ok() {
                        sent += 1;
                    }
                }
            }
        }
    }
}
