//! What an unauthenticated peer can make a node hold or send: each attack of the hardening
//! work as a test. Memory is measured with a counting allocator, traffic by draining a node's
//! outputs and adding up the bytes per destination.

use std::alloc::System;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use rumor_conformance::sim::{LinkModel, Sim};
use rumor_core::wire::{Alive, Encode, IpBytes, Vsn, encode_label};
use rumor_core::{Config, ConfigError, Instant, KvConfig, Memberlist, StreamCommand, StreamInput};
use tracking_allocator::{AllocationGroupId, AllocationRegistry, AllocationTracker, Allocator};

#[global_allocator]
static GLOBAL: Allocator<System> = Allocator::system();

/// Bytes allocated now, and the most at once since the last reset.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Meter;

impl AllocationTracker for Meter {
    fn allocated(&self, _: usize, size: usize, _: usize, _: AllocationGroupId) {
        let now = CURRENT.fetch_add(size, Relaxed) + size;
        PEAK.fetch_max(now, Relaxed);
    }
    fn deallocated(
        &self,
        _: usize,
        size: usize,
        _: usize,
        _: AllocationGroupId,
        _: AllocationGroupId,
    ) {
        CURRENT.fetch_sub(size, Relaxed);
    }
}

/// The tests run one at a time: the allocator's counts are process-wide, and any test's
/// allocations would show in another's measurement.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f`, returning its result, the peak heap above the start and what it left allocated.
fn metered<T>(f: impl FnOnce() -> T) -> (T, usize, isize) {
    let _ = AllocationRegistry::set_global_tracker(Meter);
    AllocationRegistry::enable_tracking();
    let start = CURRENT.load(Relaxed);
    PEAK.store(start, Relaxed);
    let r = f();
    let peak = PEAK.load(Relaxed).saturating_sub(start);
    let left = CURRENT.load(Relaxed) as isize - start as isize;
    AllocationRegistry::disable_tracking();
    (r, peak, left)
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 7946))
}

fn node(config: Config, name: &str, i: u8) -> Memberlist {
    Memberlist::new(config, name, addr(i), b"", [i; 32], Instant::ZERO).expect("config")
}

/// Reports what a push/pull of `len` bytes made the node hold, and fails if the peak was
/// over 4x the bytes or 64 KiB or more stayed after the stream ended.
fn held_within_bounds(what: &str, len: usize, peak: usize, left: isize) {
    println!(
        "{what} ({len} bytes): peak {peak} ({:.2}x), left {left}",
        peak as f64 / len as f64
    );
    assert!(
        peak <= 4 * len,
        "a {len}-byte push/pull made the node hold {peak} bytes at the peak"
    );
    assert!(
        left < 64 << 10,
        "{left} bytes stayed after the stream ended"
    );
}

/// A push/pull message (type byte first) claiming `nodes` states, followed by `states` (the
/// encoded states the sender really sent).
fn push_pull(nodes: u32, states: &[u8]) -> Vec<u8> {
    let mut v = vec![0x06, 0x83, 0xa4];
    v.extend_from_slice(b"Join");
    v.push(0xc2);
    v.push(0xa5);
    v.extend_from_slice(b"Nodes");
    v.push(0xce);
    v.extend_from_slice(&nodes.to_be_bytes());
    v.push(0xac);
    v.extend_from_slice(b"UserStateLen");
    v.push(0x00);
    v.extend_from_slice(states);
    v
}

/// Feeds `msg` to `m` as an inbound stream and closes it; drains what it caused.
fn serve(m: &mut Memberlist, now: Instant, msg: &[u8]) {
    let id = m.accept_stream(now, addr(99)).expect("stream");
    let _ = m.handle_stream(now, id, StreamInput::Data(msg));
    let _ = m.handle_stream(now, id, StreamInput::Closed);
    while m.poll_stream().is_some() {}
    while m.poll_event().is_some() {}
    let mut buf = Vec::new();
    while m.poll_transmit(now, &mut buf).is_some() {}
}

#[test]
fn a_push_pull_claiming_a_million_members_holds_at_most_four_times_its_bytes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = node(Config::local(), "victim", 1);
    // 1,048,576 claimed members, each one byte (an empty map): 1 MiB on the wire.
    let msg = push_pull(1 << 20, &vec![0x80; 1 << 20]);
    let ((), peak, left) = metered(|| serve(&mut m, Instant::ZERO, &msg));
    held_within_bounds(
        "push/pull claiming 2^20 one-byte members",
        msg.len(),
        peak,
        left,
    );
    assert_eq!(m.num_known(), 1, "nothing merged");
}

