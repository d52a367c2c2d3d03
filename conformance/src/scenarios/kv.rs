//! The replicated map and relayed broadcasts: convergence in each exchange mode under loss,
//! across a healed partition and onto a node that starts empty; subscriptions; relay.

use std::time::Duration;

use rumor_core::{Config, Event, ExchangeMode, KvConfig};

use super::{Outcome, form_cluster_with, node_name, wait_until};
use crate::backend::Backend;
use crate::sim::NodeId;

/// The backend's configuration with the map on in `mode`, one exchange per half probe
/// interval, and gossip of writes on or off.
fn kv_config(b: &dyn Backend, mode: ExchangeMode, gossip: bool) -> Config {
    let base = b.base_config();
    Config {
        kv: KvConfig {
            mode,
            gossip_writes: gossip,
            exchange_interval: base.probe_interval / 2,
            ..KvConfig::enabled()
        },
        ..base
    }
}

/// Waits until the listed nodes hold the same map.
fn converge(
    b: &mut dyn Backend,
    nodes: &[NodeId],
    rounds: u32,
    what: &str,
) -> Result<Duration, String> {
    let limit = b.base_config().probe_interval / 2 * rounds;
    wait_until(b, limit, what, |b| {
        let f = b.kv_fingerprint(nodes[0]);
        nodes.iter().all(|&i| b.kv_fingerprint(i) == f)
    })
}

fn value_of(b: &dyn Backend, node: NodeId, key: &str) -> Option<Vec<u8>> {
    b.kv_get(node, key)
        .and_then(|e| e.value)
        .map(|v| v.to_vec())
}

/// Exchanges alone (no gossip of writes) make every node's map the same: at 20% datagram
/// loss, after a partition heals (the last writer wins on both sides), and on a node that
/// joins empty.
fn kv_converges(b: &mut dyn Backend, mode: ExchangeMode) -> Outcome {
    let n = 5;
    let config = kv_config(b, mode, false);
    let (ids, _) = form_cluster_with(b, n, &config)?;

    b.set_loss(0.2);
    for (i, &node) in ids.iter().enumerate().take(3) {
        b.kv_set(node, &format!("key-{i}"), format!("from {i}").as_bytes());
        b.kv_set(node, &format!("extra-{i}"), b"x");
    }
    let lossy = converge(b, &ids, 80, "convergence at 20% loss")?;
    // A delete on a node that has seen the write wins over it everywhere.
    b.kv_delete(ids[4], "extra-1");
    converge(b, &ids, 80, "delete at 20% loss")?;
    b.set_loss(0.0);
    for &i in &ids {
        if value_of(b, i, "key-2").as_deref() != Some(b"from 2")
            || b.kv_get(i, "extra-1").and_then(|e| e.value).is_some()
        {
            return Err(format!("{} holds the wrong map", node_name(i)));
        }
    }

    b.partition(&[&ids[..3], &ids[3..]]);
    b.kv_set(ids[0], "contested", b"left");
    b.kv_set(ids[4], "contested", b"right");
    b.kv_set(ids[3], "right-only", b"r");
    converge(b, &ids[..3], 40, "left side converges")?;
    converge(b, &ids[3..], 40, "right side converges")?;
    let (l, r) = (b.kv_get(ids[0], "contested"), b.kv_get(ids[4], "contested"));
    let winner = match (l, r) {
        (Some(l), Some(r)) => {
            if (l.version, &l.writer) > (r.version, &r.writer) {
                l.value
            } else {
                r.value
            }
        }
        _ => return Err("a side lost its own write".into()),
    };
    b.heal();
    let healed = converge(b, &ids, 80, "convergence after the partition heals")?;
    for &i in &ids {
        if b.kv_get(i, "contested").and_then(|e| e.value) != winner {
            return Err(format!("{} kept the losing write", node_name(i)));
        }
    }

    b.kill(ids[4]);
    let fresh = b.spawn(&node_name(n), b"", config.clone());
    b.join(fresh, &ids[..1]);
    let mut alive: Vec<NodeId> = ids[..4].to_vec();
    alive.push(fresh);
    let joined = converge(b, &alive, 80, "a node that starts empty catches up")?;
    if value_of(b, fresh, "right-only").as_deref() != Some(b"r") {
        return Err("the new node lacks a key".into());
    }
    Ok(format!(
        "{mode:?}: converged at 20% loss in {lossy:?}, after heal in {healed:?}, new node in {joined:?}"
    ))
}

