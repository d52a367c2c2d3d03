//! The conformance suite on mio, over real sockets on 127.0.0.1. The glue is
//! `rumor_conformance::runtimes::mio` (every node of a scenario on one reactor thread), shared
//! with the `rumor-conformance` command.

use rumor_conformance::real::RealBackend;
use rumor_conformance::runtimes::mio::Mio;

rumor_conformance::conformance_tests!(realtime: RealBackend::new(Mio::new()));
