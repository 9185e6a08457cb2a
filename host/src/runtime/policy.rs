//! Swapping the placement policy while autopilot runs: where a policy comes from, the
//! record that makes every leader run the same one, the slot rounds read atomically,
//! rollback after repeated faults, and the history operators see.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::{
    ActivePolicy, LoadingPolicy, Policy, PolicyEvent, PolicyFault, PolicyStatus, StablePolicy,
    Timestamp,
};
use crate::plugin::{PluginError, sha256_hex};

/// Where a policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The built-in stable policy.
    Builtin,
    /// A component's bytes.
    Bytes(Vec<u8>),
    /// A component file.
    Path(PathBuf),
}

impl PolicySource {
    /// A short description for logs and history.
    pub fn describe(&self) -> String {
        match self {
            Self::Builtin => "the built-in stable policy".to_owned(),
            Self::Bytes(bytes) => format!("component sha256:{}", sha256_hex(bytes)),
            Self::Path(path) => format!("component file {}", path.display()),
        }
    }
}

/// What the application stores in its replicated state so that whichever node leads
/// runs the same policy: the component's digest and its bytes (or the built-in policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Kind")]
pub enum PolicyRecord {
    /// The built-in stable policy.
    Builtin,
    /// A component, carried in full.
    Component {
        /// sha256 of `bytes`, hex; checked when the record is loaded.
        #[serde(rename = "Digest")]
        digest: String,
        /// The component's bytes (base64 in JSON: a third larger, not four times as
        /// an array of numbers would be).
        #[serde(rename = "Bytes", with = "crate::core::json::base64_bytes")]
        bytes: Vec<u8>,
    },
}

impl PolicyRecord {
    /// The record for a component's bytes.
    pub fn component(bytes: Vec<u8>) -> Self {
        Self::Component {
            digest: sha256_hex(&bytes),
            bytes,
        }
    }

    /// The policy source, after checking the digest.
    pub fn source(&self) -> Result<PolicySource, PluginError> {
        match self {
            Self::Builtin => Ok(PolicySource::Builtin),
            Self::Component { digest, bytes } => {
                let actual = sha256_hex(bytes);
                if &actual == digest {
                    Ok(PolicySource::Bytes(bytes.clone()))
                } else {
                    Err(PluginError::Invalid(format!(
                        "policy record digest {digest} does not match its bytes ({actual})"
                    )))
                }
            }
        }
    }
}

/// The policy rounds use: taken whole at the start of a round, so a swap during a
/// round takes effect at the next one.
#[derive(Clone)]
pub(crate) struct PolicySlot {
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) record: PolicyRecord,
    pub(crate) active: ActivePolicy,
}

impl PolicySlot {
    pub(crate) fn builtin(since: Timestamp) -> Self {
        Self::native(Arc::new(StablePolicy), since)
    }

    /// A native policy (not recorded for other leaders: they run their own).
    pub(crate) fn native(policy: Arc<dyn Policy>, since: Timestamp) -> Self {
        let metadata = policy.metadata();
        Self {
            policy,
            record: PolicyRecord::Builtin,
            active: ActivePolicy {
                name: metadata.name,
                version: metadata.version,
                digest: None,
                since,
            },
        }
    }

    /// Whether `other` is the same policy (not merely an equal one).
    pub(crate) fn is(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.policy, &other.policy)
    }

    pub(crate) fn label(&self) -> String {
        match &self.active.digest {
            Some(digest) => format!(
                "{} {} (sha256:{})",
                self.active.name,
                self.active.version,
                digest.get(..12).unwrap_or(digest)
            ),
            None => format!("{} {}", self.active.name, self.active.version),
        }
    }
}

/// The active policy, the last good one, the fault streak and the history.
pub(crate) struct PolicyManager {
    pub(crate) slot: PolicySlot,
    pub(crate) previous_good: Option<PolicySlot>,
    pub(crate) faults_in_a_row: u32,
    pub(crate) history: VecDeque<PolicyEvent>,
    pub(crate) history_len: usize,
    /// Every event so far, by outcome (`swapped`, `refused`, `rolled-back`), however
    /// short the history.
    pub(crate) outcomes: std::collections::BTreeMap<&'static str, u64>,
    /// Policies being loaded, each under the number it was registered with.
    pub(crate) loading: Vec<(u64, LoadingPolicy)>,
    /// The number the next load registers under.
    pub(crate) next_load: u64,
}

impl PolicyManager {
    pub(crate) fn new(slot: PolicySlot, history_len: usize) -> Self {
        Self {
            slot,
            previous_good: None,
            faults_in_a_row: 0,
            history: VecDeque::new(),
            history_len,
            outcomes: std::collections::BTreeMap::new(),
            loading: Vec::new(),
            next_load: 0,
        }
    }

    pub(crate) fn record(&mut self, event: PolicyEvent) {
        let outcome = match &event {
            PolicyEvent::Swapped { .. } => "swapped",
            PolicyEvent::Refused { .. } => "refused",
            PolicyEvent::RolledBack { .. } => "rolled-back",
        };
        *self.outcomes.entry(outcome).or_default() += 1;
        if self.history_len == 0 {
            return;
        }
        while self.history.len() >= self.history_len {
            self.history.pop_front();
        }
        self.history.push_back(event);
    }

    /// Notes a policy being loaded; returns the number to end it with.
    pub(crate) fn start_loading(&mut self, source: String, since: Timestamp) -> u64 {
        let number = self.next_load;
        self.next_load += 1;
        self.loading.push((number, LoadingPolicy { source, since }));
        number
    }

    /// Ends the load registered under `number`.
    pub(crate) fn done_loading(&mut self, number: u64) {
        self.loading.retain(|(n, _)| *n != number);
    }

    pub(crate) fn status(&self) -> PolicyStatus {
        PolicyStatus {
            loading: self.loading.iter().map(|(_, l)| l.clone()).collect(),
            active: self.slot.active.clone(),
            history: self.history.clone(),
        }
    }

    /// Switches `slot` in, keeping the current one as the fallback for rollback.
    pub(crate) fn swap(&mut self, slot: PolicySlot, at: Timestamp) {
        let to = slot.label();
        let old = std::mem::replace(&mut self.slot, slot);
        self.previous_good = Some(old);
        self.faults_in_a_row = 0;
        self.record(PolicyEvent::Swapped { at, to });
    }

    /// Counts a round of the active policy with its faults; after `limit` faulty
    /// rounds in a row, reverts to the previous good policy (or the built-in one).
    /// Returns whether it rolled back.
    pub(crate) fn observe(&mut self, faults: &[PolicyFault], limit: u32, at: Timestamp) -> bool {
        let Some(last) = faults.iter().rev().find(|f| f.blames_policy()) else {
            self.faults_in_a_row = 0;
            return false;
        };
        self.faults_in_a_row += 1;
        if limit == 0 || self.faults_in_a_row < limit {
            return false;
        }
        let reason = last.to_string();
        let from = self.slot.label();
        let mut replacement = self
            .previous_good
            .take()
            .unwrap_or_else(|| PolicySlot::builtin(at));
        replacement.active.since = at;
        let to = replacement.label();
        tracing::warn!(%from, %to, %reason, "policy rolled back after repeated faults");
        self.slot = replacement;
        self.faults_in_a_row = 0;
        self.record(PolicyEvent::RolledBack {
            at,
            from,
            to,
            reason,
        });
        true
    }
}
