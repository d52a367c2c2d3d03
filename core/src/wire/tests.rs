//! Decoder leniency (what Go accepts, spec §3.2 table T) and strictness (what it refuses), and
//! round trips of arbitrary values.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::config::Limits;

/// Builds msgpack by hand, so tests can write forms rumor never emits.
#[derive(Default)]
struct Mp(Vec<u8>);

impl Mp {
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn fixstr(self, s: &str) -> Self {
        let n = s.len() as u8;
        self.raw(&[0xa0 | n]).raw(s.as_bytes())
    }
    fn str8(self, s: &[u8]) -> Self {
        let n = s.len() as u8;
        self.raw(&[0xd9, n]).raw(s)
    }
    fn bin8(self, s: &[u8]) -> Self {
        let n = s.len() as u8;
        self.raw(&[0xc4, n]).raw(s)
    }
}

fn alive(buf: &[u8]) -> Result<Alive<'_>, DecodeError> {
    match decode_packet(buf)? {
        Message::Alive(a) => Ok(a),
        other => panic!("not alive: {other:?}"),
    }
}

#[test]
fn t01_bin_bytes_str8_name_unsorted_and_unknown_keys() {
    let b = Mp::default()
        .raw(&[4, 0x87])
        .fixstr("Vsn")
        .bin8(&[1, 5, 2, 0, 0, 0])
        .fixstr("Node")
        .str8(b"node-a")
        .fixstr("Unknown")
        .raw(&[0x92, 0x81, 0xa1, b'k', 0x93, 1, 2, 3, 0xc0]) // [{"k":[1,2,3]}, nil]
        .fixstr("Addr")
        .bin8(&[10, 0, 0, 1])
        .fixstr("Port")
        .raw(&[0xcd, 0x1f, 0x0a])
        .fixstr("Incarnation")
        .raw(&[0x01])
        .fixstr("Meta")
        .bin8(b"m")
        .0;
    let a = alive(&b).unwrap();
    assert_eq!(a.node, "node-a");
    assert_eq!(a.addr.as_bytes(), &[10, 0, 0, 1]);
    assert_eq!(a.port, 7946);
    assert_eq!(a.meta, b"m");
    assert_eq!(a.vsn.to_bytes(), [1, 5, 2, 0, 0, 0]);
}

#[test]
fn t02_t03_strings_and_keys_as_bin_are_accepted() {
    let b = Mp::default()
        .raw(&[3, 0x83])
        .bin8(b"From")
        .bin8(b"a")
        .bin8(b"Incarnation")
        .raw(&[0x07])
        .bin8(b"Node")
        .bin8(b"b")
        .0;
    let Message::Suspect(s) = decode_packet(&b).unwrap() else {
        panic!()
    };
    assert_eq!((s.from, s.node, s.incarnation), ("a", "b", 7));
}

#[test]
fn t04_vsn_as_an_int_array_and_short_vsn() {
    let b = Mp::default()
        .raw(&[4, 0x82])
        .fixstr("Vsn")
        .raw(&[0x96, 1, 5, 2, 0xcc, 0x80, 4, 3])
        .fixstr("Node")
        .fixstr("n")
        .0;
    assert_eq!(alive(&b).unwrap().vsn.to_bytes(), [1, 5, 2, 128, 4, 3]);
    let short = Mp::default()
        .raw(&[4, 0x81])
        .fixstr("Vsn")
        .raw(&[0xa3, 1, 5, 2])
        .0;
    assert_eq!(alive(&short).unwrap().vsn, Vsn::default());
    let too_big = Mp::default()
        .raw(&[4, 0x81])
        .fixstr("Vsn")
        .raw(&[0x91, 0xcd, 1, 0])
        .0;
    assert_eq!(
        alive(&too_big).unwrap_err(),
        DecodeError::IntegerOutOfRange { field: "Vsn" }
    );
}

