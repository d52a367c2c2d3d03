//! Lifeguard's local health awareness (memberlist `awareness.go`; Lifeguard §IV-A): a score
//! that rises when this node misses acks and nacks and falls when probes succeed. A node that
//! is itself slow stretches its probe interval and timeouts instead of accusing healthy peers.

use core::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Awareness {
    max: u32,
    score: u32,
}

impl Awareness {
    pub(crate) fn new(max_multiplier: u32) -> Self {
        Self {
            max: max_multiplier,
            score: 0,
        }
    }

    /// Adds `delta`, keeping the score in `0..max`.
    pub(crate) fn apply(&mut self, delta: i32) {
        let s = i64::from(self.score) + i64::from(delta);
        self.score = s.clamp(0, i64::from(self.max.saturating_sub(1))) as u32;
    }

    /// The health score; 0 is healthy.
    pub(crate) fn score(&self) -> u32 {
        self.score
    }

    /// `timeout * (score + 1)`.
    pub(crate) fn scale(&self, timeout: Duration) -> Duration {
        timeout.saturating_mul(self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_scales() {
        let mut a = Awareness::new(8);
        a.apply(-1);
        assert_eq!(a.score(), 0);
        a.apply(3);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(4));
        a.apply(100);
        assert_eq!(a.score(), 7);
    }
}
