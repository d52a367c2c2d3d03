//! Capacity planning on the simulator (`rumor-conformance sim`), running the real protocol
//! code: a formed cluster of `--nodes`, a metadata update spread from one node, then
//! `--crash` nodes crashing at once. Reports gossip rounds to full dissemination, the failure
//! detection latency distribution, false positives and traffic, and draws both curves as an
//! SVG (in the spirit of the convergence simulator Serf published).

use std::fmt::Write as _;
use std::time::{Duration, Instant as Wall};

use rumor_core::{Config, Event, LeaveReason, MemberState};

use crate::sim::{LinkModel, Sim};

/// What `rumor-conformance sim` runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Cluster size.
    pub nodes: usize,
    /// Datagram loss probability.
    pub loss: f64,
    /// One-way latency (jitter is a tenth of it, at least 100 µs).
    pub latency: Duration,
    /// `lan`, `wan` or `local`.
    pub profile: String,
    /// Nodes crashed at once after the update has spread.
    pub crash: usize,
    /// Simulator seed.
    pub seed: u64,
    /// Where to write the SVG plot.
    pub plot: Option<String>,
    /// Print JSON instead of text.
    pub json: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            nodes: 1000,
            loss: 0.0,
            latency: Duration::from_millis(1),
            profile: "lan".into(),
            crash: 1,
            seed: 1,
            plot: None,
            json: false,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plan it ran.
    pub plan: Plan,
    /// Gossip interval of the profile.
    pub gossip_interval: Duration,
    /// Probe interval of the profile.
    pub probe_interval: Duration,
    /// Seconds since the update when each node had it, in order (the dissemination curve).
    pub dissemination: Vec<f64>,
    /// Nodes that never had it within the limit.
    pub not_reached: usize,
    /// Seconds since the crash until the first node suspected a victim.
    pub first_suspect: Option<f64>,
    /// Seconds since the crash when each (observer, victim) pair saw the victim dead, sorted.
    pub detection: Vec<f64>,
    /// Pairs that never saw the victim dead within the limit.
    pub undetected: usize,
    /// Live nodes declared dead by someone (false positives).
    pub false_positives: usize,
    /// Datagram and stream bytes per node per simulated second, over the whole run after
    /// bootstrap.
    pub bytes_per_node_second: f64,
    /// Simulated seconds after bootstrap.
    pub simulated: f64,
    /// Wall-clock seconds, bootstrap included.
    pub wall: f64,
    /// Wall-clock seconds of the bootstrap (every node learning every other).
    pub bootstrap_wall: f64,
}

const USAGE: &str = "usage: rumor-conformance sim [--nodes N] [--loss P] [--latency MS] \
[--profile lan|wan|local] [--crash K] [--seed S] [--plot FILE.svg] [--json]
Runs the real protocol on the deterministic simulator: a formed cluster of N nodes (default
1000), a metadata update spread from one node, then K nodes (default 1) crashing at once.
--loss is a probability (0.05) or a percentage (5%); --latency is one-way, in milliseconds.";

/// Parses `rumor-conformance sim` arguments.
pub fn parse(args: &[String]) -> Result<Plan, String> {
    let mut p = Plan::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let flag = a.trim_start_matches('-');
        if flag == "json" {
            p.json = true;
            continue;
        }
        if flag == "help" || flag == "h" {
            return Err(USAGE.into());
        }
        let v = it
            .next()
            .ok_or_else(|| format!("--{flag} needs a value\n{USAGE}"))?;
        let bad = || format!("--{flag}: bad value {v}\n{USAGE}");
        match flag {
            "nodes" | "n" => p.nodes = v.parse().map_err(|_| bad())?,
            "loss" => {
                p.loss = match v.strip_suffix('%') {
                    Some(pct) => pct.parse::<f64>().map_err(|_| bad())? / 100.0,
                    None => v.parse().map_err(|_| bad())?,
                }
            }
            "latency" => {
                let ms: f64 = v.parse().map_err(|_| bad())?;
                p.latency = Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| bad())?;
            }
            "profile" => p.profile = v.clone(),
            "crash" => p.crash = v.parse().map_err(|_| bad())?,
            "seed" => p.seed = v.parse().map_err(|_| bad())?,
            "plot" => p.plot = Some(v.clone()),
            _ => return Err(format!("unknown option --{flag}\n{USAGE}")),
        }
    }
    if p.nodes < 3 {
        return Err("--nodes must be at least 3".into());
    }
    if !(0.0..1.0).contains(&p.loss) {
        return Err("--loss must be in [0, 1)".into());
    }
    if p.crash >= p.nodes - 1 {
        return Err("--crash must leave at least two nodes".into());
    }
    profile(&p.profile)?;
    Ok(p)
}

