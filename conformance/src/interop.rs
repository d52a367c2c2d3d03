//! Mixed clusters of rumor and Go memberlist nodes, as separate processes on 127.0.0.1.
//!
//! Both kinds speak one line protocol: the Go peer (`conformance/interop/peer`, built against
//! Debian's memberlist 0.2.2 by `conformance/interop/build.sh peer`) and `rumor agent` take the
//! same flags, read the same commands on stdin and print the same JSON events on stdout, so a
//! [`Peer`] drives either. Signals (SIGKILL, SIGSTOP, SIGCONT) go through the `kill` command.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lock;

/// Which program a peer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The Go memberlist peer.
    Go,
    /// `rumor agent` on the named runtime (`tokio`, `async-std`, `mio`).
    Rumor(&'static str),
}

impl Kind {
    /// `go`, `rumor-tokio`, ...
    pub fn label(&self) -> String {
        match self {
            Kind::Go => "go".into(),
            Kind::Rumor(rt) => format!("rumor-{rt}"),
        }
    }
}

/// The Go peer binary, built once per process; `Err` says why it is unavailable.
pub fn go_peer() -> Result<PathBuf, String> {
    static PEER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PEER.get_or_init(|| {
        if let Some(p) = std::env::var_os("RUMOR_GO_PEER") {
            return Ok(PathBuf::from(p));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("peer")
            .env("MEMBERLIST_NO_APT", "1")
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").to_string();
            return Err(format!("the Go peer did not build ({last}); run `.ci/run` or `bash conformance/interop/build.sh peer` to install Go and memberlist"));
        }
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        Ok(PathBuf::from(path))
    })
    .clone()
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<Value>,
    closed: bool,
}

/// One node process.
#[derive(Debug)]
pub struct Peer {
    /// Its name.
    pub name: String,
    /// What it runs.
    pub kind: Kind,
    /// Its advertised address (from `ready`).
    pub ip: String,
    /// Its advertised port (from `ready`).
    pub port: u16,
    child: Child,
    stdin: Option<ChildStdin>,
    log: Arc<(Mutex<Log>, Condvar)>,
    started: Instant,
}

/// How a test starts peers: the programs and the flags every node gets.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The `rumor` binary.
    pub rumor: PathBuf,
    /// The Go peer binary.
    pub go: PathBuf,
    /// Flags every node gets (profile, intervals), before its own.
    pub common: Vec<String>,
}

impl Launcher {
    /// Starts a node called `name` with extra `args` and waits for `ready`.
    pub fn start(&self, kind: Kind, name: &str, args: &[&str]) -> Result<Peer, String> {
        let mut cmd = match &kind {
            Kind::Go => Command::new(&self.go),
            Kind::Rumor(rt) => {
                let mut c = Command::new(&self.rumor);
                c.args(["agent", "--runtime", rt]);
                c
            }
        };
        cmd.args([
            "--name",
            name,
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
        ])
        .args(&self.common)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let log = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        let reader_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    lock(&reader_log.0).events.push(v);
                    reader_log.1.notify_all();
                }
            }
            lock(&reader_log.0).closed = true;
            reader_log.1.notify_all();
        });
        let mut peer = Peer {
            name: name.into(),
            kind,
            ip: String::new(),
            port: 0,
            stdin: child.stdin.take(),
            child,
            log,
            started: Instant::now(),
        };
        let ready = peer
            .wait_for(Duration::from_secs(30), |e| e["event"] == "ready")
            .ok_or_else(|| format!("{name} never became ready: {:?}", peer.events()))?;
        peer.port = ready["port"].as_u64().unwrap_or(0) as u16;
        peer.ip = ready["addr"].as_str().unwrap_or("127.0.0.1").to_string();
        Ok(peer)
    }
}

