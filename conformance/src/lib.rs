//! rumor-conformance: golden memberlist wire vectors, the Go interop harness, the
//! deterministic simulator and the scenario suite every runtime adapter runs.
//!
//! [`conformance_tests!`] stamps the suite out as `#[test]`s for one [`backend::Backend`];
//! [`runtimes`] holds each adapter's glue behind a cargo feature; the `rumor-conformance`
//! command (feature `runner`) runs the suite on every backend and prints a pass/fail matrix.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod capacity;
pub mod interop;
pub mod real;
pub mod robust;
pub mod runtimes;
pub mod scenarios;
pub mod sim;
pub mod state_fuzz;
pub mod vectors;

/// Locks `m`, taking the data even if a panicking thread poisoned it: a failed scenario must
/// not take the backend's bookkeeping down with it.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stamps out one `#[test]` per scenario for a backend: `$make` builds a fresh backend for
/// each test. `conformance_tests!(realtime: make)` runs [`scenarios::REALTIME`], for backends
/// that run in wall-clock time; the plain form runs [`scenarios::ALL`]. A failure names the
/// backend and the scenario (`sim::crash_detected`).
#[macro_export]
macro_rules! conformance_tests {
    (realtime: $make:expr) => {
        $crate::__scenarios!(realtime => conformance_tests(@each $make;));
    };
    ($make:expr) => {
        $crate::__scenarios!(all => conformance_tests(@each $make;));
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

/// The scenario lists, written once: calls `$crate::$callback!(args... names...)` with the
/// names of [`scenarios::ALL`] or [`scenarios::REALTIME`], so the `#[test]`s that
/// [`conformance_tests!`] stamps out and the tables the runner walks cannot drift apart.
#[doc(hidden)]
#[macro_export]
macro_rules! __scenarios {
    (all => $callback:ident($($args:tt)*)) => {
        $crate::$callback! { $($args)*
            join_5, join_100, crash_detected, graceful_leave, paused_node_refutes,
            broadcast_is_transmit_limited, user_messages, meta_update_spreads,
            push_pull_delivers_local_state, partition_heals, lossy_network_no_false_deaths,
            long_partition_heals, kv_push_converges, kv_pull_converges, kv_push_pull_converges,
            kv_gossip_and_subscriptions, relayed_broadcast_reaches_all }
    };
    // Every scenario a real network runs in reasonable wall time (all but the 30-minute loss
    // soak, which stays on the simulator), and the hostile clients that need real sockets.
    (realtime => $callback:ident($($args:tt)*)) => {
        $crate::$callback! { $($args)*
            join_5, join_100, crash_detected, graceful_leave, paused_node_refutes,
            broadcast_is_transmit_limited, user_messages, meta_update_spreads,
            push_pull_delivers_local_state, partition_heals, long_partition_heals,
            hostile_clients, kv_push_converges, kv_pull_converges, kv_push_pull_converges,
            kv_gossip_and_subscriptions, relayed_broadcast_reaches_all }
    };
}

/// A `&[(&str, Scenario)]` table of the named scenarios (the callback [`scenarios::ALL`] and
/// [`scenarios::REALTIME`] are built with).
#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_table {
    ($($scenario:ident),* $(,)?) => {
        &[$((stringify!($scenario), $crate::scenarios::$scenario as $crate::scenarios::Scenario)),*]
    };
}
