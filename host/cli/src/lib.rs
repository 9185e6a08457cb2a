//! The `autopilot` command's library: the demo service on which `autopilot demo` and
//! `autopilot node` run, and the shipped policy components the command embeds.
//!
//! The demo service is a replicated key-value store on openraft (0.9) that also
//! replicates the registry of servers and the autopilot policy (its digest in the log,
//! its bytes beside it: [`blobs`]). Each node
//! answers the RPCs of [`network`] over TCP (each connection authenticated with the
//! cluster key, [`link`]), probes its peers' liveness, and runs
//! autopilot (through [`autopilot::openraft::OpenraftNode`]) whenever it leads. It is
//! an example of embedding autopilot, and the cluster the demo and the end-to-end
//! tests drive; it is not a production key-value store (its log lives in memory).

pub mod blobs;
pub mod client;
pub mod disk;
pub mod http;
pub mod link;
pub mod netfaults;
pub mod network;
mod service;
mod store;
pub mod toolchain;
mod types;

pub use service::{DemoApplication, DemoNode, NodeOptions};
pub use store::{LogStore, StateMachine};
pub use types::{
    ConfigRecord, Data, KvEntry, NodeId, Registered, Request, Response, StoredPolicy, TypeConfig,
};

/// The shipped policy components, built from `promoters/` for `wasm32-wasip2` by the
/// build script.
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/promoters.rs"));
}
