//! rumor and Go memberlist side by side: N nodes in one process on 127.0.0.1, on the same
//! timeline, one table with both and their ratios.
//!
//! ```text
//! cargo run --release -p rumor-conformance --features runner --example cluster -- \
//!     [--nodes 100,200] [--impl rumor,go] [--runtime tokio,async-std,smol,mio] \
//!     [--steady 30] [--settle 70] [--runs 1] [--join-pace MS] [--memberlist-settings] \
//!     [--no-netns]
//! ```
//!
//! With `--runs K`, each column is run K times and shows the median of each figure; the
//! crash and leave figures of every run are listed under the table.
//!
//! Each implementation runs in a child process of its own (so that its CPU and memory are
//! its alone): rumor is this program again (`--child`), Go is
//! `conformance/interop/cluster` (Go memberlist 0.2.2, GOMAXPROCS=2, built by
//! `conformance/interop/build.sh cluster`). The timeline, the same in both:
//!
//! 1. nodes 1..N-1 join node 0, one after another (each join waits for the previous), or
//!    with `--join-pace MS` one every MS milliseconds (Go's 500 nodes in one process do not
//!    survive back-to-back joins on two cores);
//! 2. the time until 99 % of the ordered pairs know each other, and until every node lists N
//!    (from the first join, and from the end of the last);
//! 3. a settle period (long enough by default for rumor's join follow-up push/pulls, the
//!    last 63 probe intervals after the join, to be over), then a steady window: process
//!    CPU (getrusage), RSS and threads
//!    (`/proc/self/status`), datagrams sent (`/proc/net/snmp`) and the bytes the nodes
//!    count themselves (`memberlist.udp.sent`, `memberlist.tcp.sent`);
//! 4. node N-1 stops without a word (a crash), then node N-2 leaves and stops: when the
//!    first and when the last of the other nodes reported each gone.
//!
//! Run as root with `unshare` and `ip` at hand, each child gets a network namespace of its
//! own, so the datagram count is that child's alone; otherwise it is the host's (marked).
//! rumor's nodes run on a two-worker tokio runtime by default, like Go with GOMAXPROCS=2.

#[path = "common/cpu.rs"]
mod cpu;

use cpu::process_cpu;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use rumor_core::runtime::{Events, Handle, NodeOptions};
use rumor_core::{Config, Event};
use serde_json::{Value, json};

/// The figures one child reports, in table order: key, label, lower is better.
const ROWS: &[(&str, &str)] = &[
    ("join_99_pairs_s", "join: 99 % of pairs know each other (s)"),
    ("join_all_s", "join: every node lists N (s)"),
    (
        "join_after_last_s",
        "join: every node lists N, after the last join (s)",
    ),
    (
        "join_retries",
        "join: calls tried again (seed did not answer)",
    ),
    ("cpu_ms_per_node_s", "steady CPU per node-second (ms)"),
    ("rss_kb_per_node", "RSS per node (KB)"),
    ("threads", "threads"),
    ("datagrams_per_node_s", "datagrams per node-second"),
    ("udp_bytes_per_node_s", "UDP bytes per node-second"),
    ("tcp_bytes_per_node_s", "stream bytes per node-second"),
    ("crash_first_s", "crash: first saw it dead (s)"),
    ("crash_all_s", "crash: all saw it dead (s)"),
    ("leave_first_s", "leave: first saw it left (s)"),
    ("leave_all_s", "leave: all saw it left (s)"),
];

