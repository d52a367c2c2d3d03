//! Decisions an application takes on the spot, while the node handles an input: memberlist's
//! `AliveDelegate`, `MergeDelegate`, `PingDelegate`, `Delegate.LocalState` and
//! `DisableTcpPingsForNode`, as one policy object in [`Config::hooks`](crate::Config::hooks)
//! (as quinn-proto takes its congestion controllers). What the application only needs to
//! learn comes out as [`Event`](crate::Event)s instead; what it sets ahead of time
//! (metadata, local state, broadcasts) are commands.
//!
//! A hook runs inside the state machine: it must return quickly and must not do I/O (it may
//! record what it saw, for the application to read later). With no hooks set, the node calls
//! none and allocates nothing for them.
//!
//! # Order
//!
//! - A datagram or stream from an address outside [`Config::cidrs_allowed`](crate::Config::cidrs_allowed)
//!   is dropped before any hook sees it.
//! - An alive message: the CIDR check on the address it announces, then
//!   [`allow_alive`](Hooks::allow_alive), then memberlist's rules (incarnation, conflicts).
//! - A push/pull received: the protocol versions are checked, then
//!   [`allow_merge`](Hooks::allow_merge) sees the whole list, then each member goes through
//!   the alive path above (so `allow_alive` sees each of them too, as in memberlist). As the
//!   answering side, this node has already sent its own state, which called
//!   [`local_state`](Hooks::local_state).
//! - A ping received: [`ack_payload`](Hooks::ack_payload) fills the ack.
//! - An ack that completes this node's probe: [`ping_complete`](Hooks::ping_complete).
//! - A probe that got no direct ack: [`stream_ping`](Hooks::stream_ping) decides the
//!   stream fallback, next to the indirect pings.

use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::event::MemberState;
use crate::wire::Vsn;

/// A member as a message describes it, borrowed for the length of a hook call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberView<'a> {
    /// Its unique name.
    pub name: &'a str,
    /// Where it receives datagrams and streams.
    pub addr: SocketAddr,
    /// Application metadata.
    pub meta: &'a [u8],
    /// Its incarnation number.
    pub incarnation: u32,
    /// Its state in the message (alive, for an alive message).
    pub state: MemberState,
    /// The versions it advertises.
    pub vsn: Vsn,
}

/// The application's on-the-spot decisions. Every method has a default that decides as if
/// no hook were set; implement the ones you need. Shared between nodes and threads, so state
/// a hook keeps goes behind a lock or in atomics.
pub trait Hooks: Send + Sync {
    /// Whether to accept an alive message about `member`, new or changed (memberlist's
    /// `AliveDelegate.NotifyAlive`; Consul keeps out nodes of other datacenters with it). A
    /// vetoed member is not added, and a vetoed change is not applied. It is called for this
    /// node's own alive too.
    fn allow_alive(&self, member: &MemberView<'_>) -> bool {
        let _ = member;
        true
    }

    /// Whether to merge the member list a peer sent in a push/pull (memberlist's
    /// `MergeDelegate.NotifyMerge`). `join` says whether the exchange is a join; memberlist
    /// asks only for joins, so return true when it is not to decide as memberlist does. A
    /// refused list is not merged at all, and a join whose seeds were all refused fails, as
    /// in memberlist. On the answering side this node has already sent its own state.
    fn allow_merge(&self, join: bool, members: &[MemberView<'_>]) -> bool {
        let _ = (join, members);
        true
    }

    /// The application state to send in a push/pull, knowing whether it is a join
    /// (memberlist's `Delegate.LocalState`): append it to `out` and return true. Returning
    /// false sends what [`Memberlist::set_local_state`](crate::Memberlist::set_local_state)
    /// set.
    fn local_state(&self, join: bool, out: &mut Vec<u8>) -> bool {
        let _ = (join, out);
        false
    }

    /// The payload of the acks this node sends (memberlist's `PingDelegate.AckPayload`):
    /// append it to `out`, which is empty. Keep it small: it rides in every ack.
    fn ack_payload(&self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// A probe of `member` was answered directly after `rtt`, with the ack payload `payload`
    /// (memberlist's `PingDelegate.NotifyPingComplete`; Serf's network coordinates are built
    /// on it).
    fn ping_complete(&self, member: &MemberView<'_>, rtt: Duration, payload: &[u8]) {
        let _ = (member, rtt, payload);
    }

    /// Whether a probe of `member` that got no direct ack also tries a ping over a stream
    /// (memberlist's `DisableTcpPingsForNode`, inverted; `Config::disable_tcp_pings` turns it
    /// off for everyone first).
    fn stream_ping(&self, member: &str) -> bool {
        let _ = member;
        true
    }
}

impl fmt::Debug for dyn Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hooks")
    }
}
