//! The replicated map and relayed broadcasts on the simulator, beyond the scenario suite:
//! tombstone expiry and resynchronisation, same-name restarts, relay at 1,000 nodes.

use std::time::Duration;

use rumor_conformance::backend::{sim_config, sim_seed};
use rumor_conformance::sim::{LinkModel, NodeId, Sim};
use rumor_core::{Config, Event, ExchangeMode, KvConfig};

fn kv_config(mode: ExchangeMode, gossip: bool) -> Config {
    Config {
        kv: KvConfig {
            mode,
            gossip_writes: gossip,
            exchange_interval: Duration::from_millis(500),
            ..KvConfig::enabled()
        },
        ..sim_config()
    }
}

fn name(i: usize) -> String {
    format!("node-{i}")
}

/// `n` nodes joined one after another through node 0, all seeing all.
fn cluster(n: usize, config: &Config) -> Sim {
    let mut sim = Sim::new(sim_seed(), LinkModel::default());
    for i in 0..n {
        sim.add_node(config.clone(), &name(i), b"");
    }
    let seed = Sim::addr_of(0);
    for i in 1..n {
        sim.with(i, |c, now| c.join(now, &[seed]));
        sim.run_for(Duration::from_millis(20));
    }
    let limit = sim.now() + Duration::from_secs(60);
    while (0..n).any(|i| sim.core(i).num_members() < n) {
        assert!(sim.now() < limit, "cluster of {n} did not form");
        sim.run_for(Duration::from_millis(100));
    }
    sim
}

/// Runs until every listed node holds the same map, or panics after `limit`.
fn converge(sim: &mut Sim, nodes: &[NodeId], limit: Duration, what: &str) -> Duration {
    let start = sim.now();
    loop {
        let f = sim.core(nodes[0]).kv_fingerprint();
        if nodes.iter().all(|&i| sim.core(i).kv_fingerprint() == f) {
            return sim.now().saturating_duration_since(start);
        }
        assert!(
            sim.now().saturating_duration_since(start) < limit,
            "{what}: no convergence within {limit:?} (seed {})",
            sim.seed()
        );
        sim.run_for(Duration::from_millis(100));
    }
}

fn set(sim: &mut Sim, i: NodeId, k: &str, v: &str) {
    sim.with(i, |c, now| c.kv_set(now, k, v.as_bytes()))
        .expect("node up")
        .expect("write accepted");
}

fn value(sim: &Sim, i: NodeId, k: &str) -> Option<Vec<u8>> {
    sim.core(i)
        .kv_get(k)
        .and_then(|e| e.value)
        .map(|v| v.to_vec())
}

#[test]
fn exchanges_alone_converge_at_20_percent_loss_in_every_mode() {
    for mode in [
        ExchangeMode::Push,
        ExchangeMode::Pull,
        ExchangeMode::PushPull,
    ] {
        let mut sim = cluster(30, &kv_config(mode, false));
        sim.link.loss = 0.2;
        for w in 0..5 {
            set(&mut sim, w * 6, &format!("key-{w}"), &format!("from {w}"));
        }
        sim.with(7, |c, now| c.kv_delete(now, "key-1"));
        let all: Vec<_> = (0..30).collect();
        let took = converge(&mut sim, &all, Duration::from_secs(60), "20% loss");
        for i in all {
            assert_eq!(value(&sim, i, "key-0").as_deref(), Some(&b"from 0"[..]));
            let e = sim.core(i).kv_get("key-4").expect("key-4");
            assert_eq!(&*e.writer, "node-24");
            assert_eq!(sim.core(i).kv_len(), 5);
        }
        assert!(sim.core(3).kv_stats().exchange_messages > 0);
        println!("{mode:?}: converged in {took:?}");
    }
}

#[test]
fn both_sides_of_a_healed_partition_agree_on_the_last_writer() {
    let mut sim = cluster(20, &kv_config(ExchangeMode::PushPull, true));
    let (left, right): (Vec<_>, Vec<_>) = (0..20).partition(|&i| i < 10);
    sim.partition(&[&left, &right]);
    set(&mut sim, 2, "shared", "left");
    sim.run_for(Duration::from_millis(300));
    set(&mut sim, 15, "shared", "right");
    set(&mut sim, 3, "only-left", "l");
    set(&mut sim, 16, "only-right", "r");
    converge(&mut sim, &left, Duration::from_secs(20), "left side");
    converge(&mut sim, &right, Duration::from_secs(20), "right side");
    let winner = {
        let a = sim.core(2).kv_get("shared").expect("left write");
        let b = sim.core(15).kv_get("shared").expect("right write");
        if (a.version, &a.writer) > (b.version, &b.writer) {
            a.value
        } else {
            b.value
        }
    };
    sim.heal();
    let all: Vec<_> = (0..20).collect();
    converge(&mut sim, &all, Duration::from_secs(90), "after heal");
    for i in all {
        assert_eq!(sim.core(i).kv_get("shared").and_then(|e| e.value), winner);
        assert_eq!(sim.core(i).kv_len(), 3);
    }
}

