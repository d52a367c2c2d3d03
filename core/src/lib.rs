//! rumor-core: the sans-IO core of rumor, a Rust implementation of the gossip membership
//! protocol of HashiCorp's memberlist (SWIM with the Lifeguard extensions), wire-compatible
//! with the Go library.
//!
//! [`Memberlist`] is one node as a state machine. It never touches a socket, a clock or the OS
//! random generator: datagrams, stream bytes, commands and time come in as arguments; datagrams
//! (written into a buffer you provide), stream commands, events and one next deadline come
//! out. [`wire`] is the codec: every memberlist message, compound, CRC, LZW, AES-GCM with a
//! keyring, and labels, checked byte for byte against Go memberlist. With the `std` feature,
//! [`runtime`] holds the glue every event loop needs besides the state machine.
//!
//! Above membership, [`kv`] adds a replicated key-value map that every node converges on
//! (gossip plus push, pull or push/pull anti-entropy with Scuttlebutt digests) and broadcasts
//! that every rumor node relays once. Both ride in memberlist user messages and push/pull
//! state, and both are off unless [`Config::kv`] or [`Config::relay_broadcasts`] turn them on.
//!
//! # The driving loop
//!
//! After every input, drain every output, then wait for the next input or the deadline. Here
//! two nodes run in one loop, their datagrams and streams carried in memory (a real loop uses
//! sockets; see the rumor-tokio, rumor-async-std and rumor-mio adapters, and the
//! `custom_loop` example):
//!
//! ```
//! use core::net::SocketAddr;
//! use core::time::Duration;
//! use rumor_core::{Config, Event, Instant, Memberlist, StreamCommand, StreamInput};
//!
//! let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
//! let mut now = Instant::ZERO;
//! let mut nodes = [
//!     Memberlist::new(Config::local(), "a", addr(7001), b"", [1; 32], now).unwrap(),
//!     Memberlist::new(Config::local(), "b", addr(7002), b"", [2; 32], now).unwrap(),
//! ];
//! nodes[1].join(now, &[addr(7001)]);
//!
//! // Streams in flight: (from node, its stream id) -> (to node, the peer's stream id).
//! let mut links = Vec::new();
//! let mut buf = Vec::new();
//! let mut joined = false;
//! while now < Instant::from_duration(Duration::from_secs(5)) {
//!     for i in 0..2 {
//!         let j = 1 - i;
//!         // 1. Drain datagrams, stream commands and events.
//!         while let Some(t) = nodes[i].poll_transmit(now, &mut buf) {
//!             let from = nodes[i].advertise_addr();
//!             let _ = nodes[j].handle_packet(now, from, &buf[..t.len]);
//!         }
//!         while let Some(cmd) = nodes[i].poll_stream() {
//!             match cmd {
//!                 StreamCommand::Connect { id, .. } => {
//!                     let from = nodes[i].advertise_addr();
//!                     let peer = nodes[j].accept_stream(now, from).unwrap();
//!                     links.push(((i, id), (j, peer)));
//!                     let _ = nodes[i].handle_stream(now, id, StreamInput::Connected);
//!                 }
//!                 StreamCommand::Send { id, data } => {
//!                     for &((a, ida), (b, idb)) in &links {
//!                         let to = if (a, ida) == (i, id) { Some((b, idb)) }
//!                                  else if (b, idb) == (i, id) { Some((a, ida)) } else { None };
//!                         if let Some((k, kid)) = to {
//!                             let _ = nodes[k].handle_stream(now, kid, StreamInput::Data(&data));
//!                         }
//!                     }
//!                 }
//!                 StreamCommand::Close { .. } => {}
//!             }
//!         }
//!         while let Some(event) = nodes[i].poll_event() {
//!             if let Event::JoinFinished { contacted: 1, .. } = event {
//!                 joined = true;
//!             }
//!         }
//!     }
//!     // 2. Sleep until the earliest deadline, then let the timers run.
//!     now = nodes.iter().filter_map(|n| n.poll_timeout()).min().unwrap();
//!     for n in &mut nodes {
//!         n.handle_timeout(now);
//!     }
//! }
//! assert!(joined);
//! assert_eq!(nodes[0].num_members(), 2);
//! assert_eq!(nodes[1].num_members(), 2);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod awareness;
mod broadcast;
pub mod config;
mod event;
mod extension;
mod hooks;
pub mod kv;
mod memberlist;
mod observe;
#[cfg(feature = "std")]
pub mod runtime;
mod suspicion;
mod time;
pub mod wire;

pub use broadcast::{BroadcastOptions, BroadcastOutcome};
pub use config::{Cidr, CidrError, Config, ConfigError, Limits};
pub use event::{
    Event, LeaveReason, Member, MemberState, StreamCommand, StreamId, StreamInput, Transmit,
};
pub use extension::{Extension, Gossip, PushPullPeer};
pub use hooks::{Hooks, MemberView};
pub use kv::{ExchangeMode, Kv, KvChange, KvConfig, KvEntry, KvError, KvStats};
pub use memberlist::{CommandError, Footprint, InputError, InputErrorKind, Memberlist};
pub use time::Instant;
