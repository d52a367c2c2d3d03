//! Scenarios: plain functions over any [`Backend`], with time limits counted in protocol
//! periods of the backend's configuration, so they run alike in virtual and wall-clock time.

use std::collections::BTreeSet;
use std::time::Duration;

use rand_core::SeedableRng;
use rumor_core::{Config, Event, LeaveReason, MemberState};

use crate::backend::Backend;
use crate::sim::NodeId;

mod kv;
pub use kv::*;

/// What a scenario measured.
pub type Outcome = Result<String, String>;

/// A scenario's entry point.
pub type Scenario = fn(&mut dyn Backend) -> Outcome;

/// Every scenario, by name, for backends that can run them all (the simulator).
pub const ALL: &[(&str, Scenario)] = crate::__scenarios!(all => __scenario_table());

/// The scenarios for backends that run in wall-clock time on real sockets: all but the
/// 30-minute loss soak (which stays on the simulator), plus the hostile clients, which need
/// real sockets. What `conformance_tests!(realtime: ...)` runs.
pub const REALTIME: &[(&str, Scenario)] = crate::__scenarios!(realtime => __scenario_table());

/// Steps `b` until `cond` holds or `limit` (times the backend's [`Backend::slack`]) passes;
/// returns the time it took.
pub fn wait_until(
    b: &mut dyn Backend,
    limit: Duration,
    what: &str,
    mut cond: impl FnMut(&dyn Backend) -> bool,
) -> Result<Duration, String> {
    let start = b.elapsed();
    let limit = limit * b.slack();
    let step = b.base_config().probe_interval / 10;
    loop {
        if cond(b) {
            return Ok(b.elapsed() - start);
        }
        if b.elapsed() - start > limit {
            return Err(format!("{what}: not within {limit:?} ({})", b.context()));
        }
        b.run_for(step);
    }
}

/// Names `node-0`, `node-1`, ...
pub fn node_name(i: usize) -> String {
    format!("node-{i}")
}

/// Alive or suspect members in `node`'s view, by name.
pub fn live_view(b: &dyn Backend, node: NodeId) -> BTreeSet<String> {
    b.members(node)
        .into_iter()
        .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
        .map(|m| m.name.into())
        .collect()
}

/// `node`'s state for the member called `name`.
pub fn state_of(b: &dyn Backend, node: NodeId, name: &str) -> Option<MemberState> {
    b.members(node)
        .into_iter()
        .find(|m| &*m.name == name)
        .map(|m| m.state)
}

/// Starts `n` nodes and joins each through node 0; waits until every node sees all `n`.
pub fn form_cluster(b: &mut dyn Backend, n: usize) -> Result<(Vec<NodeId>, Duration), String> {
    let config = b.base_config();
    form_cluster_with(b, n, &config)
}

/// [`form_cluster`] with nodes running `config`.
pub fn form_cluster_with(
    b: &mut dyn Backend,
    n: usize,
    config: &Config,
) -> Result<(Vec<NodeId>, Duration), String> {
    let ids: Vec<NodeId> = (0..n)
        .map(|i| {
            b.spawn(
                &node_name(i),
                format!("meta-{i}").as_bytes(),
                config.clone(),
            )
        })
        .collect();
    for &i in &ids[1..] {
        b.join(i, &ids[..1]);
    }
    let limit = config.push_pull_interval.max(config.probe_interval * 10) * 2;
    let took = wait_until(b, limit, &format!("{n} nodes see each other"), |b| {
        ids.iter().all(|&i| live_view(b, i).len() == n)
    })?;
    Ok((ids, took))
}

fn join_n(b: &mut dyn Backend, n: usize) -> Outcome {
    let (ids, took) = form_cluster(b, n)?;
    // Metadata arrives with the join.
    for &i in &ids {
        for m in b.members(i) {
            let want = format!("meta-{}", &m.name["node-".len()..]);
            if *m.meta != *want.as_bytes() {
                return Err(format!(
                    "{} sees {}'s meta as {:?}",
                    node_name(i),
                    m.name,
                    m.meta
                ));
            }
        }
    }
    Ok(format!("{n} nodes converged in {took:?}"))
}

