//! Starts a node on the runtime the command line names; every runtime hands back the same
//! [`Handle`], so the agent's command loop and the demo drive them alike.

use std::io;
use std::ops::Deref;

use rumor::runtime::{Events, Handle, NodeOptions};
use rumor::{Config, Event};

/// Where a node's events go.
pub(crate) type Sink = Box<dyn FnMut(Event) + Send>;

/// A running node: its handle, and the tokio runtime it runs on if it is a tokio node.
pub(crate) struct Node {
    handle: Handle,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl Deref for Node {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

/// Starts a node on the named runtime; its events go to `sink`, on a thread of their own.
pub(crate) fn start(
    runtime: &str,
    config: Config,
    options: NodeOptions,
    sink: Sink,
) -> io::Result<Node> {
    let mut rt = None;
    let (handle, events) = match runtime {
        "tokio" => {
            let r = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let _guard = r.enter();
            let started = rumor::tokio::spawn(config, options)?;
            drop(_guard);
            rt = Some(r);
            started
        }
        "async-std" => rumor::async_std::spawn(config, options)?,
        "mio" => rumor::mio::spawn(config, options)?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown runtime {other} (tokio, async-std or mio)"),
            ));
        }
    };
    forward(events, sink)?;
    Ok(Node {
        handle,
        _runtime: rt,
    })
}

fn forward(events: Events, mut sink: Sink) -> io::Result<()> {
    std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            while let Some(e) = events.recv_blocking() {
                sink(e);
            }
        })
        .map(drop)
}
