//! A rumor node in a hand-written event loop: std sockets, no runtime. The loop itself is in
//! `node.rs`; this file parses arguments, reads commands from standard input and prints
//! events as they happen.
//!
//! ```text
//! cargo run -p rumor-conformance --example custom_loop -- --name a --bind 127.0.0.1:7946
//! cargo run -p rumor-conformance --example custom_loop -- --name b --bind 127.0.0.1:7947 --join 127.0.0.1:7946
//! ```

mod node;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use rumor_core::runtime::{Handle, NodeOptions};
use rumor_core::{Config, Event, LeaveReason, Member};

const USAGE: &str = "\
usage: custom_loop --name NAME [--bind ADDR] [--join ADDR]...

Runs one rumor node (memberlist's LAN profile) in a hand-written loop over std sockets and
prints its events. --bind defaults to 127.0.0.1:7946 (UDP and TCP on one port); each --join
names a seed. Commands on standard input, one per line:
  members                  the member table
  join ADDR                join through another seed
  broadcast TEXT           gossip a user message to everyone
  send NAME TEXT           a user message to one member, as a datagram
  rsend NAME TEXT          the same over a stream
  meta TEXT                change this node's metadata
  state TEXT               set the state offered in push/pull
  set KEY VALUE            write a key of the replicated map (on by default here)
  get KEY                  read a key
  del KEY                  delete a key
  leave                    leave gracefully and exit";

fn main() -> ExitCode {
    let mut name = None;
    let mut bind: SocketAddr = ([127, 0, 0, 1], 7946).into();
    let mut seeds = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let parsed = match a.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--name" => args.next().map(|n| name = Some(n)),
            "--bind" => args.next().and_then(|v| v.parse().ok()).map(|b| bind = b),
            "--join" => args
                .next()
                .and_then(|v| v.parse().ok())
                .map(|s| seeds.push(s)),
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("bad argument {a:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(name) = name else {
        eprintln!("--name is required\n\n{USAGE}");
        return ExitCode::from(2);
    };

    let config = Config {
        kv: rumor_core::KvConfig::enabled(),
        ..Config::lan()
    };
    let (mut driver, handle, events) = match node::start(config, NodeOptions::new(name, bind)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("cannot start on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", handle.local_addr());
    if !seeds.is_empty() {
        drop(handle.join(seeds));
    }

    // std cannot wait on a terminal and a socket at once: a thread reads lines and commands
    // the node through its handle, which works from any thread but the loop's own.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            command(&handle, line.trim());
        }
    });

    while node::turn(&mut driver) {
        while let Some(e) = events.try_recv() {
            print_event(&e);
            if e == Event::LeaveFinished {
                return ExitCode::SUCCESS;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Runs one line of standard input, waiting for the node to carry it out.
fn command(node: &Handle, line: &str) {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (first, second) = rest.split_once(' ').unwrap_or((rest, ""));
    let (first, second) = (first.to_string(), second.as_bytes().to_vec());
    let result = match verb {
        "" => Ok(()),
        "members" => node.members().wait().map(|members| {
            members.iter().for_each(|m| println!("  {}", describe(m)));
        }),
        "join" => match rest.parse() {
            Ok(seed) => node.join(vec![seed]).wait().map(drop),
            Err(_) => return eprintln!("join: needs an address"),
        },
        "broadcast" => node.broadcast(rest.as_bytes().to_vec()).wait(),
        "send" | "rsend" => node.send(first, second, verb == "rsend").wait(),
        "meta" => node.set_meta(rest.as_bytes().to_vec()).wait(),
        "state" => node.set_local_state(rest.as_bytes().to_vec()).wait(),
        "set" => node
            .kv_set(first.clone(), second)
            .wait()
            .map(|v| println!("set {first} at version {v}")),
        "get" => node.kv_get(rest.to_string()).wait().map(|e| match e {
            Some(e) => println!(
                "{rest} = {:?} (version {}, by {})",
                e.value.as_deref().map(String::from_utf8_lossy),
                e.version,
                e.writer
            ),
            None => println!("{rest} is not set"),
        }),
        "del" => node.kv_delete(rest.to_string()).wait().map(drop),
        // The loop exits once the leave has gone out.
        "leave" => {
            drop(node.leave(Duration::from_secs(5)));
            Ok(())
        }
        _ => return eprintln!("unknown command {verb:?} (see --help)"),
    };
    if let Err(e) = result {
        eprintln!("{verb}: {e}");
    }
}

fn print_event(e: &Event) {
    match e {
        Event::MemberJoined(m) => println!("joined   {}", describe(m)),
        Event::MemberUpdated(m) => println!("updated  {}", describe(m)),
        Event::MemberLeft { member, reason } => {
            let how = match reason {
                LeaveReason::Left => "left    ",
                LeaveReason::Failed => "failed  ",
            };
            println!("{how} {}", describe(member));
        }
        Event::UserMessage { payload, from } => {
            println!(
                "message  {} (from {from})",
                String::from_utf8_lossy(payload)
            )
        }
        Event::RemoteState { state, join } => {
            let text = String::from_utf8_lossy(state);
            println!("state    {text:?}{}", if *join { " (join)" } else { "" });
        }
        Event::JoinFinished {
            contacted, failed, ..
        } => println!("join finished: {contacted} seed(s) answered, {failed} did not"),
        Event::LeaveFinished => println!("left the cluster"),
        Event::KeyChanged(c) => println!(
            "key      {} = {:?} (version {}, by {})",
            c.key,
            c.value.as_deref().map(String::from_utf8_lossy),
            c.version,
            c.writer
        ),
        other => println!("{other:?}"),
    }
}

fn describe(m: &Member) -> String {
    format!(
        "{} {} {:?} meta {:?}",
        m.name,
        m.addr,
        m.state,
        String::from_utf8_lossy(&m.meta)
    )
}
