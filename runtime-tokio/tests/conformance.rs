//! The conformance suite on tokio, over real sockets on 127.0.0.1. The glue is
//! `rumor_conformance::runtimes::tokio`, shared with the `rumor-conformance` command.

use rumor_conformance::real::RealBackend;
use rumor_conformance::runtimes::tokio::Tokio;

rumor_conformance::conformance_tests!(realtime: RealBackend::new(Tokio::new()));
