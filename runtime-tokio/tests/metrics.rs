//! Metrics on a real node: two nodes in one process, told apart by their labels, count the
//! stream bytes of their join (memberlist's `memberlist.tcp.sent`).

use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use rumor_core::Config;
use rumor_core::runtime::NodeOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_count_stream_bytes_under_their_own_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Metrics are registered when a node starts: start both under the recorder.
    let ((a, _a_events), (b, _b_events)) = metrics::with_local_recorder(&recorder, || {
        let start = |name: &str| {
            let options = NodeOptions::new(name, "127.0.0.1:0".parse().expect("address"))
                .metric_label("node", name);
            rumor_tokio::spawn(Config::local(), options).expect("spawn")
        };
        (start("a"), start("b"))
    });
    let joined = b.join(vec![a.local_addr()]).await.expect("join");
    assert_eq!(joined.contacted, 1);
    // A snapshot hands out what counters gathered since the last one: add them up.
    let mut sent = std::collections::HashMap::<String, u64>::new();
    let limit = Instant::now() + Duration::from_secs(30);
    // Both sides wrote a push/pull: the joiner its request, the seed its answer.
    while sent.len() < 2 {
        assert!(
            Instant::now() < limit,
            "stream bytes counted only for {sent:?}"
        );
        for (k, _, _, v) in snapshotter.snapshot().into_vec() {
            let node = k.key().labels().find(|l| l.key() == "node");
            if let (Some(node), DebugValue::Counter(n)) = (node, v)
                && k.key().name() == "memberlist.tcp.sent"
                && n > 0
            {
                *sent.entry(node.value().to_string()).or_default() += n;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shutdown().await.expect("shutdown");
    b.shutdown().await.expect("shutdown");
}