#[derive(Debug, Clone)]
struct Args {
    nodes: Vec<usize>,
    impls: Vec<String>,
    runtimes: Vec<String>,
    steady: u64,
    settle: u64,
    memberlist_settings: bool,
    netns: bool,
    child: bool,
    runs: u64,
    /// Milliseconds between the starts of two joins (0: one after another).
    join_pace: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        nodes: vec![100],
        impls: vec!["rumor".into(), "go".into()],
        runtimes: vec!["tokio".into()],
        steady: 30,
        settle: 70,
        memberlist_settings: false,
        netns: true,
        child: false,
        runs: 1,
        join_pace: 0,
    };
    let mut it = std::env::args().skip(1);
    let list = |v: Option<String>| -> Result<Vec<String>, String> {
        let v = v.ok_or("a flag is missing its value")?;
        Ok(v.split(',').map(str::to_string).collect())
    };
    let number = |v: Option<String>| -> Result<u64, String> {
        let v = v.ok_or("a flag is missing its value")?;
        v.parse().map_err(|_| format!("not a number: {v}"))
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--nodes" => {
                a.nodes = list(it.next())?
                    .iter()
                    .map(|n| n.parse().map_err(|_| format!("not a node count: {n}")))
                    .collect::<Result<_, _>>()?;
            }
            "--impl" => a.impls = list(it.next())?,
            "--runtime" => a.runtimes = list(it.next())?,
            "--steady" => a.steady = number(it.next())?,
            "--settle" => a.settle = number(it.next())?,
            "--memberlist-settings" => a.memberlist_settings = true,
            "--no-netns" => a.netns = false,
            "--child" => a.child = true,
            "--runs" => a.runs = number(it.next())?.max(1),
            "--join-pace" => a.join_pace = number(it.next())?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.nodes.iter().any(|&n| n < 3) {
        return Err("--nodes: at least 3 (a crash and a leave are measured)".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cluster: {e}");
            std::process::exit(2);
        }
    };
    let result = if args.child {
        child(&args).map(|v| println!("{v}"))
    } else {
        compare(&args)
    };
    if let Err(e) = result {
        eprintln!("cluster: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// The parent: children, then the table.
// ---------------------------------------------------------------------------------------

/// Whether children can get network namespaces of their own (root, `unshare` and `ip`).
fn netns_available() -> bool {
    let ok = |c: &mut Command| c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    ok(Command::new("unshare").args(["--net", "ip", "link", "set", "lo", "up"]))
        .is_ok_and(|s| s.success())
}

/// Runs `program args` in a child (in a fresh network namespace with `lo` up if `netns`)
/// and parses the JSON object on its last line of output.
fn run_child(
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
    netns: bool,
) -> io::Result<Value> {
    let mut cmd = if netns {
        let mut c = Command::new("unshare");
        c.args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
            program,
        ]);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::inherit());
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{program} failed: {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| io::Error::other(format!("{program}: {e}: {last}")))
}

/// Builds the Go half with the interop build script; its path is the script's last line.
fn build_go() -> io::Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/build.sh");
    let out = Command::new("bash")
        .args([script, "cluster"])
        .stderr(Stdio::inherit())
        .output()?;
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    if !out.status.success() || path.is_empty() {
        return Err(io::Error::other(
            "conformance/interop/build.sh cluster failed",
        ));
    }
    Ok(path)
}

fn compare(args: &Args) -> io::Result<()> {
    let netns = args.netns && netns_available();
    let go = if args.impls.iter().any(|i| i == "go") {
        Some(build_go()?)
    } else {
        None
    };
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    println!(
        "N nodes in one process on 127.0.0.1, LAN profile, settle {} s, steady window {} s; {}",
        args.settle,
        args.steady,
        if netns {
            "each process in its own network namespace"
        } else {
            "datagrams counted host-wide (no network namespace)"
        }
    );
    if args.memberlist_settings {
        println!(
            "rumor with memberlist's own behaviour: join_follow_ups 0, broadcast_stale_mult 0, reconnect off"
        );
    }
    for &n in &args.nodes {
        let mut columns: Vec<(String, Value)> = Vec::new();
        if let Some(go) = &go {
            let a = [
                format!("-nodes={n}"),
                format!("-steady={}s", args.steady),
                format!("-settle={}s", args.settle),
                format!("-join-pace={}ms", args.join_pace),
            ];
            let v = runs(args.runs, || {
                run_child(go, &a, &[("GOMAXPROCS", "2")], netns)
            })?;
            columns.push(("Go 0.2.2".into(), v));
        }
        if args.impls.iter().any(|i| i == "rumor") {
            for rt in &args.runtimes {
                let mut a = vec![
                    "--child".to_string(),
                    "--nodes".into(),
                    n.to_string(),
                    "--runtime".into(),
                    rt.clone(),
                    "--steady".into(),
                    args.steady.to_string(),
                    "--settle".into(),
                    args.settle.to_string(),
                    "--join-pace".into(),
                    args.join_pace.to_string(),
                ];
                if args.memberlist_settings {
                    a.push("--memberlist-settings".into());
                }
                let v = runs(args.runs, || run_child(&me, &a, &[], netns))?;
                columns.push((format!("rumor {rt}"), v));
            }
        }
        print_table(n, &columns);
    }
    Ok(())
}

