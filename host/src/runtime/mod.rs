//! The autopilot runtime: the async shell around the core. It gathers inputs from the
//! [`Raft`] node and the [`Application`], computes states on a schedule, runs reconcile
//! rounds and pruning (on a ticker and, by default, on events), and executes the
//! planned actions. Built on tokio; the only clock is tokio's, so tests run on a paused
//! clock.

mod autopilot;
mod clock;
mod execute;
mod executor;
mod loops;
mod policy;
pub mod sim;
mod traits;
mod warnings;

pub use autopilot::{
    Autopilot, AutopilotBuilder, Counters, DEFAULT_RECONCILE_INTERVAL, DEFAULT_UPDATE_INTERVAL,
    MembershipError, PolicyWatch, Status,
};
pub use clock::Clock;
pub use policy::{PolicyRecord, PolicySource};
pub use traits::{Application, Raft, RaftError};
