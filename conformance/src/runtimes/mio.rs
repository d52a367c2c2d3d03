//! rumor-mio as a [`Runtime`]: every node of a backend on one [`rumor_mio::Reactor`], run by
//! one thread; events are forwarded by a thread per node.

use std::io;
use std::thread::JoinHandle;

use rumor_core::Config;
use rumor_core::runtime::{Handle, NodeOptions};
use rumor_mio::{Reactor, Spawner};

use crate::real::{EventSink, Runtime, forward_on_thread};

/// Nodes on one mio reactor thread. The thread ends once every node has shut down and this
/// is dropped.
#[derive(Debug)]
pub struct Mio {
    spawner: Option<Spawner>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Mio {
    /// Starts the reactor's thread.
    ///
    /// # Panics
    ///
    /// If the OS refuses a poll instance or a thread.
    pub fn new() -> Self {
        let reactor = Reactor::new().expect("mio reactor");
        let spawner = reactor.spawner();
        let thread = std::thread::Builder::new()
            .name("mio reactor".into())
            .spawn(move || reactor.run())
            .expect("reactor thread");
        Self {
            spawner: Some(spawner),
            thread: Some(thread),
        }
    }
}

impl Default for Mio {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Mio {
    fn drop(&mut self) {
        drop(self.spawner.take());
        if let Some(t) = self.thread.take() {
            // A reactor whose loop failed fails the scenario (unless it is already failing).
            match t.join() {
                Ok(Ok(())) => {}
                _ if std::thread::panicking() => {}
                Ok(Err(e)) => panic!("mio reactor failed: {e}"),
                Err(_) => panic!("mio reactor panicked"),
            }
        }
    }
}

impl Runtime for Mio {
    type Node = Handle;
    fn name(&self) -> &'static str {
        "mio"
    }
    fn start(
        &mut self,
        config: Config,
        options: NodeOptions,
        sink: EventSink,
    ) -> io::Result<Handle> {
        let spawner = self.spawner.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        let (handle, events) = spawner.spawn(config, options)?;
        forward_on_thread(events, sink)?;
        Ok(handle)
    }
}
