//! The hand-written loop of `examples/custom_loop` as a [`Runtime`]: each node runs the
//! example's loop (`node::turn`) on a thread of its own and is commanded through its
//! `Handle`, like every other runtime.
//!
//! `node.rs` is this package's example file (`examples/custom_loop`), compiled here as it is:
//! the loop the example documents is the loop these scenarios prove, with no copy to drift
//! from it.

#[path = "../../examples/custom_loop/node.rs"]
#[allow(dead_code, unreachable_pub)]
mod node;

use std::io;

use rumor_core::Config;
use rumor_core::runtime::{Handle, NodeOptions};

use crate::real::{EventSink, Runtime, forward_on_thread};

/// Nodes on the example's hand-written loop, a thread each.
#[derive(Debug, Clone, Copy, Default)]
pub struct Custom;

impl Runtime for Custom {
    type Node = Handle;
    fn name(&self) -> &'static str {
        "custom"
    }
    fn start(
        &mut self,
        config: Config,
        options: NodeOptions,
        sink: EventSink,
    ) -> io::Result<Handle> {
        let name = options.name.clone();
        let (mut driver, handle, events) = node::start(config, options)?;
        std::thread::Builder::new()
            .name(format!("custom-{name}"))
            .spawn(move || while node::turn(&mut driver) {})?;
        forward_on_thread(events, sink)?;
        Ok(handle)
    }
}
