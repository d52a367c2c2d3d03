//! Process CPU time, shared by the `cluster` and `floor` examples.

use std::time::Duration;

/// User plus system CPU time of this process so far (getrusage).
pub(crate) fn process_cpu() -> Duration {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).map_or(
        Duration::ZERO,
        |u| {
            let t = |tv: nix::sys::time::TimeVal| {
                Duration::new(
                    tv.tv_sec().max(0) as u64,
                    (tv.tv_usec().max(0) as u32) * 1000,
                )
            };
            t(u.user_time()) + t(u.system_time())
        },
    )
}
