//! The hand-written loop of `examples/custom_loop` as a [`Runtime`]: each node runs its
//! `LoopNode` on a thread of its own, alternating one `step` with the commands the scenario
//! thread sent it (boxed closures over a std channel).
//!
//! `node.rs` is the root package's example file, compiled here as it is (it is written against
//! the `rumor` facade crate, hence this feature's dependency on it): the loop the example
//! documents is the loop these scenarios prove, with no copy to drift from it.

#[path = "../../../examples/custom_loop/node.rs"]
mod node;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use node::LoopNode;
use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, KvEntry, Member};

use crate::real::{EventSink, RealNode, Runtime};

/// How long one step may wait before the node thread looks at its commands again.
const TURN: Duration = Duration::from_millis(5);

type Job = Box<dyn FnOnce(&mut LoopNode) + Send>;

/// Nodes on the example's hand-written loop, a thread each.
#[derive(Debug, Clone, Copy, Default)]
pub struct Custom;

/// One node on [`Custom`]: the channel to its thread. Dropping it kills the node.
#[derive(Debug)]
pub struct Node {
    addr: SocketAddr,
    jobs: mpsc::Sender<Job>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Runtime for Custom {
    type Node = Node;
    fn name(&self) -> &'static str {
        "custom"
    }
    fn start(&mut self, config: Config, options: NodeOptions, sink: EventSink) -> io::Result<Node> {
        let name = options.name.clone();
        let mut node = LoopNode::new(config, options)?;
        let addr = node.local_addr();
        let (jobs, rx) = mpsc::channel::<Job>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("custom-{name}"))
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    // A paused node takes no commands either, as a stopped process would not.
                    if !node.step(TURN, &mut |e| sink.push(e)) {
                        continue;
                    }
                    loop {
                        match rx.try_recv() {
                            Ok(job) => job(&mut node),
                            Err(mpsc::TryRecvError::Empty) => break,
                            Err(mpsc::TryRecvError::Disconnected) => return,
                        }
                    }
                }
            })?;
        Ok(Node {
            addr,
            jobs,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Node {
    /// Runs `f` on the node's thread and waits for its answer; `None` once it is killed.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut LoopNode) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |n| {
            let _ = tx.send(f(n));
        });
        self.jobs.send(job).ok()?;
        rx.recv().ok()
    }
}

impl RealNode for Node {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn join(&self, seeds: &[SocketAddr]) {
        let seeds = seeds.to_vec();
        self.call(move |n| n.join(&seeds));
    }
    fn leave(&self, timeout: Duration) {
        self.call(move |n| n.leave(timeout));
    }
    fn kill(&self) {
        // The flag is seen even while the node is paused; dropping the `LoopNode` on its
        // thread closes its sockets without a word to anyone.
        self.stop.store(true, Ordering::Release);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
    fn broadcast(&self, payload: &[u8]) {
        let payload = payload.to_vec();
        self.call(move |n| n.broadcast(&payload));
    }
    fn send(&self, to: &str, payload: &[u8], reliable: bool) {
        let (to, payload) = (to.to_owned(), payload.to_vec());
        self.call(move |n| n.send(&to, &payload, reliable));
    }
    fn set_meta(&self, meta: &[u8]) {
        let meta = meta.to_vec();
        self.call(move |n| n.set_meta(&meta));
    }
    fn set_local_state(&self, state: &[u8]) {
        let state = state.to_vec();
        self.call(move |n| n.set_local_state(&state));
    }
    fn members(&self) -> Vec<Member> {
        self.call(|n| n.members()).unwrap_or_default()
    }
    fn kv_set(&self, key: &str, value: &[u8]) {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.call(move |n| {
            let (c, now) = n.core_mut();
            let _ = c.kv_set(now, &key, &value);
        });
    }
    fn kv_delete(&self, key: &str) {
        let key = key.to_owned();
        self.call(move |n| {
            let (c, now) = n.core_mut();
            let _ = c.kv_delete(now, &key);
        });
    }
    fn kv_get(&self, key: &str) -> Option<KvEntry> {
        let key = key.to_owned();
        self.call(move |n| n.core_mut().0.kv_get(&key)).flatten()
    }
    fn kv_fingerprint(&self) -> u64 {
        self.call(|n| n.core_mut().0.kv_fingerprint()).unwrap_or(0)
    }
    fn kv_subscribe(&self, prefix: &str) {
        let prefix = prefix.to_owned();
        self.call(move |n| n.core_mut().0.kv_subscribe(&prefix));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
