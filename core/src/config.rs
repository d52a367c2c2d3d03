//! Configuration. Every number taken from memberlist names its source.

/// Bounds on what a peer may make this node decode, buffer or allocate. Every length or count
/// read from the network is checked against one of these before it is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most node states in one push/pull (memberlist ≥ 0.5 `maxPushStateNodes`).
    pub max_push_nodes: usize,
    /// Most bytes of application state in one push/pull (memberlist `maxPushStateBytes`).
    pub max_user_state: usize,
    /// Most bytes of one user message on a stream (memberlist ≥ 0.5 `maxUserMsgBytes`).
    pub max_user_msg: usize,
    /// Most bytes of one encrypted stream frame (memberlist `maxPushStateBytes`).
    pub max_stream_frame: usize,
    /// Most bytes a compressed stream message may expand to (memberlist ≥ 0.5
    /// `maxDecompressedBytes`).
    pub max_decompressed: usize,
    /// Most bytes a compressed datagram may expand to. memberlist has no such limit; a
    /// datagram is at most 64 KiB and its sender compressed it from a packet-sized message,
    /// so 1 MiB leaves room for any honest sender.
    pub max_packet_decompressed: usize,
}

impl Limits {
    /// memberlist's limits.
    pub const DEFAULT: Self = Self {
        max_push_nodes: 1 << 20,
        max_user_state: 20 << 20,
        max_user_msg: 20 << 20,
        max_stream_frame: 20 << 20,
        max_decompressed: 40 << 20,
        max_packet_decompressed: 1 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