fn profile(name: &str) -> Result<Config, String> {
    let base = match name {
        "lan" => Config::lan(),
        "wan" => Config::wan(),
        "local" => Config::local(),
        _ => return Err(format!("unknown profile {name} (lan, wan or local)")),
    };
    // LZW changes no protocol decision, only CPU; follow-up push/pulls only matter while a
    // cluster forms, and the run starts from a formed one.
    Ok(Config {
        enable_compression: false,
        join_follow_ups: 0,
        ..base
    })
}

/// Runs a plan.
pub fn run(plan: &Plan) -> Result<Report, String> {
    let wall = Wall::now();
    let config = profile(&plan.profile)?;
    let link = LinkModel {
        latency: plan.latency,
        jitter: (plan.latency / 10).max(Duration::from_micros(100)),
        loss: 0.0,
        duplicate: 0.0,
    };
    let n = plan.nodes;
    let mut sim = Sim::new(plan.seed, link);
    // Only deaths matter here; every other event of thousands of nodes would cost gigabytes.
    sim.keep_events = |e| {
        matches!(
            e,
            Event::MemberLeft {
                reason: LeaveReason::Failed,
                ..
            }
        )
    };
    for i in 0..n {
        sim.add_node(config.clone(), &format!("node-{i}"), b"v1");
    }
    sim.bootstrap();
    let bootstrap_wall = wall.elapsed().as_secs_f64();
    sim.link.loss = plan.loss;
    // A few probe rounds to settle.
    sim.run_for(config.probe_interval * 3);
    let t_start = sim.now();
    let traffic_start = sim.traffic;

    // 1. A metadata update from one node, spread by gossip.
    let origin = (plan.seed as usize * 7919) % n;
    let name = format!("node-{origin}");
    sim.with(origin, |c, now| c.set_meta(now, b"v2"))
        .transpose()
        .map_err(|e| format!("set_meta: {e}"))?;
    let t0 = sim.now();
    let has = |sim: &Sim, i: usize| sim.core(i).member(&name).is_some_and(|m| &*m.meta == b"v2");
    let mut pending: Vec<usize> = (0..n).filter(|&i| !has(&sim, i)).collect();
    let mut dissemination = vec![0.0; n - pending.len()];
    let step = config.gossip_interval / 10;
    let limit = config.push_pull_interval * 4 + config.gossip_interval * 100;
    while !pending.is_empty() && sim.now().saturating_duration_since(t0) < limit {
        sim.run_for(step);
        let t = sim.now().saturating_duration_since(t0).as_secs_f64();
        pending.retain(|&i| {
            let got = has(&sim, i);
            if got {
                dissemination.push(t);
            }
            !got
        });
    }
    let not_reached = pending.len();

    // 2. Crashes.
    let victims: Vec<usize> = (0..plan.crash).map(|k| (origin + 1 + k) % n).collect();
    for &v in &victims {
        sim.crash(v);
    }
    let tc = sim.now();
    let observers: Vec<usize> = (0..n).filter(|i| !victims.contains(i)).collect();
    let victim_names: Vec<String> = victims.iter().map(|v| format!("node-{v}")).collect();
    let mut first_suspect = None;
    let mut seen = vec![vec![false; victims.len()]; n];
    let mut detection = Vec::new();
    let scale = (n as f64).log10().max(1.0);
    let max_suspicion = config
        .probe_interval
        .mul_f64(f64::from(config.suspicion_mult) * scale)
        * config.suspicion_max_timeout_mult;
    let limit = max_suspicion * 3 + config.push_pull_interval * 2;
    let step = config.probe_interval / 10;
    let mut undetected = observers.len() * victims.len();
    while undetected > 0 && sim.now().saturating_duration_since(tc) < limit {
        sim.run_for(step);
        let t = sim.now().saturating_duration_since(tc).as_secs_f64();
        for &o in &observers {
            for (k, vn) in victim_names.iter().enumerate() {
                if seen[o][k] {
                    continue;
                }
                let state = sim.core(o).member_state(vn);
                if first_suspect.is_none() && state == Some(MemberState::Suspect) {
                    first_suspect = Some(t);
                }
                if matches!(state, Some(MemberState::Dead) | None) {
                    seen[o][k] = true;
                    detection.push(t);
                    undetected -= 1;
                }
            }
        }
    }
    detection.sort_by(f64::total_cmp);

    let false_positives = observers
        .iter()
        .flat_map(|&o| sim.nodes[o].events.iter())
        .filter_map(|(_, e)| match e {
            Event::MemberLeft { member, .. } => Some(member.name.clone()),
            _ => None,
        })
        .filter(|m| !victim_names.iter().any(|v| **v == **m))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let simulated = sim.now().saturating_duration_since(t_start).as_secs_f64();
    let bytes = (sim.traffic.packet_bytes - traffic_start.packet_bytes)
        + (sim.traffic.stream_bytes - traffic_start.stream_bytes);
    // Freeing millions of member entries takes seconds: do it off the caller's path.
    std::thread::spawn(move || drop(sim));
    Ok(Report {
        plan: plan.clone(),
        gossip_interval: config.gossip_interval,
        probe_interval: config.probe_interval,
        dissemination,
        not_reached,
        first_suspect,
        detection,
        undetected,
        false_positives,
        bytes_per_node_second: bytes as f64 / n as f64 / simulated.max(1e-9),
        simulated,
        wall: wall.elapsed().as_secs_f64(),
        bootstrap_wall,
    })
}

