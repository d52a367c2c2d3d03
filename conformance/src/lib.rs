//! rumor-conformance: golden memberlist wire vectors and the Go interop harness; later the
//! deterministic simulator and the scenario suite every runtime adapter runs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod capacity;
pub mod interop;
pub mod real;
pub mod robust;
pub mod scenarios;
pub mod sim;
pub mod vectors;

/// Stamps out one `#[test]` per scenario for a backend: `$make` builds a fresh backend for
/// each test. `conformance_tests!(realtime: make)` leaves out the scenarios that take
/// simulated hours, for backends that run in wall-clock time. A failure names the backend and the scenario (`sim::crash_detected`).
#[macro_export]
macro_rules! conformance_tests {
    (realtime: $make:expr) => {
        // Every scenario a real network runs in reasonable wall time (all but the 30-minute
        // loss soak, which stays on the simulator), and the hostile clients that need real
        // sockets.
        $crate::conformance_tests!(@each $make;
            join_5, join_100, crash_detected, graceful_leave, paused_node_refutes,
            broadcast_is_transmit_limited, user_messages, meta_update_spreads,
            push_pull_delivers_local_state, partition_heals, long_partition_heals,
            hostile_clients);
    };
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            join_5, join_100, crash_detected, graceful_leave, paused_node_refutes,
            broadcast_is_transmit_limited, user_messages, meta_update_spreads,
            push_pull_delivers_local_state, partition_heals, long_partition_heals,
            lossy_network_no_false_deaths);
    };
    (@each $make:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                let mut backend = $make;
                let b: &mut dyn $crate::backend::Backend = &mut backend;
                match $crate::scenarios::$scenario(b) {
                    Ok(report) => eprintln!("{}::{}: {}", b.name(), stringify!($scenario), report),
                    Err(e) => panic!("{}::{} failed: {}", b.name(), stringify!($scenario), e),
                }
            }
        )*
    };
}
