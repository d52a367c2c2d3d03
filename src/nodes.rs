//! One blocking face over every runtime's `Handle`, so the agent's command loop and the demo
//! are written once.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rumor::runtime::{JoinResult, NodeError, NodeOptions};
use rumor::{Config, Event, KvEntry, Member};

/// Where a node's events go.
pub(crate) type Sink = Box<dyn FnMut(Event) + Send>;

/// A running node, driven from a thread outside its runtime.
pub(crate) trait AgentNode {
    fn local_addr(&self) -> SocketAddr;
    fn join(&self, seeds: Vec<SocketAddr>) -> Result<JoinResult, NodeError>;
    fn leave(&self, timeout: Duration) -> Result<(), NodeError>;
    fn broadcast(&self, payload: Vec<u8>) -> Result<(), NodeError>;
    fn send(&self, to: String, payload: Vec<u8>, reliable: bool) -> Result<(), NodeError>;
    fn set_meta(&self, meta: Vec<u8>) -> Result<(), NodeError>;
    fn set_local_state(&self, state: Vec<u8>) -> Result<(), NodeError>;
    fn members(&self) -> Result<Vec<Member>, NodeError>;
    fn kv_set(&self, key: String, value: Vec<u8>) -> Result<u64, NodeError>;
    fn kv_delete(&self, key: String) -> Result<u64, NodeError>;
    fn kv_get(&self, key: String) -> Result<Option<KvEntry>, NodeError>;
    fn kv_subscribe(&self, prefix: String) -> Result<(), NodeError>;
    fn shutdown(&self) -> Result<(), NodeError>;
}

/// Starts a node on the named runtime.
pub(crate) fn start(
    runtime: &str,
    config: Config,
    options: NodeOptions,
    sink: Sink,
) -> io::Result<Box<dyn AgentNode>> {
    match runtime {
        "tokio" => Ok(Box::new(tokio_node::start(config, options, sink)?)),
        "async-std" => Ok(Box::new(async_std_node::start(config, options, sink)?)),
        "mio" => Ok(Box::new(mio_node::start(config, options, sink)?)),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown runtime {other} (tokio, async-std or mio)"),
        )),
    }
}

/// Implements [`AgentNode`] for a struct with a `handle` field of an async runtime's `Handle`
/// and a `block_on` method.
macro_rules! async_agent_node {
    ($node:ty) => {
        impl AgentNode for $node {
            fn local_addr(&self) -> SocketAddr {
                self.handle.local_addr()
            }
            fn join(&self, seeds: Vec<SocketAddr>) -> Result<JoinResult, NodeError> {
                self.block_on(self.handle.join(seeds))
            }
            fn leave(&self, timeout: Duration) -> Result<(), NodeError> {
                self.block_on(self.handle.leave(timeout))
            }
            fn broadcast(&self, payload: Vec<u8>) -> Result<(), NodeError> {
                self.block_on(self.handle.broadcast(payload))
            }
            fn send(&self, to: String, payload: Vec<u8>, reliable: bool) -> Result<(), NodeError> {
                self.block_on(self.handle.send(to, payload, reliable))
            }
            fn set_meta(&self, meta: Vec<u8>) -> Result<(), NodeError> {
                self.block_on(self.handle.set_meta(meta))
            }
            fn set_local_state(&self, state: Vec<u8>) -> Result<(), NodeError> {
                self.block_on(self.handle.set_local_state(state))
            }
            fn members(&self) -> Result<Vec<Member>, NodeError> {
                self.block_on(self.handle.members())
            }
            fn kv_set(&self, key: String, value: Vec<u8>) -> Result<u64, NodeError> {
                self.block_on(self.handle.kv_set(key, value))
            }
            fn kv_delete(&self, key: String) -> Result<u64, NodeError> {
                self.block_on(self.handle.kv_delete(key))
            }
            fn kv_get(&self, key: String) -> Result<Option<KvEntry>, NodeError> {
                self.block_on(self.handle.kv_get(key))
            }
            fn kv_subscribe(&self, prefix: String) -> Result<(), NodeError> {
                self.block_on(self.handle.kv_subscribe(prefix))
            }
            fn shutdown(&self) -> Result<(), NodeError> {
                self.block_on(self.handle.shutdown())
            }
        }
    };
}