#[test]
fn a_push_pull_of_a_million_small_members_is_refused_without_growth() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = node(Config::local(), "victim", 1);
    // 1,048,576 states that decode ({"Name": "nNNNNNN"}, 14 bytes each): 14 MiB.
    let mut states = Vec::with_capacity(14 << 20);
    for i in 0..(1u32 << 20) {
        states.extend_from_slice(&[0x81, 0xa4]);
        states.extend_from_slice(b"Name");
        states.push(0xa7);
        states.extend_from_slice(format!("n{i:06x}").as_bytes());
    }
    let msg = push_pull(1 << 20, &states);
    drop(states);
    let ((), peak, left) = metered(|| serve(&mut m, Instant::ZERO, &msg));
    held_within_bounds("push/pull of 2^20 decodable members", msg.len(), peak, left);
}

#[test]
fn many_push_pulls_at_once_hold_at_most_four_times_what_arrived() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = node(Config::local(), "victim", 1);
    // Every inbound stream the node accepts, each part-way through a push/pull claiming
    // 2^20 members: what the node holds grows with the bytes that arrived, not the claims.
    let msg = push_pull(1 << 20, &vec![0x80; 1 << 20]);
    let part = &msg[..msg.len() / 2];
    let streams = Config::local().max_inbound_streams;
    let ((), peak, _) = metered(|| {
        for k in 0..streams {
            let id = m
                .accept_stream(Instant::ZERO, SocketAddr::from(([10, 9, 0, k as u8], 4000)))
                .expect("a stream");
            let _ = m.handle_stream(Instant::ZERO, id, StreamInput::Data(part));
        }
    });
    let arrived = streams * part.len();
    println!(
        "{streams} push/pulls half-way ({arrived} bytes): peak {peak} ({:.2}x)",
        peak as f64 / arrived as f64
    );
    assert!(
        peak <= 4 * arrived,
        "{arrived} bytes made the node hold {peak}"
    );
}

#[test]
fn a_merge_keeps_no_room_for_members_it_does_not_add() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = node(Config::local(), "victim", 1);
    // 20,000 members reported dead that this node never knew: nothing to add. Before, the
    // merge reserved a table slot for each, and kept the room.
    let mut states = Vec::new();
    for i in 0..20_000u32 {
        // All seven fields, as memberlist writes them.
        states.extend_from_slice(&[0x87, 0xa4]);
        states.extend_from_slice(b"Name");
        states.push(0xa7);
        states.extend_from_slice(format!("d{i:06x}").as_bytes());
        states.push(0xa4);
        states.extend_from_slice(b"Addr");
        states.extend_from_slice(&[0xc4, 4, 10, 1, (i >> 8) as u8, i as u8]);
        states.push(0xa4);
        states.extend_from_slice(b"Port");
        states.extend_from_slice(&[0xcd, 0x1f, 0x0a]);
        states.push(0xa4);
        states.extend_from_slice(b"Meta");
        states.push(0xc0);
        states.push(0xab);
        states.extend_from_slice(b"Incarnation");
        states.push(0x01);
        states.push(0xa5);
        states.extend_from_slice(b"State");
        states.push(0x02);
        states.push(0xa3);
        states.extend_from_slice(b"Vsn");
        states.extend_from_slice(&[0x96, 1, 5, 2, 0, 0, 0]);
    }
    let msg = push_pull(20_000, &states);
    let ((), peak, left) = metered(|| serve(&mut m, Instant::ZERO, &msg));
    assert!(peak <= 4 * msg.len(), "peak {peak} for {} bytes", msg.len());
    // What stays is the buffers the answer reuses (its encoder, LZW's tables), not room
    // for 20,000 members.
    assert!(left < 64 << 10, "the merge left {left} bytes allocated");
    assert_eq!(m.num_known(), 1);
}

/// Everything `m` sends after an input, by destination (datagrams and stream bytes).
fn sent(m: &mut Memberlist, now: Instant) -> HashMap<SocketAddr, usize> {
    let mut out = HashMap::new();
    let mut buf = Vec::new();
    while let Some(t) = m.poll_transmit(now, &mut buf) {
        *out.entry(t.to).or_default() += t.len;
    }
    stream_bytes(m, now, &mut out);
    out
}

/// Brings `m`'s timers to `now` and drains what they send, so that what an input causes
/// next is all the input's doing.
fn settle(m: &mut Memberlist, now: Instant) {
    m.handle_timeout(now);
    let _ = sent(m, now);
}

