//! rumor: gossip-based cluster membership and failure detection (SWIM with the Lifeguard
//! extensions), wire-compatible with HashiCorp's Go memberlist.
//!
//! This facade re-exports [`rumor_core`], the sans-IO core, and the runtime adapters (tokio
//! by default, async-std/smol and mio by cargo feature) as [`tokio`], [`async_std`] and [`mio`].
//! Every adapter hands back the same [`Handle`] and [`Events`], so code that commands a node
//! is written once for all of them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use rumor_core::runtime::{Events, Handle, JoinResult, NodeError, NodeOptions, Pong, Reply};
pub use rumor_core::*;

/// The async-io adapter, for smol and any executor (feature `smol`), with `spawn` on
/// async-std (feature `async-std`).
#[cfg(any(feature = "async-std", feature = "smol"))]
pub use rumor_async_std as async_std;
#[cfg(feature = "mio")]
pub use rumor_mio as mio;
#[cfg(feature = "tokio")]
pub use rumor_tokio as tokio;