#[test]
fn t05_t08_t09_t14_t15_t17_integers() {
    let hdr = |n: &[u8], u: &[u8]| {
        Mp::default()
            .raw(&[0x83])
            .fixstr("Join")
            .raw(&[0xc3])
            .fixstr("Nodes")
            .raw(n)
            .fixstr("UserStateLen")
            .raw(u)
            .0
    };
    let (h, _) =
        PushPullHeader::decode_body(&hdr(&[0xd1, 0, 200], &[0xd2, 0, 0, 0x9c, 0x40])).unwrap();
    assert_eq!((h.join, h.nodes, h.user_state_len), (true, 200, 40000));
    let (h, _) =
        PushPullHeader::decode_body(&hdr(&[0xcf, 0, 0, 0, 0, 0, 0, 0, 3], &[0xcc, 3])).unwrap();
    assert_eq!((h.nodes, h.user_state_len), (3, 3));
    assert_eq!(
        PushPullHeader::decode_body(&hdr(&[0xff], &[0])).unwrap_err(),
        DecodeError::IntegerOutOfRange { field: "Nodes" }
    );
    assert_eq!(
        PushPullHeader::decode_body(&hdr(&[0xcf, 1, 0, 0, 0, 0, 0, 0, 0], &[0])).unwrap_err(),
        DecodeError::IntegerOutOfRange { field: "Nodes" }
    );
    assert!(matches!(
        PushPullHeader::decode_body(&hdr(&[0xcb, 0, 0, 0, 0, 0, 0, 0, 0], &[0])),
        Err(DecodeError::InvalidType { field: "Nodes", .. })
    ));
    let nack = [
        11, 0x81, 0xa5, b'S', b'e', b'q', b'N', b'o', 0xcf, 0, 0, 0, 0, 0, 0, 0, 9,
    ];
    assert!(matches!(
        decode_packet(&nack),
        Ok(Message::Nack(Nack { seq_no: 9 }))
    ));
}

#[test]
fn t07_t12_t13_missing_nil_and_lower_case_keys() {
    let b = Mp::default()
        .raw(&[0, 0x83])
        .fixstr("node")
        .fixstr("ignored")
        .fixstr("Node")
        .raw(&[0xc0])
        .fixstr("seqno")
        .raw(&[5])
        .0;
    let Message::Ping(p) = decode_packet(&b).unwrap() else {
        panic!()
    };
    assert_eq!(p, Ping::default());
}

#[test]
fn t10_t11_struct_as_array_in_declaration_order_and_bool_as_int() {
    // indirectPingReq as an array: SeqNo, Target, Port, Node, Nack.
    let b = Mp::default()
        .raw(&[1, 0x95, 0x2a])
        .raw(&[0xa4, 10, 0, 0, 3])
        .raw(&[0x50])
        .fixstr("node-c")
        .raw(&[0x01])
        .0;
    let Message::IndirectPing(i) = decode_packet(&b).unwrap() else {
        panic!()
    };
    assert_eq!(i.seq_no, 42);
    assert_eq!(i.target.as_bytes(), &[10, 0, 0, 3]);
    assert_eq!((i.port, i.node, i.nack), (80, "node-c", true));
    // Extra array items are skipped.
    let b = [11, 0x93, 7, 0xc0, 0x90];
    assert!(matches!(
        decode_packet(&b),
        Ok(Message::Nack(Nack { seq_no: 7 }))
    ));
}

#[test]
fn t16_trailing_bytes_after_a_packet_message_are_ignored() {
    let mut b = Vec::new();
    Nack { seq_no: 3 }.encode_to_vec(&mut b).unwrap();
    b.extend_from_slice(&[0xde, 0xad]);
    assert!(matches!(
        decode_packet(&b),
        Ok(Message::Nack(Nack { seq_no: 3 }))
    ));
}

#[test]
fn refused_inputs_get_typed_errors() {
    assert_eq!(decode_packet(&[]).unwrap_err(), DecodeError::EmptyMessage);
    assert_eq!(
        decode_packet(&[99]).unwrap_err(),
        DecodeError::UnknownMessageType(99)
    );
    assert_eq!(
        decode_packet(&[6, 0x80]).unwrap_err(),
        DecodeError::UnexpectedMessageType(6)
    );
    assert_eq!(decode_packet(&[4]).unwrap_err(), DecodeError::Truncated);
    let five = Mp::default()
        .raw(&[4, 0x81])
        .fixstr("Addr")
        .raw(&[0xa5, 1, 2, 3, 4, 5])
        .0;
    assert_eq!(
        decode_packet(&five).unwrap_err(),
        DecodeError::InvalidAddress {
            field: "Addr",
            len: 5
        }
    );
    let bad_utf8 = Mp::default()
        .raw(&[4, 0x81])
        .fixstr("Node")
        .raw(&[0xa2, 0xff, 0xfe])
        .0;
    assert_eq!(
        decode_packet(&bad_utf8).unwrap_err(),
        DecodeError::InvalidUtf8 { field: "Node" }
    );
    // A string length running past the end.
    let long = Mp::default()
        .raw(&[4, 0x81])
        .fixstr("Node")
        .raw(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'x'])
        .0;
    assert_eq!(decode_packet(&long).unwrap_err(), DecodeError::Truncated);
    // A map claiming 2^32-1 entries.
    assert_eq!(
        decode_packet(&[4, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0]).unwrap_err(),
        DecodeError::Truncated
    );
}