/// Adds the bytes `m` writes on streams, by destination.
fn stream_bytes(m: &mut Memberlist, now: Instant, out: &mut HashMap<SocketAddr, usize>) {
    let mut dest = HashMap::new();
    while let Some(c) = m.poll_stream() {
        match c {
            StreamCommand::Connect { id, to } => {
                dest.insert(id, to);
                let _ = m.handle_stream(now, id, StreamInput::Connected);
            }
            StreamCommand::Send { id, data } => {
                if let Some(to) = dest.get(&id) {
                    *out.entry(*to).or_default() += data.len();
                }
            }
            StreamCommand::Close { .. } => {}
        }
    }
    while m.poll_event().is_some() {}
}

/// A digest message (a user message: type byte, marker, kind) from `from` with no rows.
fn digest(from: &str, flags: u8) -> Vec<u8> {
    let mut v = vec![0x08, 0xc1, b'r', b'u', 1, 4, flags, from.len() as u8];
    v.extend_from_slice(from.as_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// Three nodes with the map on, node 0 holding 2,000 keys (about 200 KB); returns the sim
/// with node 0 taken out of it.
fn map_cluster() -> (Sim, Memberlist) {
    let mut sim = Sim::new(9, LinkModel::default());
    let config = Config {
        kv: KvConfig::enabled(),
        ..Config::local()
    };
    for i in 0..3 {
        sim.add_node(config.clone(), &format!("node-{i}"), b"");
    }
    for i in 1..3 {
        sim.with(i, |c, now| c.join(now, &[Sim::addr_of(0)]));
    }
    sim.run_for(Duration::from_secs(3));
    for k in 0..2000 {
        sim.with(0, |c, now| {
            let _ = c.kv_set(now, &format!("key-{k:05}"), &[7; 100]);
        });
    }
    sim.run_for(Duration::from_secs(1));
    let m = sim.nodes[0].core.take().expect("node 0");
    (sim, m)
}

#[test]
fn a_spoofed_digest_sends_nothing_to_a_third_party() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (sim, mut m) = map_cluster();
    let now = sim.now() + Duration::from_secs(1);
    settle(&mut m, now);
    // From an outsider, naming node-2: before, node 0 pushed its whole map to node-2.
    let attacker = SocketAddr::from(([10, 9, 9, 9], 4000));
    let request = digest("node-2", 1);
    let _ = m.handle_packet(now, attacker, &request);
    let out = sent(&mut m, now);
    assert_eq!(
        out.get(&Sim::addr_of(2)),
        None,
        "nothing to the named third party: {out:?}"
    );
    assert_eq!(
        out.get(&attacker),
        None,
        "nothing to a source that is not the named member"
    );
    assert!(m.kv_stats().refused_requests >= 1);
}

#[test]
fn a_datagram_request_gets_at_most_three_times_its_size_and_a_budget_bounds_repeats() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (sim, mut m) = map_cluster();
    let now = sim.now() + Duration::from_secs(1);
    settle(&mut m, now);
    // Spoofed as node-1 itself (the only source that gets an answer): the answer, a 200 KB
    // delta, would be 3,000 times the request; it may be at most three times.
    let victim = Sim::addr_of(1);
    let request = digest("node-1", 1);
    let mut worst = 0f64;
    let mut total = 0;
    for k in 0..100u64 {
        let t = now + Duration::from_millis(k);
        settle(&mut m, t);
        let _ = m.handle_packet(t, victim, &request);
        let bytes = sent(&mut m, t).get(&victim).copied().unwrap_or(0);
        worst = worst.max(bytes as f64 / request.len() as f64);
        total += bytes;
    }
    println!(
        "worst answer to one {}-byte datagram request: {worst:.2}x; 100 requests in 100 ms got \
         {total} bytes",
        request.len()
    );
    assert!(worst <= 3.0, "an answer of {worst:.1}x the request");
    assert!(
        total <= 3 * request.len(),
        "the budget let 100 repeated requests get {total} bytes"
    );
}

fn alive(name: &str, meta: &[u8], port: u16) -> Vec<u8> {
    let a = Alive {
        incarnation: 1,
        node: name,
        addr: IpBytes::from(std::net::IpAddr::from([10, 0, 0, 7])),
        port,
        meta,
        vsn: Vsn {
            protocol_min: 1,
            protocol_max: 5,
            protocol_cur: 2,
            delegate_min: 0,
            delegate_max: 0,
            delegate_cur: 0,
        },
    };
    let mut v = Vec::new();
    a.encode_to_vec(&mut v).expect("encode");
    v
}