/// Push exchanges alone (each round a node sends its whole map) converge at 20% loss, after a
/// healed partition and onto a node that joins empty.
pub fn kv_push_converges(b: &mut dyn Backend) -> Outcome {
    kv_converges(b, ExchangeMode::Push)
}

/// Pull exchanges alone (digest out, missing entries back) converge likewise.
pub fn kv_pull_converges(b: &mut dyn Backend) -> Outcome {
    kv_converges(b, ExchangeMode::Pull)
}

/// Push/pull exchanges alone (three messages) converge likewise.
pub fn kv_push_pull_converges(b: &mut dyn Backend) -> Outcome {
    kv_converges(b, ExchangeMode::PushPull)
}

/// With gossip and exchanges both on (the defaults), writes and deletes reach everyone; a
/// subscriber sees the changes under its prefix and nothing else.
pub fn kv_gossip_and_subscriptions(b: &mut dyn Backend) -> Outcome {
    let n = 6;
    let config = kv_config(b, ExchangeMode::PushPull, true);
    let (ids, _) = form_cluster_with(b, n, &config)?;
    b.kv_subscribe(ids[5], "jobs/");
    b.kv_set(ids[0], "jobs/1", b"queued");
    b.kv_set(ids[0], "other", b"ignored");
    let limit = config.kv.exchange_interval * 20;
    let took = wait_until(b, limit, "write everywhere", |b| {
        ids.iter().all(|&i| b.kv_get(i, "jobs/1").is_some())
    })?;
    b.kv_delete(ids[2], "jobs/1");
    wait_until(b, limit, "delete everywhere", |b| {
        ids.iter()
            .all(|&i| b.kv_get(i, "jobs/1").is_some_and(|e| e.value.is_none()))
    })?;
    let seen: Vec<(String, bool)> = b
        .events(ids[5])
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::KeyChanged(c) => Some((c.key.to_string(), c.value.is_some())),
            _ => None,
        })
        .collect();
    let want = vec![("jobs/1".to_string(), true), ("jobs/1".to_string(), false)];
    if seen != want {
        return Err(format!("subscriber saw {seen:?}, want {want:?}"));
    }
    Ok(format!("write on all {n} nodes after {took:?}"))
}

/// With relay, a broadcast reaches every node exactly once, though the sender alone sends
/// it to few.
pub fn relayed_broadcast_reaches_all(b: &mut dyn Backend) -> Outcome {
    let n = 10;
    let config = Config {
        relay_broadcasts: true,
        assume_rumor_peers: true,
        // Each node passes it on 8 · ceil(log10(11)) = 16 times, so a given node misses all of
        // the 9 relayers' 144 sends with probability about e^-16: on real sockets the
        // outcome is random, and a lower multiplier would make this test flake.
        retransmit_mult: 8,
        ..b.base_config()
    };
    let (ids, _) = form_cluster_with(b, n, &config)?;
    b.broadcast(ids[3], b"relayed");
    let count = |b: &dyn Backend, i: NodeId| {
        b.events(i)
            .iter()
            .filter(|(_, e)| matches!(e, Event::UserMessage { payload: p, .. } if p == b"relayed"))
            .count()
    };
    let limit = config.gossip_interval * 50;
    let took = wait_until(b, limit, "relayed broadcast everywhere", |b| {
        ids.iter().all(|&i| i == ids[3] || count(b, i) >= 1)
    })?;
    // Time for duplicates to show, if any.
    b.run_for(config.gossip_interval * 20);
    for &i in &ids {
        let want = usize::from(i != ids[3]);
        if count(b, i) != want {
            return Err(format!(
                "{} delivered it {} times",
                node_name(i),
                count(b, i)
            ));
        }
    }
    Ok(format!("on all {n} nodes after {took:?}, once each"))
}
