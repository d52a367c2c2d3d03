//! rumor-tokio as a [`Runtime`]: nodes spawned on a tokio runtime, driven from the scenario's
//! (non-runtime) thread by blocking on their `Handle`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, KvEntry, Member};

use crate::real::{EventSink, RealNode, Runtime};

/// Nodes on a multi-threaded tokio runtime of their own with two workers (one per backend,
/// so each scenario gets its own runtime).
#[derive(Debug, Clone)]
pub struct Tokio(Arc<::tokio::runtime::Runtime>);

impl Tokio {
    /// Builds the runtime.
    ///
    /// # Panics
    ///
    /// If tokio cannot start its worker threads or its I/O driver.
    pub fn new() -> Self {
        let rt = ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Self(Arc::new(rt))
    }
}

impl Default for Tokio {
    fn default() -> Self {
        Self::new()
    }
}

/// One node on [`Tokio`].
#[derive(Debug)]
pub struct Node {
    rt: Arc<::tokio::runtime::Runtime>,
    handle: rumor_tokio::Handle,
}

impl Runtime for Tokio {
    type Node = Node;
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn start(&mut self, config: Config, options: NodeOptions, sink: EventSink) -> io::Result<Node> {
        let (handle, mut events) = {
            let _guard = self.0.enter();
            rumor_tokio::spawn(config, options)?
        };
        self.0.spawn(async move {
            while let Some(e) = events.recv().await {
                sink.push(e);
            }
        });
        Ok(Node {
            rt: self.0.clone(),
            handle,
        })
    }
}

impl Node {
    /// Runs a command to completion from the (non-runtime) scenario thread.
    fn run<T>(&self, f: impl Future<Output = T>) -> T {
        self.rt.block_on(f)
    }
}

impl RealNode for Node {
    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    fn join(&self, seeds: &[SocketAddr]) {
        let h = self.handle.clone();
        let seeds = seeds.to_vec();
        self.rt.spawn(async move { h.join(seeds).await });
    }
    fn leave(&self, timeout: Duration) {
        let h = self.handle.clone();
        self.rt.spawn(async move { h.leave(timeout).await });
    }
    fn kill(&self) {
        let _ = self.run(self.handle.shutdown());
    }
    fn broadcast(&self, payload: &[u8]) {
        let _ = self.run(self.handle.broadcast(payload.to_vec()));
    }
    fn send(&self, to: &str, payload: &[u8], reliable: bool) {
        let _ = self.run(self.handle.send(to.into(), payload.to_vec(), reliable));
    }
    fn set_meta(&self, meta: &[u8]) {
        let _ = self.run(self.handle.set_meta(meta.to_vec()));
    }
    fn set_local_state(&self, state: &[u8]) {
        let _ = self.run(self.handle.set_local_state(state.to_vec()));
    }
    fn members(&self) -> Vec<Member> {
        self.run(self.handle.members()).unwrap_or_default()
    }
    fn kv_set(&self, key: &str, value: &[u8]) {
        let _ = self.run(self.handle.kv_set(key.into(), value.to_vec()));
    }
    fn kv_delete(&self, key: &str) {
        let _ = self.run(self.handle.kv_delete(key.into()));
    }
    fn kv_get(&self, key: &str) -> Option<KvEntry> {
        self.run(self.handle.kv_get(key.into())).ok().flatten()
    }
    fn kv_fingerprint(&self) -> u64 {
        self.run(self.handle.with_core(|c, _| c.kv_fingerprint()))
            .unwrap_or(0)
    }
    fn kv_subscribe(&self, prefix: &str) {
        let _ = self.run(self.handle.kv_subscribe(prefix.into()));
    }
}
