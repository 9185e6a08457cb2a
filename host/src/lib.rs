//! Autopilot for Raft clusters.
//!
//! Autopilot watches every server's health, promotes new servers from non-voter to
//! voter once they have proved stable, demotes, transfers leadership and removes dead
//! or stale servers without costing the cluster its quorum. It reproduces the
//! behaviour of HashiCorp's `raft-autopilot`, with the placement policy (the
//! [`Policy`]) pluggable: the built-in stable policy, a native one of yours, or a
//! WebAssembly component swapped in while the node runs.
//!
//! # Embedding autopilot
//!
//! Implement [`Raft`] for your Raft node and [`Application`] for your service, build an
//! [`Autopilot`] and start it on the leader. Every trait method's contract, and what
//! autopilot does when an input is missing, is in `docs/embedding.md`. A toy cluster,
//! run on tokio's paused clock:
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use autopilot::{
//!     Application, Autopilot, Config, LastContact, NodeStatus, Raft, RaftConfiguration,
//!     RaftError, RaftServer, Server, ServerId, ServerStats, State, Suffrage,
//! };
//!
//! /// The cluster's Raft configuration, shared by the node and the service.
//! #[derive(Clone, Default)]
//! struct Toy(Arc<Mutex<RaftConfiguration>>);
//!
//! impl Toy {
//!     fn set(&self, id: &ServerId, address: &str, suffrage: Suffrage) {
//!         let mut raft = self.0.lock().unwrap();
//!         raft.servers.retain(|s| &s.id != id);
//!         raft.servers.push(RaftServer { suffrage, id: id.clone(), address: address.into() });
//!     }
//!     fn suffrage(&self, id: &str) -> Option<Suffrage> {
//!         let raft = self.0.lock().unwrap();
//!         raft.servers.iter().find(|s| s.id.as_str() == id).map(|s| s.suffrage)
//!     }
//! }
//!
//! // The node autopilot drives: membership changes and what the log says.
//! impl Raft for Toy {
//!     async fn add_nonvoter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
//!         self.set(id, address, Suffrage::Nonvoter);
//!         Ok(())
//!     }
//!     async fn add_voter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
//!         self.set(id, address, Suffrage::Voter);
//!         Ok(())
//!     }
//!     async fn demote_voter(&self, id: &ServerId) -> Result<(), RaftError> {
//!         self.set(id, &format!("{id}:7000"), Suffrage::Nonvoter);
//!         Ok(())
//!     }
//!     async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
//!         self.0.lock().unwrap().servers.retain(|s| &s.id != id);
//!         Ok(())
//!     }
//!     async fn transfer_leadership(&self, _: &ServerId, _: &str) -> Result<(), RaftError> {
//!         Err(RaftError::Unsupported("no leadership transfer here".into()))
//!     }
//!     async fn configuration(&self) -> Result<RaftConfiguration, RaftError> {
//!         Ok(self.0.lock().unwrap().clone())
//!     }
//!     async fn last_index(&self) -> u64 { 40 }
//!     async fn last_term(&self) -> Result<u64, RaftError> { Ok(2) }
//!     async fn leader_address(&self) -> Option<String> { Some("a:7000".into()) }
//!     async fn is_leader(&self) -> bool { true }
//! }
//!
//! // The service: its config, the servers it knows, their replication figures.
//! impl Application for Toy {
//!     async fn autopilot_config(&self) -> Option<Config> {
//!         Some(Config::default())
//!     }
//!     async fn known_servers(&self) -> BTreeMap<ServerId, Server> {
//!         let raft = self.0.lock().unwrap();
//!         raft.servers
//!             .iter()
//!             .map(|s| (s.id.clone(), Server::new(s.id.clone(), s.address.clone(), NodeStatus::Alive)))
//!             .collect()
//!     }
//!     async fn fetch_server_stats(
//!         &self,
//!         servers: &BTreeMap<ServerId, Server>,
//!         _budget: Duration,
//!     ) -> BTreeMap<ServerId, ServerStats> {
//!         // Every follower is caught up; the leader's own figures autopilot fills in.
//!         let stats = ServerStats {
//!             last_contact: LastContact::from_duration(Duration::from_millis(10)),
//!             last_term: 2,
//!             last_index: 40,
//!         };
//!         servers.keys().filter(|id| id.as_str() != "a").map(|id| (id.clone(), stats)).collect()
//!     }
//!     fn notify_state(&self, _state: &State) {}
//!     async fn remove_failed_server(&self, server: &Server) {
//!         // Forget it and take it out of Raft, as `consul force-leave` does.
//!         self.0.lock().unwrap().servers.retain(|s| s.id != server.id);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), autopilot::MembershipError> {
//! let toy = Toy::default();
//! for id in ["a", "b", "c"] {
//!     toy.set(&id.into(), &format!("{id}:7000"), Suffrage::Voter);
//! }
//! let autopilot = Autopilot::builder(toy.clone(), toy.clone()).build();
//! autopilot.start().await; // on gaining leadership
//!
//! // A new server joins as a non-voter and is promoted once stable (10 s by default).
//! autopilot.add_server(&Server::new("d", "d:7000", NodeStatus::Alive)).await?;
//! assert_eq!(toy.suffrage("d"), Some(Suffrage::Nonvoter));
//! tokio::time::sleep(Duration::from_secs(15)).await;
//! assert_eq!(toy.suffrage("d"), Some(Suffrage::Voter));
//! assert_eq!(autopilot.state().failure_tolerance, 1);
//!
//! autopilot.stop().await; // on losing it
//! # Ok(())
//! # }
//! ```
//!
//! # The parts
//!
//! Everything is at the crate root, one path to each item:
//!
//! - the sans-IO decisions: [`compute_state`] builds a [`State`] from gathered
//!   [`StateInputs`]; [`plan_reconcile`], [`plan_prune`] and [`plan_add_server`] turn
//!   it into [`Action`]s; [`Policy`] is the placement policy's boundary and
//!   [`check_decisions`] the safety rules every answer passes;
//! - the tokio shell around them: [`Autopilot`], [`Raft`], [`Application`];
//! - the WebAssembly host that loads policy components: [`PluginHost`],
//!   [`ComponentPolicy`];
//! - [`plan`]: the `autopilot plan` dry run over a JSON snapshot:
//!
//! ```
//! use autopilot::StablePolicy;
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

mod core;
#[cfg(feature = "openraft")]
pub mod openraft;
pub mod plan;
mod plugin;
mod runtime;

// One path to each item: the core's types and functions, the runtime and the plugin
// host all at the root.
pub use crate::core::*;
pub use crate::plugin::{
    ArtifactCache, ComponentPolicy, DEFAULT_FUEL, POLICY_INTERFACE, PluginError, PluginHost,
    PluginHostConfig, PluginLimits, PolicyInfo, engine_fingerprint, sha256_hex,
};
pub use crate::runtime::{
    Application, Autopilot, AutopilotBuilder, Clock, Counters, DEFAULT_RECONCILE_INTERVAL,
    DEFAULT_UPDATE_INTERVAL, Histogram, MembershipError, Metrics, POLICY_CALL_BUCKETS,
    PolicyFunction, PolicyRecord, PolicySource, PolicyWatch, Raft, RaftError, Round, Status,
    StoreError,
};

/// Test support (cargo feature `testing`): [`SimCluster`](testing::SimCluster), an
/// in-memory cluster implementing [`Raft`] and [`Application`], with lag, failures,
/// slow calls and leader changes to inject, for testing an embedding or a policy on
/// tokio's paused clock.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::runtime::sim::{Call, CallKind, SimCluster};
}
