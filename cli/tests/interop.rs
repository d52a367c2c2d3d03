//! Mixed clusters of rumor nodes (`rumor agent`, on every runtime) and Go memberlist 0.2.2
//! nodes, as separate processes on 127.0.0.1. Without Go the tests print why and pass, except
//! under CI (`CI` set), where a missing Go peer is a failure.

use std::path::PathBuf;

use rumor_conformance::interop::{self, Launcher};

fn launcher() -> Option<Launcher> {
    match interop::go_peer() {
        Ok(go) => Some(Launcher {
            rumor: PathBuf::from(env!("CARGO_BIN_EXE_rumor")),
            go,
            common: interop::common_flags(),
        }),
        Err(why) if std::env::var_os("CI").is_some() => panic!("interop under CI: {why}"),
        Err(why) => {
            eprintln!("skipping the interop test: {why}");
            None
        }
    }
}

macro_rules! interop_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let Some(l) = launcher() else { return };
                match interop::$name(&l) {
                    Ok(report) => eprintln!("interop::{}: {report}", stringify!($name)),
                    Err(e) => panic!("interop::{} failed: {e}", stringify!($name)),
                }
            }
        )*
    };
}

interop_tests!(
    join_both_ways,
    kill_detected_both_ways,
    leave_both_ways,
    user_messages_both_ways,
    meta_and_state_both_ways,
    encrypted_cluster,
    encryption_version_0,
    labels_rumor_only,
    paused_node_refutes,
    mixed_ten_stable,
    kv_and_relay_beside_go,
    ack_payloads_both_ways,
    merge_veto_refuses_go_joiner,
    cidr_ignores_outsider,
);
