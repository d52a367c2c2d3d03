//! rumor-mio as a [`Runtime`]: each node runs [`rumor_mio::Node::run`] on a thread of its own,
//! and a second thread forwards its events.

use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, KvEntry, Member};

use crate::real::{EventSink, RealNode, Runtime};

/// Nodes on mio, a thread each.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mio;

/// One node on [`Mio`]: its `Handle` and the thread running its loop.
#[derive(Debug)]
pub struct Node {
    handle: rumor_mio::Handle,
    thread: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

impl Runtime for Mio {
    type Node = Node;
    fn name(&self) -> &'static str {
        "mio"
    }
    fn start(&mut self, config: Config, options: NodeOptions, sink: EventSink) -> io::Result<Node> {
        let name = options.name.clone();
        let (node, handle, events) = rumor_mio::Node::new(config, options)?;
        let thread = thread::Builder::new()
            .name(format!("node {name}"))
            .spawn(move || node.run())?;
        thread::Builder::new()
            .name(format!("events {name}"))
            .spawn(move || {
                while let Some(e) = events.recv() {
                    sink.push(e);
                }
            })?;
        Ok(Node {
            handle,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl RealNode for Node {
    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    fn join(&self, seeds: &[SocketAddr]) {
        let h = self.handle.clone();
        let seeds = seeds.to_vec();
        thread::spawn(move || h.join(seeds));
    }
    fn leave(&self, timeout: Duration) {
        let h = self.handle.clone();
        thread::spawn(move || h.leave(timeout));
    }
    fn kill(&self) {
        let _ = self.handle.shutdown();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let result = t.join();
            // A node whose loop failed fails the scenario (unless it is already failing).
            if !thread::panicking() {
                match result {
                    Err(_) => panic!("mio node thread panicked"),
                    Ok(Err(e)) => panic!("mio node loop failed: {e}"),
                    Ok(Ok(())) => {}
                }
            }
        }
    }
    fn broadcast(&self, payload: &[u8]) {
        let _ = self.handle.broadcast(payload.to_vec());
    }
    fn send(&self, to: &str, payload: &[u8], reliable: bool) {
        let _ = self.handle.send(to.into(), payload.to_vec(), reliable);
    }
    fn set_meta(&self, meta: &[u8]) {
        let _ = self.handle.set_meta(meta.to_vec());
    }
    fn set_local_state(&self, state: &[u8]) {
        let _ = self.handle.set_local_state(state.to_vec());
    }
    fn members(&self) -> Vec<Member> {
        self.handle.members().unwrap_or_default()
    }
    fn kv_set(&self, key: &str, value: &[u8]) {
        let _ = self.handle.kv_set(key.into(), value.to_vec());
    }
    fn kv_delete(&self, key: &str) {
        let _ = self.handle.kv_delete(key.into());
    }
    fn kv_get(&self, key: &str) -> Option<KvEntry> {
        self.handle.kv_get(key.into()).ok().flatten()
    }
    fn kv_fingerprint(&self) -> u64 {
        self.handle
            .with_core(|c, _| c.kv_fingerprint())
            .unwrap_or(0)
    }
    fn kv_subscribe(&self, prefix: &str) {
        let _ = self.handle.kv_subscribe(prefix.into());
    }
}
