//! The embedding API on real sockets (tokio): every hook, explicit pings, named broadcasts,
//! sending to an address, CIDR filters, joins by host name. Timing-sensitive checks live on
//! the simulator (conformance/tests/hooks.rs); these check that each reaches a real node.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumor_core::runtime::{Events, Handle, NodeError, NodeOptions};
use rumor_core::{BroadcastOutcome, Config, Event, Hooks, MemberView};

/// Records what the hooks saw; refuses members whose metadata is `bad`.
#[derive(Default)]
struct Recorder {
    name: String,
    refused: AtomicUsize,
    pings: Mutex<Vec<(String, Duration, Vec<u8>)>>,
    stream_pings: AtomicUsize,
}

impl Hooks for Recorder {
    fn allow_alive(&self, m: &MemberView<'_>) -> bool {
        let ok = m.meta != b"bad";
        if !ok {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
    fn allow_merge(&self, join: bool, members: &[MemberView<'_>]) -> bool {
        !join || members.iter().all(|m| m.meta != b"bad")
    }
    fn local_state(&self, join: bool, out: &mut Vec<u8>) -> bool {
        out.extend_from_slice(format!("{}:{join}", self.name).as_bytes());
        true
    }
    fn ack_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name.as_bytes());
    }
    fn ping_complete(&self, m: &MemberView<'_>, rtt: Duration, payload: &[u8]) {
        let seen = (m.name.to_string(), rtt, payload.to_vec());
        self.pings.lock().expect("lock").push(seen);
    }
    fn stream_ping(&self, _: &str) -> bool {
        self.stream_pings.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn start(name: &str, ip: [u8; 4], meta: &str, tune: impl FnOnce(&mut Config)) -> Node {
    let hooks = Arc::new(Recorder {
        name: name.into(),
        ..Recorder::default()
    });
    let mut config = Config {
        hooks: Some(hooks.clone()),
        ..Config::local()
    };
    tune(&mut config);
    let options = NodeOptions::new(name, SocketAddr::from((ip, 0))).meta(meta);
    let (handle, events) = rumor_tokio::spawn(config, options).expect("spawn");
    Node {
        handle,
        events,
        hooks,
    }
}

struct Node {
    handle: Handle,
    events: Events,
    hooks: Arc<Recorder>,
}

/// Waits (generously) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let limit = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn drain(events: &Events) -> Vec<Event> {
    std::iter::from_fn(|| events.try_recv()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_reach_a_real_node() {
    let lo = [127, 0, 0, 1];
    let a = start("a", lo, "good", |_| {});
    let b = start("b", lo, "good", |_| {});
    // (Without hooks: its own alive veto would refuse itself, as memberlist's would.)
    let bad = start("bad", lo, "bad", |c| c.hooks = None);
    let seed = a.handle.local_addr();

    // b joins by host name; the bad node joins too, and a keeps it out.
    let joined = b
        .handle
        .join_hosts(vec![format!("localhost:{}", seed.port())])
        .await
        .expect("join");
    assert!(joined.contacted >= 1, "{joined:?}");
    bad.handle.join(vec![seed]).await.expect("join");
    // The bad node's join push/pull is refused by a's merge veto, its gossip by the alive
    // veto.
    until("a to refuse the bad node's alive", || {
        a.hooks.refused.load(Ordering::Relaxed) > 0
    })
    .await;
    until("a and b to know each other, and not the bad node", || {
        a.handle.num_members() == 2 && b.handle.num_members() == 2
    })
    .await;

    // Probes carry ack payloads both ways.
    until("completed probes", || {
        !a.hooks.pings.lock().expect("lock").is_empty()
            && !b.hooks.pings.lock().expect("lock").is_empty()
    })
    .await;
    for (name, rtt, payload) in a.hooks.pings.lock().expect("lock").iter() {
        assert_eq!(payload, name.as_bytes());
        assert!(*rtt < Duration::from_secs(1));
    }

    // An explicit ping, answered and not.
    let pong = a
        .handle
        .ping("b".into(), b.handle.local_addr())
        .await
        .expect("pong");
    assert_eq!(pong.payload, b"b");
    let none = a.handle.ping("nobody".into(), b.handle.local_addr()).await;
    assert_eq!(none, Err(NodeError::NoResponse));

    // Local state at exchange time, with the join flag.
    let state = drain(&a.events)
        .into_iter()
        .any(|e| matches!(e, Event::RemoteState { state, join: true } if state == b"b:true"));
    assert!(state, "a got b's join state from the hook");

    // A named broadcast replaced by the next, each reporting how it left.
    let first = a
        .handle
        .broadcast_with(b"v1".to_vec(), Some("cfg".into()), true)
        .await
        .expect("queued");
    let second = a
        .handle
        .broadcast_with(b"v2".to_vec(), Some("cfg".into()), true)
        .await
        .expect("queued");
    let mut outcomes = Vec::new();
    until("both broadcasts to finish", || {
        outcomes.extend(drain(&a.events).into_iter().filter_map(|e| match e {
            Event::BroadcastFinished { id, outcome } => Some((id, outcome)),
            _ => None,
        }));
        outcomes.len() >= 2
    })
    .await;
    assert!(outcomes.contains(&(first, BroadcastOutcome::Replaced)));
    assert!(outcomes.contains(&(second, BroadcastOutcome::Sent)));

    // A message to an address, with the sender's address on the event.
    drain(&b.events);
    a.handle
        .send_to_addr(b.handle.local_addr(), b"direct".to_vec(), false)
        .await
        .expect("sent");
    let mut from = None;
    until("the direct message", || {
        for e in drain(&b.events) {
            if let Event::UserMessage { payload, from: f } = e
                && payload == b"direct"
            {
                from = Some(f);
            }
        }
        from.is_some()
    })
    .await;
    assert_eq!(from, Some(seed));

    // A probe of a crashed member asks about a stream ping.
    b.handle.shutdown().await.expect("shutdown");
    until("a stream ping question", || {
        a.hooks.stream_pings.load(Ordering::Relaxed) > 0
    })
    .await;
    a.handle.shutdown().await.expect("shutdown");
    bad.handle.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cidrs_allowed_refuse_outsiders_and_a_merge_veto_fails_a_join() {
    // a accepts 127.0.0.0/30 only; outsider is bound on 127.0.0.9.
    let a = start("a", [127, 0, 0, 1], "good", |c| {
        c.cidrs_allowed = vec!["127.0.0.0/30".parse().expect("cidr")];
    });
    let outsider = start("outsider", [127, 0, 0, 9], "good", |_| {});
    // The outsider's stream leaves from 127.0.0.1 (connects are not bound to the node's
    // address, as in memberlist), so the push/pull goes through; its datagrams come from
    // 127.0.0.9 and the address it announces is 127.0.0.9: a never lists it.
    outsider
        .handle
        .join(vec![a.handle.local_addr()])
        .await
        .expect("join");
    until("the outsider to keep trying (probes, gossip)", || {
        outsider.handle.num_members() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let names: Vec<_> = a.handle.all_members().await.expect("members");
    assert_eq!(names.len(), 1, "{names:?}");

    // A joiner whose merge veto refuses the seed's list (it holds a bad member).
    let bad = start("bad", [127, 0, 0, 2], "bad", |c| c.hooks = None);
    let open = start("open", [127, 0, 0, 1], "good", |c| c.hooks = None);
    bad.handle
        .join(vec![open.handle.local_addr()])
        .await
        .expect("join");
    let strict = start("strict", [127, 0, 0, 1], "good", |_| {});
    let r = strict
        .handle
        .join(vec![open.handle.local_addr()])
        .await
        .expect("join");
    assert_eq!(r.contacted, 0, "the join failed on the joiner's side");
    for n in [a, outsider, bad, open, strict] {
        n.handle.shutdown().await.expect("shutdown");
    }
}
