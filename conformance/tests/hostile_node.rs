//! Hostile input to a running node: mutated golden vectors and random bytes as datagrams and
//! as stream data, in the middle of a simulated cluster. Every input gets a typed result (no
//! panic), and the cluster stays whole.

use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_conformance::sim::{LinkModel, Sim};
use rumor_conformance::vectors;
use rumor_core::{Config, StreamCommand, StreamInput};

fn mutate(rng: &mut ChaCha8Rng, v: &[u8]) -> Vec<u8> {
    let mut m = v.to_vec();
    match rng.next_u32() % 6 {
        0 if !m.is_empty() => {
            let cut = rng.next_u32() as usize % m.len();
            m.truncate(cut);
        }
        1 if !m.is_empty() => {
            for _ in 0..1 + rng.next_u32() % 4 {
                let i = rng.next_u32() as usize % m.len();
                m[i] ^= 1 << (rng.next_u32() % 8);
            }
        }
        2 if !m.is_empty() => {
            let i = rng.next_u32() as usize % m.len();
            let huge = [0xff, 0xff, 0xff, 0xff];
            for (k, b) in huge.iter().enumerate() {
                if let Some(x) = m.get_mut(i + k) {
                    *x = *b;
                }
            }
        }
        3 if !m.is_empty() => {
            let i = rng.next_u32() as usize % m.len();
            m[i] =
                [0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xd9, 0xdb, 0xdf, 0xff][rng.next_u32() as usize % 9];
        }
        4 => {
            let n = rng.next_u32() as usize % 200;
            m = (0..n).map(|_| rng.next_u32() as u8).collect();
        }
        _ => {
            let i = rng.next_u32() as usize % (m.len() + 1);
            m.insert(i, rng.next_u32() as u8);
        }
    }
    m
}

#[test]
fn a_running_node_survives_hostile_input() {
    let config = Config::local();
    let mut sim = Sim::new(3, LinkModel::default());
    let ids: Vec<_> = (0..4)
        .map(|i| sim.add_node(config.clone(), &format!("n{i}"), b""))
        .collect();
    let seeds = [Sim::addr_of(0)];
    for &i in &ids[1..] {
        sim.with(i, |c, now| c.join(now, &seeds));
    }
    sim.run_for(Duration::from_secs(5));
    for &i in &ids {
        assert_eq!(sim.core(i).num_members(), 4);
    }

    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for file in [
        "memberlist-0.2.2.vectors",
        "memberlist-newest.vectors",
        "memberlist-newest-labels.vectors",
    ] {
        inputs.extend(
            vectors::load(file)
                .expect("vectors")
                .into_iter()
                .map(|v| v.bytes),
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0xbad);
    let attacker: SocketAddr = "10.200.0.1:7946".parse().expect("addr");
    let (mut refused, mut accepted, mut streams) = (0u64, 0u64, 0u64);
    for round in 0..50_000u32 {
        let base = &inputs[rng.next_u32() as usize % inputs.len()];
        let bytes = mutate(&mut rng, base);
        let victim = ids[round as usize % ids.len()];
        // As a datagram.
        let r = sim.with(victim, |c, now| c.handle_packet(now, attacker, &bytes));
        match r {
            Some(Ok(())) => accepted += 1,
            Some(Err(_)) => refused += 1,
            None => unreachable!("no node crashed"),
        }
        // As a stream, every tenth input: accepted, fed in two chunks, then closed.
        if round % 10 == 0 {
            let id = sim
                .with(victim, |c, now| c.accept_stream(now, attacker))
                .flatten();
            if let Some(id) = id {
                streams += 1;
                let half = bytes.len() / 2;
                sim.with(victim, |c, now| {
                    let _ = c.handle_stream(now, id, StreamInput::Data(&bytes[..half]));
                    let _ = c.handle_stream(now, id, StreamInput::Data(&bytes[half..]));
                    let _ = c.handle_stream(now, id, StreamInput::Closed);
                    // Whatever it answers goes nowhere.
                    while let Some(cmd) = c.poll_stream() {
                        let _ = matches!(cmd, StreamCommand::Send { .. });
                    }
                });
            }
        }
        if round % 1000 == 0 {
            sim.run_for(Duration::from_millis(100));
        }
    }
    eprintln!(
        "hostile datagrams: {accepted} accepted, {refused} refused; {streams} hostile streams"
    );
    assert!(refused > 10_000, "the mutations must mostly be refused");

    // Fake members injected by well-formed alives are forgotten like any dead member; the
    // real cluster stays whole and healthy.
    sim.run_for(Duration::from_secs(60));
    for &i in &ids {
        let core = sim.core(i);
        for &j in &ids {
            assert_eq!(
                core.member_state(&format!("n{j}")),
                Some(rumor_core::MemberState::Alive),
                "n{i} about n{j}"
            );
        }
    }
}
