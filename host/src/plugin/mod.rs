//! The WebAssembly policy host: loads policy components (checked, compiled once and
//! cached), runs each call in a fresh sandboxed instance with a fuel budget, a
//! wall-clock backstop and a memory cap, validates what comes back, and presents a
//! component as the core's [`Policy`](crate::core::Policy). Calls block the calling
//! thread; this module knows nothing of async runtimes.

mod bindings;
mod cache;
mod component;
mod contract;
mod convert;
mod engine;
mod error;
mod host;
mod inert;
mod sandbox;
mod validate;

pub use cache::{ArtifactCache, engine_fingerprint, sha256_hex};
pub use component::{ComponentPolicy, PolicyInfo};
pub use contract::POLICY_INTERFACE;
pub use engine::{DEFAULT_FUEL, PluginLimits};
pub use error::PluginError;
pub use host::{PluginHost, PluginHostConfig};