/// Join through one seed, 5 nodes: everyone sees everyone, with the right meta.
pub fn join_5(b: &mut dyn Backend) -> Outcome {
    join_n(b, 5)
}

/// Join through one seed, 100 nodes.
pub fn join_100(b: &mut dyn Backend) -> Outcome {
    join_n(b, 100)
}

/// At 10% datagram loss, no live member is declared dead over 30 minutes (20 nodes).
pub fn lossy_network_no_false_deaths(b: &mut dyn Backend) -> Outcome {
    let n = 20;
    let (ids, _) = form_cluster(b, n)?;
    b.set_loss(0.10);
    let minutes = 30;
    b.run_for(Duration::from_secs(60 * minutes));
    b.set_loss(0.0);
    let mut suspicions = 0;
    for &i in &ids {
        for (_, e) in b.events(i) {
            if let Event::MemberLeft { member, reason } = e {
                return Err(format!(
                    "{} declared {} {reason:?} under 10% loss",
                    node_name(i),
                    member.name
                ));
            }
        }
        suspicions += n - live_view(b, i).len();
    }
    Ok(format!(
        "{minutes} min at 10% loss: no deaths, {suspicions} members not alive at the end"
    ))
}

/// The time within which a crashed member must be declared dead everywhere: either a probe
/// cycle to reach it, the probe itself and the longest suspicion timeout (no confirmations),
/// or, for a node that missed every gossiped verdict, a push/pull period and the shortest
/// suspicion timeout; plus a few gossip rounds to spread the verdict.
pub fn detection_bound(config: &Config, n: usize) -> Duration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let min = config
        .probe_interval
        .mul_f64(f64::from(config.suspicion_mult) * scale);
    let max = min * config.suspicion_max_timeout_mult;
    let gossip = config.probe_interval * 3 + max;
    let push_pull = config.push_pull_interval + min;
    gossip.max(push_pull) + config.gossip_interval * 10
}

/// True once `node` reported `name` failed (the member may since have been reaped).
pub fn saw_failed(b: &dyn Backend, node: NodeId, name: &str) -> bool {
    b.events(node).iter().any(|(_, e)| {
        matches!(e, Event::MemberLeft { member, reason: LeaveReason::Failed } if *member.name == *name)
    })
}

/// A crashed node is declared dead (failed, not left) by every other node within the bound.
pub fn crash_detected(b: &mut dyn Backend) -> Outcome {
    let n = 8;
    let (ids, _) = form_cluster(b, n)?;
    let victim = ids[n - 1];
    let name = node_name(victim);
    b.kill(victim);
    let bound = detection_bound(&b.base_config(), n);
    let others = &ids[..n - 1];
    let took = wait_until(b, bound, "crash seen dead by all", |b| {
        others.iter().all(|&i| saw_failed(b, i, &name))
    })?;
    for &i in others {
        if !matches!(state_of(b, i, &name), Some(MemberState::Dead) | None) {
            return Err(format!("{} sees {name} back", node_name(i)));
        }
        // Nobody else was accused.
        let live = live_view(b, i);
        if live.len() != n - 1 {
            return Err(format!(
                "{} sees {} live members, want {}",
                node_name(i),
                live.len(),
                n - 1
            ));
        }
    }
    Ok(format!("dead everywhere after {took:?} (bound {bound:?})"))
}