/// The `q` quantile (0 to 1, nearest rank) of sorted values; `None` if there are none.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied()
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.2} s"))
}

impl Report {
    /// Gossip rounds until every node had the update (`None` if some never did).
    pub fn rounds_to_all(&self) -> Option<f64> {
        if self.not_reached > 0 {
            return None;
        }
        self.dissemination
            .last()
            .map(|t| t / self.gossip_interval.as_secs_f64())
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let p = &self.plan;
        let n = p.nodes;
        let g = self.gossip_interval.as_secs_f64();
        let at = |q: f64| quantile(&self.dissemination, q);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{n} nodes, {} profile, loss {:.1}%, latency {:?}, seed {}",
            p.profile,
            p.loss * 100.0,
            p.latency,
            p.seed
        );
        let _ = writeln!(
            s,
            "dissemination of one update: 50% after {} ({:.1} rounds), 99% after {}, all after {} ({}); \
             fanout-{} push theory: log4(N) = {:.1} rounds",
            secs(at(0.5)),
            at(0.5).unwrap_or(f64::NAN) / g,
            secs(at(0.99)),
            secs(if self.not_reached == 0 { at(1.0) } else { None }),
            self.rounds_to_all()
                .map_or(format!("{} nodes never reached", self.not_reached), |r| {
                    format!("{r:.1} rounds")
                }),
            3,
            (n as f64).ln() / 4f64.ln()
        );
        let d = |q: f64| secs(quantile(&self.detection, q));
        let _ = writeln!(
            s,
            "failure detection of {} crashed node(s): first suspicion {}, dead at observers: min {}, median {}, p99 {}, max {}{}",
            p.crash,
            secs(self.first_suspect),
            d(0.0),
            d(0.5),
            d(0.99),
            d(1.0),
            if self.undetected > 0 {
                format!(" ({} observations missing)", self.undetected)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "false positives: {} live node(s) declared dead; traffic {:.0} bytes per node per second",
            self.false_positives, self.bytes_per_node_second
        );
        let _ = writeln!(
            s,
            "simulated {:.1} s of {n} nodes in {:.1} s wall, {:.1} s of it to give every node the member table ({:.0} node-seconds per second after that)",
            self.simulated,
            self.wall,
            self.bootstrap_wall,
            n as f64 * self.simulated / (self.wall - self.bootstrap_wall).max(1e-9)
        );
        s
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        let p = &self.plan;
        let q = |v: &[f64], x: f64| quantile(v, x).map_or("null".into(), |s| format!("{s:.4}"));
        let o = |v: Option<f64>| v.map_or("null".into(), |s| format!("{s:.4}"));
        format!(
            "{{\"nodes\":{},\"profile\":\"{}\",\"loss\":{},\"latency_ms\":{},\"seed\":{},\
             \"dissemination_rounds_to_all\":{},\"dissemination_s\":{{\"p50\":{},\"p99\":{},\"all\":{}}},\
             \"not_reached\":{},\"crashed\":{},\"first_suspect_s\":{},\
             \"detection_s\":{{\"min\":{},\"p50\":{},\"p99\":{},\"max\":{}}},\"undetected\":{},\
             \"false_positives\":{},\"bytes_per_node_second\":{:.1},\"simulated_s\":{:.2},\"wall_s\":{:.2}}}",
            p.nodes,
            p.profile,
            p.loss,
            p.latency.as_secs_f64() * 1000.0,
            p.seed,
            o(self.rounds_to_all()),
            q(&self.dissemination, 0.5),
            q(&self.dissemination, 0.99),
            if self.not_reached == 0 {
                q(&self.dissemination, 1.0)
            } else {
                "null".into()
            },
            self.not_reached,
            p.crash,
            o(self.first_suspect),
            q(&self.detection, 0.0),
            q(&self.detection, 0.5),
            q(&self.detection, 0.99),
            q(&self.detection, 1.0),
            self.undetected,
            self.false_positives,
            self.bytes_per_node_second,
            self.simulated,
            self.wall
        )
    }

