//! Measurements on the simulator, for the notes and the README:
//!
//! ```sh
//! cargo run --release -p rumor-conformance --example measure -- [dissemination|detection|speed|all] [N...]
//! ```
//!
//! - dissemination: N nodes join through one seed; then one node changes its metadata and the
//!   alive message spreads by gossip; reports join convergence and gossip rounds until every
//!   node has the update, beside fanout-3 push gossip theory (log4 N + a few rounds).
//! - detection: 100 nodes, one crashes; first suspicion, first death, dead everywhere.
//! - speed: simulated node-seconds per wall-clock second of a steady cluster.
//! - kv: the replicated map's exchanges alone (no gossip of writes), in each mode, at 0% and
//!   10% loss: rounds (exchange intervals) and messages until every node holds a new write,
//!   beside rumor-spreading theory; then gossip and exchanges together; then the bytes of a
//!   digest at 10,000 keys.

use std::time::{Duration, Instant as Wall};

use rumor_conformance::sim::{LinkModel, Sim};
use rumor_core::{Config, Event, ExchangeMode, KvConfig, LeaveReason, MemberState, Memberlist};

fn form(n: usize, seed: u64, config: &Config) -> (Sim, Duration) {
    let mut sim = Sim::new(seed, LinkModel::default());
    // Only `detection` reads events, and it runs at hundreds of nodes.
    if n > 1000 {
        sim.keep_events = |_| false;
    }
    for i in 0..n {
        sim.add_node(config.clone(), &format!("node-{i}"), b"v1");
    }
    // One join per millisecond through one seed (memberlist serves at most 128 push/pulls at
    // once and refuses the rest; a real deployment would retry or use several seeds).
    let seeds = [Sim::addr_of(0)];
    let start = sim.now();
    for i in 1..n {
        sim.with(i, |c, now| c.join(now, &seeds));
        sim.run_for(Duration::from_millis(1));
    }
    let step = config.gossip_interval;
    loop {
        sim.run_for(step);
        if (0..n).all(|i| sim.core(i).num_members() == n) {
            break;
        }
        if std::env::var_os("MEASURE_DEBUG").is_some()
            && sim.now().as_nanos() % 1_000_000_000 < step.as_nanos() as u64
        {
            let known: usize = (0..n).map(|i| sim.core(i).num_members()).sum();
            let min = (0..n).map(|i| sim.core(i).num_members()).min().unwrap_or(0);
            let members: usize = (0..n).map(|i| sim.core(i).num_known()).sum();
            eprintln!(
                "{:?}: known {:.4} min {min} members {:.4} packets {} streams {}",
                sim.now(),
                known as f64 / (n * n) as f64,
                members as f64 / (n * n) as f64,
                sim.traffic.packets,
                sim.traffic.streams
            );
            for i in 0..n {
                if sim.core(i).num_members() < n {
                    let names: std::collections::BTreeSet<String> = sim
                        .core(i)
                        .all_members()
                        .map(|m| m.name.to_string())
                        .collect();
                    let missing: Vec<_> = (0..n)
                        .map(|j| format!("node-{j}"))
                        .filter(|x| !names.contains(x))
                        .take(3)
                        .collect();
                    let st: Vec<_> = sim
                        .core(i)
                        .all_members()
                        .filter(|m| m.state != MemberState::Alive)
                        .map(|m| (m.name.to_string(), m.state))
                        .take(3)
                        .collect();
                    eprintln!(
                        "  node-{i} missing {missing:?} non-alive {st:?} q {}",
                        sim.core(i).queued_broadcasts()
                    );
                }
            }
        }
        assert!(
            sim.now().saturating_duration_since(start) < Duration::from_secs(600),
            "no convergence (seed {seed})"
        );
    }
    let took = sim.now().saturating_duration_since(start);
    (sim, took)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    rumor_conformance::capacity::quantile(v, p).unwrap_or(f64::NAN)
}

