//! N nodes (memberlist's LAN profile) on one mio reactor thread, in one process: joins them
//! through node 0, lets them settle, then reports the process's threads, CPU per node-second
//! and resident memory over a steady window (Linux: read from `/proc/self`).
//!
//! ```text
//! cargo run --release -p rumor-mio --example reactor -- [NODES=100] [WINDOW_SECONDS=30]
//! ```

use std::time::{Duration, Instant};

use rumor_core::Config;
use rumor_core::runtime::NodeOptions;
use rumor_mio::Reactor;

/// A `/proc/self/status` line's value, such as `Threads` or `VmRSS`.
fn status(key: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(key));
    line.and_then(|l| l.split_once(':'))
        .map_or_else(|| "?".into(), |(_, v)| v.trim().to_string())
}

/// User plus system CPU time of this process, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (in parentheses, and it may hold spaces): the state
    // is field 3 of the line, utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let ticks = field(14).unwrap_or(0) + field(15).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let window = Duration::from_secs(args.next().and_then(|a| a.parse().ok()).unwrap_or(30));
    let mut reactor = Reactor::new()?;
    let mut nodes = Vec::new();
    for i in 0..n {
        let options = NodeOptions::new(format!("node-{i}"), ([127, 0, 0, 1], 0).into());
        nodes.push(reactor.add(Config::lan(), options)?);
    }
    let thread = std::thread::spawn(move || reactor.run());
    let start = Instant::now();
    let seed = nodes[0].0.local_addr();
    for (handle, _) in &nodes[1..] {
        drop(handle.join(vec![seed]));
    }
    // Nobody reads the events here: drain them so that the nodes never wait for us.
    let drain = |nodes: &[(rumor_core::runtime::Handle, rumor_core::runtime::Events)]| {
        for (_, events) in nodes {
            while events.try_recv().is_some() {}
        }
    };
    while nodes.iter().any(|(h, _)| h.num_members() < n) {
        drain(&nodes);
        std::thread::sleep(Duration::from_millis(20));
    }
    let converged = start.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    drain(&nodes);
    let (cpu0, t0) = (cpu(), Instant::now());
    while t0.elapsed() < window {
        std::thread::sleep(Duration::from_millis(500));
        drain(&nodes);
    }
    let (spent, elapsed) = (cpu() - cpu0, t0.elapsed());
    let per_node = spent.as_secs_f64() * 1e3 / n as f64 / elapsed.as_secs_f64();
    println!(
        "{n} nodes on one mio reactor: every node lists {n} after {:.2} s; over {:.0} s: \
         {:.3} ms CPU per node-second, threads {}, RSS {}",
        converged.as_secs_f64(),
        elapsed.as_secs_f64(),
        per_node,
        status("Threads"),
        status("VmRSS"),
    );
    for (handle, _) in &nodes {
        let _ = handle.shutdown().wait();
    }
    drop(nodes);
    thread
        .join()
        .map_err(|_| std::io::Error::other("reactor panicked"))?
}