    /// Two panels: the fraction of nodes holding the update over gossip rounds, and the
    /// fraction of observations that declared the crashed node(s) dead over seconds.
    pub fn svg(&self) -> String {
        let (w, h, pad) = (900.0, 360.0, 50.0);
        let panel_w = (w - 3.0 * pad) / 2.0;
        let total = self.plan.nodes as f64;
        let g = self.gossip_interval.as_secs_f64();
        let observations = (self.detection.len() + self.undetected).max(1) as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="20" text-anchor="middle" font-size="14">rumor on the simulator: {} nodes, {} profile, loss {:.1}%, seed {}</text>"#,
            w / 2.0,
            self.plan.nodes,
            self.plan.profile,
            self.plan.loss * 100.0,
            self.plan.seed
        );
        let panels = [
            (
                "update dissemination",
                "gossip rounds",
                self.dissemination.iter().map(|t| t / g).collect::<Vec<_>>(),
                total,
                "#1f77b4",
            ),
            (
                "crash detection",
                "seconds",
                self.detection.clone(),
                observations,
                "#d62728",
            ),
        ];
        for (k, (title, xlabel, xs, of, color)) in panels.iter().enumerate() {
            let x0 = pad + k as f64 * (panel_w + pad);
            let (y0, ph) = (pad, h - 2.0 * pad);
            let xmax = xs.last().copied().unwrap_or(1.0).max(1e-6) * 1.05;
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{y0}" width="{panel_w}" height="{ph}" fill="none" stroke="gray"/>"#
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{title}</text>"#,
                x0 + panel_w / 2.0,
                y0 - 8.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{xlabel}</text>"#,
                x0 + panel_w / 2.0,
                y0 + ph + 35.0
            );
            for tick in 0..=4 {
                let f = tick as f64 / 4.0;
                let y = y0 + ph * (1.0 - f);
                let x = x0 + panel_w * f;
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="end">{:.0}%</text><text x="{x}" y="{}" text-anchor="middle">{:.1}</text>"#,
                    x0 - 4.0,
                    y + 4.0,
                    f * 100.0,
                    y0 + ph + 16.0,
                    xmax * f
                );
            }
            let mut path = format!("M{x0:.1},{:.1}", y0 + ph);
            // At most about 500 points per curve, and always the last one.
            let every = (xs.len() / 500).max(1);
            let keep = |i: usize| i.is_multiple_of(every) || i + 1 == xs.len();
            for (i, x) in xs.iter().enumerate().filter(|(i, _)| keep(*i)) {
                let px = x0 + panel_w * (x / xmax);
                let py = y0 + ph * (1.0 - (i + 1) as f64 / of);
                let _ = write!(path, " L{px:.1},{py:.1}");
            }
            let _ = writeln!(
                s,
                r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>"#
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// Runs `rumor-conformance sim` with the arguments after `sim`.
pub fn cli(args: &[String]) -> Result<(), String> {
    let plan = parse(args)?;
    let report = run(&plan)?;
    if plan.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if let Some(path) = &plan.plot {
        std::fs::write(path, report.svg()).map_err(|e| format!("writing {path}: {e}"))?;
        if !plan.json {
            println!("plot written to {path}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cluster_report() {
        let args: Vec<String> = [
            "--nodes", "50", "--crash", "2", "--loss", "1%", "--seed", "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let plan = parse(&args).expect("plan");
        let r = run(&plan).expect("run");
        assert_eq!(r.not_reached, 0, "{}", r.text());
        assert_eq!(r.undetected, 0, "{}", r.text());
        assert_eq!(r.dissemination.len(), 50);
        assert_eq!(r.detection.len(), 2 * 48);
        assert_eq!(r.false_positives, 0, "{}", r.text());
        assert!(r.rounds_to_all().is_some_and(|x| x < 30.0), "{}", r.text());
        let svg = r.svg();
        assert!(svg.starts_with("<svg") && svg.contains("crash detection"));
        assert!(r.json().contains("\"nodes\":50"));
    }
}
