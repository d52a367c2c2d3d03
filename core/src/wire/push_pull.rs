//! The push/pull stream message (type 6, spec §9.2): a header, `Nodes` node states, then
//! `UserStateLen` raw bytes of application state.

use super::error::{DecodeError, EncodeError};
use super::message::{PushNodeState, PushPullHeader};
use super::msgpack::{Reader, Writer};
use super::types::MessageType;
use crate::config::Limits;

/// A decoded push/pull message. The node states are validated for structure when the message
/// is decoded and decoded field by field as you iterate, so decoding allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct PushPull<'a> {
    /// True for a join.
    pub join: bool,
    /// The member states.
    pub nodes: NodeStates<'a>,
    /// The sender's application state (memberlist's `Delegate.LocalState`).
    pub user_state: &'a [u8],
}

impl<'a> PushPull<'a> {
    /// Decodes the body after the type byte, returning the message and the bytes it took.
    ///
    /// `Nodes` and `UserStateLen` are checked against `limits` before anything is trusted;
    /// [`DecodeError::Truncated`] means the bytes end early (on a stream: wait for more).
    pub fn decode_body(body: &'a [u8], limits: &Limits) -> Result<(Self, usize), DecodeError> {
        let mut r = Reader::new(body);
        let (header, count, user_len) = read_header(&mut r, limits)?;
        let start = r.position();
        for _ in 0..count {
            // A state in memberlist's own form is passed with its keys compared, not parsed.
            if !PushNodeState::skip_go_form(&mut r) {
                r.skip()?;
            }
        }
        let states = &body[start..r.position()];
        let user_state = r.take(user_len)?;
        Ok((
            Self {
                join: header.join,
                nodes: NodeStates {
                    buf: states,
                    remaining: count,
                },
                user_state,
            },
            r.position(),
        ))
    }
}

/// A push/pull decoded in one pass by [`PushPull::decode_body_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushPullParts<'a> {
    /// True for a join.
    pub join: bool,
    /// The sender's application state.
    pub user_state: &'a [u8],
    /// Bytes of the body taken.
    pub used: usize,
}

impl<'a> PushPull<'a> {
    /// Decodes the body after the type byte in a single pass, appending every node state to
    /// `states` (a reused vector allocates nothing). Limits are checked as in
    /// [`PushPull::decode_body`]; on error, `states` holds the states decoded before it.
    pub fn decode_body_into(
        body: &'a [u8],
        limits: &Limits,
        states: &mut alloc::vec::Vec<PushNodeState<'a>>,
    ) -> Result<PushPullParts<'a>, DecodeError> {
        let mut r = Reader::new(body);
        let (header, count, user_len) = read_header(&mut r, limits)?;
        // A count the input cannot hold is refused before anything is reserved for it: each
        // state decodes into `size_of::<PushNodeState>()` bytes, and a real one takes more
        // than half of that on the wire (memberlist writes all seven fields, whose names
        // alone are 42 bytes), so what the list holds stays within twice the bytes that came.
        let size = core::mem::size_of::<PushNodeState<'_>>();
        if count > r.remaining() || count.saturating_mul(size) > 2 * r.remaining() {
            return Err(DecodeError::TooLarge {
                what: "push/pull node count for its size",
                len: count,
                limit: 2 * r.remaining() / size,
            });
        }
        states.reserve(count);
        for _ in 0..count {
            states.push(PushNodeState::read(&mut r)?);
        }
        let user_state = r.take(user_len)?;
        Ok(PushPullParts {
            join: header.join,
            user_state,
            used: r.position(),
        })
    }
}

/// Reads the header and checks its counts against `limits` before they are trusted.
fn read_header(
    r: &mut Reader<'_>,
    limits: &Limits,
) -> Result<(PushPullHeader, usize, usize), DecodeError> {
    let header = r.decode_struct::<PushPullHeader>()?;
    let count = header.nodes as usize;
    if count > limits.max_push_nodes {
        return Err(DecodeError::TooLarge {
            what: "push/pull node count",
            len: count,
            limit: limits.max_push_nodes,
        });
    }
    let user_len = header.user_state_len as usize;
    if user_len > limits.max_user_state {
        return Err(DecodeError::TooLarge {
            what: "push/pull user state",
            len: user_len,
            limit: limits.max_user_state,
        });
    }
    Ok((header, count, user_len))
}

/// The node states of a [`PushPull`], decoded one by one.
#[derive(Debug, Clone, Copy)]
pub struct NodeStates<'a> {
    buf: &'a [u8],
    remaining: usize,
}

impl NodeStates<'_> {
    /// How many states are left.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// True when no states are left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl<'a> Iterator for NodeStates<'a> {
    type Item = Result<PushNodeState<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let mut r = Reader::new(self.buf);
        match PushNodeState::read(&mut r) {
            Ok(s) => {
                self.buf = r.rest();
                Some(Ok(s))
            }
            Err(e) => {
                self.remaining = 0;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// Writes a push/pull message into a caller-provided buffer: the header, then each state with
/// [`PushPullWriter::push`], then [`PushPullWriter::finish`] with the application state.
///
/// Size the buffer with [`push_pull_len`].
#[derive(Debug)]
pub struct PushPullWriter<'b> {
    w: Writer<'b>,
    declared: u32,
    pushed: u32,
    user_state_len: u32,
}

/// Length of a push/pull message with these states and `user_state_len` bytes of state.
pub fn push_pull_len<'s>(
    join: bool,
    states: impl IntoIterator<Item = &'s PushNodeState<'s>>,
    user_state_len: usize,
) -> usize {
    let mut n = 0u32;
    let mut len = 0usize;
    for s in states {
        n += 1;
        len += s.encoded_len();
    }
    let header = PushPullHeader {
        nodes: n,
        user_state_len: u32::try_from(user_state_len).unwrap_or(u32::MAX),
        join,
    };
    1 + header.len() + len + user_state_len
}

impl<'b> PushPullWriter<'b> {
    /// Starts a message that will hold `nodes` states and `user_state_len` bytes of state.
    pub fn new(
        out: &'b mut [u8],
        join: bool,
        nodes: u32,
        user_state_len: usize,
    ) -> Result<Self, EncodeError> {
        let user_state_len = u32::try_from(user_state_len).map_err(|_| EncodeError::TooLarge {
            what: "push/pull user state",
            len: user_state_len,
            limit: u32::MAX as usize,
        })?;
        let mut w = Writer::new(out);
        w.byte(MessageType::PushPull as u8)?;
        PushPullHeader {
            nodes,
            user_state_len,
            join,
        }
        .write(&mut w)?;
        Ok(Self {
            w,
            declared: nodes,
            pushed: 0,
            user_state_len,
        })
    }

    /// Appends one node state.
    pub fn push(&mut self, state: &PushNodeState<'_>) -> Result<(), EncodeError> {
        if self.pushed == self.declared {
            return Err(EncodeError::CountMismatch {
                declared: self.declared as usize,
                written: self.pushed as usize + 1,
            });
        }
        state.write(&mut self.w)?;
        self.pushed += 1;
        Ok(())
    }

    /// Appends the application state and returns the message length.
    pub fn finish(mut self, user_state: &[u8]) -> Result<usize, EncodeError> {
        if self.pushed != self.declared {
            return Err(EncodeError::CountMismatch {
                declared: self.declared as usize,
                written: self.pushed as usize,
            });
        }
        if user_state.len() != self.user_state_len as usize {
            return Err(EncodeError::CountMismatch {
                declared: self.user_state_len as usize,
                written: user_state.len(),
            });
        }
        self.w.raw(user_state)?;
        Ok(self.w.position())
    }
}
