//! The conformance suite on async-io, over real sockets on 127.0.0.1, once under async-std's
//! executor and once under smol's. The glue is `rumor_conformance::runtimes::async_io`, shared
//! with the `rumor-conformance` command.

/// Nodes on async-std's global executor, started with `rumor_async_std::spawn`.
mod async_std_executor {
    use rumor_conformance::real::RealBackend;
    use rumor_conformance::runtimes::async_io::AsyncStd;

    rumor_conformance::conformance_tests!(realtime: RealBackend::new(AsyncStd));
}

/// Nodes on a smol executor, started with `rumor_async_std::start`.
mod smol_executor {
    use rumor_conformance::real::RealBackend;
    use rumor_conformance::runtimes::async_io::Smol;

    rumor_conformance::conformance_tests!(realtime: RealBackend::new(Smol::new()));
}
