//! Two nodes in one process share a replicated map: a write on one shows up on the other as an
//! event, and a delete follows it.
//!
//! ```sh
//! cargo run --example kv
//! ```

use std::time::Duration;

use rumor::runtime::NodeOptions;
use rumor::{Config, Event, KvConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        kv: KvConfig::enabled(),
        relay_broadcasts: true,
        ..Config::local()
    };
    let any_port = "127.0.0.1:0".parse()?;
    let (a, _a_events) = rumor::tokio::spawn(config.clone(), NodeOptions::new("a", any_port))?;
    let (b, mut b_events) = rumor::tokio::spawn(config, NodeOptions::new("b", any_port))?;
    b.kv_subscribe("jobs/".into()).await?;
    b.join(vec![a.local_addr()]).await?;

    // Changes arrive as the map converges: a node that learns of a key only after it was
    // deleted sees just the delete. So the example waits for each change before the next.
    a.kv_set("jobs/42".into(), b"queued".to_vec()).await?;
    a.kv_set("other".into(), b"not subscribed".to_vec()).await?;
    next_change(&mut b_events).await?;
    a.kv_delete("jobs/42".into()).await?;
    next_change(&mut b_events).await?;

    let entry = b.kv_get("other".into()).await?;
    println!("b: other = {entry:?}");
    a.shutdown().await?;
    b.shutdown().await?;
    Ok(())
}

/// Waits for the next key change and prints it.
async fn next_change(events: &mut rumor::tokio::Events) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await? {
            Some(Event::KeyChanged(c)) => {
                let value = c.value.as_deref().map(String::from_utf8_lossy);
                println!(
                    "b: {} = {value:?} (version {} by {})",
                    c.key, c.version, c.writer
                );
                return Ok(());
            }
            Some(_) => {}
            None => return Err("node stopped".into()),
        }
    }
}
