//! Autopilot for Raft clusters.
//!
//! Autopilot watches every server's health, promotes new servers from non-voter to
//! voter once they have proved stable, demotes, transfers leadership and removes dead
//! or stale servers without costing the cluster its quorum. It reproduces the
//! behaviour of HashiCorp's `raft-autopilot`, with the placement policy (the
//! [`Policy`](core::Policy)) pluggable.
//!
//! The crate is split the way the work is:
//! - [`core`]: the sans-IO decisions. [`compute_state`](core::compute_state) builds a
//!   [`State`](core::State) from gathered [`StateInputs`](core::StateInputs);
//!   [`plan_reconcile`](core::plan_reconcile), [`plan_prune`](core::plan_prune) and
//!   [`plan_add_server`](core::plan_add_server) turn it into [`Action`](core::Action)s.
//! - [`plan`]: the `autopilot plan` dry run over a JSON snapshot.
//!
//! ```
//! use autopilot::core::StablePolicy;
//! use autopilot::plan::{parse_snapshot, plan_round};
//!
//! let snapshot = r#"{
//!   "Now": "2020-11-02T15:00:00Z", "FirstStateTime": "2020-11-02T13:00:00Z",
//!   "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200000000,
//!              "MaxTrailingLogs": 200, "MinQuorum": 3, "ServerStabilizationTime": 10000000000},
//!   "RaftConfig": {"Servers": [{"Suffrage": 0, "ID": "a", "Address": "10.0.0.1:8300"}]},
//!   "KnownServers": {"a": {"ID": "a", "NodeStatus": "alive"}},
//!   "IsLeader": true, "LatestIndex": 10, "LastTerm": 2, "LeaderID": "a",
//!   "FetchedStats": {"a": {"LastTerm": 2, "LastIndex": 10}}
//! }"#;
//! let inputs = parse_snapshot(snapshot)?;
//! let plan = plan_round(&inputs, &StablePolicy);
//! assert!(plan.state.healthy);
//! assert!(plan.actions.is_empty());
//! # Ok::<(), autopilot::plan::SnapshotError>(())
//! ```

pub mod core;
#[cfg(feature = "sdk")]
pub mod native;
#[cfg(feature = "openraft")]
pub mod openraft;
pub mod plan;
pub mod plugin;
pub mod runtime;

/// The shipped policy components, built from `promoters/` by the build script.
#[cfg(feature = "openraft")]
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/promoters.rs"));
}
