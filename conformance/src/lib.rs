//! rumor-conformance: golden memberlist wire vectors and the Go interop harness; later the
//! deterministic simulator and the scenario suite every runtime adapter runs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod vectors;
