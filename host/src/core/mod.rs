//! The sans-IO autopilot core: state building, the policy boundary and its safety
//! rules, reconcile and pruning planning, and the membership helpers. Every function
//! here is a pure function of its inputs and a `now` passed in; nothing reads a clock,
//! performs I/O or knows about tokio, Raft engines or WebAssembly.

pub(crate) mod action;
pub(crate) mod changes;
pub(crate) mod compute;
pub(crate) mod config;
pub(crate) mod ids;
pub(crate) mod json;
pub(crate) mod membership;
pub(crate) mod policy;
pub(crate) mod policy_status;
pub(crate) mod prune;
pub(crate) mod reasons;
pub(crate) mod reconcile;
pub(crate) mod safety;
pub(crate) mod server;
pub(crate) mod servers;
pub(crate) mod state;
pub(crate) mod text;
pub(crate) mod time;

pub use action::Action;
pub use changes::{FailedServers, RaftChanges};
pub use compute::{StateInputs, build_state, compute_round, compute_state, is_healthy, leader_id};
pub use config::Config;
pub use ids::{NodeStatus, NodeType, RaftState, ServerId, Suffrage};
pub use membership::{
    AddServerError, apply_action, apply_actions, plan_add_server, plan_remove_server,
};
pub use policy::{
    Answer, Consulted, Decisions, Policy, PolicyFault, PolicyMetadata, StablePolicy, annotate,
    consult_decide, consult_decide_async, consult_filter, consult_filter_async,
    distinct_node_types, judged_node_types, next_stable, stable_changes, stable_potential_voter,
};
pub use policy_status::{ActivePolicy, LoadingPolicy, PolicyEvent, PolicyStatus};
pub use prune::{
    PruneCandidates, PrunePlan, VoterRegistry, adjudicate_removal, find_failed_servers, plan_prune,
    prune_candidates, prune_node_types,
};
pub use reasons::{Kept, Reason, Unhealthy, explain, explain_state, unhealthy_because};
pub use reconcile::{ReconcileError, plan_reconcile};
pub use safety::{SafetyViolation, check_decisions};
pub use server::{
    LastContact, RaftConfiguration, RaftServer, Server, ServerHealth, ServerState, ServerStats,
};
pub use servers::Servers;
pub use state::{State, compare_servers, sort_servers};
pub use text::Text;
pub use time::Timestamp;
