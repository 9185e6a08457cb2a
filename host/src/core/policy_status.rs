//! What an operator sees of the placement policy: which one is active, since when, and
//! a bounded history of swaps, refusals and rollbacks.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::time::{Timestamp, rfc3339};

/// The active placement policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePolicy {
    /// Its name (`stable` for the built-in policy).
    #[serde(rename = "Name")]
    pub name: String,
    /// Its version.
    #[serde(rename = "Version")]
    pub version: String,
    /// The component's sha256 (`None` for the built-in policy).
    #[serde(rename = "Digest")]
    pub digest: Option<String>,
    /// When it became active.
    #[serde(rename = "ActiveSince", with = "rfc3339")]
    pub since: Timestamp,
}

/// What happened to the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Kind")]
pub enum PolicyEvent {
    /// A new policy was switched in.
    Swapped {
        /// When.
        #[serde(rename = "At", with = "rfc3339")]
        at: Timestamp,
        /// The policy switched in (`name version`, and digest when a component).
        #[serde(rename = "To")]
        to: String,
    },
    /// A policy was refused; the running one stayed.
    Refused {
        /// When.
        #[serde(rename = "At", with = "rfc3339")]
        at: Timestamp,
        /// What was offered.
        #[serde(rename = "Source")]
        source: String,
        /// Why it was refused.
        #[serde(rename = "Reason")]
        reason: String,
    },
    /// The active policy kept faulting and was replaced by the previous good one.
    RolledBack {
        /// When.
        #[serde(rename = "At", with = "rfc3339")]
        at: Timestamp,
        /// The faulting policy.
        #[serde(rename = "From")]
        from: String,
        /// The policy now active.
        #[serde(rename = "To")]
        to: String,
        /// The last fault.
        #[serde(rename = "Reason")]
        reason: String,
    },
}

/// The active policy and what happened to it lately (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// The active policy.
    #[serde(rename = "Active")]
    pub active: ActivePolicy,
    /// Recent events, oldest first, bounded.
    #[serde(rename = "History")]
    pub history: VecDeque<PolicyEvent>,
    /// Policies being loaded (read, compiled, checked) for a swap or a preview right
    /// now, oldest first: a large component takes seconds to compile, beside the
    /// rounds. Absent from JSON when none.
    #[serde(rename = "Loading", default, skip_serializing_if = "Vec::is_empty")]
    pub loading: Vec<LoadingPolicy>,
}

/// A policy being loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadingPolicy {
    /// What is being loaded (a path, or the size and digest of uploaded bytes).
    #[serde(rename = "Source")]
    pub source: String,
    /// Since when.
    #[serde(rename = "Since", with = "rfc3339")]
    pub since: Timestamp,
}