fn dissemination(n: usize, seeds: u64) {
    // LZW costs CPU per datagram and changes no protocol decision: off for speed unless asked.
    let config = Config {
        enable_compression: std::env::var_os("MEASURE_LZW").is_some(),
        ..Config::lan()
    };
    let mut rounds = Vec::new();
    let mut joins = Vec::new();
    let wall = Wall::now();
    // MEASURE_FIRST_SEED splits a long series over several runs.
    let first: u64 = std::env::var("MEASURE_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for seed in first..first + seeds {
        let (mut sim, join) = form(n, seed, &config);
        joins.push(join.as_secs_f64());
        // Let the join's gossip die down, then spread one update.
        sim.run_for(Duration::from_secs(10));
        let origin = (seed as usize * 7919) % n;
        sim.with(origin, |c, now| c.set_meta(now, b"v2").expect("meta"));
        let start = sim.now();
        let name = format!("node-{origin}");
        let has =
            |sim: &Sim, i: usize| sim.core(i).member(&name).is_some_and(|m| &*m.meta == b"v2");
        let mut pending: Vec<usize> = (0..n).filter(|&i| !has(&sim, i)).collect();
        while !pending.is_empty() {
            sim.run_for(Duration::from_millis(10));
            pending.retain(|&i| !has(&sim, i));
            if std::env::var_os("MEASURE_DEBUG").is_some()
                && sim.now().as_nanos() % 200_000_000 < 10_000_000
            {
                let q: usize = (0..n).map(|i| sim.core(i).queued_broadcasts()).sum();
                eprintln!(
                    "{:?} after the update: {} nodes still without it, mean queue {}",
                    sim.now().saturating_duration_since(start),
                    pending.len(),
                    q / n
                );
            }
        }
        let t = sim.now().saturating_duration_since(start);
        rounds.push(t.as_secs_f64() / config.gossip_interval.as_secs_f64());
        eprintln!(
            "seed {seed}: joined in {:.1} s, update everywhere after {:.1} rounds",
            join.as_secs_f64(),
            rounds[rounds.len() - 1]
        );
    }
    let theory = (n as f64).log(4.0);
    let (med, worst) = (percentile(&mut rounds, 0.5), percentile(&mut rounds, 1.0));
    let (jmed, jworst) = (percentile(&mut joins, 0.5), percentile(&mut joins, 1.0));
    println!(
        "dissemination N={n} ({seeds} seeds, LAN profile): gossip rounds median {med:.1}, worst {worst:.1} \
         (log4 N = {theory:.1}); join convergence median {jmed:.1} s, worst {jworst:.1} s; wall {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}

fn detection(n: usize, seeds: u64) {
    let config = Config::lan();
    let (mut suspect, mut first_dead, mut all_dead) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 1..=seeds {
        let (mut sim, _) = form(n, seed, &config);
        sim.run_for(Duration::from_secs(30));
        let victim = n - 1 - (seed as usize % 10);
        let name = format!("node-{victim}");
        sim.crash(victim);
        let start = sim.now();
        let (mut s, mut d) = (None, None);
        loop {
            sim.run_for(Duration::from_millis(50));
            let t = sim.now().saturating_duration_since(start).as_secs_f64();
            let others = (0..n).filter(|&i| i != victim);
            let states: Vec<Option<MemberState>> = others
                .clone()
                .map(|i| sim.core(i).member_state(&name))
                .collect();
            if s.is_none() && states.contains(&Some(MemberState::Suspect)) {
                s = Some(t);
            }
            let failed = |i: usize| {
                sim.nodes[i].events.iter().any(|(_, e)| {
                    matches!(e, Event::MemberLeft { member, reason: LeaveReason::Failed } if *member.name == *name)
                })
            };
            if d.is_none() && others.clone().any(failed) {
                d = Some(t);
            }
            if others.clone().all(failed) {
                all_dead.push(t);
                break;
            }
            assert!(t < 300.0, "no detection (seed {seed})");
        }
        suspect.push(s.unwrap_or(f64::NAN));
        first_dead.push(d.unwrap_or(f64::NAN));
    }
    let show = |v: &mut Vec<f64>| {
        format!(
            "median {:.1} s, worst {:.1} s",
            percentile(v, 0.5),
            percentile(v, 1.0)
        )
    };
    println!(
        "detection N={n} ({seeds} seeds, LAN profile): first suspicion {}; first dead {}; dead everywhere {}",
        show(&mut suspect),
        show(&mut first_dead),
        show(&mut all_dead)
    );
}

fn speed(n: usize) {
    let config = Config {
        enable_compression: std::env::var_os("MEASURE_NO_LZW").is_none(),
        ..Config::lan()
    };
    let (mut sim, _) = form(n, 1, &config);
    sim.run_for(Duration::from_secs(30));
    let sim_secs = 60.0;
    let before = sim.traffic;
    let wall = Wall::now();
    sim.run_for(Duration::from_secs_f64(sim_secs));
    let w = wall.elapsed().as_secs_f64();
    let bytes = sim.traffic.packet_bytes - before.packet_bytes + sim.traffic.stream_bytes
        - before.stream_bytes;
    println!(
        "speed N={n}: {:.0} simulated node-seconds per wall second ({sim_secs} s of {n} nodes in {w:.2} s); \
         traffic {:.0} bytes per node per second; member entry {} bytes (+ name, address and metadata over 22 bytes)",
        n as f64 * sim_secs / w,
        bytes as f64 / n as f64 / sim_secs,
        Memberlist::member_entry_bytes()
    );
}

/// One new write's spread: rounds until every node holds it, and the map messages all nodes
/// sent meanwhile (exchange messages and gossip transmissions).
fn kv_spread(n: usize, seed: u64, mode: ExchangeMode, gossip: bool, loss: f64) -> (f64, u64, u64) {
    let round = Duration::from_secs(1);
    let config = Config {
        enable_compression: false,
        join_follow_ups: 0,
        // memberlist's own push/pull would carry digests too: off, so the modes compare.
        push_pull_interval: Duration::ZERO,
        assume_rumor_peers: true,
        kv: KvConfig {
            mode,
            gossip_writes: gossip,
            exchange_interval: round,
            ..KvConfig::enabled()
        },
        ..Config::lan()
    };
    let mut sim = Sim::new(seed, LinkModel::default());
    sim.keep_events = |_| false;
    for i in 0..n {
        sim.add_node(config.clone(), &format!("node-{i}"), b"");
    }
    sim.bootstrap();
    sim.link.loss = loss;
    sim.run_for(round * 2);
    let counted = |sim: &Sim| -> (u64, u64) {
        (0..n).fold((0, 0), |(m, g), i| {
            let s = sim.core(i).kv_stats();
            (m + s.exchange_messages, g + s.gossip_sends)
        })
    };
    let (m0, g0) = counted(&sim);
    let origin = (seed as usize * 7919) % n;
    sim.with(origin, |c, now| {
        c.kv_set(now, "fresh", b"news").expect("write")
    });
    let start = sim.now();
    let mut pending: Vec<usize> = (0..n)
        .filter(|&i| sim.core(i).kv_get("fresh").is_none())
        .collect();
    while !pending.is_empty() {
        sim.run_for(Duration::from_millis(20));
        pending.retain(|&i| sim.core(i).kv_get("fresh").is_none());
    }
    let (m1, g1) = counted(&sim);
    let t = sim.now().saturating_duration_since(start).as_secs_f64() / round.as_secs_f64();
    (t, m1 - m0, g1 - g0)
}

fn kv(n: usize, seeds: u64) {
    let ln = (n as f64).ln();
    let lnln = ln.ln();
    let theory = |mode| match mode {
        ExchangeMode::Push => (n as f64).log2() + ln,
        ExchangeMode::Pull => (n as f64).log2() + lnln,
        ExchangeMode::PushPull => (n as f64).log(3.0) + lnln,
    };
    for loss in [0.0, 0.1] {
        for (mode, gossip) in [
            (ExchangeMode::Push, false),
            (ExchangeMode::Pull, false),
            (ExchangeMode::PushPull, false),
            (ExchangeMode::PushPull, true),
        ] {
            let wall = Wall::now();
            let mut rounds = Vec::new();
            let mut msgs = Vec::new();
            let mut gossips = Vec::new();
            for seed in 1..=seeds {
                let (r, m, g) = kv_spread(n, seed, mode, gossip, loss);
                rounds.push(r);
                msgs.push(m as f64);
                gossips.push(g as f64);
            }
            let how = if gossip { "+gossip" } else { "" };
            println!(
                "kv N={n} loss {:.0}% {mode:?}{how}: rounds median {:.1} worst {:.1} (theory {:.1}); \
                 exchange messages median {:.0} ({:.2} per node per round), gossip sends {:.0}; wall {:.1} s",
                loss * 100.0,
                percentile(&mut rounds.clone(), 0.5),
                percentile(&mut rounds.clone(), 1.0),
                theory(mode),
                percentile(&mut msgs.clone(), 0.5),
                percentile(&mut msgs.clone(), 0.5)
                    / n as f64
                    / percentile(&mut rounds, 0.5).max(1e-9),
                percentile(&mut gossips, 0.5),
                wall.elapsed().as_secs_f64()
            );
        }
    }
}

/// The digest's size at 10,000 keys, from 100 writers and from one, beside what a digest
/// with one (key, version) row per key would cost.
fn kv_digest() {
    let config = Config {
        join_follow_ups: 0,
        push_pull_interval: Duration::ZERO,
        assume_rumor_peers: true,
        kv: KvConfig::enabled(),
        ..Config::lan()
    };
    for writers in [100usize, 1] {
        let mut sim = Sim::new(1, LinkModel::default());
        sim.keep_events = |_| false;
        for i in 0..100 {
            sim.add_node(config.clone(), &format!("node-{i}"), b"");
        }
        sim.bootstrap();
        for k in 0..10_000usize {
            let w = k % writers;
            sim.with(w, |c, now| {
                c.kv_set(now, &format!("service/{k:05}"), b"value")
                    .expect("write")
            });
        }
        let mut waited = 0;
        let same = |sim: &Sim| {
            let f = sim.core(0).kv_fingerprint();
            (0..100).all(|i| sim.core(i).kv_fingerprint() == f)
        };
        while !same(&sim) && waited < 300 {
            sim.run_for(Duration::from_secs(1));
            waited += 1;
        }
        let c = sim.core(99);
        let per_key: usize = c
            .kv_entries()
            .map(|(k, e)| 1 + k.len() + varint_len(e.version))
            .sum();
        println!(
            "kv digest at {} keys from {writers} writer(s): {} bytes (one row per key would be {per_key} bytes); converged after {waited} s",
            c.kv_len(),
            c.kv_digest_len()
        );
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let sizes: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = |default: &[usize]| {
        if sizes.is_empty() {
            default.to_vec()
        } else {
            sizes.clone()
        }
    };
    if matches!(what, "dissemination" | "all") {
        for n in sizes(&[1000, 5000]) {
            let seeds = std::env::var("MEASURE_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok());
            dissemination(n, seeds.unwrap_or(if n > 2000 { 3 } else { 10 }));
        }
    }
    if matches!(what, "detection" | "all") {
        for n in sizes(&[100]) {
            detection(n, 20);
        }
    }
    if matches!(what, "kv" | "all") {
        for n in sizes(&[100, 1000, 5000]) {
            let seeds = std::env::var("MEASURE_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok());
            kv(n, seeds.unwrap_or(if n > 2000 { 1 } else { 5 }));
        }
        kv_digest();
    }
    if matches!(what, "speed" | "all") {
        for n in sizes(&[100, 1000]) {
            speed(n);
        }
    }
}