#[test]
fn stream_limits_are_checked_before_anything_is_trusted() {
    let limits = Limits {
        max_push_nodes: 10,
        max_user_state: 100,
        max_user_msg: 50,
        ..Limits::default()
    };
    let header = |nodes: u32, user: u32| {
        let mut b = alloc::vec![6u8];
        let mut buf = [0u8; 64];
        let mut w = super::msgpack::Writer::new(&mut buf);
        PushPullHeader {
            nodes,
            user_state_len: user,
            join: false,
        }
        .write(&mut w)
        .unwrap();
        let n = w.position();
        b.extend_from_slice(&buf[..n]);
        b
    };
    assert!(matches!(
        decode_stream(&header(11, 0), &limits),
        Err(DecodeError::TooLarge {
            what: "push/pull node count",
            len: 11,
            limit: 10
        })
    ));
    assert!(matches!(
        decode_stream(&header(0, 101), &limits),
        Err(DecodeError::TooLarge {
            what: "push/pull user state",
            ..
        })
    ));
    assert_eq!(
        decode_stream(&header(10, 100), &limits).unwrap_err(),
        DecodeError::Truncated
    );
    let mut user = Vec::new();
    UserStreamMsg(&[7u8; 51]).encode_to_vec(&mut user).unwrap();
    assert!(matches!(
        decode_stream(&user, &limits),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(
        decode_stream(&user[..10], &Limits::default()).unwrap_err(),
        DecodeError::Truncated
    );
    // Packet-only types are refused on streams.
    assert_eq!(
        decode_stream(&[7, 0], &limits).unwrap_err(),
        DecodeError::UnexpectedMessageType(7)
    );
}

fn ip() -> impl Strategy<Value = IpBytes> {
    prop_oneof![
        Just(IpBytes::EMPTY),
        any::<[u8; 4]>().prop_map(|b| IpBytes::new(&b).unwrap()),
        any::<[u8; 16]>().prop_map(|b| IpBytes::new(&b).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn alive_round_trips(
        inc: u32, port: u16, vsn: [u8; 6], addr in ip(),
        node in "\\PC{0,80}", meta in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let a = Alive { incarnation: inc, node: &node, addr, port, meta: &meta, vsn: Vsn::from_bytes(vsn) };
        let mut buf = alloc::vec![0u8; a.encoded_len()];
        prop_assert_eq!(a.encode(&mut buf).unwrap(), buf.len());
        let short = buf.len() - 1;
        prop_assert!(a.encode(&mut buf[..short]).is_err());
        let Message::Alive(b) = decode_packet(&buf).unwrap() else { panic!() };
        prop_assert_eq!(a, b);
    }

    #[test]
    fn ping_and_indirect_ping_round_trip(
        seq: u32, port: u16, nack: bool, a1 in ip(), a2 in ip(),
        node in "\\PC{0,40}", src in "\\PC{0,40}",
    ) {
        let p = Ping { seq_no: seq, node: &node, source_addr: a1, source_port: port, source_node: &src };
        let mut buf = alloc::vec![0u8; p.encoded_len()];
        prop_assert_eq!(p.encode(&mut buf).unwrap(), buf.len());
        let Message::Ping(q) = decode_packet(&buf).unwrap() else { panic!() };
        prop_assert_eq!(p, q);
        let i = IndirectPing { seq_no: seq, target: a2, port, node: &node, nack, source_addr: a1, source_port: port, source_node: &src };
        let mut buf = alloc::vec![0u8; i.encoded_len()];
        prop_assert_eq!(i.encode(&mut buf).unwrap(), buf.len());
        let Message::IndirectPing(j) = decode_packet(&buf).unwrap() else { panic!() };
        prop_assert_eq!(i, j);
    }

    #[test]
    fn push_pull_round_trips(
        join: bool,
        states in proptest::collection::vec((any::<u32>(), any::<u16>(), 0u8..6, "[a-z0-9-]{0,40}", proptest::collection::vec(any::<u8>(), 0..40)), 0..40),
        user in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let states: Vec<PushNodeState<'_>> = states.iter().map(|(inc, port, st, name, meta)| PushNodeState {
            name, addr: IpBytes::from(core::net::Ipv4Addr::new(10, 0, 0, *st)), port: *port, meta,
            incarnation: *inc, state: NodeState::from_u8(*st), vsn: Vsn::from_bytes([1, 5, 2, 0, 0, 0]),
        }).collect();
        let len = push_pull_len(join, &states, user.len());
        let mut buf = alloc::vec![0u8; len];
        let mut w = PushPullWriter::new(&mut buf, join, states.len() as u32, user.len()).unwrap();
        for s in &states { w.push(s).unwrap(); }
        prop_assert_eq!(w.finish(&user).unwrap(), len);
        let (Message::PushPull(pp), used) = decode_stream(&buf, &Limits::default()).unwrap() else { panic!() };
        prop_assert_eq!(used, len);
        prop_assert_eq!(pp.join, join);
        prop_assert_eq!(pp.user_state, &user[..]);
        let got: Vec<_> = pp.nodes.map(|s| s.unwrap()).collect();
        prop_assert_eq!(&got, &states);
        let mut into = Vec::new();
        let parts = PushPull::decode_body_into(&buf[1..], &Limits::default(), &mut into).unwrap();
        prop_assert_eq!(parts.used, len - 1);
        prop_assert_eq!(parts.join, join);
        prop_assert_eq!(parts.user_state, &user[..]);
        prop_assert_eq!(into, states);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The push/pull fast path (memberlist's own form, keys compared as fixed bytes) and the
    /// general decoder agree on every input: on states rumor and Go write, with any one byte
    /// changed, and cut short anywhere.
    #[test]
    fn push_state_fast_path_agrees_with_the_general_decoder(
        inc: u32, port: u16, st: u8, addr in ip(), vsn: [u8; 6],
        name in "\\PC{0,40}", meta in proptest::collection::vec(any::<u8>(), 0..40),
        at: prop::sample::Index, byte: u8, cut: prop::sample::Index,
    ) {
        let s = PushNodeState {
            name: &name, addr, port, meta: &meta, incarnation: inc,
            state: NodeState::from_u8(st), vsn: Vsn::from_bytes(vsn),
        };
        let mut buf = alloc::vec![0u8; s.encoded_len()];
        s.write(&mut msgpack::Writer::new(&mut buf)).unwrap();
        let mut changed = buf.clone();
        changed[at.index(buf.len())] = byte;
        let cut = &buf[..cut.index(buf.len())];
        for bytes in [&buf[..], &changed[..], cut] {
            let mut general = msgpack::Reader::new(bytes);
            let want = general.decode_struct::<PushNodeState<'_>>();
            let mut fast = msgpack::Reader::new(bytes);
            if let Some(got) = PushNodeState::read_go_form(&mut fast) {
                prop_assert_eq!(Ok(got), want);
                prop_assert_eq!(fast.position(), general.position());
            } else {
                prop_assert_eq!(fast.position(), 0);
            }
            let mut skipped = msgpack::Reader::new(bytes);
            let skip = skipped.skip();
            let mut fast = msgpack::Reader::new(bytes);
            if PushNodeState::skip_go_form(&mut fast) {
                prop_assert_eq!(skip, Ok(()));
                prop_assert_eq!(fast.position(), skipped.position());
            } else {
                prop_assert_eq!(fast.position(), 0);
            }
        }
        // What rumor writes is read by the fast path whenever Go's forms hold it.
        let mut r = msgpack::Reader::new(&buf);
        if name.len() <= 31 && meta.len() <= 31 {
            prop_assert_eq!(PushNodeState::read_go_form(&mut r), Some(s));
        }
    }
}
