//! Lifeguard on the simulator: with 5% of the nodes stalling for 2-8 s at random, awareness
//! and dynamic suspicion make healthy nodes declared dead at least 10x rarer than without.

use std::collections::BTreeSet;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_conformance::sim::{LinkModel, Sim};
use rumor_core::{Config, Event, LeaveReason};

const NODES: usize = 40;
const STALLERS: usize = 2; // 5%
const MINUTES: u64 = 10;

/// Runs the cluster and returns how many times a healthy node was declared dead (counting
/// every observer), and how many stalls happened.
fn false_deaths(config: &Config, seed: u64) -> (usize, usize) {
    let mut sim = Sim::new(seed, LinkModel::default());
    let ids: Vec<_> = (0..NODES)
        .map(|i| sim.add_node(config.clone(), &format!("n{i}"), b""))
        .collect();
    let seeds = [Sim::addr_of(ids[0])];
    for &i in &ids[1..] {
        sim.with(i, |c, now| c.join(now, &seeds));
    }
    sim.run_for(Duration::from_secs(20));
    for &i in &ids {
        assert_eq!(
            sim.core(i).num_members(),
            NODES,
            "cluster formed (seed {seed})"
        );
    }
    // The stall-prone nodes: alternately fine and deaf (input waits, timers run), each
    // phase 2-8 s; Lifeguard's "slow message processing".
    let stallers: Vec<usize> = ids[NODES - STALLERS..].to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut next: Vec<Duration> = stallers
        .iter()
        .map(|_| Duration::from_millis(2000 + rng.next_u64() % 6000))
        .collect();
    let start = sim.now().as_duration();
    let end = start + Duration::from_secs(60 * MINUTES);
    let mut stalls = 0;
    let step = Duration::from_millis(50);
    while sim.now().as_duration() < end {
        sim.run_for(step);
        let t = sim.now().as_duration() - start;
        for (k, &s) in stallers.iter().enumerate() {
            if t >= next[k] {
                if sim.is_stalled(s) {
                    sim.resume(s);
                } else {
                    sim.deafen(s);
                    stalls += 1;
                }
                next[k] = t + Duration::from_millis(2000 + rng.next_u64() % 6000);
            }
        }
    }
    let healthy: BTreeSet<String> = ids[..NODES - STALLERS]
        .iter()
        .map(|i| format!("n{i}"))
        .collect();
    let mut deaths = 0;
    for &i in &ids {
        for (_, e) in &sim.nodes[i].events {
            if let Event::MemberLeft {
                member,
                reason: LeaveReason::Failed,
            } = e
                && healthy.contains(&*member.name)
            {
                deaths += 1;
            }
        }
    }
    (deaths, stalls)
}

#[test]
fn lifeguard_cuts_false_deaths_tenfold() {
    let on = Config::lan();
    // memberlist without Lifeguard: no awareness (the score stays 0) and a fixed suspicion
    // timeout (max = min).
    let off = Config {
        awareness_max_multiplier: 1,
        suspicion_max_timeout_mult: 1,
        ..Config::lan()
    };
    let (mut with, mut without, mut stalls) = (0, 0, 0);
    for seed in 1..=3 {
        let (a, s) = false_deaths(&on, seed);
        let (b, _) = false_deaths(&off, seed);
        eprintln!(
            "seed {seed}: {s} stalls, healthy nodes declared dead: {a} with Lifeguard, {b} without"
        );
        with += a;
        without += b;
        stalls += s;
    }
    eprintln!("total: {stalls} stalls; false deaths {with} with Lifeguard, {without} without");
    assert!(
        without >= 10,
        "the stalls must hurt without Lifeguard ({without} false deaths)"
    );
    assert!(
        with * 10 <= without,
        "Lifeguard: {with} false deaths, without: {without}; want at least 10x fewer"
    );
}
