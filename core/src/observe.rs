//! Observability hooks: `tracing` events for the protocol's decisions (cargo feature
//! `tracing`) and counters and gauges through the `metrics` facade under memberlist's metric
//! names where one exists, `rumor.*` otherwise (cargo feature `metrics`). With the features
//! off, every hook compiles to nothing; with them on and no subscriber or recorder installed,
//! they do not allocate.

/// A protocol decision: `decision!(level, fields..., "message")` as `tracing`'s macros take.
macro_rules! decision {
    ($level:ident, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        {
            tracing::$level!($($arg)+);
        }
    };
}

/// Adds to a counter: `count!("memberlist.msg.alive")` or `count!("memberlist.udp.sent", n)`.
macro_rules! count {
    ($name:literal) => {
        $crate::observe::count!($name, 1u64)
    };
    ($name:literal, $n:expr) => {
        #[cfg(feature = "metrics")]
        {
            metrics::counter!($name).increment($n as u64);
        }
    };
}

/// Sets a gauge: `gauge!("memberlist.health.score", score)`.
macro_rules! gauge {
    ($name:literal, $v:expr) => {
        #[cfg(feature = "metrics")]
        {
            metrics::gauge!($name).set($v as f64);
        }
    };
}

pub(crate) use {count, decision, gauge};