#[test]
fn names_and_metadata_from_peers_are_bounded() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = node(Config::local(), "victim", 1);
    let now = Instant::ZERO;
    let fine = alive("ok", &[1; 512], 7000);
    assert!(m.handle_packet(now, addr(7), &fine).is_ok());
    let long_meta = alive("meta", &[1; 513], 7001);
    assert!(m.handle_packet(now, addr(7), &long_meta).is_err());
    let long_name = alive(&"n".repeat(513), b"", 7002);
    assert!(m.handle_packet(now, addr(7), &long_name).is_err());
    let names: Vec<_> = m.all_members().map(|m| m.name.to_string()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // The node's own name and the UDP buffer are bounded too.
    let own = Memberlist::new(
        Config::local(),
        &"x".repeat(600),
        addr(1),
        b"",
        [1; 32],
        now,
    );
    assert!(matches!(own, Err(ConfigError::NameTooLong(600))));
    let big = Config {
        udp_buffer_size: 100_000,
        ..Config::local()
    };
    assert!(matches!(big.validate(), Err(ConfigError::UdpBufferSize(_))));
}

#[test]
fn made_up_members_fill_the_table_only_to_its_bound() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut config = Config::local();
    config.limits.max_members = 100;
    let mut m = node(config, "victim", 1);
    let now = Instant::ZERO;
    for i in 0..1_000u16 {
        let _ = m.handle_packet(now, addr(7), &alive(&format!("fake-{i}"), b"", 7000 + i));
    }
    assert_eq!(m.num_known(), 100, "the table stops at its bound");
    assert!(m.member("victim").is_some(), "the node itself stays");
    // Members already known still get their news.
    let known = m
        .all_members()
        .find(|x| &*x.name != "victim")
        .expect("a member");
    let mut again = alive(&known.name, b"new", known.addr.port());
    // incarnation 1 -> 2: rewrite the fixint after "Incarnation".
    let at = again
        .windows(11)
        .position(|w| w == b"Incarnation")
        .expect("field")
        + 11;
    again[at] = 2;
    assert!(m.handle_packet(now, addr(7), &again).is_ok());
    assert_eq!(m.member(&known.name).expect("kept").meta.as_ref(), b"new");
}

/// Found by the state-machine fuzzer: memberlist leaves a CRC (5 bytes) and the message's
/// own part length (2 bytes) out of its piggyback budget, so its datagrams can exceed
/// `UDPBufferSize`; rumor's never do.
#[test]
fn datagrams_stay_within_udp_buffer_size_with_crc_and_piggybacked_gossip() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let config = Config {
        enable_compression: false,
        ..Config::local()
    };
    let mut m = node(config, "victim", 1);
    let mut now = Instant::ZERO;
    // 300 members that speak protocol 5 (so they get a CRC), with news queued about each.
    for i in 0..300u16 {
        let _ = m.handle_packet(now, addr(7), &alive(&format!("member-{i:04}"), &[7; 20], i));
    }
    let (mut sent, mut largest) = (0, 0);
    let mut buf = Vec::new();
    for _ in 0..200 {
        now = now + Duration::from_millis(50);
        m.handle_timeout(now);
        while let Some(t) = m.poll_transmit(now, &mut buf) {
            sent += 1;
            largest = largest.max(t.len);
        }
        while m.poll_stream().is_some() {}
        while m.poll_event().is_some() {}
    }
    assert!(sent > 50, "{sent} datagrams");
    assert!(
        largest >= 1_300,
        "the gossip filled datagrams ({largest} bytes)"
    );
    assert!(largest <= 1_400, "a datagram of {largest} bytes");
}

