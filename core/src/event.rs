//! What the core hands the application and the adapter: events, stream commands, datagrams.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::wire::Vsn;

/// A member's state (memberlist `NodeStateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; declared dead unless it refutes in time.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully.
    Left,
}

/// A snapshot of a member, as events and [`crate::Memberlist::members`] report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique name.
    pub name: Box<str>,
    /// Where it receives datagrams and streams.
    pub addr: SocketAddr,
    /// Application metadata.
    pub meta: Box<[u8]>,
    /// Its incarnation number.
    pub incarnation: u32,
    /// Its state as this node sees it.
    pub state: MemberState,
    /// The versions it advertises.
    pub vsn: Vsn,
}

/// Why a member left the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// It announced its departure.
    Left,
    /// It was declared dead.
    Failed,
}

/// Something the application should know. memberlist's `EventDelegate`, `Delegate.NotifyMsg`,
/// `MergeRemoteState` and `ConflictDelegate` become these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A member joined, or came back after failing or leaving (this node included, at start).
    MemberJoined(Member),
    /// A member's metadata changed.
    MemberUpdated(Member),
    /// A member left or failed.
    MemberLeft {
        /// The member as last known.
        member: Member,
        /// Left or failed.
        reason: LeaveReason,
    },
    /// A user message arrived (a broadcast, or a message sent to this node; memberlist's
    /// `NotifyMsg`).
    UserMessage {
        /// The application's bytes.
        payload: Vec<u8>,
        /// Where it came from: the datagram's source or the stream's peer (beyond memberlist,
        /// whose `NotifyMsg` does not say). A gossiped broadcast comes from the member that
        /// passed it on, not necessarily from its author.
        from: SocketAddr,
    },
    /// Another node's application state arrived in a push/pull.
    RemoteState {
        /// The state.
        state: Vec<u8>,
        /// True if it came with a join.
        join: bool,
    },
    /// A member claimed a name that another address holds.
    NameConflict {
        /// The member this node knows.
        existing: Member,
        /// The newcomer's claim.
        other: Member,
    },
    /// A [`crate::Memberlist::join`] finished.
    JoinFinished {
        /// What `join` returned.
        id: u64,
        /// How many seeds completed a push/pull.
        contacted: usize,
        /// How many did not.
        failed: usize,
    },
    /// A key of the replicated map changed on this node, under a prefix the application
    /// subscribed to ([`crate::Memberlist::kv_subscribe`]).
    KeyChanged(crate::kv::KvChange),
    /// The leave message went out (or no one was left to tell); the node can shut down.
    LeaveFinished,
    /// A broadcast queued with `notify` left this node's queue
    /// ([`crate::Memberlist::broadcast_with`]; memberlist's `Broadcast.Finished`).
    BroadcastFinished {
        /// What `broadcast_with` returned.
        id: u64,
        /// Sent its full number of times, replaced, or expired.
        outcome: crate::BroadcastOutcome,
    },
    /// An explicit ping ([`crate::Memberlist::ping`]) was answered, or not in time.
    PingResult {
        /// What `ping` returned.
        id: u32,
        /// The round-trip time; `None` if no ack came within `probe_timeout`.
        rtt: Option<core::time::Duration>,
        /// The ack's payload (the peer's `Hooks::ack_payload`).
        payload: Vec<u8>,
    },
}

/// Identifies one stream (a TCP connection) between the core and its adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// What the adapter should do with a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamCommand {
    /// Open a connection to `to`, then report [`StreamInput::Connected`] or
    /// [`StreamInput::Failed`].
    Connect {
        /// The new stream.
        id: StreamId,
        /// Where to.
        to: SocketAddr,
    },
    /// Write these bytes.
    Send {
        /// The stream.
        id: StreamId,
        /// The bytes, in order after any earlier `Send` on this stream.
        data: Vec<u8>,
    },
    /// Flush what was sent, then close the connection. No more input is expected.
    Close {
        /// The stream.
        id: StreamId,
    },
}

/// What happened on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamInput<'a> {
    /// An outbound connection is established.
    Connected,
    /// Bytes arrived.
    Data(&'a [u8]),
    /// The peer closed its side.
    Closed,
    /// The connection failed (connect error, reset, write error).
    Failed,
}

/// A datagram written by [`crate::Memberlist::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}