#[test]
fn a_node_restarted_empty_under_its_name_gets_everything_back() {
    let config = kv_config(ExchangeMode::Pull, true);
    let mut sim = cluster(10, &config);
    for k in 0..50 {
        set(&mut sim, k % 10, &format!("k{k}"), "v");
    }
    let all: Vec<_> = (0..10).collect();
    converge(&mut sim, &all, Duration::from_secs(30), "before restart");
    sim.restart(4, config.clone(), &name(4), b"");
    assert_eq!(sim.core(4).kv_len(), 0);
    sim.with(4, |c, now| c.join(now, &[Sim::addr_of(0)]));
    converge(&mut sim, &all, Duration::from_secs(30), "after restart");
    assert_eq!(sim.core(4).kv_len(), 50);
    // Its new writes are newer than anything it wrote before (a new epoch, a clock that
    // caught up), so they win everywhere.
    set(&mut sim, 4, "k4", "after restart");
    converge(
        &mut sim,
        &all,
        Duration::from_secs(30),
        "write after restart",
    );
    assert_eq!(value(&sim, 0, "k4").as_deref(), Some(&b"after restart"[..]));
}

#[test]
fn a_node_away_longer_than_the_tombstone_ttl_drops_what_was_deleted() {
    let config = Config {
        kv: KvConfig {
            tombstone_ttl: Duration::from_secs(5),
            ..kv_config(ExchangeMode::PushPull, true).kv
        },
        ..sim_config()
    };
    let mut sim = cluster(8, &config);
    set(&mut sim, 0, "doomed", "v");
    set(&mut sim, 1, "kept", "v");
    let all: Vec<_> = (0..8).collect();
    converge(&mut sim, &all, Duration::from_secs(20), "before");
    // Node 7 is cut off while the key is deleted and its tombstone forgotten everywhere else.
    sim.partition(&[&[0, 1, 2, 3, 4, 5, 6], &[7]]);
    sim.with(2, |c, now| c.kv_delete(now, "doomed"));
    sim.run_for(Duration::from_secs(20));
    for i in 0..7 {
        assert!(sim.core(i).kv_get("doomed").is_none(), "tombstone expired");
    }
    assert!(value(&sim, 7, "doomed").is_some());
    sim.nodes[7].events.clear();
    sim.with(7, |c, _| c.kv_subscribe(""));
    sim.heal();
    converge(&mut sim, &all, Duration::from_secs(60), "after heal");
    assert!(sim.core(7).kv_get("doomed").is_none());
    assert!(value(&sim, 7, "kept").is_some());
    assert!(sim.nodes[7].events.iter().any(|(_, e)| matches!(e,
        Event::KeyChanged(c) if &*c.key == "doomed" && c.value.is_none())));
}

