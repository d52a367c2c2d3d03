//! The conformance suite on the hand-written loop of `examples/custom_loop`, over real sockets
//! on 127.0.0.1: the loop the example documents is the loop these scenarios prove. The glue
//! is `rumor_conformance::runtimes::custom`, which compiles the example's `node.rs` itself.

use rumor_conformance::real::RealBackend;
use rumor_conformance::runtimes::custom::Custom;

rumor_conformance::conformance_tests!(realtime: RealBackend::new(Custom));
