//! What the runtime measures beyond its counters: actions by operation, policy calls by
//! function and outcome with their durations, and policy swaps by outcome. The loops
//! record into a [`Recorder`]; [`Autopilot::metrics`](super::Autopilot::metrics) hands
//! out a [`Metrics`] copy for an exporter (the `autopilot` command's `/metrics`).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::core::PolicyFault;

/// The upper bounds (seconds) of the policy-call duration buckets: 50 µs to 1 s, about
/// three a decade (a native call takes microseconds, a component tens of them, a
/// policy near its budget hundreds of milliseconds).
pub const POLICY_CALL_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// A duration histogram as of one instant: cumulative counts per upper bound
/// (Prometheus's layout; the last bound is `+Inf`), their sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(upper bound in seconds, observations at or under it)`, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of the observations, in seconds.
    pub sum: f64,
    /// How many observations.
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        HistogramCounts::default().snapshot()
    }
}

/// A policy function, as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyFunction {
    /// `decide`: one round's decisions.
    Decide,
    /// `filter-removals`: which failed servers may go.
    FilterRemovals,
}

impl PolicyFunction {
    /// The contract's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decide => "decide",
            Self::FilterRemovals => "filter-removals",
        }
    }
}

/// What the runtime measured, as of one instant (see
/// [`Autopilot::metrics`](super::Autopilot::metrics)). Every count only grows while the
/// handle lives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Actions executed successfully, by operation ([`Action::op`](crate::Action::op)).
    pub actions: BTreeMap<&'static str, u64>,
    /// Policy calls by function and outcome: `ok`, or the fault's kind
    /// ([`PolicyFault::kind`], e.g. `out-of-fuel`, `unsafe-answer`). A call with a
    /// fault was answered by the stable policy instead (a fallback).
    pub policy_calls: BTreeMap<(PolicyFunction, &'static str), u64>,
    /// How long policy calls took, wall time (both functions, every outcome).
    pub policy_call_seconds: Histogram,
    /// Policy changes by outcome: `swapped`, `refused`, `rolled-back`.
    pub policy_swaps: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct HistogramCounts {
    /// One count per bound of [`POLICY_CALL_BUCKETS`], then the overflow.
    counts: [u64; POLICY_CALL_BUCKETS.len() + 1],
    sum: f64,
}

impl HistogramCounts {
    fn observe(&mut self, seconds: f64) {
        let bucket = POLICY_CALL_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(POLICY_CALL_BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
    }

    fn snapshot(&self) -> Histogram {
        let mut total = 0;
        let buckets = POLICY_CALL_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts)
            .map(|(bound, count)| {
                total += count;
                (bound, total)
            })
            .collect();
        Histogram {
            buckets,
            sum: self.sum,
            count: total,
        }
    }
}

#[derive(Debug, Default)]
struct Recorded {
    actions: BTreeMap<&'static str, u64>,
    policy_calls: BTreeMap<(PolicyFunction, &'static str), u64>,
    durations: HistogramCounts,
}

/// Where the loops record; one short lock per event.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Mutex<Recorded>);

impl Recorder {
    fn with(&self, f: impl FnOnce(&mut Recorded)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// An action that succeeded.
    pub(crate) fn action(&self, op: &'static str) {
        self.with(|r| *r.actions.entry(op).or_default() += 1);
    }

    /// A policy call, its outcome and how long it took.
    pub(crate) fn policy_call(
        &self,
        function: PolicyFunction,
        fault: Option<&PolicyFault>,
        took: Duration,
    ) {
        let outcome = fault.map_or("ok", PolicyFault::kind);
        self.with(|r| {
            *r.policy_calls.entry((function, outcome)).or_default() += 1;
            r.durations.observe(took.as_secs_f64());
        });
    }

    /// A copy of everything recorded, with the policy changes counted elsewhere.
    pub(crate) fn snapshot(&self, policy_swaps: BTreeMap<&'static str, u64>) -> Metrics {
        let r = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Metrics {
            actions: r.actions.clone(),
            policy_calls: r.policy_calls.clone(),
            policy_call_seconds: r.durations.snapshot(),
            policy_swaps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_infinity() {
        let recorder = Recorder::default();
        for micros in [10, 60, 60, 2_000, 3_000_000] {
            recorder.policy_call(PolicyFunction::Decide, None, Duration::from_micros(micros));
        }
        let h = recorder.snapshot(BTreeMap::new()).policy_call_seconds;
        assert_eq!(h.count, 5);
        assert!((h.sum - 3.002_13).abs() < 1e-9, "{}", h.sum);
        let at = |bound: f64| h.buckets.iter().find(|(b, _)| *b == bound).map(|(_, c)| *c);
        assert_eq!(at(0.000_05), Some(1));
        assert_eq!(at(0.000_1), Some(3));
        assert_eq!(at(0.002_5), Some(4));
        assert_eq!(at(1.0), Some(4));
        assert_eq!(h.buckets.last(), Some(&(f64::INFINITY, 5)));
    }

    #[test]
    fn calls_are_counted_by_function_and_outcome() {
        let recorder = Recorder::default();
        let fault = PolicyFault::Failed {
            kind: "out-of-fuel",
            message: "fuel".into(),
            blames_policy: true,
        };
        recorder.policy_call(PolicyFunction::Decide, None, Duration::ZERO);
        recorder.policy_call(PolicyFunction::Decide, Some(&fault), Duration::ZERO);
        recorder.policy_call(PolicyFunction::FilterRemovals, None, Duration::ZERO);
        recorder.action("AddVoter");
        let m = recorder.snapshot(BTreeMap::new());
        assert_eq!(m.policy_calls[&(PolicyFunction::Decide, "ok")], 1);
        assert_eq!(m.policy_calls[&(PolicyFunction::Decide, "out-of-fuel")], 1);
        assert_eq!(m.policy_calls[&(PolicyFunction::FilterRemovals, "ok")], 1);
        assert_eq!(m.actions["AddVoter"], 1);
    }
}