#[test]
fn subscriptions_see_their_prefix_only() {
    let mut sim = cluster(4, &kv_config(ExchangeMode::PushPull, true));
    sim.with(3, |c, _| c.kv_subscribe("jobs/"));
    set(&mut sim, 0, "jobs/1", "a");
    set(&mut sim, 0, "other", "b");
    let all: Vec<_> = (0..4).collect();
    converge(&mut sim, &all, Duration::from_secs(20), "writes");
    // Node 1 has seen the write: its delete is newer.
    sim.with(1, |c, now| c.kv_delete(now, "jobs/1"));
    converge(&mut sim, &all, Duration::from_secs(20), "delete");
    let changes: Vec<_> = sim.nodes[3]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::KeyChanged(c) => Some((c.key.to_string(), c.value.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![("jobs/1".to_string(), true), ("jobs/1".to_string(), false)]
    );
    assert!(sim.with(3, |c, _| c.kv_unsubscribe("jobs/")).expect("up"));
}

/// Deliveries of `payload` per node.
fn deliveries(sim: &Sim, payload: &[u8]) -> Vec<usize> {
    sim.nodes
        .iter()
        .map(|n| {
            n.events
                .iter()
                .filter(|(_, e)| matches!(e, Event::UserMessage { payload: p, .. } if p == payload))
                .count()
        })
        .collect()
}

#[test]
fn relayed_broadcast_reaches_every_node_of_1000_at_10_percent_loss() {
    let n = 1000;
    let run = |relay: bool| {
        let config = Config {
            join_follow_ups: 0,
            relay_broadcasts: relay,
            assume_rumor_peers: true,
            ..Config::lan()
        };
        let mut sim = Sim::new(sim_seed(), LinkModel::default());
        sim.keep_events = |e| matches!(e, Event::UserMessage { .. });
        for i in 0..n {
            sim.add_node(config.clone(), &name(i), b"");
        }
        sim.bootstrap();
        sim.link.loss = 0.1;
        sim.run_for(Duration::from_secs(1));
        sim.with(0, |c, _| c.broadcast(b"to everyone"));
        sim.run_for(Duration::from_secs(15));
        deliveries(&sim, b"to everyone")
    };
    let relayed = run(true);
    let reached = relayed[1..].iter().filter(|&&d| d > 0).count();
    assert_eq!(reached, n - 1, "every other node delivered it");
    assert!(relayed.iter().all(|&d| d <= 1), "each delivered it once");
    // memberlist's broadcast: only the sender's own retransmissions, 4 · ceil(log10(1001)).
    let plain = run(false);
    let reached_plain = plain.iter().filter(|&&d| d > 0).count();
    assert!(
        reached_plain <= 16,
        "plain broadcast reached {reached_plain}"
    );
    println!("relayed: {reached} of {}; plain: {reached_plain}", n - 1);
}

#[test]
fn relay_learns_rumor_peers_from_push_pull() {
    // Each node passes it on retransmit_mult · ceil(log10(n + 1)) = 12 times: a given node
    // misses all of them with probability about e^-12.
    let config = Config {
        relay_broadcasts: true,
        retransmit_mult: 6,
        ..sim_config()
    };
    let mut sim = cluster(30, &config);
    sim.run_for(Duration::from_secs(45));
    for i in 0..30 {
        // Push/pull spreads who runs rumor: everyone knows every other node by now.
        assert_eq!(sim.core(i).kv_stats().rumor_peers, 29, "node {i}");
    }
    sim.with(5, |c, _| c.broadcast(b"hello"));
    sim.run_for(Duration::from_secs(10));
    let d = deliveries(&sim, b"hello");
    assert!(
        d.iter().enumerate().all(|(i, &n)| n == usize::from(i != 5)),
        "{d:?}"
    );
}

#[test]
fn a_large_state_crosses_in_chunks_and_resynchronises_a_node_that_was_away() {
    let config = Config {
        kv: KvConfig {
            tombstone_ttl: Duration::from_secs(5),
            max_chunk: 16 << 10,
            max_value: 4 << 10,
            ..kv_config(ExchangeMode::PushPull, true).kv
        },
        // Fewer streams than a full exchange has chunks: the rest wait for free streams.
        max_outbound_streams: 8,
        ..sim_config()
    };
    let mut sim = cluster(6, &config);
    // About 300 KB of map: many chunks of at most 16 KiB.
    let value = "v".repeat(100);
    for k in 0..3000 {
        set(&mut sim, k % 3, &format!("item/{k:04}"), &value);
    }
    let all: Vec<_> = (0..6).collect();
    converge(&mut sim, &all, Duration::from_secs(60), "large state");
    // Node 5 is away while a tenth of the keys are deleted and their tombstones forgotten.
    sim.partition(&[&[0, 1, 2, 3, 4], &[5]]);
    for k in (0..3000).step_by(10) {
        sim.with(4, |c, now| c.kv_delete(now, &format!("item/{k:04}")));
    }
    sim.run_for(Duration::from_secs(20));
    assert_eq!(sim.core(0).kv_len(), 2700, "tombstones forgotten");
    assert_eq!(sim.core(5).kv_len(), 3000);
    let streams = sim.traffic.streams;
    let syncs = sim.core(0).kv_stats().full_syncs + sim.core(1).kv_stats().full_syncs;
    sim.heal();
    converge(&mut sim, &all, Duration::from_secs(60), "after heal");
    assert_eq!(sim.core(5).kv_len(), 2700);
    assert!(sim.core(5).kv_get("item/0010").is_none());
    assert!(sim.core(5).kv_get("item/0011").is_some());
    let resyncs: u64 = (0..5).map(|i| sim.core(i).kv_stats().full_syncs).sum();
    assert!(resyncs > syncs, "a full exchange brought node 5 back");
    // 300 KB in chunks of 16 KiB: at least 17 stream messages.
    assert!(sim.traffic.streams - streams >= 17);
}
