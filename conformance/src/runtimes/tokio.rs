//! rumor-tokio as a [`Runtime`]: nodes spawned on a tokio runtime, commanded from the
//! scenario's (non-runtime) thread through their `Handle`.

use std::io;
use std::sync::Arc;

use rumor_core::Config;
use rumor_core::runtime::{Handle, NodeOptions};

use crate::real::{EventSink, Runtime, forward};

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

impl Runtime for Tokio {
    type Node = Handle;
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn start(
        &mut self,
        config: Config,
        options: NodeOptions,
        sink: EventSink,
    ) -> io::Result<Handle> {
        let _guard = self.0.enter();
        let (handle, events) = rumor_tokio::spawn(config, options)?;
        self.0.spawn(forward(events, sink));
        Ok(handle)
    }
}
