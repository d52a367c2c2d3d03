//! Observability hooks: `tracing` events for the protocol's decisions (cargo feature
//! `tracing`) and counters, gauges and histograms through the `metrics` facade (cargo feature
//! `metrics`), under memberlist's metric names where one exists and `rumor.*` otherwise.
//!
//! Each node registers its metrics once, at construction, with its
//! [`Config::metric_labels`](crate::Config::metric_labels) (memberlist's `MetricLabels`):
//! install the recorder before starting nodes. Afterwards an update is an atomic add on a
//! handle, with no lookup and no allocation. With the feature off, every hook compiles to
//! nothing.

/// A protocol decision: `decision!(level, fields..., "message")` as `tracing`'s macros take.
macro_rules! decision {
    ($level:ident, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        {
            tracing::$level!($($arg)+);
        }
    };
}

pub(crate) use decision;

/// Declares a metric kind: an enum of its metrics and the name of each.
macro_rules! metrics {
    ($(#[$doc:meta])* $kind:ident { $($(#[$vdoc:meta])* $variant:ident = $name:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $kind {
            $($(#[$vdoc])* $variant,)*
        }

        impl $kind {
            /// Every metric of this kind, in declaration order.
            #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
            const NAMES: &'static [&'static str] = &[$($name,)*];
        }
    };
}

metrics!(
    /// Counters (memberlist's `IncrCounter`).
    Counter {
        /// Bytes of datagrams received.
        UdpReceived = "memberlist.udp.received",
        /// Bytes of datagrams sent.
        UdpSent = "memberlist.udp.sent",
        /// Stream connections accepted.
        TcpAccept = "memberlist.tcp.accept",
        /// Stream connections opened.
        TcpConnect = "memberlist.tcp.connect",
        /// Bytes handed out to be written on streams.
        TcpSent = "memberlist.tcp.sent",
        /// Alive messages handled.
        MsgAlive = "memberlist.msg.alive",
        /// Suspect messages handled.
        MsgSuspect = "memberlist.msg.suspect",
        /// Dead messages handled.
        MsgDead = "memberlist.msg.dead",
        /// Probes started with an interval stretched by a poor health score.
        DegradedProbe = "memberlist.degraded.probe",
        /// Suspicions that expired with fewer confirmations than expected.
        DegradedTimeout = "memberlist.degraded.timeout",
        /// Datagrams dropped as malformed, foreign or undecryptable.
        UdpDropped = "rumor.udp.dropped",
        /// Packets, streams and alive messages refused by `Config::cidrs_allowed`.
        CidrRefused = "rumor.cidr.refused",
        /// Members refused for a name or metadata over `Limits::max_name` / `max_meta`, or
        /// because the table already holds `Limits::max_members`.
        Oversized = "rumor.limits.refused",
        /// Times this node refuted a suspicion or death of itself.
        Refute = "rumor.refute",
        /// Map entries applied.
        KvApplied = "rumor.kv.applied",
        /// Map entries refused (over a bound).
        KvRefused = "rumor.kv.refused",
        /// Malformed map messages.
        KvMalformed = "rumor.kv.malformed",
        /// Map exchange messages sent.
        KvMessages = "rumor.kv.exchange.messages",
        /// Bytes of map exchange messages sent.
        KvBytes = "rumor.kv.exchange.bytes",
        /// Full map exchanges sent.
        KvFullExchange = "rumor.kv.full_exchange",
        /// Relayed broadcasts passed on.
        Relayed = "rumor.relay.relayed",
    }
);

metrics!(
    /// Gauges (memberlist's `SetGauge`).
    Gauge {
        /// Lifeguard's health score.
        HealthScore = "memberlist.health.score",
        /// Bytes of the member list this node last sent in a push/pull.
        SizeLocal = "memberlist.size.local",
    }
);

metrics!(
    /// Histograms (memberlist's `AddSample` and `MeasureSince`, times in milliseconds).
    Histogram {
        /// Broadcasts waiting in the gossip queues, sampled each probe interval.
        QueueBroadcasts = "memberlist.queue.broadcasts",
        /// Bytes of the member list a peer sent in a push/pull.
        SizeRemote = "memberlist.size.remote",
        /// How long a probe took, from ping to ack or failure.
        ProbeNode = "memberlist.probeNode",
        /// How long a push/pull this node started took, from connect to merge.
        PushPullNode = "memberlist.pushPullNode",
    }
);

/// memberlist's `memberlist.node.instances` gauge: members by state, labelled `node_state`.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const INSTANCES: &str = "memberlist.node.instances";
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const NODE_STATES: [&str; 4] = ["alive", "suspect", "dead", "left"];

/// One node's registered metrics.
#[derive(Clone, Default)]
pub(crate) struct Metrics {
    #[cfg(feature = "metrics")]
    counters: alloc::vec::Vec<metrics::Counter>,
    #[cfg(feature = "metrics")]
    gauges: alloc::vec::Vec<metrics::Gauge>,
    #[cfg(feature = "metrics")]
    histograms: alloc::vec::Vec<metrics::Histogram>,
    #[cfg(feature = "metrics")]
    instances: alloc::vec::Vec<metrics::Gauge>,
}

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric with `labels` on the installed recorder.
    pub(crate) fn new(labels: &[(alloc::string::String, alloc::string::String)]) -> Self {
        #[cfg(feature = "metrics")]
        {
            use alloc::vec::Vec;
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|(k, v)| metrics::Label::new(k.clone(), v.clone()))
                .collect();
            let with = |extra: Option<(&'static str, &'static str)>| {
                let mut l = labels.clone();
                l.extend(extra.map(|(k, v)| metrics::Label::new(k, v)));
                l
            };
            Self {
                counters: Counter::NAMES
                    .iter()
                    .map(|&n| metrics::counter!(n, with(None)))
                    .collect(),
                gauges: Gauge::NAMES
                    .iter()
                    .map(|&n| metrics::gauge!(n, with(None)))
                    .collect(),
                histograms: Histogram::NAMES
                    .iter()
                    .map(|&n| metrics::histogram!(n, with(None)))
                    .collect(),
                instances: NODE_STATES
                    .iter()
                    .map(|&s| metrics::gauge!(INSTANCES, with(Some(("node_state", s)))))
                    .collect(),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = labels;
            Self {}
        }
    }

    /// Adds `n` to a counter.
    #[inline]
    pub(crate) fn count(&self, c: Counter, n: u64) {
        #[cfg(feature = "metrics")]
        self.counters[c as usize].increment(n);
        let _ = (c, n);
    }

    /// Sets a gauge.
    #[inline]
    pub(crate) fn gauge(&self, g: Gauge, v: f64) {
        #[cfg(feature = "metrics")]
        self.gauges[g as usize].set(v);
        let _ = (g, v);
    }

    /// Records a sample.
    #[inline]
    pub(crate) fn sample(&self, h: Histogram, v: f64) {
        #[cfg(feature = "metrics")]
        self.histograms[h as usize].record(v);
        let _ = (h, v);
    }

    /// Sets `memberlist.node.instances` for each state: alive, suspect, dead, left.
    #[inline]
    pub(crate) fn instances(&self, counts: [usize; 4]) {
        #[cfg(feature = "metrics")]
        for (g, n) in self.instances.iter().zip(counts) {
            g.set(n as f64);
        }
        let _ = counts;
    }
}
