//! `rumor demo`: a local cluster on 127.0.0.1, shown live. Nodes join through one seed; then
//! one node crashes, another leaves, a broadcast goes out and a key is written to the
//! replicated map; a summary says how long detection and dissemination took.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rumor::runtime::NodeOptions;
use rumor::{Config, Event, KvConfig, LeaveReason, Member, MemberState};
use serde_json::json;

use crate::nodes::{self, Node};

const USAGE: &str = "usage: rumor demo [--nodes N] [--runtime tokio|async-std|mio] [--json]
Starts N nodes (default 8) on 127.0.0.1, shows each node's view of the cluster as they join,
then crashes one node, lets another leave, sends a broadcast, writes a key to the
replicated map, and sums up how long detection and dissemination took. --json prints one JSON object per step instead.";

/// The demo's protocol settings: memberlist's Local profile, probing twice as often.
fn config() -> Config {
    Config {
        probe_interval: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(200),
        push_pull_interval: Duration::from_secs(5),
        // memberlist's LAN value: the sender hands each broadcast out
        // retransmit_mult * ceil(log10(n + 1)) times.
        retransmit_mult: 4,
        // The replicated map, with an exchange every half second.
        kv: KvConfig {
            exchange_interval: Duration::from_millis(500),
            ..KvConfig::enabled()
        },
        ..Config::local()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every event of every node, stamped.
type Log = Arc<Mutex<Vec<(Duration, usize, Event)>>>;

struct Demo {
    nodes: Vec<Option<Node>>,
    names: Vec<String>,
    log: Log,
    start: Instant,
    json: bool,
    tty: bool,
}

/// Parses the options and runs the demo.
pub(crate) fn run(args: Vec<String>) -> ExitCode {
    let (mut n, mut runtime, mut json) = (8usize, "tokio".to_string(), false);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.trim_start_matches('-') {
            "nodes" | "n" => match it.next().and_then(|v| v.parse().ok()) {
                Some(v) if (3..=200).contains(&v) => n = v,
                _ => return usage("--nodes needs a number from 3 to 200"),
            },
            "runtime" => match it.next() {
                Some(r) => runtime = r,
                None => return usage("--runtime needs tokio, async-std or mio"),
            },
            "json" => json = true,
            "help" | "h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(&format!("unknown option {a}")),
        }
    }
    match Demo::start(n, &runtime, json).and_then(|mut d| d.script()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumor demo: {e}");
            ExitCode::from(1)
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("rumor demo: {msg}\n{USAGE}");
    ExitCode::from(2)
}

impl Demo {
    fn start(n: usize, runtime: &str, json: bool) -> Result<Self, String> {
        let log: Log = Arc::default();
        let start = Instant::now();
        let mut nodes = Vec::new();
        let mut names = Vec::new();
        for i in 0..n {
            let name = format!("node-{i}");
            let mut options = NodeOptions::new(&name, SocketAddr::from(([127, 0, 0, 1], 0)));
            options.meta = format!("demo {i}").into_bytes();
            let sink_log = log.clone();
            let sink = Box::new(move |e: Event| lock(&sink_log).push((start.elapsed(), i, e)));
            let node = nodes::start(runtime, config(), options, sink)
                .map_err(|e| format!("starting {name} on {runtime}: {e}"))?;
            node.kv_subscribe(String::new())
                .wait()
                .map_err(|e| format!("subscribing {name}: {e}"))?;
            nodes.push(Some(node));
            names.push(name);
        }
        let tty = !json && std::io::stdout().is_terminal();
        Ok(Self {
            nodes,
            names,
            log,
            start,
            json,
            tty,
        })
    }

    fn node(&self, i: usize) -> Result<&Node, String> {
        self.nodes[i].as_ref().ok_or_else(|| "node is gone".into())
    }

    /// Each live node's view: its members by name.
    fn views(&self) -> Vec<Option<Vec<Member>>> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().and_then(|n| n.all_members().wait().ok()))
            .collect()
    }

    fn say(&self, step: &str, text: &str) {
        let t = self.start.elapsed().as_secs_f64();
        if self.json {
            crate::agent::json::emit(json!({"step": step, "t": t, "text": text}));
        } else {
            println!("[{t:6.2}s] {text}");
        }
    }

    /// Draws every node's view of every member (A alive, S suspect, D dead, L left, . not
    /// known); on a terminal it redraws in place.
    fn draw(&self, title: &str) {
        if self.json {
            return;
        }
        let views = self.views();
        let mut out = String::new();
        if self.tty {
            out.push_str("\x1b[H\x1b[2J");
        }
        out.push_str(&format!(
            "rumor demo: {} nodes, {:.1} s: {title}\n\n{:>9} ",
            self.names.len(),
            self.start.elapsed().as_secs_f64(),
            "view of"
        ));
        for i in 0..self.names.len() {
            out.push_str(&format!("{:>3}", i));
        }
        out.push('\n');
        for (i, view) in views.iter().enumerate() {
            out.push_str(&format!("{:>9} ", self.names[i]));
            match view {
                None => out.push_str("  (stopped)"),
                Some(ms) => {
                    for name in &self.names {
                        let c = match ms.iter().find(|m| *m.name == **name).map(|m| m.state) {
                            Some(MemberState::Alive) => 'A',
                            Some(MemberState::Suspect) => 'S',
                            Some(MemberState::Dead) => 'D',
                            Some(MemberState::Left) => 'L',
                            None => '.',
                        };
                        out.push_str(&format!("{c:>3}"));
                    }
                }
            }
            out.push('\n');
        }
        print!("{out}");
        if !self.tty {
            println!();
        }
        let _ = std::io::stdout().flush();
    }

    /// Redraws until `done` holds for the views, or `limit` passes; returns the time taken.
    fn watch(
        &self,
        title: &str,
        limit: Duration,
        done: impl Fn(&[Option<Vec<Member>>], &[(Duration, usize, Event)]) -> bool,
    ) -> Result<Duration, String> {
        let t0 = Instant::now();
        loop {
            let views = self.views();
            let finished = done(&views, &lock(&self.log));
            if self.tty || finished {
                self.draw(title);
            }
            if finished {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > limit {
                return Err(format!("{title}: not within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(if self.tty { 100 } else { 20 }));
        }
    }

    fn script(&mut self) -> Result<(), String> {
        let n = self.names.len();
        let live = |views: &[Option<Vec<Member>>], i: usize| -> usize {
            views[i].as_ref().map_or(0, |ms| {
                ms.iter()
                    .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
                    .count()
            })
        };
        // 1. Everyone joins through node 0.
        let seed = self.node(0)?.local_addr();
        self.say("join", &format!("{n} nodes join through {seed}"));
        let t0 = Instant::now();
        for i in 1..n {
            self.node(i)?
                .join(vec![seed])
                .wait()
                .map_err(|e| format!("join: {e}"))?;
        }
        self.watch("joining", Duration::from_secs(60), |v, _| {
            (0..v.len()).all(|i| live(v, i) == v.len())
        })?;
        let join = t0.elapsed();
        self.say(
            "joined",
            &format!("every node sees all {n} in {:.2} s", join.as_secs_f64()),
        );

        // 2. A crash: the last node stops without a word.
        let victim = n - 1;
        let vname = self.names[victim].clone();
        if let Some(node) = self.nodes[victim].take() {
            let _ = node.shutdown().wait();
        }
        self.say("crash", &format!("{vname} crashes (stops without leaving)"));
        let t0 = Instant::now();
        let others: Vec<usize> = (0..n - 1).collect();
        let first_suspect = Arc::new(Mutex::new(None::<Duration>));
        let fs = first_suspect.clone();
        let crash = self.watch("failure detection", Duration::from_secs(60), |v, log| {
            let mut fs = lock(&fs);
            if fs.is_none()
                && others.iter().any(|&i| {
                    v[i].as_ref().is_some_and(|ms| {
                        ms.iter()
                            .any(|m| *m.name == *vname && m.state == MemberState::Suspect)
                    })
                })
            {
                *fs = Some(t0.elapsed());
            }
            others.iter().all(|&i| {
                log.iter().any(|(_, who, e)| {
                    *who == i
                        && matches!(e, Event::MemberLeft { member, reason: LeaveReason::Failed }
                            if *member.name == *vname)
                })
            })
        })?;
        let first_dead = self.first_event_after(t0, |e| {
            matches!(e, Event::MemberLeft { member, reason: LeaveReason::Failed } if *member.name == *vname)
        });
        let suspect = *lock(&first_suspect);
        self.say(
            "crash_detected",
            &format!(
                "{vname}: first suspected after {}, first declared dead after {}, dead everywhere after {:.2} s",
                secs(suspect),
                secs(first_dead),
                crash.as_secs_f64()
            ),
        );

        // 3. A graceful leave.
        let leaver = n - 2;
        let lname = self.names[leaver].clone();
        self.say("leave", &format!("{lname} leaves gracefully"));
        let t0 = Instant::now();
        self.node(leaver)?
            .leave(Duration::from_secs(2))
            .wait()
            .map_err(|e| format!("leave: {e}"))?;
        let stay: Vec<usize> = (0..n - 2).collect();
        self.watch("leave", Duration::from_secs(30), |_, log| {
            stay.iter().all(|&i| {
                log.iter().any(|(_, who, e)| {
                    *who == i
                        && matches!(e, Event::MemberLeft { member, reason: LeaveReason::Left }
                            if *member.name == *lname)
                })
            })
        })?;
        let leave = t0.elapsed();
        if let Some(node) = self.nodes[leaver].take() {
            let _ = node.shutdown().wait();
        }
        self.say(
            "left",
            &format!(
                "{lname} seen as left (not failed) by all after {:.2} s",
                leave.as_secs_f64()
            ),
        );

        // 4. A metadata change: gossiped epidemically (every node that learns it passes it on).
        let t0 = Instant::now();
        self.node(1)?
            .set_meta(b"demo 1, updated".to_vec())
            .wait()
            .map_err(|e| format!("meta: {e}"))?;
        let watchers: Vec<usize> = (0..n - 2).collect();
        self.watch("metadata update", Duration::from_secs(30), |v, _| {
            watchers.iter().all(|&i| {
                v[i].as_ref().is_some_and(|ms| {
                    ms.iter()
                        .any(|m| &*m.name == "node-1" && &*m.meta == b"demo 1, updated")
                })
            })
        })?;
        let meta = t0.elapsed();
        self.say(
            "meta",
            &format!(
                "node-1's new metadata reached every node in {:.2} s",
                meta.as_secs_f64()
            ),
        );

        // 5. Two broadcasts from node 0: memberlist's (only the sender transmits it, a limited
        // number of times), then rumor's relayed one (every rumor node passes it on once).
        let receivers: Vec<usize> = (1..n - 2).collect();
        let mut outcomes = Vec::new();
        let limit = config().retransmit_mult * (((n - 1) as f64 + 1.0).log10().ceil() as u32);
        for relayed in [false, true] {
            let payload = if relayed {
                b"relayed hello from node-0".to_vec()
            } else {
                b"hello from node-0".to_vec()
            };
            let node = self.node(0)?;
            let queued = if relayed {
                node.broadcast_relayed(payload.clone())
            } else {
                node.broadcast(payload.clone())
            };
            queued.wait().map_err(|e| format!("broadcast: {e}"))?;
            let got = |log: &[(Duration, usize, Event)], i: usize| {
                log.iter().any(|(_, who, e)| {
                    *who == i && matches!(e, Event::UserMessage { payload: p, .. } if *p == payload)
                })
            };
            let spread = self.watch("broadcast", Duration::from_secs(3), |_, log| {
                receivers.iter().all(|&i| got(log, i))
            });
            let reached = receivers
                .iter()
                .filter(|&&i| got(&lock(&self.log), i))
                .count();
            let how = if relayed {
                "relayed broadcast (rumor: every node that gets it passes it on once)".to_string()
            } else {
                format!(
                    "memberlist broadcast (only node-0 sends it, {limit} times; receivers do not \
                     pass it on)"
                )
            };
            let outcome = match spread {
                Ok(d) => format!(
                    "reached all {reached} other nodes in {:.2} s",
                    d.as_secs_f64()
                ),
                Err(_) => format!("reached {reached} of {} other nodes", receivers.len()),
            };
            self.say("broadcast", &format!("{how}: {outcome}"));
            outcomes.push((reached, outcome));
        }
        let (plain_reached, plain_text) = outcomes[0].clone();
        let (relay_reached, relay_text) = outcomes[1].clone();

        // 6. A write to the replicated map on node 1: gossiped, relayed once by every node that
        // applies it, and repaired by the periodic exchanges.
        let t0 = Instant::now();
        self.node(1)?
            .kv_set("demo/greeting".into(), b"hello".to_vec())
            .wait()
            .map_err(|e| format!("kv set: {e}"))?;
        let live: Vec<usize> = (0..n - 2).filter(|&i| i != 1).collect();
        let has_key = |log: &[(Duration, usize, Event)], i: usize| {
            log.iter().any(|(at, who, e)| {
                *who == i
                    && *at >= t0.duration_since(self.start)
                    && matches!(e, Event::KeyChanged(c) if &*c.key == "demo/greeting")
            })
        };
        let kv = self.watch("replicated map", Duration::from_secs(10), |_, log| {
            live.iter().all(|&i| has_key(log, i))
        })?;
        self.say(
            "kv",
            &format!(
                "node-1's write to the replicated map reached all {} other live nodes in {:.2} s",
                live.len(),
                kv.as_secs_f64()
            ),
        );

        // Summary.
        let cfg = config();
        if self.json {
            crate::agent::json::emit(json!({
                "step": "summary", "nodes": n, "join_s": join.as_secs_f64(),
                "first_suspect_s": suspect.map(|d| d.as_secs_f64()),
                "first_dead_s": first_dead.map(|d| d.as_secs_f64()),
                "dead_everywhere_s": crash.as_secs_f64(), "leave_s": leave.as_secs_f64(),
                "meta_update_s": meta.as_secs_f64(),
                "broadcast_reached": plain_reached, "relayed_broadcast_reached": relay_reached,
                "broadcast_receivers": receivers.len(),
                "kv_write_s": kv.as_secs_f64(),
                "probe_interval_ms": cfg.probe_interval.as_millis() as u64,
            }));
        } else {
            println!(
                "\nsummary ({n} nodes, probe interval {:?}, suspicion mult {}):\n  \
                 join: every node saw every other after {:.2} s\n  \
                 crash of {vname}: suspected {}, dead {} (first), dead everywhere {:.2} s\n  \
                 leave of {lname}: seen as left everywhere after {:.2} s\n  \
                 metadata update: everywhere after {:.2} s\n  \
                 memberlist broadcast: {plain_text}\n  \
                 relayed broadcast: {relay_text}\n  \
                 replicated map write: everywhere after {:.2} s",
                cfg.probe_interval,
                cfg.suspicion_mult,
                join.as_secs_f64(),
                secs(suspect),
                secs(first_dead),
                crash.as_secs_f64(),
                leave.as_secs_f64(),
                meta.as_secs_f64(),
                kv.as_secs_f64(),
            );
        }
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            let _ = node.shutdown().wait();
        }
        Ok(())
    }

    /// How long after `t0` the first event matching `pred` arrived, on any node.
    fn first_event_after(&self, t0: Instant, pred: impl Fn(&Event) -> bool) -> Option<Duration> {
        let since = t0.duration_since(self.start);
        lock(&self.log)
            .iter()
            .filter(|(t, _, e)| *t >= since && pred(e))
            .map(|(t, _, _)| *t - since)
            .min()
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}
