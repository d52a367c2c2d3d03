//! Many nodes on one reactor thread: 100 nodes join through one seed and every node's work runs
//! on that one thread, while their handles are used from several other threads at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rumor_conformance::real::fast_config;
use rumor_core::runtime::NodeOptions;
use rumor_mio::Reactor;

#[test]
fn a_hundred_nodes_on_one_thread() {
    const N: usize = 100;
    let mut reactor = Reactor::new().expect("reactor");
    let mut nodes = Vec::new();
    for i in 0..N {
        let options = NodeOptions::new(format!("node-{i}"), "127.0.0.1:0".parse().expect("addr"));
        nodes.push(reactor.add(fast_config(), options).expect("add"));
    }
    assert_eq!(reactor.len(), N);
    let thread = std::thread::spawn(move || reactor.run());
    let seed = nodes[0].0.local_addr();
    // Join from four threads at once, each waiting on its nodes' replies.
    std::thread::scope(|s| {
        for chunk in nodes[1..].chunks(N / 4) {
            s.spawn(move || {
                for (handle, _) in chunk {
                    let joined = handle.join(vec![seed]).wait().expect("join");
                    assert_eq!(joined.contacted, 1);
                }
            });
        }
    });
    // Generous: the fast profile converges in a few seconds; a loaded machine may take longer.
    let limit = Instant::now() + Duration::from_secs(60);
    while nodes.iter().any(|(h, _)| h.num_members() < N) {
        assert!(
            Instant::now() < limit,
            "not every node saw {N} members in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let threads: HashSet<_> = nodes
        .iter()
        .map(|(h, _)| {
            h.with_core(|_, _| std::thread::current().id())
                .wait()
                .expect("with_core")
        })
        .collect();
    assert_eq!(
        threads.len(),
        1,
        "every node runs on the reactor's one thread"
    );
    assert_ne!(
        threads.into_iter().next(),
        Some(std::thread::current().id())
    );
    for (handle, events) in &nodes {
        handle.shutdown().wait().expect("shutdown");
        // Events end once read: the first is the node's own join.
        assert!(events.recv_blocking().is_some());
        while events.recv_blocking().is_some() {}
    }
    drop(nodes);
    thread
        .join()
        .expect("reactor thread")
        .expect("reactor loop");
}
