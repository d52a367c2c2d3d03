//! rumor: gossip-based cluster membership and failure detection (SWIM with the Lifeguard
//! extensions), wire-compatible with HashiCorp's Go memberlist.
//!
//! This facade re-exports [`rumor_core`], the sans-IO core. Runtime adapters (tokio by default,
//! async-std and mio by cargo feature) are re-exported as [`tokio`], [`async_std`] and [`mio`]
//! as they land.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use rumor_core::*;

#[cfg(feature = "async-std")]
pub use rumor_async_std as async_std;
#[cfg(feature = "mio")]
pub use rumor_mio as mio;
#[cfg(feature = "tokio")]
pub use rumor_tokio as tokio;
