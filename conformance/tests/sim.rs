//! Every scenario on the deterministic simulator.

use rumor_conformance::backend::{SimBackend, sim_config, sim_seed};
use rumor_conformance::sim::LinkModel;

rumor_conformance::conformance_tests!(SimBackend::new(
    sim_seed(),
    LinkModel::default(),
    sim_config()
));
