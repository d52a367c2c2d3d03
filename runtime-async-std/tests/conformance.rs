//! The conformance suite on async-io, over real sockets on 127.0.0.1, once under async-std's
//! executor and once under smol's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::{Boxed, block_on};
use rumor_async_std::Handle;
use rumor_conformance::real::RealNode;
use rumor_core::Member;

/// Spawns a detached task on the executor under test.
type Spawn = Arc<dyn Fn(Boxed<()>) + Send + Sync>;

/// A node as the test thread drives it: commands block the (non-runtime) test thread until
/// the node took them; `join` and `leave` run as tasks, since they resolve only later.
struct Node {
    handle: Handle,
    spawn: Spawn,
}

impl RealNode for Node {
    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    fn join(&self, seeds: &[SocketAddr]) {
        let h = self.handle.clone();
        let seeds = seeds.to_vec();
        (self.spawn)(Box::pin(async move { drop(h.join(seeds).await) }));
    }
    fn leave(&self, timeout: Duration) {
        let h = self.handle.clone();
        (self.spawn)(Box::pin(async move { drop(h.leave(timeout).await) }));
    }
    fn kill(&self) {
        let _ = block_on(self.handle.shutdown());
    }
    fn broadcast(&self, payload: &[u8]) {
        let _ = block_on(self.handle.broadcast(payload.to_vec()));
    }
    fn send(&self, to: &str, payload: &[u8], reliable: bool) {
        let _ = block_on(self.handle.send(to.into(), payload.to_vec(), reliable));
    }
    fn set_meta(&self, meta: &[u8]) {
        let _ = block_on(self.handle.set_meta(meta.to_vec()));
    }
    fn set_local_state(&self, state: &[u8]) {
        let _ = block_on(self.handle.set_local_state(state.to_vec()));
    }
    fn members(&self) -> Vec<Member> {
        block_on(self.handle.members()).unwrap_or_default()
    }
}

/// Forwards a node's events to the backend's sink.
async fn drain(mut events: rumor_async_std::Events, sink: rumor_conformance::real::EventSink) {
    while let Some(e) = events.recv().await {
        sink.push(e);
    }
}

/// Nodes on async-std's global executor, started with `rumor_async_std::spawn`.
#[cfg(feature = "async-std")]
mod async_std_executor {
    use std::io;
    use std::sync::Arc;

    use rumor_conformance::real::{EventSink, RealBackend, Runtime};
    use rumor_core::Config;
    use rumor_core::runtime::NodeOptions;

    use super::{Node, drain};

    struct AsyncStd;

    impl Runtime for AsyncStd {
        type Node = Node;
        fn name(&self) -> &'static str {
            "async-std"
        }
        fn start(
            &mut self,
            config: Config,
            options: NodeOptions,
            sink: EventSink,
        ) -> io::Result<Node> {
            let (handle, events) = rumor_async_std::spawn(config, options)?;
            async_std::task::spawn(drain(events, sink));
            let spawn = Arc::new(|f| drop(async_std::task::spawn(f)));
            Ok(Node { handle, spawn })
        }
    }

    rumor_conformance::conformance_tests!(realtime: RealBackend::new(AsyncStd));
}

/// Nodes on a smol executor, started with `rumor_async_std::start`.
mod smol_executor {
    use std::io;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use rumor_conformance::real::{EventSink, RealBackend, Runtime};
    use rumor_core::Config;
    use rumor_core::runtime::NodeOptions;

    use super::{Node, drain};

    /// Each scenario gets its own executor, run by two threads (as the tokio suite gets a
    /// two-worker runtime), so scenarios running side by side do not share a thread.
    struct Smol {
        ex: Arc<smol::Executor<'static>>,
        stop: smol::channel::Sender<()>,
        threads: Vec<JoinHandle<()>>,
    }

    impl Smol {
        fn new() -> Self {
            let ex = Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let threads = (0..2)
                .map(|_| {
                    let (ex, stopped) = (ex.clone(), stopped.clone());
                    std::thread::spawn(move || {
                        let _ = smol::block_on(ex.run(stopped.recv()));
                    })
                })
                .collect();
            Self { ex, stop, threads }
        }
    }

    impl Drop for Smol {
        fn drop(&mut self) {
            self.stop.close();
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }

    impl Runtime for Smol {
        type Node = Node;
        fn name(&self) -> &'static str {
            "smol"
        }
        fn start(
            &mut self,
            config: Config,
            options: NodeOptions,
            sink: EventSink,
        ) -> io::Result<Node> {
            let (handle, events, driver) = rumor_async_std::start(config, options)?;
            self.ex.spawn(driver).detach();
            self.ex.spawn(drain(events, sink)).detach();
            let ex = self.ex.clone();
            let spawn = Arc::new(move |f| ex.spawn(f).detach());
            Ok(Node { handle, spawn })
        }
    }

    rumor_conformance::conformance_tests!(realtime: RealBackend::new(Smol::new()));
}
