//! Every scenario on the deterministic simulator.

use std::time::Duration;

use rumor_conformance::backend::SimBackend;
use rumor_conformance::sim::LinkModel;
use rumor_core::Config;

/// The simulator's configuration: memberlist's Local profile, with reconnection every 5 s.
fn config() -> Config {
    Config {
        reconnect_interval: Duration::from_secs(5),
        ..Config::local()
    }
}

/// `RUMOR_SIM_SEED` reruns a failure; otherwise a fixed seed.
fn seed() -> u64 {
    std::env::var("RUMOR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

rumor_conformance::conformance_tests!(SimBackend::new(seed(), LinkModel::default(), config()));