impl Peer {
    /// `<ip>:<port>` as advertised.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.log.0).events.clone()
    }

    /// Time since the process started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Writes one command line.
    pub fn command(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: {line}: {e}", self.name))
    }

    /// Waits until an event satisfies `pred` (looking at every event so far).
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.wait_from(0, limit, pred)
    }

    /// Waits until an event at index `from` or later satisfies `pred`.
    pub fn wait_from(
        &self,
        from: usize,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + limit;
        let (m, cv) = &*self.log;
        let mut log = lock(m);
        loop {
            if let Some(v) = log.events.iter().skip(from).find(|v| pred(v)) {
                return Some(v.clone());
            }
            let now = Instant::now();
            if now >= deadline || log.closed {
                return None;
            }
            log = cv
                .wait_timeout(log, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Runs a command and waits for its `ok` (or `error`, returned as `Err`); `members` and
    /// `get` (rumor's map) answer with their own event instead (`members`, `kv`).
    pub fn run(&mut self, line: &str) -> Result<Value, String> {
        let cmd = line.split(' ').next().unwrap_or("").to_string();
        let from = lock(&self.log.0).events.len();
        self.command(line)?;
        let answer = |e: &Value| match cmd.as_str() {
            "members" => e["event"] == "members",
            // A `kv` event without `cmd` is a change, not the answer.
            "get" => e["event"] == "kv" && e["cmd"] == "get",
            "ping" => e["event"] == "ping",
            _ => e["event"] == "ok",
        };
        let v = self
            .wait_from(from, Duration::from_secs(30), |e| {
                answer(e) || (e["event"] == "error" && e["cmd"] == cmd.as_str())
            })
            .ok_or_else(|| format!("{}: no answer to {line}", self.name))?;
        if v["event"] == "error" {
            return Err(format!("{}: {line}: {}", self.name, v["msg"]));
        }
        Ok(v)
    }

    /// Names of the alive and suspect members this node lists, with their meta.
    pub fn members(&mut self) -> Result<Vec<(String, String)>, String> {
        let v = self.run("members")?;
        Ok(v["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        let name = m["name"].as_str().unwrap_or("").to_string();
                        let meta = m["meta"].as_str().unwrap_or("").to_string();
                        (name, meta)
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first `leave` event about `node` with the given state (`dead` or `left`).
    pub fn saw_leave(&self, node: &str, state: &str) -> Option<Value> {
        self.events()
            .into_iter()
            .find(|e| e["event"] == "leave" && e["node"] == node && e["state"] == state)
    }

    /// Sends a signal with the `kill` command (`KILL`, `STOP`, `CONT`).
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("kill -{sig} {} failed", self.child.id()))
        }
    }

    /// Ends the process: SIGKILL, then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.signal("CONT");
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "shutdown");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

/// What an interop scenario measured, or why it failed.
pub type Outcome = Result<String, String>;

/// The flags every node of the interop scenarios gets: memberlist's Local profile with faster
/// probes and gossip, push/pull every 5 s and retransmit multiplier 4, so that by memberlist's
/// own rules a broadcast reaches every node of these small clusters.
pub fn common_flags() -> Vec<String> {
    [
        "--profile",
        "local",
        "--probe-interval",
        "400ms",
        "--probe-timeout",
        "200ms",
        "--gossip-interval",
        "100ms",
        "--pushpull-interval",
        "5s",
        "--retransmit-mult",
        "4",
        "--tcp-timeout",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts `specs` in order, each joining the first, with meta `meta-<name>`, and waits until
/// every node lists every other with the right meta.
pub fn cluster(l: &Launcher, specs: &[(Kind, &str)], extra: &[&str]) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::new();
    for (kind, name) in specs {
        let meta = format!("meta-{name}");
        let mut args = vec!["--meta", &meta];
        args.extend_from_slice(extra);
        let seed = peers.first().map(Peer::addr);
        if let Some(s) = &seed {
            args.extend_from_slice(&["--join", s]);
        }
        peers.push(l.start(kind.clone(), name, &args)?);
    }
    converge(&mut peers, Duration::from_secs(30))?;
    Ok(peers)
}

/// Waits until every peer lists exactly the others (alive or suspect) with meta `meta-<name>`
/// or the meta given by `meta_of`.
pub fn converge(peers: &mut [Peer], limit: Duration) -> Result<Duration, String> {
    let names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    let start = Instant::now();
    loop {
        let mut missing = Vec::new();
        for p in peers.iter_mut() {
            let ms = p.members()?;
            for n in &names {
                let meta = format!("meta-{n}");
                if !ms.iter().any(|(name, m)| name == n && *m == meta) {
                    missing.push(format!("{} lacks {n}", p.name));
                }
            }
            if ms.len() != names.len() {
                missing.push(format!("{} lists {} members", p.name, ms.len()));
            }
        }
        if missing.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(format!(
                "no convergence in {limit:?}: {}",
                missing.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Go and rumor (every runtime) nodes for a mixed cluster: go-1, rumor-tokio, go-2,
/// rumor-async-std, rumor-mio.
pub fn mixed() -> Vec<(Kind, &'static str)> {
    vec![
        (Kind::Go, "go-1"),
        (Kind::Rumor("tokio"), "rumor-tokio"),
        (Kind::Go, "go-2"),
        (Kind::Rumor("async-std"), "rumor-async-std"),
        (Kind::Rumor("mio"), "rumor-mio"),
    ]
}

/// A rumor node on each runtime joins a Go cluster (through a Go seed), and Go nodes join a
/// rumor cluster (through a rumor seed): everyone lists everyone with the right meta.
pub fn join_both_ways(l: &Launcher) -> Outcome {
    let peers = cluster(l, &mixed(), &[])?;
    drop(peers);
    let rumor_first = [
        (Kind::Rumor("mio"), "r-mio"),
        (Kind::Go, "g-1"),
        (Kind::Rumor("tokio"), "r-tokio"),
        (Kind::Go, "g-2"),
        (Kind::Rumor("async-std"), "r-async-std"),
    ];
    let peers = cluster(l, &rumor_first, &[])?;
    Ok(format!(
        "Go seed: 5 nodes converged; rumor seed: {} nodes converged",
        peers.len()
    ))
}

/// A Go node killed with SIGKILL is declared dead by the rumor nodes and a rumor node killed
/// with SIGKILL by the Go nodes; reports each observer's detection time.
pub fn kill_detected_both_ways(l: &Launcher) -> Outcome {
    let mut peers = cluster(l, &mixed(), &[])?;
    let mut report = Vec::new();
    for victim in ["go-2", "rumor-mio"] {
        let i = peers
            .iter()
            .position(|p| p.name == victim)
            .ok_or("no victim")?;
        let t0 = Instant::now();
        peers[i].kill();
        let mut p = peers.remove(i);
        let times = detection_times(&peers, victim, t0, Duration::from_secs(40))?;
        report.push(format!("{victim} dead at {times}"));
        p.stdin = None;
    }
    Ok(report.join("; "))
}

/// Polls each observer's events until it reports `victim` dead; the time each first saw it.
fn detection_times(
    peers: &[Peer],
    victim: &str,
    t0: Instant,
    limit: Duration,
) -> Result<String, String> {
    let mut seen: Vec<Option<f64>> = vec![None; peers.len()];
    while seen.iter().any(Option::is_none) {
        for (k, p) in peers.iter().enumerate() {
            if seen[k].is_none() && p.saw_leave(victim, "dead").is_some() {
                seen[k] = Some(t0.elapsed().as_secs_f64());
            }
        }
        if t0.elapsed() > limit {
            let missing: Vec<_> = peers
                .iter()
                .zip(&seen)
                .filter(|(_, s)| s.is_none())
                .map(|(p, _)| p.name.clone())
                .collect();
            return Err(format!(
                "{victim} not declared dead by {missing:?} within {limit:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(peers
        .iter()
        .zip(&seen)
        .map(|(p, s)| format!("{} {:.1}s", p.name, s.unwrap_or(f64::NAN)))
        .collect::<Vec<_>>()
        .join(", "))
}

/// A graceful leave is reported as `left` (not `dead`), a Go node's by rumor nodes and a
/// rumor node's by Go nodes.
pub fn leave_both_ways(l: &Launcher) -> Outcome {
    let mut peers = cluster(l, &mixed(), &[])?;
    for victim in ["go-1", "rumor-async-std"] {
        let i = peers
            .iter()
            .position(|p| p.name == victim)
            .ok_or("no leaver")?;
        peers[i].run("leave 3s")?;
        let t0 = Instant::now();
        let others: Vec<_> = peers.iter().filter(|p| p.name != victim).collect();
        for p in &others {
            p.wait_for(Duration::from_secs(15), |e| {
                e["event"] == "leave" && e["node"] == victim && e["state"] == "left"
            })
            .ok_or_else(|| format!("{} did not see {victim} leave", p.name))?;
            if p.saw_leave(victim, "dead").is_some() {
                return Err(format!("{} saw {victim} as dead", p.name));
            }
        }
        let _ = t0;
        let mut p = peers.remove(i);
        let _ = p.run("shutdown");
    }
    Ok("left, not dead, both ways".into())
}

/// User broadcasts from each side reach every node; best-effort and reliable messages work
/// both ways. memberlist hands a broadcast out `retransmit_mult * ceil(log10(n + 1))` times,
/// to random members: with multiplier 24 (24 transmissions, 3 per gossip round among the 4
/// other nodes) a given node misses it with probability (1/4)^8, so by memberlist's own rules
/// everyone is reached.
pub fn user_messages_both_ways(l: &Launcher) -> Outcome {
    let mut peers = cluster(l, &mixed(), &["--retransmit-mult", "24"])?;
    let names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    for from in ["go-1", "rumor-tokio", "rumor-mio"] {
        let payload = format!("broadcast from {from}");
        let i = names.iter().position(|n| n == from).ok_or("no sender")?;
        peers[i].run(&format!("broadcast {payload}"))?;
        for p in peers.iter().filter(|p| p.name != from) {
            p.wait_for(Duration::from_secs(10), |e| {
                e["event"] == "user_msg" && e["payload"] == payload.as_str()
            })
            .ok_or_else(|| format!("{} never got {payload:?}", p.name))?;
        }
    }
    let pairs = [
        ("go-1", "rumor-async-std"),
        ("rumor-tokio", "go-2"),
        ("rumor-mio", "go-1"),
        ("go-2", "rumor-mio"),
    ];
    for (from, to) in pairs {
        for cmd in ["send", "send-reliable"] {
            let payload = format!("{cmd} {from}->{to}");
            let i = names.iter().position(|n| n == from).ok_or("no sender")?;
            peers[i].run(&format!("{cmd} {to} {payload}"))?;
            let j = names.iter().position(|n| n == to).ok_or("no receiver")?;
            peers[j]
                .wait_for(Duration::from_secs(10), |e| {
                    e["event"] == "user_msg" && e["payload"] == payload.as_str()
                })
                .ok_or_else(|| format!("{to} never got {payload:?}"))?;
        }
    }
    Ok("3 broadcasts reached all; 8 direct messages delivered".into())
}

/// A meta update propagates both ways, and push/pull carries local state both ways.
pub fn meta_and_state_both_ways(l: &Launcher) -> Outcome {
    let mut peers = cluster(l, &mixed(), &[])?;
    for who in ["go-2", "rumor-tokio"] {
        let i = peers.iter().position(|p| p.name == who).ok_or("no node")?;
        let meta = format!("{who}-v2");
        peers[i].run(&format!("meta {meta}"))?;
        for p in peers.iter().filter(|p| p.name != who) {
            p.wait_for(Duration::from_secs(10), |e| {
                e["event"] == "update" && e["node"] == who && e["meta"] == meta.as_str()
            })
            .ok_or_else(|| format!("{} never saw {who}'s meta update", p.name))?;
        }
    }
    for p in peers.iter_mut() {
        let state = format!("state-of-{}", p.name);
        p.run(&format!("local-state {state}"))?;
    }
    // Periodic push/pull (every 5 s, scaled) carries each state to some peers; within a few
    // periods every node has heard from at least one node of the other kind.
    let limit = Duration::from_secs(30);
    for p in &peers {
        let other_kind: Vec<String> = peers
            .iter()
            .filter(|q| (q.kind == Kind::Go) != (p.kind == Kind::Go))
            .map(|q| format!("state-of-{}", q.name))
            .collect();
        p.wait_for(limit, |e| {
            e["event"] == "remote_state" && other_kind.iter().any(|s| e["payload"] == s.as_str())
        })
        .ok_or_else(|| format!("{} got no state from the other kind", p.name))?;
    }
    Ok("meta updates seen both ways; push/pull state crossed both ways".into())
}

/// Encrypted clusters with each key size, and a node with the wrong key kept out.
pub fn encrypted_cluster(l: &Launcher) -> Outcome {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut report = Vec::new();
    for size in [16usize, 24, 32] {
        let key: Vec<u8> = (0..size as u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        let key = b64.encode(key);
        let specs = [
            (Kind::Go, "go-1"),
            (Kind::Rumor("tokio"), "rumor-tokio"),
            (Kind::Go, "go-2"),
            (Kind::Rumor("mio"), "rumor-mio"),
        ];
        let mut peers = cluster(l, &specs, &["--key", &key])?;
        // Intruders with another key, one of each kind: their joins fail, nobody lists them.
        let wrong = b64.encode(vec![7u8; size]);
        let seed = peers[0].addr();
        for (kind, name) in [
            (Kind::Rumor("async-std"), "intruder-rumor"),
            (Kind::Go, "intruder-go"),
        ] {
            let mut p = l.start(kind, name, &["--key", &wrong, "--meta", "x"])?;
            if p.run(&format!("join {seed}")).is_ok() {
                return Err(format!(
                    "{name} joined with the wrong key ({size}-byte keys)"
                ));
            }
        }
        std::thread::sleep(Duration::from_secs(2));
        converge(&mut peers, Duration::from_secs(10))?;
        report.push(format!("{size}-byte key: 4 nodes, intruders kept out"));
    }
    Ok(report.join("; "))
}

/// Encryption version 0 (PKCS#7 padding), which Go sends only when it speaks protocol version
/// one. Protocol 1 ignores ports (every node uses its own port for every peer), so the nodes
/// share one port on different loopback addresses (127.0.0.2 to 127.0.0.5).
pub fn encryption_version_0(l: &Launcher) -> Outcome {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 16]);
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port()
        .to_string();
    let specs = [
        (Kind::Go, "go-1", "127.0.0.2"),
        (Kind::Rumor("tokio"), "rumor-tokio", "127.0.0.3"),
        (Kind::Go, "go-2", "127.0.0.4"),
        (Kind::Rumor("mio"), "rumor-mio", "127.0.0.5"),
    ];
    let mut peers: Vec<Peer> = Vec::new();
    for (kind, name, ip) in specs {
        let meta = format!("meta-{name}");
        let mut args = vec![
            "--bind",
            ip,
            "--port",
            &port,
            "--protocol-version",
            "1",
            "--key",
            &key,
            "--meta",
            &meta,
        ];
        let seed = peers.first().map(Peer::addr);
        if let Some(s) = &seed {
            args.extend_from_slice(&["--join", s]);
        }
        peers.push(l.start(kind, name, &args)?);
    }
    let took = converge(&mut peers, Duration::from_secs(30))?;
    Ok(format!(
        "protocol 1, encryption version 0: 4 nodes converged in {took:.1?}"
    ))
}

/// Labels (newest memberlist; Go 0.2.2 has none, so this runs rumor to rumor): nodes with one
/// label form a cluster; a rumor node with another label and a Go node without labels are
/// kept out.
pub fn labels_rumor_only(l: &Launcher) -> Outcome {
    let specs = [
        (Kind::Rumor("tokio"), "r-1"),
        (Kind::Rumor("async-std"), "r-2"),
        (Kind::Rumor("mio"), "r-3"),
    ];
    let mut peers = cluster(l, &specs, &["--label", "cluster-a"])?;
    let seed = peers[0].addr();
    let mut other = l.start(Kind::Rumor("tokio"), "r-other", &["--label", "cluster-b"])?;
    if other.run(&format!("join {seed}")).is_ok() {
        return Err("a node with another label joined".into());
    }
    let mut go = l.start(Kind::Go, "go-unlabelled", &[])?;
    if go.run(&format!("join {seed}")).is_ok() {
        return Err("a Go node without a label joined a labelled cluster".into());
    }
    std::thread::sleep(Duration::from_secs(2));
    converge(&mut peers, Duration::from_secs(10))?;
    Ok("labelled cluster formed; other label and no label kept out".into())
}

/// A node stopped with SIGSTOP until another suspects it, then continued, refutes: nobody
/// declares it dead. A rumor node under Go watchers, and a Go node under rumor watchers.
pub fn paused_node_refutes(l: &Launcher) -> Outcome {
    // A longer suspicion (mult 6) leaves room to observe the suspicion before it expires.
    let mut peers = cluster(l, &mixed(), &["--suspicion-mult", "6"])?;
    let mut report = Vec::new();
    for sleeper in ["rumor-tokio", "go-2"] {
        let i = peers
            .iter()
            .position(|p| p.name == sleeper)
            .ok_or("no sleeper")?;
        peers[i].signal("STOP")?;
        let t0 = Instant::now();
        let mut suspected_by = None;
        while suspected_by.is_none() && t0.elapsed() < Duration::from_secs(15) {
            for p in peers.iter_mut().filter(|p| p.name != sleeper) {
                let v = p.run("members")?;
                let suspect = v["members"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|m| m["name"] == sleeper && m["state"] == "suspect")
                });
                if suspect {
                    suspected_by = Some(p.name.clone());
                    break;
                }
            }
        }
        peers[i].signal("CONT")?;
        let by = suspected_by.ok_or_else(|| format!("nobody suspected the stopped {sleeper}"))?;
        let paused = t0.elapsed();
        std::thread::sleep(Duration::from_secs(8));
        for p in peers.iter_mut() {
            if p.saw_leave(sleeper, "dead").is_some() {
                return Err(format!("{} declared the paused {sleeper} dead", p.name));
            }
            let v = p.run("members")?;
            let alive = v["members"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|m| m["name"] == sleeper && m["state"] == "alive")
            });
            if p.name != sleeper && !alive {
                return Err(format!("{} does not list {sleeper} alive", p.name));
            }
        }
        report.push(format!(
            "{sleeper}: stopped {paused:.1?}, suspected by {by}, refuted"
        ));
    }
    Ok(report.join("; "))
}

/// Five rumor and five Go nodes converge, then run a minute with no false failure.
pub fn mixed_ten_stable(l: &Launcher) -> Outcome {
    let specs = [
        (Kind::Go, "go-1"),
        (Kind::Rumor("tokio"), "rumor-1"),
        (Kind::Go, "go-2"),
        (Kind::Rumor("async-std"), "rumor-2"),
        (Kind::Go, "go-3"),
        (Kind::Rumor("mio"), "rumor-3"),
        (Kind::Go, "go-4"),
        (Kind::Rumor("tokio"), "rumor-4"),
        (Kind::Go, "go-5"),
        (Kind::Rumor("mio"), "rumor-5"),
    ];
    let t0 = Instant::now();
    let mut peers = cluster(l, &specs, &[])?;
    let formed = t0.elapsed();
    std::thread::sleep(Duration::from_secs(60));
    for p in &peers {
        if let Some(e) = p.events().iter().find(|e| e["event"] == "leave") {
            return Err(format!("{} saw a failure: {e}", p.name));
        }
    }
    converge(&mut peers, Duration::from_secs(5))?;
    Ok(format!(
        "10 nodes converged in {formed:.1?}, then 60 s with no failure"
    ))
}

/// rumor's replicated map and relayed broadcasts (`--kv --relay`) on a rumor node of each
/// runtime beside two Go nodes. Writes and deletes reach the other rumor nodes as `kv` events
/// and `get` reads them; a relayed broadcast reaches the Go nodes as the plain payload and the
/// rumor nodes too; a Go broadcast still reaches every rumor node; and no Go node ever gets a
/// user message carrying rumor's marker (0xc1): the map and relay traffic stay among rumor
/// nodes. Go nodes transmit their broadcasts 24 times (everyone reached by memberlist's own
/// rules); rumor nodes 8 times, each relaying once.
pub fn kv_and_relay_beside_go(l: &Launcher) -> Outcome {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let t0 = Instant::now();
    let mut peers: Vec<Peer> = Vec::new();
    for (kind, name) in mixed() {
        let meta = format!("meta-{name}");
        let mut args = vec!["--meta", meta.as_str()];
        match kind {
            Kind::Go => args.extend_from_slice(&["--retransmit-mult", "24"]),
            Kind::Rumor(_) => args.extend_from_slice(&[
                "--kv",
                "--relay",
                "--kv-interval-ms",
                "300",
                // 16 sends per rumor node among 4 peers: a Go node misses all 48 of the
                // three rumor nodes' sends with probability (3/4)^48, about 1e-6.
                "--retransmit-mult",
                "16",
            ]),
        }
        let seed = peers.first().map(Peer::addr);
        if let Some(s) = &seed {
            args.extend_from_slice(&["--join", s]);
        }
        peers.push(l.start(kind, name, &args)?);
    }
    converge(&mut peers, Duration::from_secs(30))?;
    let formed = t0.elapsed();
    let at = |peers: &[Peer], name: &str| {
        peers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| format!("no node {name}"))
    };
    let limit = Duration::from_secs(30);
    // Waits for the `kv` change of `key` to `value_b64` (None: deleted) at `version` on each
    // of `names`.
    let saw_change = |peers: &[Peer],
                      names: &[&str],
                      key: &str,
                      value_b64: Option<&str>,
                      version: &Value,
                      writer: &str|
     -> Result<(), String> {
        for n in names {
            let p = &peers[at(peers, n)?];
            p.wait_for(limit, |e| {
                e["event"] == "kv"
                    && e.get("cmd").is_none()
                    && e["key"] == key
                    && value_b64.map_or(e["value"].is_null() && e["value_b64"].is_null(), |v| {
                        e["value_b64"] == v
                    })
                    && e["version"] == *version
                    && e["writer"] == writer
            })
            .ok_or_else(|| {
                format!("{n} never saw {key} become {value_b64:?} (version {version} by {writer})")
            })?;
        }
        Ok(())
    };

    // A set on one rumor node reaches the other two; a third reads it.
    let t = Instant::now();
    let i = at(&peers, "rumor-tokio")?;
    let set = peers[i].run("set colour deep blue")?;
    let value = b64.encode("deep blue");
    saw_change(
        &peers,
        &["rumor-async-std", "rumor-mio"],
        "colour",
        Some(&value),
        &set["version"],
        "rumor-tokio",
    )?;
    let set_took = t.elapsed();
    let i = at(&peers, "rumor-mio")?;
    let got = peers[i].run("get colour")?;
    if got["value"] != "deep blue"
        || got["value_b64"] != value.as_str()
        || got["version"] != set["version"]
        || got["writer"] != "rumor-tokio"
    {
        return Err(format!("rumor-mio: get colour answered {got}"));
    }
    // A binary value that starts like rumor's own messages is still just a value.
    let blob = b64.encode([0xc1, b'r', b'u', 1, 0, 0xff]);
    let i = at(&peers, "rumor-async-std")?;
    let set = peers[i].run(&format!("set-b64 blob {blob}"))?;
    saw_change(
        &peers,
        &["rumor-tokio", "rumor-mio"],
        "blob",
        Some(&blob),
        &set["version"],
        "rumor-async-std",
    )?;
    // A delete (on another node than the writer) reaches the others.
    let t = Instant::now();
    let i = at(&peers, "rumor-mio")?;
    let del = peers[i].run("del colour")?;
    saw_change(
        &peers,
        &["rumor-tokio", "rumor-async-std"],
        "colour",
        None,
        &del["version"],
        "rumor-mio",
    )?;
    let del_took = t.elapsed();
    let i = at(&peers, "rumor-tokio")?;
    let got = peers[i].run("get colour")?;
    if !got["value"].is_null() || got["version"] != del["version"] {
        return Err(format!("rumor-tokio: get colour after del answered {got}"));
    }

    // A relayed broadcast: the plain payload at the Go nodes, and at the other rumor nodes.
    let names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    let mut sent = Vec::new();
    for from in ["rumor-async-std", "go-2"] {
        let payload = format!("broadcast from {from}");
        let want = b64.encode(&payload);
        let i = at(&peers, from)?;
        peers[i].run(&format!("broadcast {payload}"))?;
        sent.push(want.clone());
        for n in names.iter().filter(|n| *n != from) {
            let p = &peers[at(&peers, n)?];
            p.wait_for(limit, |e| {
                e["event"] == "user_msg" && e["payload_b64"] == want.as_str()
            })
            .ok_or_else(|| format!("{n} never got {payload:?}"))?;
        }
    }
    // Let the exchanges (every 300 ms) and push/pull run a while longer, then look at every
    // user message each node got.
    std::thread::sleep(Duration::from_secs(6));
    let mut go_rumor_state = 0;
    let rumor_nodes = peers.iter().filter(|p| p.kind != Kind::Go).count();
    for p in &peers {
        let mut sections = 0;
        for e in p.events() {
            if e["event"] == "error" {
                return Err(format!("{}: {e}", p.name));
            }
            let bytes = |e: &Value| {
                b64.decode(e["payload_b64"].as_str().unwrap_or(""))
                    .unwrap_or_default()
            };
            if e["event"] == "user_msg" {
                if bytes(&e).first() == Some(&0xc1) {
                    return Err(format!(
                        "{} got rumor's marker as a user message: {e}",
                        p.name
                    ));
                }
                if !sent.iter().any(|s| e["payload_b64"] == s.as_str()) {
                    return Err(format!("{} got a user message nobody sent: {e}", p.name));
                }
            }
            if p.kind == Kind::Go
                && e["event"] == "remote_state"
                && bytes(&e).first() == Some(&0xc1)
            {
                sections += 1;
            }
        }
        // A rumor node sends its section with its first push/pull to a peer, and none to a
        // peer that answered without one.
        if sections > rumor_nodes {
            return Err(format!(
                "{} got rumor's push/pull section {sections} times (at most once per rumor node)",
                p.name
            ));
        }
        go_rumor_state += sections;
    }
    Ok(format!(
        "formed in {formed:.1?}; set seen by the other rumor nodes in {set_took:.1?}, delete in \
         {del_took:.1?}; relayed and Go broadcasts reached all; no rumor message reached Go as a \
         user message ({go_rumor_state} push/pull states with rumor's section reached Go)"
    ))
}

/// The `ping` events a peer printed about `node`, with their decoded payloads.
fn pings_about(p: &Peer, node: &str) -> Vec<(f64, Vec<u8>)> {
    use base64::Engine;
    p.events()
        .iter()
        .filter(|e| e["event"] == "ping" && e["node"] == node)
        .map(|e| {
            let b64 = e["payload_b64"].as_str().unwrap_or("");
            let payload = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            (e["rtt_ms"].as_f64().unwrap_or(-1.0), payload)
        })
        .collect()
}

/// Ack payloads cross both ways (memberlist's `PingDelegate`): every probe a rumor node (each
/// runtime) completes on the Go node carries the Go node's payload and the other way round,
/// and rumor's explicit `ping` of the Go node returns the Go node's payload.
pub fn ack_payloads_both_ways(l: &Launcher) -> Outcome {
    let go = [("go-1", "from-go")];
    let rumor = [
        ("rumor-tokio", "tokio"),
        ("rumor-async-std", "async-std"),
        ("rumor-mio", "mio"),
    ];
    let mut peers = vec![l.start(
        Kind::Go,
        go[0].0,
        &[
            "--meta",
            "meta-go-1",
            "--ack-payload",
            go[0].1,
            "--ping-events",
        ],
    )?];
    let seed = peers[0].addr();
    for (name, rt) in rumor {
        let meta = format!("meta-{name}");
        let payload = format!("from-{name}");
        let args = [
            "--meta",
            &meta,
            "--ack-payload",
            &payload,
            "--ping-events",
            "--join",
            &seed,
        ];
        peers.push(l.start(Kind::Rumor(rt), name, &args)?);
    }
    converge(&mut peers, Duration::from_secs(30))?;
    let limit = Instant::now() + Duration::from_secs(30);
    loop {
        let go_saw: Vec<bool> = rumor
            .iter()
            .map(|(name, _)| {
                let want = format!("from-{name}");
                pings_about(&peers[0], name)
                    .iter()
                    .any(|(_, p)| *p == want.as_bytes())
            })
            .collect();
        let rumor_saw: Vec<bool> = peers[1..]
            .iter()
            .map(|p| {
                pings_about(p, "go-1")
                    .iter()
                    .any(|(_, pl)| pl == b"from-go")
            })
            .collect();
        if go_saw.iter().chain(&rumor_saw).all(|&b| b) {
            break;
        }
        if Instant::now() > limit {
            return Err(format!(
                "ack payloads: Go saw rumor's {go_saw:?}, rumor nodes saw Go's {rumor_saw:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for p in peers[1..].iter_mut() {
        let v = p.run("ping go-1")?;
        if v["payload_b64"] != "ZnJvbS1nbw==" {
            return Err(format!("{}: ping go-1 answered {v}", p.name));
        }
    }
    let wrong = rumor.iter().find_map(|(n, _)| {
        let want = format!("from-{n}");
        let bad = pings_about(&peers[0], n)
            .into_iter()
            .find(|(_, p)| *p != want.as_bytes());
        bad.map(|(_, p)| (*n, p))
    });
    if let Some((name, payload)) = wrong {
        return Err(format!("Go got {payload:?} in an ack from {name}"));
    }
    Ok(
        "Go's ack payload reached every rumor runtime's probes and pings, and each rumor \
        runtime's reached Go's probes"
            .into(),
    )
}

/// A rumor node whose hooks refuse members with Go's metadata (`--reject-meta`, the alive
/// and merge vetoes) keeps a Go joiner out of its table; a Go node beside it still lists both.
pub fn merge_veto_refuses_go_joiner(l: &Launcher) -> Outcome {
    let mut seed = l.start(
        Kind::Rumor("tokio"),
        "rumor-seed",
        &["--meta", "meta-rumor-seed", "--reject-meta", "^go-"],
    )?;
    let addr = seed.addr();
    let mut joiner = l.start(
        Kind::Go,
        "go-joiner",
        &["--meta", "go-joiner", "--join", &addr],
    )?;
    // Long enough for gossip, probes and a push/pull to have carried the Go node's alive.
    std::thread::sleep(Duration::from_secs(5));
    let listed = seed.members()?;
    if listed.iter().any(|(n, _)| n == "go-joiner") {
        return Err(format!("the rumor seed lists the Go joiner: {listed:?}"));
    }
    let go_view = joiner.members()?;
    Ok(format!(
        "the rumor seed listed {} member(s), the Go joiner's view: {go_view:?}",
        listed.len()
    ))
}

/// memberlist's `CIDRsAllowed`: a rumor node that allows 127.0.0.0/30 ignores a Go node
/// bound on 127.0.0.9 that joins it, while a Go node on 127.0.0.1 joins as usual.
pub fn cidr_ignores_outsider(l: &Launcher) -> Outcome {
    let mut rumor = l.start(
        Kind::Rumor("tokio"),
        "rumor-cidr",
        &["--meta", "meta-rumor-cidr", "--allow-cidr", "127.0.0.0/30"],
    )?;
    let addr = rumor.addr();
    let inside = l.start(
        Kind::Go,
        "go-inside",
        &["--meta", "meta-go-inside", "--join", &addr],
    )?;
    let outside = l.start(
        Kind::Go,
        "go-outside",
        &[
            "--bind",
            "127.0.0.9",
            "--meta",
            "meta-go-outside",
            "--join",
            &addr,
        ],
    )?;
    std::thread::sleep(Duration::from_secs(5));
    let listed = rumor.members()?;
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    if names.contains(&"go-outside") || !names.contains(&"go-inside") {
        return Err(format!("the rumor node lists {names:?}"));
    }
    drop((inside, outside));
    Ok(format!(
        "the rumor node lists {names:?}: the node on 127.0.0.9 stayed out"
    ))
}

/// An interop scenario's entry point.
pub type Scenario = fn(&Launcher) -> Outcome;

/// Every interop scenario, by name.
pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("join_both_ways", join_both_ways),
    ("kill_detected_both_ways", kill_detected_both_ways),
    ("leave_both_ways", leave_both_ways),
    ("user_messages_both_ways", user_messages_both_ways),
    ("meta_and_state_both_ways", meta_and_state_both_ways),
    ("encrypted_cluster", encrypted_cluster),
    ("encryption_version_0", encryption_version_0),
    ("labels_rumor_only", labels_rumor_only),
    ("paused_node_refutes", paused_node_refutes),
    ("mixed_ten_stable", mixed_ten_stable),
    ("kv_and_relay_beside_go", kv_and_relay_beside_go),
    ("ack_payloads_both_ways", ack_payloads_both_ways),
    ("merge_veto_refuses_go_joiner", merge_veto_refuses_go_joiner),
    ("cidr_ignores_outsider", cidr_ignores_outsider),
];
