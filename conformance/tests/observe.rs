//! The observability hooks fire: a crash on the simulator produces the `tracing` events and
//! the memberlist-named counters a user would watch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use rumor_conformance::sim::{LinkModel, Sim};
use rumor_core::Config;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects the message of every event.
#[derive(Default)]
struct Messages {
    seen: Mutex<Vec<String>>,
    next: AtomicUsize,
}

struct MessageOf(String);

impl Visit for MessageOf {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// The subscriber: a handle on the shared collection.
struct Collector(Arc<Messages>);

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.0.next.fetch_add(1, Ordering::Relaxed) as u64 + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = MessageOf(String::new());
        event.record(&mut m);
        self.0.seen.lock().expect("lock").push(m.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_crash_is_traced_and_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let messages = Arc::new(Messages::default());
    let subscriber = Collector(messages.clone());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            let mut sim = Sim::new(5, LinkModel::default());
            let n = 5;
            for i in 0..n {
                let name = format!("node-{i}");
                let config = Config {
                    metric_labels: vec![("node".into(), name.clone())],
                    ..Config::local()
                };
                sim.add_node(config, &name, b"");
            }
            for i in 1..n {
                sim.with(i, |c, now| c.join(now, &[Sim::addr_of(0)]));
            }
            sim.run_for(Duration::from_secs(5));
            sim.crash(n - 1);
            sim.run_for(Duration::from_secs(30));
        });
    });
    let seen = messages.seen.lock().expect("lock").clone();
    for want in [
        "member alive",
        "member suspected",
        "member gone",
        "push/pull",
    ] {
        assert!(
            seen.iter().any(|m| m == want),
            "no {want:?} event among {} events",
            seen.len()
        );
    }
    let snapshot = snapshotter.snapshot().into_vec();
    let counters: Vec<(String, u64)> = snapshot
        .iter()
        .filter_map(|(key, _, _, v)| match v {
            DebugValue::Counter(c) => Some((key.key().name().to_string(), *c)),
            _ => None,
        })
        .collect();
    // Every metric carries its node's label, so that nodes in one process can be told apart.
    for (key, _, _, _) in &snapshot {
        let labels: Vec<_> = key.key().labels().collect();
        assert!(
            labels
                .iter()
                .any(|l| l.key() == "node" && l.value().starts_with("node-")),
            "{} has no node label: {labels:?}",
            key.key().name()
        );
    }
    let named = |name: &'static str| {
        snapshot
            .iter()
            .filter(move |(k, ..)| k.key().name() == name)
    };
    for want in [
        "memberlist.probeNode",
        "memberlist.pushPullNode",
        "memberlist.size.remote",
        "memberlist.queue.broadcasts",
    ] {
        assert!(
            named(want).any(|(.., v)| matches!(v, DebugValue::Histogram(h) if !h.is_empty())),
            "histogram {want} missing or empty"
        );
    }
    // memberlist.node.instances, by state, as of each node's last push/pull: after the crash,
    // four alive members.
    let alive = named("memberlist.node.instances").any(|(k, .., v)| {
        k.key()
            .labels()
            .any(|l| l.key() == "node_state" && l.value() == "alive")
            && matches!(v, DebugValue::Gauge(g) if g.into_inner() == 4.0)
    });
    assert!(alive, "no node counted the four alive members left");
    for want in [
        "memberlist.msg.alive",
        "memberlist.msg.suspect",
        "memberlist.msg.dead",
        "memberlist.udp.sent",
        "memberlist.udp.received",
        "memberlist.tcp.connect",
        "memberlist.tcp.accept",
        "memberlist.tcp.sent",
    ] {
        assert!(
            counters.iter().any(|(k, v)| k == want && *v > 0),
            "counter {want} missing or zero in {counters:?}"
        );
    }
}
