//! The state-machine fuzzer (`rumor_conformance::state_fuzz`) on random programs: about a
//! million steps of crafted, replayed, corrupted and dropped traffic, stream bytes, closes,
//! commands, crashes, pauses and time, with every invariant checked after each step.
//! `RUMOR_FUZZ_STEPS=N` runs N steps instead; a failure prints the seed of its program.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_conformance::state_fuzz::{self, Stats};

/// Steps per program: long enough for suspicions to expire and members to be reaped.
const PROGRAM_STEPS: usize = 2_000;

fn program(seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Enough bytes for every step (a crafted message takes tens).
    let mut data = vec![0u8; PROGRAM_STEPS * 64];
    rng.fill_bytes(&mut data);
    data
}

/// Inputs the fuzz target once failed on (`conformance/fuzz-regressions/`, named for what
/// they found) keep passing.
#[test]
fn saved_failures_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the regressions directory") {
        let path = entry.expect("an entry").path();
        let data = std::fs::read(&path).expect("an input");
        if let Err(e) = std::panic::catch_unwind(|| state_fuzz::run(&data)) {
            panic!(
                "{}: {}",
                path.display(),
                e.downcast_ref::<String>().map_or("panic", String::as_str)
            );
        }
        n += 1;
    }
    assert!(n >= 1, "no saved inputs in {}", dir.display());
}

/// `RUMOR_FUZZ_FILE=path` replays one input of the fuzz target (a crash libFuzzer saved);
/// add `RUMOR_FUZZ_TRACE=1` to print every step.
#[test]
fn replay_a_saved_input() {
    let Some(path) = std::env::var_os("RUMOR_FUZZ_FILE") else {
        return;
    };
    let data = std::fs::read(&path).expect("the input file");
    let stats = state_fuzz::run(&data);
    eprintln!("{stats:?}");
}

#[test]
fn a_million_steps_of_hostile_programs_break_no_invariant() {
    let steps: u64 = std::env::var("RUMOR_FUZZ_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut total = Stats::default();
    let mut seed: u64 = std::env::var("RUMOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    while total.steps < steps {
        let data = program(seed);
        let stats = match std::panic::catch_unwind(|| state_fuzz::run_steps(&data, PROGRAM_STEPS)) {
            Ok(s) => s,
            Err(e) => panic!(
                "program seed {seed}: {}",
                e.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("panic")
            ),
        };
        total.add(&stats);
        seed += 1;
    }
    eprintln!("{seed} programs: {total:?}");
    // The programs reach the protocol, not only its decoders.
    assert!(total.datagrams > total.steps / 8, "{total:?}");
    assert!(total.refused < total.datagrams, "{total:?}");
    assert!(total.streams > 1_000, "{total:?}");
    assert!(total.events > 1_000, "{total:?}");
}
