//! Autopilot on openraft: the [`OpenraftNode`] adapter implementing the runtime's
//! `Raft` trait, and the demo service (a replicated key-value store over TCP on which
//! the `autopilot demo` and `autopilot node` commands run).
//!
//! openraft 0.9 (0.9.25): the stable line that builds with our pinned toolchain; the
//! 0.10 alphas add leadership transfer but are not released. Without it the adapter
//! refuses transfers, the closest safe equivalent (see `adapter.rs`).

mod adapter;
pub mod network;
mod service;
mod store;
mod types;

pub use adapter::{OpenraftNode, node_id};
pub use service::{DemoApplication, DemoNode, NodeOptions};
pub use store::{LogStore, StateMachine};
pub use types::{Data, NodeId, Registered, Request, Response, TypeConfig};
