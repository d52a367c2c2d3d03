//! Failure detection right after churn, on the simulator: 8 long-lived nodes (LAN profile)
//! see 60 short-lived nodes join and go, two a second, each living 5 s (half crash, half leave
//! and exit), then two long-lived nodes crash. Three memberlist behaviours make a crash right
//! after churn take far longer to be declared than in a quiet cluster: it scales the
//! suspicion timeout and the confirmations it waits for by every member it lists, dead ones
//! not yet forgotten included; it picks gossip targets among the live and the recently dead
//! alike, so most news goes to nodes that are gone; and a node that left keeps pushing its
//! aging table, bringing forgotten members back. rumor avoids all three with messages Go
//! understands. `cargo test -p rumor-conformance --test churn -- --nocapture` prints the
//! distributions.

use std::collections::HashMap;
use std::time::Duration;

use rumor_conformance::sim::{LinkModel, NodeId, Sim};
use rumor_core::{Config, Event, Instant, LeaveReason};

const STABLE: usize = 8;
const CHURNED: usize = 60;
const SEEDS: u64 = 200;

/// Seconds from each crash to each surviving long-lived observer's verdict.
#[derive(Debug, Default)]
struct Latencies {
    /// The short-lived nodes that crashed, seen by the long-lived ones.
    churned: Vec<f64>,
    /// Long-lived nodes crashed right after the churn.
    after_churn: Vec<f64>,
    /// A long-lived node crashed in the same cluster without churn.
    quiet: Vec<f64>,
}

fn stats(xs: &[f64]) -> String {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "n {:3}, median {:5.1} s, p90 {:5.1} s, max {:5.1} s",
        v.len(),
        q(0.5),
        q(0.9),
        q(1.0)
    )
}

/// Whether `observer` listed `name` at `at` (its last join or leave event before then).
fn listed(sim: &Sim, observer: NodeId, name: &str, at: Instant) -> bool {
    let mut listed = false;
    for (t, e) in &sim.nodes[observer].events {
        if *t > at {
            break;
        }
        match e {
            Event::MemberJoined(m) if &*m.name == name => listed = true,
            Event::MemberLeft { member, .. } if &*member.name == name => listed = false,
            _ => {}
        }
    }
    listed
}

/// When each observer that listed `name` at `since` first declared it failed after that.
fn verdicts(sim: &Sim, observers: &[NodeId], name: &str, since: Instant) -> Vec<f64> {
    observers
        .iter()
        .filter(|&&o| listed(sim, o, name, since))
        .filter_map(|&o| {
            sim.nodes[o].events.iter().find_map(|(t, e)| match e {
                Event::MemberLeft {
                    member,
                    reason: LeaveReason::Failed,
                } if &*member.name == name && *t >= since => {
                    Some(t.saturating_duration_since(since).as_secs_f64())
                }
                _ => None,
            })
        })
        .collect()
}

fn stable_cluster(seed: u64) -> (Sim, Vec<NodeId>) {
    let mut sim = Sim::new(seed, LinkModel::default());
    let ids: Vec<_> = (0..STABLE)
        .map(|i| sim.add_node(Config::lan(), &format!("s{i}"), b""))
        .collect();
    let seeds = [Sim::addr_of(ids[0])];
    for &i in &ids[1..] {
        sim.with(i, |c, now| c.join(now, &seeds));
        sim.run_for(Duration::from_millis(200));
    }
    sim.run_for(Duration::from_secs(20));
    for &i in &ids {
        assert_eq!(sim.core(i).num_members(), STABLE, "formed (seed {seed})");
    }
    (sim, ids)
}

/// Crashes the long-lived nodes `victims` one after another, 15 s apart, and returns the
/// verdicts of the others.
fn crash_stable(sim: &mut Sim, ids: &[NodeId], victims: &[NodeId]) -> Vec<f64> {
    let mut out = Vec::new();
    let mut crashed = Vec::new();
    for &v in victims {
        sim.crash(v);
        crashed.push(v);
        let at = sim.now();
        sim.run_for(Duration::from_secs(15));
        // Verdicts may come later than the next crash: collected at the end.
        out.push((v, at));
    }
    sim.run_for(Duration::from_secs(90));
    let observers: Vec<NodeId> = ids
        .iter()
        .copied()
        .filter(|i| !crashed.contains(i))
        .collect();
    let mut lat = Vec::new();
    for (v, at) in out {
        let seen = verdicts(sim, &observers, &format!("s{v}"), at);
        lat.extend(seen);
    }
    lat
}