mod tokio_node {
    use super::*;

    pub(crate) struct Node {
        rt: tokio::runtime::Runtime,
        handle: rumor::tokio::Handle,
    }

    pub(crate) fn start(config: Config, options: NodeOptions, mut sink: Sink) -> io::Result<Node> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (handle, mut events) = {
            let _guard = rt.enter();
            rumor::tokio::spawn(config, options)?
        };
        rt.spawn(async move {
            while let Some(e) = events.recv().await {
                sink(e);
            }
        });
        Ok(Node { rt, handle })
    }

    impl Node {
        fn block_on<F: Future>(&self, f: F) -> F::Output {
            self.rt.block_on(f)
        }
    }

    async_agent_node!(Node);
}

mod async_std_node {
    use super::*;

    pub(crate) struct Node {
        handle: rumor::async_std::Handle,
    }

    /// The node runs on async-std's executor; events are read on their own thread.
    pub(crate) fn start(config: Config, options: NodeOptions, mut sink: Sink) -> io::Result<Node> {
        let (handle, mut events) = rumor::async_std::spawn(config, options)?;
        std::thread::spawn(move || {
            futures_lite::future::block_on(async move {
                while let Some(e) = events.recv().await {
                    sink(e);
                }
            });
        });
        Ok(Node { handle })
    }

    impl Node {
        fn block_on<F: Future>(&self, f: F) -> F::Output {
            futures_lite::future::block_on(f)
        }
    }

    async_agent_node!(Node);
}

mod mio_node {
    use super::*;

    /// The node runs `rumor_mio::Node::run` on its own thread; events on another.
    pub(crate) struct Node {
        handle: rumor::mio::Handle,
    }

    pub(crate) fn start(config: Config, options: NodeOptions, mut sink: Sink) -> io::Result<Node> {
        let (node, handle, events) = rumor::mio::Node::new(config, options)?;
        std::thread::spawn(move || {
            if let Err(e) = node.run() {
                eprintln!("rumor agent: the mio loop stopped: {e}");
            }
        });
        std::thread::spawn(move || {
            while let Some(e) = events.recv() {
                sink(e);
            }
        });
        Ok(Node { handle })
    }

    impl AgentNode for Node {
        fn local_addr(&self) -> SocketAddr {
            self.handle.local_addr()
        }
        fn join(&self, seeds: Vec<SocketAddr>) -> Result<JoinResult, NodeError> {
            self.handle.join(seeds)
        }
        fn leave(&self, timeout: Duration) -> Result<(), NodeError> {
            self.handle.leave(timeout)
        }
        fn broadcast(&self, payload: Vec<u8>) -> Result<(), NodeError> {
            self.handle.broadcast(payload)
        }
        fn send(&self, to: String, payload: Vec<u8>, reliable: bool) -> Result<(), NodeError> {
            self.handle.send(to, payload, reliable)
        }
        fn set_meta(&self, meta: Vec<u8>) -> Result<(), NodeError> {
            self.handle.set_meta(meta)
        }
        fn set_local_state(&self, state: Vec<u8>) -> Result<(), NodeError> {
            self.handle.set_local_state(state)
        }
        fn members(&self) -> Result<Vec<Member>, NodeError> {
            self.handle.members()
        }
        fn kv_set(&self, key: String, value: Vec<u8>) -> Result<u64, NodeError> {
            self.handle.kv_set(key, value)
        }
        fn kv_delete(&self, key: String) -> Result<u64, NodeError> {
            self.handle.kv_delete(key)
        }
        fn kv_get(&self, key: String) -> Result<Option<KvEntry>, NodeError> {
            self.handle.kv_get(key)
        }
        fn kv_subscribe(&self, prefix: String) -> Result<(), NodeError> {
            self.handle.kv_subscribe(prefix)
        }
        fn shutdown(&self) -> Result<(), NodeError> {
            self.handle.shutdown()
        }
    }
}
