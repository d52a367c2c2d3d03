//! Network coordinates built only on rumor's public ping hooks, as Serf builds them on
//! memberlist's `PingDelegate`: every ack carries the node's Vivaldi coordinate
//! (`Hooks::ack_payload`), and every completed probe updates it with the measured round-trip
//! time (`Hooks::ping_complete`). Serf's model: 8 dimensions plus a height, an adjustment
//! window, gravity towards the origin, and a median filter over the last 3 samples per peer.
//!
//! Runs 50 nodes on the deterministic simulator, in 3 regions with round-trip times of 1 ms
//! inside a region and 20, 80 and 70 ms between them, and prints the median and 90th
//! percentile relative error of the estimated round-trip time over every pair of nodes.
//!
//! ```text
//! cargo run --release --example coordinates [-- NODES SECONDS JITTER_MICROSECONDS]
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumor::{Config, Hooks, MemberView};
use rumor_conformance::sim::{LinkModel, Regions, Sim};

/// Serf's `coordinate.Config` defaults.
const DIMENSIONS: usize = 8;
const ERROR_MAX: f64 = 1.5;
const CE: f64 = 0.25;
const CC: f64 = 0.25;
const ADJUSTMENT_WINDOW: usize = 20;
const HEIGHT_MIN: f64 = 10.0e-6;
const LATENCY_FILTER: usize = 3;
const GRAVITY_RHO: f64 = 150.0;
const ZERO: f64 = 1.0e-6;

/// A Vivaldi coordinate (Serf's `coordinate.Coordinate`), distances in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Coordinate {
    vec: [f64; DIMENSIONS],
    error: f64,
    adjustment: f64,
    height: f64,
}

impl Coordinate {
    fn origin() -> Self {
        Self {
            vec: [0.0; DIMENSIONS],
            error: ERROR_MAX,
            adjustment: 0.0,
            height: HEIGHT_MIN,
        }
    }

    /// The coordinate as it rides in an ack: 11 little-endian f64s.
    fn encode(&self, out: &mut Vec<u8>) {
        let fields = self
            .vec
            .iter()
            .chain([&self.error, &self.adjustment, &self.height]);
        for f in fields {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 8 * (DIMENSIONS + 3) {
            return None;
        }
        let f = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[8 * i..8 * i + 8]);
            f64::from_le_bytes(a)
        };
        let c = Self {
            vec: std::array::from_fn(f),
            error: f(DIMENSIONS),
            adjustment: f(DIMENSIONS + 1),
            height: f(DIMENSIONS + 2),
        };
        let finite = c.vec.iter().all(|x| x.is_finite())
            && [c.error, c.adjustment, c.height]
                .iter()
                .all(|x| x.is_finite());
        finite.then_some(c)
    }

    /// The distance without adjustments: Euclidean plus both heights.
    fn raw_distance(&self, other: &Self) -> f64 {
        let d: f64 = (0..DIMENSIONS)
            .map(|i| (self.vec[i] - other.vec[i]).powi(2))
            .sum();
        d.sqrt() + self.height + other.height
    }

    /// The estimated round-trip time to `other` (Serf's `DistanceTo`).
    fn distance(&self, other: &Self) -> f64 {
        let raw = self.raw_distance(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 { adjusted } else { raw }
    }

    /// Moves by `force` along the direction from `other` (Serf's `ApplyForce`).
    fn apply_force(&mut self, force: f64, other: &Self, rng: &mut u64) {
        let mut unit = [0.0; DIMENSIONS];
        let diff: Vec<f64> = (0..DIMENSIONS)
            .map(|i| self.vec[i] - other.vec[i])
            .collect();
        let mag = diff.iter().map(|x| x * x).sum::<f64>().sqrt();
        if mag > ZERO {
            for (u, d) in unit.iter_mut().zip(&diff) {
                *u = d / mag;
            }
        } else {
            // The same place: push in a random direction.
            for u in unit.iter_mut() {
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                *u = (*rng % 2000) as f64 / 1000.0 - 1.0;
            }
            let m = unit.iter().map(|x| x * x).sum::<f64>().sqrt().max(ZERO);
            unit.iter_mut().for_each(|u| *u /= m);
        }
        for (v, u) in self.vec.iter_mut().zip(unit) {
            *v += u * force;
        }
        if mag > ZERO {
            self.height =
                ((self.height + other.height) * force / mag + self.height).max(HEIGHT_MIN);
        }
    }
}

/// One node's Vivaldi client (Serf's `coordinate.Client`).
struct Client {
    coord: Coordinate,
    origin: Coordinate,
    samples: [f64; ADJUSTMENT_WINDOW],
    next: usize,
    latencies: HashMap<String, Vec<f64>>,
    rng: u64,
}

