//! Event backpressure: a node whose application stops reading waits (its input stays in the
//! socket buffer) instead of dropping events, and catches up once the application reads.

use std::time::{Duration, Instant};

use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_the_node_back_and_loses_nothing() {
    let any = "127.0.0.1:0".parse().expect("address");
    let (a, _a_events) =
        rumor_tokio::spawn(Config::local(), NodeOptions::new("a", any)).expect("spawn a");
    let mut options = NodeOptions::new("b", any);
    options.event_capacity = 2;
    let (b, b_events) = rumor_tokio::spawn(Config::local(), options).expect("spawn b");
    // Keep b's queue empty while the two meet.
    let joined = tokio::spawn(b.join(vec![a.local_addr()]));
    let limit = Instant::now() + Duration::from_secs(30);
    while !joined.is_finished() || b_events.try_recv().is_some() {
        assert!(Instant::now() < limit, "b did not join a");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(joined.await.expect("task").expect("join").contacted, 1);
    while b_events.try_recv().is_some() {}

    // Now nobody reads b's events: a sends ten messages, one at a time.
    for i in 0..10u8 {
        a.send("b".into(), vec![i], false).await.expect("send");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // b queued what fits and left the rest unread in its socket.
    let mut held = Vec::new();
    while let Some(e) = b_events.try_recv() {
        held.push(e);
    }
    assert!(
        held.len() <= 3,
        "b queued {} events for a reader that asked for 2",
        held.len()
    );
    // Reading lets b go on: every message arrives, in order, none dropped.
    let mut got: Vec<u8> = held
        .into_iter()
        .filter_map(|e| match e {
            Event::UserMessage { payload: m, .. } => m.first().copied(),
            _ => None,
        })
        .collect();
    while got.len() < 10 {
        let next = tokio::time::timeout(Duration::from_secs(10), b_events.recv()).await;
        if let Event::UserMessage { payload: m, .. } = next.expect("b caught up").expect("b runs") {
            got.extend(m.first());
        }
    }
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
    b.shutdown().await.expect("shutdown");
}