/// A ping whose source is forged gets its bare ack: gossip rides only on datagrams to
/// members at their own addresses (memberlist piggybacks on every ack, so a 60-byte ping
/// sends up to `UDPBufferSize` to whoever the forger names).
#[test]
fn a_forged_ping_gets_a_bare_ack_and_members_still_get_gossip() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let config = Config {
        enable_compression: false,
        ..Config::local()
    };
    let mut m = node(config, "victim", 1);
    let now = Instant::ZERO;
    for i in 0..300u16 {
        let _ = m.handle_packet(now, addr(7), &alive(&format!("member-{i:04}"), &[7; 20], i));
    }
    let member = m.member("member-0042").expect("a member").addr;
    let ping = |source: SocketAddr, name: &str| {
        let mut v = Vec::new();
        rumor_core::wire::Ping {
            seq_no: 9,
            node: "victim",
            source_addr: IpBytes::from(source.ip()),
            source_port: source.port(),
            source_node: name,
        }
        .encode_to_vec(&mut v)
        .expect("encode");
        v
    };
    let stranger = SocketAddr::from(([192, 0, 2, 1], 53));
    let forged = ping(stranger, "member-0042");
    let _ = m.handle_packet(now, addr(99), &forged);
    let out = sent(&mut m, now);
    let to_stranger = out.get(&stranger).copied().unwrap_or(0);
    println!(
        "forged {}-byte ping: {to_stranger} bytes to the address it named ({:.2}x)",
        forged.len(),
        to_stranger as f64 / forged.len() as f64
    );
    assert!(to_stranger > 0, "answered");
    assert!(
        to_stranger <= forged.len(),
        "{to_stranger} bytes to a stranger for a {}-byte ping",
        forged.len()
    );
    let honest = ping(member, "member-0042");
    let _ = m.handle_packet(now, member, &honest);
    let to_member = sent(&mut m, now).get(&member).copied().unwrap_or(0);
    assert!(
        to_member > 1_000,
        "the member's ack carried gossip ({to_member} bytes)"
    );
}

/// Found by the state-machine fuzzer: a suspicion of this node at incarnation u32::MAX made
/// its refutation wrap its own incarnation to 0 (memberlist 0.2.2 wraps it the same way).
#[test]
fn an_accusation_at_the_top_incarnation_does_not_wrap_the_nodes_own() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut m = node(Config::local(), "victim", 1);
    let mut v = Vec::new();
    rumor_core::wire::Suspect {
        incarnation: u32::MAX,
        node: "victim",
        from: "liar",
    }
    .encode_to_vec(&mut v)
    .expect("encode");
    let _ = m.handle_packet(Instant::ZERO, addr(7), &v);
    let me = m.local_node().expect("itself");
    assert_eq!(me.incarnation, u32::MAX);
    assert_eq!(me.state, rumor_core::MemberState::Alive);
}

#[test]
fn extreme_intervals_are_refused_instead_of_overflowing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let huge = Config {
        probe_interval: Duration::from_secs(u64::MAX / 4),
        probe_timeout: Duration::from_secs(1),
        ..Config::local()
    };
    assert_eq!(huge.validate(), Err(ConfigError::Overflow));
    let many = Config {
        awareness_max_multiplier: u32::MAX,
        ..Config::local()
    };
    assert_eq!(many.validate(), Err(ConfigError::Overflow));
    assert!(Memberlist::new(huge, "a", addr(1), b"", [1; 32], Instant::ZERO).is_err());
}

#[test]
fn the_relay_queue_is_bounded_even_without_stale_expiry() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let config = Config {
        relay_broadcasts: true,
        broadcast_stale_mult: 0,
        ..Config::local()
    };
    let mut m = node(config, "victim", 1);
    let cap = m.config().limits.max_queued_broadcasts;
    let now = Instant::ZERO;
    // Relay envelopes with fresh ids from a member address, far more than the bound.
    for id in 0..(cap as u64 + 10_000) {
        let mut v = vec![0x08, 0xc1, b'r', b'u', 1, 2];
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&[0x08, b'x']);
        let _ = m.handle_packet(now, addr(7), &v);
    }
    // (Beside the relay queue, the membership queue holds this node's own alive.)
    assert!(
        m.queued_broadcasts() <= cap + 1,
        "{} queued, bound {cap}",
        m.queued_broadcasts()
    );
}

#[test]
fn a_stream_with_the_wrong_label_is_closed_without_a_word() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let config = Config {
        label: b"prod".to_vec(),
        ..Config::local()
    };
    let mut m = node(config, "victim", 1);
    let now = Instant::ZERO;
    for label in [&b"staging"[..], b""] {
        // A ping over a stream, labelled `label` (or not at all).
        let mut inner = vec![0x00, 0x81, 0xa5];
        inner.extend_from_slice(b"SeqNo");
        inner.push(0x01);
        let mut msg = vec![0u8; 2 + label.len()];
        let n = encode_label(label, &mut msg).expect("label");
        msg.truncate(n);
        msg.extend_from_slice(&inner);
        let id = m.accept_stream(now, addr(9)).expect("stream");
        let r = m.handle_stream(now, id, StreamInput::Data(&msg));
        assert!(r.is_err(), "refused");
        let mut replied = false;
        while let Some(c) = m.poll_stream() {
            replied |= matches!(c, StreamCommand::Send { .. });
        }
        assert!(!replied, "a stream labelled {label:?} got an answer");
    }
}