impl Client {
    fn new(seed: u64) -> Self {
        Self {
            coord: Coordinate::origin(),
            origin: Coordinate::origin(),
            samples: [0.0; ADJUSTMENT_WINDOW],
            next: 0,
            latencies: HashMap::new(),
            rng: seed | 1,
        }
    }

    /// The median of the last samples from `node` (Serf's `latencyFilter`).
    fn filtered(&mut self, node: &str, rtt: f64) -> f64 {
        let s = self.latencies.entry(node.to_string()).or_default();
        s.push(rtt);
        if s.len() > LATENCY_FILTER {
            s.remove(0);
        }
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    /// Serf's `Client.Update`: Vivaldi, then the adjustment window, then gravity.
    fn update(&mut self, node: &str, other: &Coordinate, rtt: Duration) {
        let rtt = self.filtered(node, rtt.as_secs_f64()).max(ZERO);
        let c = &mut self.coord;
        let dist = c.raw_distance(other);
        let total = (c.error + other.error).max(ZERO);
        let weight = c.error / total;
        let wrong = (dist - rtt).abs() / rtt;
        c.error = (CE * weight * wrong + c.error * (1.0 - CE * weight)).min(ERROR_MAX);
        let force = CC * weight * (rtt - dist);
        c.apply_force(force, other, &mut self.rng);
        self.samples[self.next] = rtt - c.raw_distance(other);
        self.next = (self.next + 1) % ADJUSTMENT_WINDOW;
        c.adjustment = self.samples.iter().sum::<f64>() / (2.0 * ADJUSTMENT_WINDOW as f64);
        let from_origin = c.raw_distance(&self.origin);
        let gravity = -(from_origin / GRAVITY_RHO).powi(2);
        let origin = self.origin;
        c.apply_force(gravity, &origin, &mut self.rng);
    }
}

/// The hooks: the coordinate goes out in acks and comes back with every completed probe.
struct Vivaldi(Mutex<Client>);

impl Hooks for Vivaldi {
    fn ack_payload(&self, out: &mut Vec<u8>) {
        if let Ok(c) = self.0.lock() {
            c.coord.encode(out);
        }
    }

    fn ping_complete(&self, member: &MemberView<'_>, rtt: Duration, payload: &[u8]) {
        if let (Some(other), Ok(mut c)) = (Coordinate::decode(payload), self.0.lock()) {
            c.update(member.name, &other, rtt);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let jitter_us: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    // Round-trip times between the three regions, in milliseconds.
    let rtt_ms = [[1.0, 20.0, 80.0], [20.0, 1.0, 70.0], [80.0, 70.0, 1.0]];
    let region_of: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let one_way = rtt_ms
        .iter()
        .map(|row| {
            row.iter()
                .map(|ms| Duration::from_secs_f64(ms / 2e3))
                .collect()
        })
        .collect();
    let link = LinkModel {
        jitter: Duration::from_micros(jitter_us),
        ..LinkModel::default()
    };
    let mut sim = Sim::new(42, link);
    sim.regions = Some(Regions {
        region_of: region_of.clone(),
        one_way,
    });
    let clients: Vec<Arc<Vivaldi>> = (0..n)
        .map(|i| Arc::new(Vivaldi(Mutex::new(Client::new(i as u64 + 1)))))
        .collect();
    for (i, hooks) in clients.iter().enumerate() {
        let config = Config {
            hooks: Some(hooks.clone()),
            ..Config::lan()
        };
        sim.add_node(config, &format!("node-{i}"), b"");
    }
    for i in 1..n {
        sim.with(i, |c, now| c.join(now, &[Sim::addr_of(0)]));
    }
    sim.run_for(Duration::from_secs(seconds));

    let coords: Vec<Coordinate> = clients
        .iter()
        .map(|c| {
            c.0.lock()
                .map(|c| c.coord)
                .unwrap_or_else(|_| Coordinate::origin())
        })
        .collect();
    // Relative errors of the estimated RTT: every pair, pairs within a region, pairs across.
    let (mut all, mut within, mut across) = (Vec::new(), Vec::new(), Vec::new());
    for a in 0..n {
        for b in a + 1..n {
            let actual = rtt_ms[region_of[a]][region_of[b]] / 1e3;
            let e = (coords[a].distance(&coords[b]) - actual).abs() / actual;
            all.push(e);
            if region_of[a] == region_of[b] {
                within.push(e);
            } else {
                across.push(e);
            }
        }
    }
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "median {:.1} %, 90th percentile {:.1} % ({} pairs)",
            100.0 * percentile(v, 0.5),
            100.0 * percentile(v, 0.9),
            v.len()
        )
    };
    println!(
        "{n} nodes in 3 regions (RTT 1 ms within, 20 / 80 / 70 ms between, jitter {jitter_us} us), \
         after {seconds} s of probes, relative error of the estimated RTT:\n  all pairs:      \
         {}\n  within regions: {}\n  across regions: {}",
        summary(&mut all),
        summary(&mut within),
        summary(&mut across),
    );
}
