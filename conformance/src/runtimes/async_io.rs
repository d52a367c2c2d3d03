//! rumor-async-std (the async-io adapter) as a [`Runtime`], under two executors: async-std's
//! global one ([`AsyncStd`], nodes started with `rumor_async_std::spawn`) and smol's
//! ([`Smol`], nodes started with `rumor_async_std::start`, whose node future any executor
//! can run).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use rumor_core::Config;
use rumor_core::runtime::{Handle, NodeOptions};

use crate::real::{EventSink, Runtime, forward};

/// Nodes on async-std's global executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Node = Handle;
    fn name(&self) -> &'static str {
        "async-std"
    }
    fn start(
        &mut self,
        config: Config,
        options: NodeOptions,
        sink: EventSink,
    ) -> io::Result<Handle> {
        let (handle, events) = rumor_async_std::spawn(config, options)?;
        async_std::task::spawn(forward(events, sink));
        Ok(handle)
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
    type Node = Handle;
    fn name(&self) -> &'static str {
        "smol"
    }
    fn start(
        &mut self,
        config: Config,
        options: NodeOptions,
        sink: EventSink,
    ) -> io::Result<Handle> {
        let (handle, events, node) = rumor_async_std::start(config, options)?;
        self.ex.spawn(node).detach();
        self.ex.spawn(forward(events, sink)).detach();
        Ok(handle)
    }
}
