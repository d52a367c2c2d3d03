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
                sim.add_node(Config::local(), &format!("node-{i}"), b"");
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
    let counters: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, v)| match v {
            DebugValue::Counter(c) => Some((key.key().name().to_string(), c)),
            _ => None,
        })
        .collect();
    for want in [
        "memberlist.msg.alive",
        "memberlist.msg.suspect",
        "memberlist.msg.dead",
        "memberlist.udp.sent",
        "memberlist.udp.received",
        "memberlist.tcp.connect",
        "memberlist.tcp.accept",
    ] {
        assert!(
            counters.iter().any(|(k, v)| k == want && *v > 0),
            "counter {want} missing or zero in {counters:?}"
        );
    }
}
