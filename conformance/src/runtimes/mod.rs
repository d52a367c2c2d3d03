//! The runtime adapters as [`Runtime`](crate::real::Runtime)s, one cargo feature each, so
//! every adapter's tests and the `rumor-conformance` command run the same glue:
//!
//! - `tokio`: `tokio::Tokio`, a two-worker multi-threaded runtime per backend;
//! - `async-std`: the async-io adapter under two executors, `async_io::AsyncStd` (async-std's
//!   global executor) and `async_io::Smol` (a two-thread smol executor per backend);
//! - `mio`: `mio::Mio`, a thread per node running `rumor_mio::Node::run`;
//! - `custom::Custom` (always there: it needs nothing but rumor-core): the hand-written loop
//!   of this package's `examples/custom_loop`, a thread per node.
//!
//! A module exists only with its feature (docs.rs builds with all of them).
//!
//! Each adapter's integration tests turn its feature on through their dev-dependency on this
//! crate and stamp out the suite with
//! `conformance_tests!(realtime: RealBackend::new(runtime))`.

#[cfg(feature = "async-std")]
pub mod async_io;
pub mod custom;
#[cfg(feature = "mio")]
pub mod mio;
#[cfg(feature = "tokio")]
pub mod tokio;
