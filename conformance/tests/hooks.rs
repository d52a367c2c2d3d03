//! The embedding API on the simulator: each of memberlist's delegates as a `Hooks` method,
//! explicit pings, named broadcasts with their notices, sending to an address, CIDR filters,
//! and Go's names for the member accessors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumor_conformance::sim::{LinkModel, Sim};
use rumor_core::{
    BroadcastOptions, BroadcastOutcome, Config, Event, Hooks, MemberState, MemberView,
};

/// A sim of `n` nodes named node-0.. with `config`, all joined through node 0.
fn cluster(n: usize, config: impl Fn(usize) -> Config) -> Sim {
    let mut sim = Sim::new(11, LinkModel::default());
    for i in 0..n {
        sim.add_node(
            config(i),
            &format!("node-{i}"),
            format!("dc{}", i % 2).as_bytes(),
        );
    }
    for i in 1..n {
        sim.with(i, |c, now| c.join(now, &[Sim::addr_of(0)]));
    }
    sim.run_for(Duration::from_secs(5));
    sim
}

fn names(sim: &Sim, i: usize) -> Vec<String> {
    let mut v: Vec<String> = sim.core(i).members().map(|m| m.name.to_string()).collect();
    v.sort();
    v
}

/// Keeps out members whose metadata is not this node's datacenter (Consul's use).
struct SameDc(&'static [u8], AtomicUsize);

impl Hooks for SameDc {
    fn allow_alive(&self, m: &MemberView<'_>) -> bool {
        let ok = m.meta == self.0;
        if !ok {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

#[test]
fn alive_veto_keeps_other_datacenters_out() {
    // Even nodes are dc0 and veto dc1; odd nodes accept everyone.
    let hooks: Arc<SameDc> = Arc::new(SameDc(b"dc0", AtomicUsize::new(0)));
    let sim = cluster(6, |i| Config {
        hooks: (i % 2 == 0).then(|| hooks.clone() as Arc<dyn Hooks>),
        ..Config::local()
    });
    for i in [0, 2, 4] {
        assert_eq!(names(&sim, i), ["node-0", "node-2", "node-4"], "node-{i}");
    }
    // The odd nodes accept everyone, but learn of each other only through node 0, which
    // keeps them out: each lists the three dc0 nodes and itself.
    for i in [1, 3, 5] {
        assert_eq!(sim.core(i).num_members(), 4, "node-{i}");
    }
    assert!(hooks.1.load(Ordering::Relaxed) > 0);
}

/// Refuses every merge (a join or, if `all`, a periodic push/pull too).
struct NoMerge {
    all: bool,
    asked: Mutex<Vec<(bool, usize)>>,
}

impl Hooks for NoMerge {
    fn allow_merge(&self, join: bool, members: &[MemberView<'_>]) -> bool {
        self.asked.lock().expect("lock").push((join, members.len()));
        !join && !self.all
    }
}

#[test]
fn a_refused_merge_fails_the_join_on_the_joiners_side() {
    let mut sim = Sim::new(3, LinkModel::default());
    sim.add_node(Config::local(), "seed", b"");
    let hooks = Arc::new(NoMerge {
        all: false,
        asked: Mutex::default(),
    });
    let joiner = Config {
        hooks: Some(hooks.clone()),
        ..Config::local()
    };
    sim.add_node(joiner, "joiner", b"");
    let id = sim.with(1, |c, now| c.join(now, &[Sim::addr_of(0)]));
    sim.run_for(Duration::from_secs(3));
    let finished = sim.nodes[1].events.iter().find_map(|(_, e)| match e {
        Event::JoinFinished {
            id: j, contacted, ..
        } if Some(*j) == id => Some(*contacted),
        _ => None,
    });
    assert_eq!(finished, Some(0), "the join failed");
    // (The seed merged the joiner and gossips to it, so the joiner may list the seed later,
    // through alive messages: memberlist keeps those out with an alive veto.)
    let asked = hooks.asked.lock().expect("lock").clone();
    assert_eq!(
        asked.first(),
        Some(&(true, 1)),
        "asked once, for the seed's list"
    );
}

#[test]
fn a_merge_veto_on_the_seed_keeps_the_joiner_out_of_its_table() {
    let mut sim = Sim::new(4, LinkModel::default());
    let hooks = Arc::new(NoMerge {
        all: true,
        asked: Mutex::default(),
    });
    // Merge vetoes alone leave the alive path open (as in memberlist): veto alives too.
    struct Both(Arc<NoMerge>);
    impl Hooks for Both {
        fn allow_merge(&self, join: bool, m: &[MemberView<'_>]) -> bool {
            self.0.allow_merge(join, m)
        }
        fn allow_alive(&self, m: &MemberView<'_>) -> bool {
            m.name == "seed"
        }
    }
    sim.add_node(
        Config {
            hooks: Some(Arc::new(Both(hooks.clone()))),
            ..Config::local()
        },
        "seed",
        b"",
    );
    sim.add_node(Config::local(), "joiner", b"");
    sim.with(1, |c, now| c.join(now, &[Sim::addr_of(0)]));
    sim.run_for(Duration::from_secs(20));
    assert_eq!(names(&sim, 0), ["seed"]);
    assert!(!hooks.asked.lock().expect("lock").is_empty());
}

/// Serf's shape: the ack payload is this node's name; completed probes are recorded.
#[derive(Default)]
struct Pings {
    me: String,
    seen: Mutex<Vec<(String, Duration, Vec<u8>)>>,
}

impl Hooks for Pings {
    fn ack_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.me.as_bytes());
    }
    fn ping_complete(&self, m: &MemberView<'_>, rtt: Duration, payload: &[u8]) {
        let seen = (m.name.to_string(), rtt, payload.to_vec());
        self.seen.lock().expect("lock").push(seen);
    }
}

#[test]
fn probes_report_rtt_and_the_peers_ack_payload() {
    let link = LinkModel {
        latency: Duration::from_millis(10),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(5, link);
    let hooks: Vec<Arc<Pings>> = (0..3)
        .map(|i| {
            Arc::new(Pings {
                me: format!("node-{i}"),
                ..Pings::default()
            })
        })
        .collect();
    for (i, h) in hooks.iter().enumerate() {
        let config = Config {
            hooks: Some(h.clone()),
            ..Config::local()
        };
        sim.add_node(config, &format!("node-{i}"), b"");
    }
    for i in 1..3 {
        sim.with(i, |c, now| c.join(now, &[Sim::addr_of(0)]));
    }
    sim.run_for(Duration::from_secs(10));
    for h in &hooks {
        let seen = h.seen.lock().expect("lock").clone();
        assert!(seen.len() >= 5, "{}: {} probes reported", h.me, seen.len());
        for (name, rtt, payload) in seen {
            assert_eq!(
                payload,
                name.as_bytes(),
                "the ack carries the peer's payload"
            );
            // 10 ms each way on the simulated link.
            assert!(
                rtt >= Duration::from_millis(20) && rtt < Duration::from_millis(30),
                "{rtt:?}"
            );
        }
    }
}

#[test]
fn an_explicit_ping_reports_rtt_or_no_answer() {
    let link = LinkModel {
        latency: Duration::from_millis(5),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(6, link);
    let pinged = Arc::new(Pings {
        me: "b-payload".into(),
        ..Pings::default()
    });
    sim.add_node(Config::local(), "a", b"");
    let b = Config {
        hooks: Some(pinged),
        ..Config::local()
    };
    sim.add_node(b, "b", b"");
    // Not members of each other: a ping needs only a name and an address.
    let ok = sim.with(0, |c, now| c.ping(now, "b", Sim::addr_of(1)));
    let wrong = sim.with(0, |c, now| c.ping(now, "not-b", Sim::addr_of(1)));
    sim.run_for(Duration::from_secs(1));
    let results: Vec<_> = sim.nodes[0]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PingResult { id, rtt, payload } => Some((*id, *rtt, payload.clone())),
            _ => None,
        })
        .collect();
    let ok = ok.and_then(Result::ok).expect("ping sent");
    let wrong = wrong.and_then(Result::ok).expect("ping sent");
    let answered = results.iter().find(|r| r.0 == ok).expect("a result");
    // 5 ms each way, plus the link's jitter.
    let rtt = answered.1.expect("answered");
    assert!(
        rtt >= Duration::from_millis(10) && rtt < Duration::from_millis(15),
        "{rtt:?}"
    );
    assert_eq!(answered.2, b"b-payload");
    let unanswered = results.iter().find(|r| r.0 == wrong).expect("a result");
    assert_eq!(
        unanswered.1, None,
        "a node of another name ignores the ping"
    );
}

#[test]
fn named_broadcasts_replace_each_other_and_report_how_they_left() {
    // A retransmit multiplier high enough that every node hears each broadcast.
    let mut sim = cluster(4, |_| Config {
        retransmit_mult: 8,
        ..Config::local()
    });
    let named = |name| BroadcastOptions {
        name: Some(name),
        notify: true,
    };
    // Queued back to back: the second replaces the first before any gossip round.
    let (first, second, unique) = sim
        .with(0, |c, _| {
            let first = c.broadcast_with(b"v1", named("config"));
            let second = c.broadcast_with(b"v2", named("config"));
            let unique = c.broadcast_with(
                b"other",
                BroadcastOptions {
                    name: None,
                    notify: true,
                },
            );
            (first, second, unique)
        })
        .expect("node 0 runs");
    sim.run_for(Duration::from_secs(5));
    let outcome = |id| {
        sim.nodes[0].events.iter().find_map(|(_, e)| match e {
            Event::BroadcastFinished { id: i, outcome } if *i == id => Some(*outcome),
            _ => None,
        })
    };
    assert_eq!(outcome(first), Some(BroadcastOutcome::Replaced));
    assert_eq!(outcome(second), Some(BroadcastOutcome::Sent));
    assert_eq!(outcome(unique), Some(BroadcastOutcome::Sent));
    for i in 1..4 {
        let got: Vec<Vec<u8>> = sim.nodes[i]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::UserMessage { payload, from } => {
                    assert_eq!(*from, Sim::addr_of(0), "the sender's address comes along");
                    Some(payload.clone())
                }
                _ => None,
            })
            .collect();
        assert!(
            got.contains(&b"v2".to_vec()) && got.contains(&b"other".to_vec()),
            "node-{i}: {got:?}"
        );
        assert!(
            !got.contains(&b"v1".to_vec()),
            "node-{i} got the replaced broadcast"
        );
    }
}

#[test]
fn messages_go_to_any_address() {
    let mut sim = Sim::new(8, LinkModel::default());
    sim.add_node(Config::local(), "a", b"");
    sim.add_node(Config::local(), "b", b"");
    sim.with(0, |c, now| {
        c.send_to_addr(now, Sim::addr_of(1), b"datagram", false)
            .expect("send");
        c.send_to_addr(now, Sim::addr_of(1), b"stream", true)
            .expect("send");
    });
    sim.run_for(Duration::from_secs(1));
    let got: Vec<&[u8]> = sim.nodes[1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::UserMessage { payload, .. } => Some(&payload[..]),
            _ => None,
        })
        .collect();
    assert!(
        got.contains(&&b"datagram"[..]) && got.contains(&&b"stream"[..]),
        "{got:?}"
    );
}

#[test]
fn cidrs_allowed_keep_outsiders_out() {
    // Nodes 0-2 are 10.0.0.1-3; node 3 is 10.0.0.4, outside node 0's 10.0.0.0/30.
    let mut sim = Sim::new(9, LinkModel::default());
    for i in 0..4 {
        let config = Config {
            cidrs_allowed: if i == 0 {
                vec!["10.0.0.0/30".parse().expect("cidr")]
            } else {
                Vec::new()
            },
            ..Config::local()
        };
        sim.add_node(config, &format!("node-{i}"), b"");
    }
    for i in 1..3 {
        sim.with(i, |c, now| c.join(now, &[Sim::addr_of(0)]));
    }
    // Node 3 joins through node 1; its alive reaches node 0 in push/pulls and gossip.
    sim.with(3, |c, now| c.join(now, &[Sim::addr_of(1)]));
    sim.run_for(Duration::from_secs(40));
    assert_eq!(names(&sim, 0), ["node-0", "node-1", "node-2"]);
    for i in 1..4 {
        assert_eq!(sim.core(i).num_members(), 4, "node-{i}");
    }
    // Node 3 itself cannot reach node 0: its datagrams and streams are refused.
    let joined = sim.with(3, |c, now| c.join(now, &[Sim::addr_of(0)]));
    sim.run_for(Duration::from_secs(2));
    let answered = sim.nodes[3].events.iter().rev().find_map(|(_, e)| match e {
        Event::JoinFinished { id, contacted, .. } if Some(*id) == joined => Some(*contacted),
        _ => None,
    });
    assert_eq!(answered, Some(0));
}

/// Stream pings only to even nodes (or to every node); counts the questions.
struct EvenStreams {
    all: bool,
    asked: AtomicUsize,
}

impl Hooks for EvenStreams {
    fn stream_ping(&self, member: &str) -> bool {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.all || member.ends_with(['0', '2', '4'])
    }
}

/// Streams opened while node 0 (with `hooks`) detects the crash of node 3.
fn streams_while_detecting(all: bool) -> (u64, usize) {
    let hooks = Arc::new(EvenStreams {
        all,
        asked: AtomicUsize::new(0),
    });
    let mut sim = cluster(4, |i| Config {
        hooks: (i == 0).then(|| hooks.clone() as Arc<dyn Hooks>),
        push_pull_interval: Duration::ZERO,
        ..Config::local()
    });
    let before = sim.traffic.streams;
    sim.crash(3);
    sim.run_for(Duration::from_secs(15));
    let dead = sim
        .core(0)
        .all_members()
        .any(|m| &*m.name == "node-3" && m.state == MemberState::Dead);
    assert!(dead, "node-3 detected either way");
    (
        sim.traffic.streams - before,
        hooks.asked.load(Ordering::Relaxed),
    )
}

#[test]
fn stream_pings_are_chosen_per_member() {
    let (with_pings, asked) = streams_while_detecting(true);
    let (without, asked_too) = streams_while_detecting(false);
    assert!(asked > 0 && asked_too > 0);
    assert!(
        without < with_pings,
        "node 0 opened {without} streams without stream pings to node-3, {with_pings} with"
    );
}

#[test]
fn members_follow_gos_names() {
    let mut sim = cluster(3, |_| Config::local());
    sim.crash(2);
    // Detected (Local profile: about 3 s), not yet reaped (15 s).
    sim.run_for(Duration::from_secs(10));
    let c = sim.core(0);
    assert_eq!(c.num_members(), 2, "NumMembers counts alive and suspect");
    assert_eq!(
        names(&sim, 0),
        ["node-0", "node-1"],
        "Members leaves out the dead"
    );
    let all: Vec<_> = c
        .all_members()
        .map(|m| (m.name.to_string(), m.state))
        .collect();
    assert!(
        all.contains(&("node-2".into(), MemberState::Dead)),
        "{all:?}"
    );
    assert_eq!(c.local_node().map(|m| m.name), Some("node-0".into()));
}

#[test]
fn local_state_knows_whether_it_is_a_join() {
    struct State;
    impl Hooks for State {
        fn local_state(&self, join: bool, out: &mut Vec<u8>) -> bool {
            out.extend_from_slice(if join { b"join" } else { b"periodic" });
            true
        }
    }
    let mut sim = cluster(2, |i| Config {
        hooks: (i == 0).then(|| Arc::new(State) as Arc<dyn Hooks>),
        push_pull_interval: Duration::from_secs(2),
        ..Config::local()
    });
    sim.run_for(Duration::from_secs(10));
    let states: Vec<(Vec<u8>, bool)> = sim.nodes[1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::RemoteState { state, join } => Some((state.clone(), *join)),
            _ => None,
        })
        .collect();
    assert!(states.contains(&(b"join".to_vec(), true)), "{states:?}");
    assert!(
        states.contains(&(b"periodic".to_vec(), false)),
        "{states:?}"
    );
}