/// Runs one column `k` times: each figure is the median of the runs (a figure never reached
/// counts as the longest), and `runs_<key>` lists every run's.
fn runs(k: u64, mut run: impl FnMut() -> io::Result<Value>) -> io::Result<Value> {
    let all: Vec<Value> = (0..k).map(|_| run()).collect::<io::Result<_>>()?;
    if k == 1 {
        return Ok(all.into_iter().next().unwrap_or(Value::Null));
    }
    let mut out = serde_json::Map::new();
    for (key, _) in ROWS {
        let mut xs: Vec<f64> = all
            .iter()
            .filter_map(|v| v.get(*key).and_then(Value::as_f64))
            .collect();
        if xs.is_empty() {
            continue;
        }
        out.insert(format!("runs_{key}"), serde_json::json!(xs.clone()));
        let never = |x: f64| if x < 0.0 { f64::INFINITY } else { x };
        xs.sort_by(|a, b| never(*a).total_cmp(&never(*b)));
        out.insert((*key).to_string(), serde_json::json!(xs[xs.len() / 2]));
    }
    Ok(Value::Object(out))
}

fn print_table(n: usize, columns: &[(String, Value)]) {
    let go = columns
        .iter()
        .find(|(name, _)| name.starts_with("Go"))
        .map(|(_, v)| v);
    print!("\nN = {n:<5} {:<40}", "");
    for (name, _) in columns {
        print!(" {name:>14}");
    }
    if go.is_some() {
        for (name, _) in columns.iter().filter(|(name, _)| !name.starts_with("Go")) {
            print!(
                " {:>14}",
                format!("{} / Go", name.trim_start_matches("rumor "))
            );
        }
    }
    println!();
    for (key, label) in ROWS {
        print!("  {label:<46}");
        let value = |v: &Value| v.get(*key).and_then(Value::as_f64);
        for (_, v) in columns {
            match value(v) {
                Some(x) if x < 0.0 => print!(" {:>14}", "never"),
                Some(x) => print!(" {x:>14.3}"),
                None => print!(" {:>14}", "-"),
            }
        }
        if let Some(g) = go.and_then(value) {
            for (_, v) in columns.iter().filter(|(name, _)| !name.starts_with("Go")) {
                match value(v) {
                    Some(x) if g > 0.0 && x >= 0.0 => print!(" {:>14}", format!("{:.2}x", x / g)),
                    _ => print!(" {:>14}", "-"),
                }
            }
        }
        println!();
    }
    // With --runs, every run's detection figures under the medians.
    for key in [
        "crash_first_s",
        "crash_all_s",
        "leave_first_s",
        "leave_all_s",
    ] {
        let lists: Vec<String> = columns
            .iter()
            .filter_map(|(name, v)| {
                let xs = v.get(format!("runs_{key}"))?.as_array()?;
                let xs: Vec<String> = xs
                    .iter()
                    .filter_map(Value::as_f64)
                    .map(|x| format!("{x:.2}"))
                    .collect();
                Some(format!("{name} {}", xs.join(" ")))
            })
            .collect();
        if !lists.is_empty() {
            println!("  runs, {key}: {}", lists.join("; "));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rumor child.
// ---------------------------------------------------------------------------------------

/// Counts the bytes the nodes report through the `metrics` facade (`memberlist.udp.sent`
/// and `memberlist.tcp.sent`); every other metric is a no-op. Nodes register their handles
/// once, so an update is one atomic add, as for an application's recorder.
#[derive(Debug, Default)]
struct Bytes {
    udp: Arc<AtomicU64>,
    tcp: Arc<AtomicU64>,
}

impl metrics::Recorder for Bytes {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        match key.name() {
            "memberlist.udp.sent" => metrics::Counter::from_arc(self.udp.clone()),
            "memberlist.tcp.sent" => metrics::Counter::from_arc(self.tcp.clone()),
            _ => metrics::Counter::noop(),
        }
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// The executor the nodes run on.
enum Rt {
    Tokio(tokio::runtime::Runtime),
    AsyncStd,
    Smol(Arc<smol::Executor<'static>>, smol::channel::Sender<()>),
    Mio(rumor_mio::Spawner),
}

impl Rt {
    fn new(name: &str) -> io::Result<(Self, Vec<std::thread::JoinHandle<()>>)> {
        let mut threads = Vec::new();
        let rt = match name {
            "tokio" => Rt::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?,
            ),
            "async-std" => Rt::AsyncStd,
            "smol" => {
                let ex = Arc::new(smol::Executor::new());
                let (stop, stopped) = smol::channel::bounded::<()>(1);
                for _ in 0..2 {
                    let (ex, stopped) = (ex.clone(), stopped.clone());
                    threads.push(std::thread::spawn(move || {
                        let _ = smol::block_on(ex.run(stopped.recv()));
                    }));
                }
                Rt::Smol(ex, stop)
            }
            "mio" => {
                let reactor = rumor_mio::Reactor::new()?;
                let spawner = reactor.spawner();
                threads.push(std::thread::spawn(move || {
                    if let Err(e) = reactor.run() {
                        eprintln!("cluster: mio reactor: {e}");
                    }
                }));
                Rt::Mio(spawner)
            }
            other => return Err(io::Error::other(format!("unknown runtime {other}"))),
        };
        Ok((rt, threads))
    }

    fn start(&self, config: Config, options: NodeOptions) -> io::Result<(Handle, Events)> {
        match self {
            Rt::Tokio(rt) => {
                let _guard = rt.enter();
                rumor_tokio::spawn(config, options)
            }
            Rt::AsyncStd => rumor_async_std::spawn(config, options),
            Rt::Smol(ex, _) => {
                let (handle, events, node) = rumor_async_std::start(config, options)?;
                ex.spawn(node).detach();
                Ok((handle, events))
            }
            Rt::Mio(spawner) => spawner.spawn(config, options),
        }
    }
}

/// When each observer (by index) reported each watched name gone.
type Departures = Arc<Mutex<HashMap<(Box<str>, usize), Instant>>>;

/// One thread reads every node's events (so that none waits on a full event queue) and
/// stamps the departures of `watch`.
fn read_events(
    events: Vec<Events>,
    watch: [String; 2],
    seen: Departures,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut open = vec![true; events.len()];
        futures_lite::future::block_on(std::future::poll_fn(|cx| {
            for (i, ev) in events.iter().enumerate() {
                while open[i] {
                    match ev.poll_recv(cx) {
                        Poll::Ready(Some(Event::MemberLeft { member, .. })) => {
                            if watch.iter().any(|w| **w == *member.name) {
                                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                                seen.entry((member.name, i)).or_insert_with(Instant::now);
                            }
                        }
                        Poll::Ready(Some(_)) => {}
                        Poll::Ready(None) => open[i] = false,
                        Poll::Pending => break,
                    }
                }
            }
            if done.load(Ordering::Relaxed) || !open.iter().any(|&o| o) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
    })
}

/// Seconds from `start` until the first and until the last of `observers` reported `name`
/// gone (-1: not within `wait`).
fn departure(
    seen: &Departures,
    name: &str,
    observers: &[usize],
    start: Instant,
    wait: Duration,
) -> (f64, f64) {
    loop {
        let times: Vec<Instant> = {
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            observers
                .iter()
                .filter_map(|&o| seen.get(&(name.into(), o)).copied())
                .collect()
        };
        let all = times.len() == observers.len();
        if all || start.elapsed() > wait {
            let secs =
                |t: Option<&Instant>| t.map_or(-1.0, |t| t.duration_since(start).as_secs_f64());
            let first = secs(times.iter().min());
            let last = if all { secs(times.iter().max()) } else { -1.0 };
            return (first, last);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A number from `/proc/self/status` (`VmRSS` in KB, `Threads`).
fn status(key: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Udp OutDatagrams from `/proc/net/snmp` (per network namespace).
fn udp_out() -> f64 {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut rows = text.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
        return 0.0;
    };
    let i = names.split_whitespace().position(|n| n == "OutDatagrams");
    i.and_then(|i| values.split_whitespace().nth(i)?.parse().ok())
        .unwrap_or(0.0)
}

fn child(args: &Args) -> io::Result<Value> {
    let n = args.nodes[0];
    let runtime = args.runtimes[0].as_str();
    let wait = Duration::from_secs(90);
    let bytes = Bytes::default();
    let (udp, tcp) = (bytes.udp.clone(), bytes.tcp.clone());
    metrics::set_global_recorder(bytes).map_err(|e| io::Error::other(e.to_string()))?;
    let mut config = Config::lan();
    if args.memberlist_settings {
        config.join_follow_ups = 0;
        config.broadcast_stale_mult = 0;
        config.reconnect_interval = Duration::ZERO;
    }
    let (rt, threads) = Rt::new(runtime)?;
    let mut handles = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
        let (h, e) = rt.start(config.clone(), NodeOptions::new(format!("node-{i}"), bind))?;
        handles.push(h);
        events.push(e);
    }
    let (crashed, left) = (format!("node-{}", n - 1), format!("node-{}", n - 2));
    let seen = Departures::default();
    let done = Arc::new(AtomicBool::new(false));
    let reader = read_events(
        events,
        [crashed.clone(), left.clone()],
        seen.clone(),
        done.clone(),
    );

    let seed = handles[0].local_addr();
    // A join that reached no seed is tried again, up to ten times in all, as the Go half
    // does; the retries are reported.
    let start = Instant::now();
    let mut retries = 0;
    let pace = Duration::from_millis(args.join_pace);
    for (i, h) in handles[1..].iter().enumerate() {
        if let Some(wait) = (start + pace * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for attempt in 1.. {
            let r = h
                .join(vec![seed])
                .wait()
                .map_err(|e| io::Error::other(format!("join: {e:?}")))?;
            if r.contacted > 0 {
                break;
            }
            if attempt == 10 {
                return Err(io::Error::other("join: the seed did not answer ten times"));
            }
            retries += 1;
        }
    }
    let joined = start.elapsed().as_secs_f64();
    let total = (n * (n - 1)) as f64;
    let (mut pairs99, mut all) = (-1.0, -1.0);
    while start.elapsed().as_secs_f64() < joined + wait.as_secs_f64() {
        let counts: Vec<usize> = handles.iter().map(Handle::num_members).collect();
        let known: usize = counts.iter().map(|c| c.saturating_sub(1)).sum();
        if pairs99 < 0.0 && known as f64 >= 0.99 * total {
            pairs99 = start.elapsed().as_secs_f64();
        }
        if counts.iter().all(|&c| c == n) {
            all = start.elapsed().as_secs_f64();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    std::thread::sleep(Duration::from_secs(args.settle));
    let (cpu0, udp0, tcp0, dg0, t0) = (
        process_cpu(),
        udp.load(Ordering::Relaxed),
        tcp.load(Ordering::Relaxed),
        udp_out(),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(args.steady));
    let (cpu1, udp1, tcp1, dg1) = (
        process_cpu(),
        udp.load(Ordering::Relaxed),
        tcp.load(Ordering::Relaxed),
        udp_out(),
    );
    let secs = t0.elapsed().as_secs_f64();
    let (rss, threads_now) = (status("VmRSS"), status("Threads"));
    let node_secs = n as f64 * secs;

    let crash_at = Instant::now();
    let _ = handles[n - 1].shutdown().wait();
    let others: Vec<usize> = (0..n - 1).collect();
    let (crash_first, crash_all) = departure(&seen, &crashed, &others, crash_at, wait);
    let leave_at = Instant::now();
    let _ = handles[n - 2].leave(Duration::from_secs(5)).wait();
    let _ = handles[n - 2].shutdown().wait();
    let (leave_first, leave_all) = departure(&seen, &left, &others[..n - 2], leave_at, wait);

    for h in &handles[..n - 2] {
        let _ = h.shutdown().wait();
    }
    done.store(true, Ordering::Relaxed);
    drop(handles);
    let _ = reader.join();
    match rt {
        Rt::Smol(_, stop) => drop(stop.close()),
        Rt::Mio(spawner) => drop(spawner),
        Rt::Tokio(rt) => rt.shutdown_timeout(Duration::from_secs(5)),
        Rt::AsyncStd => {}
    };
    for t in threads {
        let _ = t.join();
    }
    Ok(json!({
        "impl": "rumor",
        "runtime": runtime,
        "nodes": n,
        "join_calls_s": joined,
        "join_retries": retries,
        "join_99_pairs_s": pairs99,
        "join_all_s": all,
        "join_after_last_s": if all < 0.0 { -1.0 } else { all - joined },
        "cpu_ms_per_node_s": (cpu1 - cpu0).as_secs_f64() * 1e3 / node_secs,
        "rss_kb_per_node": rss / n as f64,
        "threads": threads_now,
        "datagrams_per_node_s": (dg1 - dg0) / node_secs,
        "udp_bytes_per_node_s": (udp1 - udp0) as f64 / node_secs,
        "tcp_bytes_per_node_s": (tcp1 - tcp0) as f64 / node_secs,
        "crash_first_s": crash_first,
        "crash_all_s": crash_all,
        "leave_first_s": leave_first,
        "leave_all_s": leave_all,
        "steady_window_s": secs,
    }))
}
