//! Protocol layers above membership: an [`Extension`] rides in memberlist's user messages,
//! push/pull state and gossip, and drives the node only through its public API. rumor's
//! replicated map and relayed broadcasts ([`crate::kv`]) are one; an application can install
//! its own with [`Memberlist::set_extension`](crate::Memberlist::set_extension).
//!
//! The node calls its extension at fixed points, with itself as `node`. While the extension
//! runs it is out of the node: what it does through `node` (sending, broadcasting) does not
//! come back to it. An extension does no I/O, like the node.

use alloc::vec::Vec;
use core::any::Any;
use core::net::SocketAddr;

use crate::{Event, InputErrorKind, Instant, Memberlist};

/// Which side of a push/pull the node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPullPeer<'a> {
    /// The node dialled `addr` (a join or a periodic push/pull).
    Dialed(SocketAddr),
    /// The node answers a peer whose request carried the application state `request`.
    Answering {
        /// The request's user state, as it arrived.
        request: &'a [u8],
        /// Where the stream came from (its IP proved by TCP's handshake; its port is the
        /// peer's own, not the member's).
        from: SocketAddr,
    },
}

/// What to do with one queued broadcast in a packet for one target
/// ([`Extension::gossip_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gossip {
    /// Send it as it is.
    Send,
    /// Leave it out of this packet (it stays queued for others).
    Skip,
    /// Send only its bytes from this offset on (for example a plain message inside an
    /// envelope the target would not understand).
    From(usize),
}

/// A layer above membership. Every method but [`Extension::poll_timeout`] has a default
/// that does nothing, so an extension implements only what it uses.
pub trait Extension: Send + Any {
    /// A user message arrived: `from` is the datagram's source (`None` over a stream) and
    /// `sender` the address it came from either way. Returns true if it was the extension's
    /// (the application does not see it), or an error for a malformed one.
    fn on_message(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        from: Option<SocketAddr>,
        sender: SocketAddr,
        payload: &[u8],
    ) -> Result<bool, InputErrorKind> {
        let _ = (node, now, from, sender, payload);
        Ok(false)
    }

    /// The user state of a push/pull this node sends to `peer`: write it into `out` (the
    /// extension's part and the application's `app`) and return true, or return false to
    /// send `app` as it is.
    fn push_pull_state(
        &mut self,
        node: &Memberlist,
        join: bool,
        peer: PushPullPeer<'_>,
        app: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = (node, join, peer, app, out);
        false
    }

    /// A push/pull's user state arrived from `peer`: returns the application's part (all of
    /// it, by default), which becomes [`Event::RemoteState`].
    fn on_push_pull_state<'a>(
        &mut self,
        node: &mut Memberlist,
        now: Instant,
        peer: PushPullPeer<'_>,
        state: &'a [u8],
    ) -> Result<&'a [u8], InputErrorKind> {
        let _ = (node, now, peer);
        Ok(state)
    }

    /// One queued broadcast (its message type byte first) about to be piggybacked to `to`.
    fn gossip_to(&mut self, to: SocketAddr, message: &[u8]) -> Gossip {
        let _ = (to, message);
        Gossip::Send
    }

    /// An application broadcast is being queued: return the message to queue instead (an
    /// envelope), or `None` to queue it as it is.
    fn wrap_broadcast(&mut self, node: &mut Memberlist, payload: &[u8]) -> Option<Vec<u8>> {
        let _ = (node, payload);
        None
    }

    /// The extension's next deadline, if any.
    fn poll_timeout(&self) -> Option<Instant>;

    /// A deadline may have passed (the node calls it on every timeout; early calls must be
    /// harmless).
    fn handle_timeout(&mut self, node: &mut Memberlist, now: Instant) {
        let _ = (node, now);
    }

    /// The next event the extension has for the application; the node hands these out
    /// after its own.
    fn poll_event(&mut self) -> Option<Event> {
        None
    }
}

impl core::fmt::Debug for dyn Extension {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Extension")
    }
}