/// A graceful leave is seen as left, not failed, by everyone.
pub fn graceful_leave(b: &mut dyn Backend) -> Outcome {
    let n = 6;
    let (ids, _) = form_cluster(b, n)?;
    let leaver = ids[2];
    let name = node_name(leaver);
    b.leave(leaver);
    let limit = b.base_config().probe_interval * 10;
    let others: Vec<_> = ids.iter().copied().filter(|&i| i != leaver).collect();
    let took = wait_until(b, limit, "leave seen by all, and finished", |b| {
        others
            .iter()
            .all(|&i| state_of(b, i, &name) == Some(MemberState::Left))
            && b.events(leaver)
                .iter()
                .any(|(_, e)| *e == Event::LeaveFinished)
    })?;
    b.kill(leaver);
    b.run_for(b.base_config().probe_interval * 10);
    for &i in &others {
        for (_, e) in b.events(i) {
            if let Event::MemberLeft { member, reason } = e
                && *member.name == *name
                && reason != LeaveReason::Left
            {
                return Err(format!("{} saw {name} leave as {reason:?}", node_name(i)));
            }
        }
        // Left members are forgotten after gossip_to_the_dead_time.
        if !matches!(state_of(b, i, &name), Some(MemberState::Left) | None) {
            return Err(format!("{} no longer sees {name} as left", node_name(i)));
        }
    }
    Ok(format!("left everywhere after {took:?}"))
}

/// A node paused for a few probe periods refutes its suspicion and is not declared dead.
pub fn paused_node_refutes(b: &mut dyn Backend) -> Outcome {
    let n = 6;
    let (ids, _) = form_cluster(b, n)?;
    let sleeper = ids[3];
    let name = node_name(sleeper);
    let config = b.base_config();
    b.pause(sleeper);
    // Paused until someone suspects it, then one probe period more: a few probe periods in
    // all, shorter than the suspicion timeout, which confirmations can shrink to its minimum.
    let suspected_after = wait_until(
        b,
        config.probe_interval * 10,
        "the paused node is suspected",
        |b| {
            ids.iter()
                .any(|&i| i != sleeper && state_of(b, i, &name) == Some(MemberState::Suspect))
        },
    )?;
    b.run_for(config.probe_interval);
    b.resume(sleeper);
    let took = wait_until(b, config.probe_interval * 10, "refuted everywhere", |b| {
        ids.iter()
            .all(|&i| state_of(b, i, &name) == Some(MemberState::Alive))
    })?;
    b.run_for(config.probe_interval * 10);
    for &i in &ids {
        let failed = b
            .events(i)
            .iter()
            .any(|(_, e)| matches!(e, Event::MemberLeft { member, .. } if *member.name == *name));
        if failed {
            return Err(format!("{} declared the paused node dead", node_name(i)));
        }
    }
    Ok(format!(
        "suspected {suspected_after:?} into the pause, alive everywhere {took:?} after resuming"
    ))
}

fn user_messages_of(b: &dyn Backend, node: NodeId, payload: &[u8]) -> usize {
    b.events(node)
        .iter()
        .filter(|(_, e)| matches!(e, Event::UserMessage { payload: p, .. } if p == payload))
        .count()
}

/// memberlist's broadcast semantics: the sender hands each broadcast out at most
/// `retransmit_mult * ceil(log10(n + 1))` times, receivers deliver every copy and do not
/// relay it.
pub fn broadcast_is_transmit_limited(b: &mut dyn Backend) -> Outcome {
    let n = 10;
    let (ids, _) = form_cluster(b, n)?;
    let config = b.base_config();
    let payload = b"broadcast-1".to_vec();
    b.broadcast(ids[0], &payload);
    b.run_for(config.gossip_interval * 50);
    let limit = config.retransmit_mult as usize * ((n as f64 + 1.0).log10().ceil() as usize);
    let delivered: usize = ids.iter().map(|&i| user_messages_of(b, i, &payload)).sum();
    let reached = ids[1..]
        .iter()
        .filter(|&&i| user_messages_of(b, i, &payload) > 0)
        .count();
    if delivered == 0 {
        return Err("the broadcast reached nobody".into());
    }
    if delivered > limit {
        return Err(format!(
            "{delivered} deliveries exceed the retransmit limit {limit}: someone relayed"
        ));
    }
    if user_messages_of(b, ids[0], &payload) != 0 {
        return Err("the sender delivered its own broadcast".into());
    }
    Ok(format!(
        "{delivered} deliveries (limit {limit}) reached {reached}/{} nodes",
        n - 1
    ))
}

