//! Capacity planning on the simulator (`rumor-conformance sim`). Being written.

/// Runs `rumor-conformance sim` with the arguments after `sim`.
pub fn cli(args: &[String]) -> Result<(), String> {
    let _ = args;
    Err("rumor-conformance sim: not written yet".into())
}
