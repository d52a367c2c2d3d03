//! `Events` as a stream: the node's first event is its own join; after shutdown it ends.

use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, Event};

#[tokio::test]
async fn events_poll_as_a_stream_and_end_at_shutdown() {
    let options = NodeOptions::new("a", "127.0.0.1:0".parse().expect("address"));
    let (handle, events) = rumor_tokio::spawn(Config::local(), options).expect("spawn");
    let first = std::future::poll_fn(|cx| events.poll_recv(cx)).await;
    assert!(matches!(first, Some(Event::MemberJoined(m)) if &*m.name == "a"));
    handle.shutdown().await.expect("shutdown");
    while std::future::poll_fn(|cx| events.poll_recv(cx))
        .await
        .is_some()
    {}
    assert!(
        handle.members().await.is_err(),
        "a stopped node takes no commands"
    );
}