/// Best-effort and reliable user messages arrive.
pub fn user_messages(b: &mut dyn Backend) -> Outcome {
    let (ids, _) = form_cluster(b, 3)?;
    b.send(ids[0], &node_name(ids[1]), b"datagram", false);
    b.send(ids[0], &node_name(ids[2]), b"stream", true);
    let limit = b.base_config().probe_interval * 5;
    wait_until(b, limit, "user messages delivered", |b| {
        user_messages_of(b, ids[1], b"datagram") == 1 && user_messages_of(b, ids[2], b"stream") == 1
    })?;
    Ok("both delivered".into())
}

/// A meta update reaches every node.
pub fn meta_update_spreads(b: &mut dyn Backend) -> Outcome {
    let n = 8;
    let (ids, _) = form_cluster(b, n)?;
    b.set_meta(ids[4], b"role=updated");
    let name = node_name(ids[4]);
    let limit = b
        .base_config()
        .push_pull_interval
        .max(b.base_config().probe_interval * 10);
    let took = wait_until(b, limit, "meta update seen by all", |b| {
        ids.iter().all(|&i| {
            b.members(i)
                .iter()
                .any(|m| *m.name == *name && &*m.meta == b"role=updated")
        })
    })?;
    for &i in &ids {
        if i != ids[4]
            && !b
                .events(i)
                .iter()
                .any(|(_, e)| matches!(e, Event::MemberUpdated(m) if *m.name == *name))
        {
            return Err(format!("{} got no update event", node_name(i)));
        }
    }
    Ok(format!("seen by all after {took:?}"))
}

/// Push/pull carries the application state: node 0's state reaches every joiner, and every
/// joiner's state reaches node 0.
pub fn push_pull_delivers_local_state(b: &mut dyn Backend) -> Outcome {
    let config = b.base_config();
    let n = 5;
    let ids: Vec<NodeId> = (0..n)
        .map(|i| b.spawn(&node_name(i), b"", config.clone()))
        .collect();
    for &i in &ids {
        b.set_local_state(i, format!("state-{i}").as_bytes());
    }
    for &i in &ids[1..] {
        b.join(i, &ids[..1]);
    }
    let limit = config.probe_interval * 5;
    let got = |b: &dyn Backend, node: NodeId, from: NodeId| {
        let want = format!("state-{from}").into_bytes();
        b.events(node)
            .iter()
            .any(|(_, e)| matches!(e, Event::RemoteState { state, .. } if *state == want))
    };
    let took = wait_until(b, limit, "local state exchanged", |b| {
        ids[1..]
            .iter()
            .all(|&i| got(b, i, ids[0]) && got(b, ids[0], i))
    })?;
    Ok(format!("exchanged in {took:?}"))
}

fn partition_scenario(b: &mut dyn Backend, hold: Duration) -> Outcome {
    let n = 6;
    let (ids, _) = form_cluster(b, n)?;
    let (left, right) = ids.split_at(n / 2);
    b.partition(&[left, right]);
    let config = b.base_config();
    let bound = detection_bound(&config, n) * 2;
    wait_until(b, bound, "each side declares the other failed", |b| {
        left.iter().all(|&i| live_view(b, i).len() == left.len())
            && right.iter().all(|&i| live_view(b, i).len() == right.len())
    })?;
    b.run_for(hold);
    b.heal();
    let limit =
        config.reconnect_interval.max(config.push_pull_interval) * 3 + config.probe_interval * 20;
    let took = wait_until(b, limit, "one cluster again", |b| {
        ids.iter().all(|&i| live_view(b, i).len() == n)
    })?;
    Ok(format!("merged {took:?} after healing"))
}

/// A partition makes each side declare the other failed; after it heals, one cluster again.
pub fn partition_heals(b: &mut dyn Backend) -> Outcome {
    partition_scenario(b, Duration::ZERO)
}

