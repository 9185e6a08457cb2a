//! The autopilot runtime: the async shell around the core. It gathers inputs from the
//! [`Raft`] node and the [`Application`], computes states on a schedule, runs reconcile
//! rounds and pruning (on a ticker and, by default, on events), and executes the
//! planned actions. Built on tokio; the only clock is tokio's, so tests run on a paused
//! clock.

mod activation;
mod autopilot;
mod builder;
mod clock;
mod execute;
mod executor;
mod inner;
mod loops;
mod membership;
mod metrics;
mod policy;
mod round;
#[cfg(feature = "testing")]
pub(crate) mod sim;
mod traits;
mod warnings;

pub use activation::PolicyWatch;
pub use autopilot::{Autopilot, Counters, Status};
pub use builder::{AutopilotBuilder, DEFAULT_RECONCILE_INTERVAL, DEFAULT_UPDATE_INTERVAL};
pub use clock::Clock;
pub use membership::MembershipError;
pub use metrics::{Histogram, Metrics, POLICY_CALL_BUCKETS, PolicyFunction};
pub use policy::{PolicyRecord, PolicySource};
pub use round::Round;
pub use traits::{Application, Raft, RaftError, StoreError};
