//! The WebAssembly policy host: loads promoter components (checked, compiled once and
//! cached), runs each call in a fresh sandboxed instance with a CPU deadline and a
//! memory cap, validates what comes back, and adapts a component to the core's
//! [`Promoter`](crate::core::Promoter) trait with a fallback to the stable policy.

mod bindings;
mod cache;
mod component;
mod convert;
mod error;
mod host;
mod sandbox;
mod validate;

pub use cache::{ArtifactCache, engine_fingerprint, sha256_hex};
pub use component::{ComponentPolicy, ComponentPromoter, PolicyInfo};
pub use error::PluginError;
pub use host::{POLICY_INTERFACE, PluginHost, PluginHostConfig, PluginLimits};
pub use validate::Decisions;