/// The same after a partition longer than `gossip_to_the_dead_time`, when both sides have
/// forgotten each other: the reconnect timer brings them back.
pub fn long_partition_heals(b: &mut dyn Backend) -> Outcome {
    let hold = b.base_config().gossip_to_the_dead_time * 3;
    partition_scenario(b, hold)
}

/// Hostile clients on real sockets: garbage datagrams, more idle TCP connections than
/// `max_inbound_streams`, a connection that sends garbage and one that pours out a gigabyte.
/// The node closes every such connection (idle ones at the stream deadline), keeps its
/// cluster whole and still delivers a reliable message afterwards. Real-socket backends only.
pub fn hostile_clients(b: &mut dyn Backend) -> Outcome {
    use std::io::{Read, Write};
    use std::net::{TcpStream, UdpSocket};

    if !b.real_sockets() {
        return Err(format!("{} has no real sockets", b.name()));
    }
    let n = 3;
    let (ids, _) = form_cluster(b, n)?;
    let target = b.addr(ids[0]);
    let config = b.base_config();
    let io_err = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let mut junk = vec![0u8; 1 << 20];
    rand_core::Rng::fill_bytes(&mut rng, &mut junk);

    // Garbage datagrams, of every length up to 1,500 bytes.
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(|e| io_err("udp bind", e))?;
    for i in 0..3000usize {
        let len = (i * 7919) % 1500;
        let start = (i * 104_729) % (junk.len() - len);
        let _ = udp.send_to(&junk[start..start + len], target);
    }

    // Idle connections, 50 more than the node accepts at once.
    let idle: Vec<TcpStream> = (0..config.max_inbound_streams + 50)
        .filter_map(|_| TcpStream::connect(target).ok())
        .collect();
    // One that sends garbage, one that sends a gigabyte.
    let mut garbage = TcpStream::connect(target).map_err(|e| io_err("connect", e))?;
    let _ = garbage.write_all(&junk[..64 << 10]);
    let flood = {
        let junk = junk.clone();
        std::thread::spawn(move || -> std::io::Result<usize> {
            let mut s = TcpStream::connect(target)?;
            let mut sent = 0usize;
            while sent < 1 << 30 {
                match s.write(&junk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => sent += k,
                }
            }
            Ok(sent)
        })
    };

    // Every connection is closed by the node: idle ones at the stream deadline.
    b.run_for(config.tcp_timeout + config.probe_interval * 5);
    let closed = |mut s: &TcpStream| {
        let _ = s.set_read_timeout(Some(config.tcp_timeout));
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
            }
        }
    };
    let open = idle.iter().filter(|s| !closed(s)).count();
    if open > 0 {
        return Err(format!(
            "{open} idle connections still open after the stream deadline"
        ));
    }
    if !closed(&garbage) {
        return Err("the garbage connection is still open".into());
    }
    let sent = match flood.join() {
        Ok(Ok(sent)) => sent,
        Ok(Err(e)) => return Err(io_err("flood", e)),
        Err(_) => return Err("the flood thread panicked".into()),
    };
    if sent >= 1 << 30 {
        return Err("the node read a whole gigabyte of garbage".into());
    }

    // The cluster is whole, nobody was declared dead, and streams still work.
    b.send(ids[1], &node_name(ids[0]), b"still here", true);
    wait_until(
        b,
        config.probe_interval * 10,
        "reliable message after the abuse",
        |b| user_messages_of(b, ids[0], b"still here") == 1,
    )?;
    for &i in &ids {
        if live_view(b, i).len() != n {
            return Err(format!("{} lost members", node_name(i)));
        }
        if b.events(i)
            .iter()
            .any(|(_, e)| matches!(e, Event::MemberLeft { .. }))
        {
            return Err(format!("{} declared someone dead", node_name(i)));
        }
    }
    Ok(format!(
        "{} idle connections closed, the flood cut after {} KiB",
        idle.len(),
        sent >> 10
    ))
}
