//! Lifeguard's dynamic suspicion timeout (memberlist `suspicion.go`; Lifeguard §IV-B): the
//! timeout starts at `max` and shrinks towards `min` as independent members confirm the
//! suspicion, so a real failure is declared quickly and a lone slow accuser is not trusted.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use crate::time::Instant;

/// `SuspicionMult * max(1, log10(max(1, n))) * ProbeInterval`, with the scale truncated to
/// thousandths as memberlist's `suspicionTimeout` does.
pub(crate) fn suspicion_timeout(suspicion_mult: u32, n: usize, interval: Duration) -> Duration {
    let scale = libm::fmax(1.0, libm::log10(libm::fmax(1.0, n as f64)));
    let milli = (scale * 1000.0) as u64;
    let nanos = u128::from(suspicion_mult) * u128::from(milli) * interval.as_nanos() / 1000;
    Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
}

/// One suspicion of one member.
#[derive(Debug)]
pub(crate) struct Suspicion {
    /// Confirmations wanted before the timeout reaches `min`.
    k: u32,
    /// Confirmations so far.
    n: u32,
    min: Duration,
    max: Duration,
    start: Instant,
    /// When the member is declared dead unless it refutes.
    pub(crate) deadline: Instant,
    /// The accusers seen, the first included: each counts once.
    from: Vec<Box<str>>,
}

impl Suspicion {
    /// Starts a suspicion raised by `from`; `k` confirmations are expected.
    pub(crate) fn new(from: &str, k: u32, min: Duration, max: Duration, now: Instant) -> Self {
        let timeout = if k < 1 { min } else { max };
        Self {
            k,
            n: 0,
            min,
            max,
            start: now,
            deadline: now + timeout,
            from: alloc::vec![Box::from(from)],
        }
    }

    /// Whether confirmations were expected and fewer arrived (memberlist's
    /// `memberlist.degraded.timeout`).
    pub(crate) fn under_confirmed(&self) -> bool {
        self.k > 0 && self.n < self.k
    }

    /// Counts a confirmation from a new accuser, shrinking the timeout. Returns true if it was
    /// new (memberlist then re-gossips the suspect message).
    pub(crate) fn confirm(&mut self, from: &str, now: Instant) -> bool {
        if self.n >= self.k || self.from.iter().any(|f| &**f == from) {
            return false;
        }
        self.from.push(Box::from(from));
        self.n += 1;
        let frac = libm::log(f64::from(self.n) + 1.0) / libm::log(f64::from(self.k) + 1.0);
        let max = self.max.as_secs_f64();
        let raw = max - frac * (max - self.min.as_secs_f64());
        let ms = libm::floor(1000.0 * raw);
        let timeout = Duration::from_millis(if ms > 0.0 { ms as u64 } else { 0 }).max(self.min);
        // Never later than already scheduled; memberlist fires at once when the new timeout
        // has already passed.
        self.deadline = (self.start + timeout).max(now).min(self.deadline);
        true
    }

    /// Treats the suspicion as fully confirmed: the timeout drops to `min`. Used when a peer
    /// reports the member dead in a push/pull, which means the peer's own suspicion already
    /// ran its course with its own confirmations.
    pub(crate) fn settle(&mut self, now: Instant) {
        self.n = self.k;
        self.deadline = (self.start + self.min).max(now).min(self.deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_matches_memberlist() {
        let s = Duration::from_secs(1);
        // Spec §11.4: LAN (mult 4): n=5 -> 4 s; n=100 -> 8 s; n <= 10 -> scale 1.
        assert_eq!(suspicion_timeout(4, 5, s), Duration::from_secs(4));
        assert_eq!(suspicion_timeout(4, 100, s), Duration::from_secs(8));
        assert_eq!(suspicion_timeout(4, 0, s), Duration::from_secs(4));
        // log10(1000) = 3, log10(50) = 1.698..: truncated to 1.698.
        assert_eq!(suspicion_timeout(4, 1000, s), Duration::from_secs(12));
        assert_eq!(suspicion_timeout(4, 50, s), Duration::from_millis(6792));
    }

    #[test]
    fn confirmations_shrink_the_timeout() {
        let t0 = Instant::ZERO;
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        let mut s = Suspicion::new("a", 2, min, max, t0);
        assert_eq!(s.deadline, t0 + max);
        assert!(!s.confirm("a", t0), "the accuser does not confirm itself");
        assert!(s.confirm("b", t0));
        // 24 - ln2/ln3 * 20 = 11.381..
        assert_eq!(s.deadline, t0 + Duration::from_millis(11381));
        assert!(!s.confirm("b", t0));
        // The new timeout (the minimum, 4 s) has already passed at 5 s: due at once.
        assert!(s.confirm("c", t0 + Duration::from_secs(5)));
        assert_eq!(s.deadline, t0 + Duration::from_secs(5));
        assert!(!s.confirm("d", t0), "at most k confirmations count");
        assert_eq!(s.n, 2);
        let mut s = Suspicion::new("a", 2, min, max, t0);
        s.settle(t0 + Duration::from_secs(1));
        assert_eq!(s.deadline, t0 + min);
        assert!(!s.confirm("b", t0), "nothing left to confirm");
        let s = Suspicion::new("a", 0, min, max, t0);
        assert_eq!(s.deadline, t0 + min);
    }
}
