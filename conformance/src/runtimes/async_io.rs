//! rumor-async-std (the async-io adapter) as a [`Runtime`], under two executors: async-std's
//! global one ([`AsyncStd`], nodes started with `rumor_async_std::spawn`) and smol's
//! ([`Smol`], nodes started with `rumor_async_std::start`, whose driver future any executor
//! can run).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::future::{Boxed, block_on};
use rumor_async_std::Handle;
use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, KvEntry, Member};

use crate::real::{EventSink, RealNode, Runtime};

/// Spawns a detached task on the executor under test.
type Spawn = Arc<dyn Fn(Boxed<()>) + Send + Sync>;

/// One node on [`AsyncStd`] or [`Smol`]. Commands block the (non-runtime) scenario thread
/// until the node took them; `join` and `leave` run as tasks, since they resolve only later.
pub struct Node {
    handle: Handle,
    spawn: Spawn,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
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
    fn kv_set(&self, key: &str, value: &[u8]) {
        let _ = block_on(self.handle.kv_set(key.into(), value.to_vec()));
    }
    fn kv_delete(&self, key: &str) {
        let _ = block_on(self.handle.kv_delete(key.into()));
    }
    fn kv_get(&self, key: &str) -> Option<KvEntry> {
        block_on(self.handle.kv_get(key.into())).ok().flatten()
    }
    fn kv_fingerprint(&self) -> u64 {
        block_on(self.handle.with_core(|c, _| c.kv_fingerprint())).unwrap_or(0)
    }
    fn kv_subscribe(&self, prefix: &str) {
        let _ = block_on(self.handle.kv_subscribe(prefix.into()));
    }
}

/// Forwards a node's events to the backend's sink.
async fn drain(mut events: rumor_async_std::Events, sink: EventSink) {
    while let Some(e) = events.recv().await {
        sink.push(e);
    }
}

/// Nodes on async-std's global executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Node = Node;
    fn name(&self) -> &'static str {
        "async-std"
    }
    fn start(&mut self, config: Config, options: NodeOptions, sink: EventSink) -> io::Result<Node> {
        let (handle, events) = rumor_async_std::spawn(config, options)?;
        async_std::task::spawn(drain(events, sink));
        let spawn = Arc::new(|f| drop(async_std::task::spawn(f)));
        Ok(Node { handle, spawn })
    }
}

/// Nodes on a smol executor of their own, run by two threads (as the tokio backend gets a
/// two-worker runtime), so backends running side by side do not share a thread. Dropping it
/// stops the threads.
pub struct Smol {
    ex: Arc<smol::Executor<'static>>,
    stop: smol::channel::Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Smol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smol")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Smol {
    /// Starts the executor's threads.
    pub fn new() -> Self {
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

impl Default for Smol {
    fn default() -> Self {
        Self::new()
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
    fn start(&mut self, config: Config, options: NodeOptions, sink: EventSink) -> io::Result<Node> {
        let (handle, events, driver) = rumor_async_std::start(config, options)?;
        self.ex.spawn(driver).detach();
        self.ex.spawn(drain(events, sink)).detach();
        let ex = self.ex.clone();
        let spawn = Arc::new(move |f| ex.spawn(f).detach());
        Ok(Node { handle, spawn })
    }
}