fn run(seed: u64) -> Latencies {
    let mut lat = Latencies::default();

    // Without churn.
    let (mut sim, ids) = stable_cluster(seed);
    lat.quiet = crash_stable(&mut sim, &ids, &ids[STABLE - 2..]);

    // With churn: two newcomers a second, each living 5 s; even ones crash, odd ones leave.
    let (mut sim, ids) = stable_cluster(seed);
    let seeds = [Sim::addr_of(ids[0])];
    let mut alive: Vec<(NodeId, Instant, bool)> = Vec::new();
    let mut crashes: HashMap<String, Instant> = HashMap::new();
    let mut leaving: Vec<(NodeId, Instant)> = Vec::new();
    let mut k = 0;
    while k < CHURNED || !alive.is_empty() || !leaving.is_empty() {
        if k < CHURNED {
            let id = sim.add_node(Config::lan(), &format!("c{k}"), b"");
            sim.with(id, |c, now| c.join(now, &seeds));
            alive.push((id, sim.now() + Duration::from_secs(5), k % 2 == 0));
            k += 1;
        }
        sim.run_for(Duration::from_millis(500));
        let now = sim.now();
        alive.retain(|&(id, until, crash)| {
            if now < until {
                return true;
            }
            if crash {
                crashes.insert(sim.core(id).name().to_owned(), now);
                sim.crash(id);
            } else {
                sim.with(id, |c, now| c.leave(now, Duration::from_secs(2)));
                leaving.push((id, now + Duration::from_secs(2)));
            }
            false
        });
        // A process that left exits.
        leaving.retain(|&(id, exit)| {
            if now < exit {
                return true;
            }
            sim.crash(id);
            false
        });
    }
    lat.after_churn = crash_stable(&mut sim, &ids, &ids[STABLE - 2..]);
    for (name, at) in &crashes {
        let v = verdicts(&sim, &ids[..STABLE - 2], name, *at);
        lat.churned.extend(v);
    }
    lat
}

#[test]
fn detection_right_after_churn_is_as_quick_as_in_a_quiet_cluster() {
    let mut all = Latencies::default();
    for seed in 1..=SEEDS {
        let l = run(seed);
        all.quiet.extend(l.quiet);
        all.after_churn.extend(l.after_churn);
        all.churned.extend(l.churned);
    }
    eprintln!("crash detection, seconds from the crash to each observer's verdict:");
    eprintln!("  quiet cluster:             {}", stats(&all.quiet));
    eprintln!("  short-lived nodes:         {}", stats(&all.churned));
    eprintln!("  long-lived, after churn:   {}", stats(&all.after_churn));
    let q = |xs: &[f64], p: f64| {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    // memberlist's ways (scaling by every entry, gossip among the recently dead alike, a
    // node that left still pushing its table) gave here, against the quiet cluster: median
    // 2.2x and max 5.9x for long-lived nodes, max 6.7x for short-lived ones.
    let (quiet, after, churned) = (&all.quiet, &all.after_churn, &all.churned);
    assert!(
        q(after, 0.5) <= 1.5 * q(quiet, 0.5),
        "after churn, a crash takes {:.1} s (median) against {:.1} s in a quiet cluster",
        q(after, 0.5),
        q(quiet, 0.5)
    );
    assert!(
        q(after, 1.0) <= 3.0 * q(quiet, 1.0),
        "after churn, the last observer took {:.1} s against {:.1} s in a quiet cluster",
        q(after, 1.0),
        q(quiet, 1.0)
    );
    assert!(
        q(churned, 1.0) <= 5.0 * q(quiet, 1.0),
        "a short-lived node took {:.1} s to be declared dead",
        q(churned, 1.0)
    );
}
