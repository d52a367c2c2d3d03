//! `Events` as a `futures` stream: the node's first event is its own join; after shutdown it ends.

use futures_lite::StreamExt;
use futures_lite::future::block_on;
use rumor_core::runtime::NodeOptions;
use rumor_core::{Config, Event};

#[test]
fn events_as_a_stream_end_at_shutdown() {
    let options = NodeOptions::new("a", "127.0.0.1:0".parse().expect("address"));
    let (handle, events, node) = rumor_async_std::start(Config::local(), options).expect("start");
    let node = std::thread::spawn(move || block_on(node));
    let mut stream = events;
    let first = block_on(stream.next());
    assert!(matches!(first, Some(Event::MemberJoined(m)) if &*m.name == "a"));
    block_on(handle.shutdown()).expect("shutdown");
    node.join().expect("node thread");
    while block_on(stream.next()).is_some() {}
}
