//! rumor-core: the sans-IO core of rumor, a Rust implementation of the gossip membership
//! protocol of HashiCorp's memberlist (SWIM with the Lifeguard extensions), wire-compatible
//! with the Go library.
//!
//! The core never touches a socket, a clock or the OS random generator: bytes and time come in
//! as arguments, and bytes go out into buffers the caller provides. This release holds the wire
//! layer ([`wire`]): every memberlist message, compound, CRC, LZW compression, AES-GCM
//! encryption with a keyring, and labels, checked byte for byte against Go memberlist.
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
mod memberlist;
mod observe;
mod packet;
mod probe;
#[cfg(feature = "std")]
pub mod runtime;
mod state;
mod stream;
mod suspicion;
mod time;
pub mod wire;

pub use config::{Config, ConfigError, Limits};
pub use event::{
    Event, LeaveReason, Member, MemberState, StreamCommand, StreamId, StreamInput, Transmit,
};
pub use memberlist::{CommandError, InputError, InputErrorKind, Memberlist};
pub use time::Instant;
