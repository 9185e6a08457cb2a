//! Changing the placement policy of a running autopilot: native swaps, component
//! activation (load, check, dry run, store, swap) and watching a component file.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::autopilot::Autopilot;
use super::executor::{WorkError, off_executor};
use super::inner::Inner;
use super::policy::{PolicyRecord, PolicySlot, PolicySource};
use super::traits::{Application, Raft};
use crate::core::{
    ActivePolicy, Policy, PolicyEvent, PolicyStatus, Timestamp, check_decisions, judged_node_types,
};
use crate::plan::{Plan, plan_round};
use crate::plugin::{ArtifactCache, PluginError, PluginHost, PluginHostConfig, sha256_hex};

/// A running policy-file watch; dropping it stops the watch.
#[derive(Debug)]
pub struct PolicyWatch(tokio::task::JoinHandle<()>);

impl Drop for PolicyWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<R: Raft, A: Application> Autopilot<R, A> {
    /// Replaces the placement policy with a native one; the next round uses it (a
    /// round in flight finishes with the policy it started with). Its answers pass the
    /// same safety rules as a component's.
    pub fn set_native_policy(&self, policy: Arc<dyn Policy>) {
        let now = self.inner.clock.now();
        self.inner
            .policy()
            .swap(PolicySlot::native(policy, now), now);
        self.inner.reconcile_trigger.notify_one();
    }

    /// Switches to another placement policy while running. A component is loaded
    /// (compiled, or taken from the artifact cache), checked, and dry-run on the
    /// current state; only if all that succeeds, and the application has stored the
    /// [`PolicyRecord`] (so the next leader runs it too), is it switched in. Rounds in
    /// flight finish with the policy they started with. On refusal the running policy
    /// stays, and the reason is returned and recorded in the history.
    pub async fn set_policy(&self, source: PolicySource) -> Result<ActivePolicy, PluginError> {
        self.activate(source, true).await
    }

    /// What a candidate policy would do, swapping nothing: it is loaded, checked and
    /// dry-run as [`Autopilot::set_policy`] does, then run on the latest round's inputs
    /// ([`Autopilot::last_round`]) as `autopilot plan` would. The answer is that plan:
    /// the state, the actions, the reasons, and any fault of the candidate's.
    ///
    /// # Errors
    /// Whatever [`Autopilot::set_policy`] would refuse the candidate for; and
    /// [`PluginError::Host`] before the first round (nothing to run it on).
    pub async fn preview_policy(&self, source: PolicySource) -> Result<Plan, PluginError> {
        let Some(round) = self.last_round() else {
            return Err(PluginError::Host(
                "no reconcile round has run yet: nothing to preview the policy on".into(),
            ));
        };
        let slot = self.prepare(source).await?;
        let policy = slot.policy;
        self.inner
            .policy_lane
            .run(move || plan_round(&round.inputs, &*policy))
            .await
            .map_err(|e| PluginError::Host(format!("the preview failed: {e}")))
    }

    /// The active policy and its recent history.
    pub fn policy_status(&self) -> PolicyStatus {
        self.inner.policy().status()
    }

    /// Watches a component file: when its content changes and then stays the same for
    /// `debounce`, it is swapped in through [`Autopilot::set_policy`]. A file that
    /// cannot be used leaves the running policy in place (the refusal is in the
    /// history). The watch ends when the returned handle is dropped.
    pub fn watch_policy_file(&self, path: PathBuf, debounce: Duration) -> PolicyWatch {
        let autopilot = self.clone();
        PolicyWatch(tokio::spawn(async move {
            let mut active: Option<String> = None;
            let mut last_error: Option<String> = None;
            loop {
                tokio::time::sleep(debounce).await;
                let Ok(first) = std::fs::read(&path) else {
                    continue;
                };
                let digest = sha256_hex(&first);
                if active.as_ref() == Some(&digest) {
                    continue;
                }
                // Debounce: the content must stay the same for a whole period.
                tokio::time::sleep(debounce).await;
                match std::fs::read(&path) {
                    Ok(second) if second == first => {}
                    _ => continue,
                }
                active = Some(digest);
                match autopilot.set_policy(PolicySource::Bytes(first)).await {
                    Ok(policy) => {
                        last_error = None;
                        tracing::info!(name = %policy.name, version = %policy.version, "policy file swapped in");
                    }
                    Err(error) => {
                        if last_error.as_deref() != Some(&error.to_string()) {
                            tracing::warn!(path = %path.display(), %error, "policy file refused");
                        }
                        last_error = Some(error.to_string());
                    }
                }
            }
        }))
    }

    fn plugin_host(&self) -> Result<PluginHost, PluginError> {
        let mut host = self
            .inner
            .plugin_host
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(host) = host.as_ref() {
            return Ok(host.clone());
        }
        let created = PluginHost::new(PluginHostConfig {
            cache: ArtifactCache::default_location(),
            ..PluginHostConfig::default()
        })?;
        *host = Some(created.clone());
        Ok(created)
    }

    pub(crate) async fn activate(
        &self,
        source: PolicySource,
        store: bool,
    ) -> Result<ActivePolicy, PluginError> {
        let description = source.describe();
        let result = self.prepare(source).await;
        let result = match result {
            Ok(slot) if store => match self.inner.app.store_policy(&slot.record).await {
                Ok(()) => Ok(slot),
                Err(e) => Err(PluginError::Host(format!(
                    "cannot store the policy record: {e}"
                ))),
            },
            other => other,
        };
        let now = self.inner.clock.now();
        match result {
            Ok(slot) => {
                let active = slot.active.clone();
                self.inner.policy().swap(slot, now);
                self.inner.reconcile_trigger.notify_one();
                Ok(active)
            }
            Err(error) => {
                tracing::warn!(source = %description, %error, "policy refused");
                self.inner.policy().record(PolicyEvent::Refused {
                    at: now,
                    source: description,
                    reason: error.to_string(),
                });
                Err(error)
            }
        }
    }

    /// Loads, checks and dry-runs a policy, off the async executor: the file read
    /// (bounded by the component size limit), the compile (or cache load) and the dry
    /// run all happen on the blocking pool, so the caller's thread never blocks.
    async fn prepare(&self, source: PolicySource) -> Result<PolicySlot, PluginError> {
        let now = self.inner.clock.now();
        if source == PolicySource::Builtin {
            return Ok(PolicySlot::builtin(now));
        }
        // In the policy status while it loads, however the load ends.
        let _loading = Loading::start(&self.inner, source.describe(), now);
        let host = self.plugin_host();
        let loader_failed =
            |error: WorkError| PluginError::Host(format!("the policy loader failed: {error}"));
        // Reading and compiling happen beside the rounds (the loading thread can take
        // a while on a cold cache); only the dry run takes the policy lane.
        let (policy, bytes) = off_executor(move || {
            let host = host?;
            match source {
                PolicySource::Path(path) => host.load_file_with_bytes(&path),
                PolicySource::Bytes(bytes) => Ok((host.load(&bytes)?, bytes)),
                PolicySource::Builtin => unreachable_builtin(),
            }
        })
        .await
        .map_err(loader_failed)??;
        let mut state = (*self.state()).clone();
        state.now = self.inner.clock.now();
        let config = self.inner.app.autopilot_config().await;
        let policy = self
            .inner
            .policy_lane
            .run(move || {
                if let Some(config) = config {
                    // The dry run: the candidate's answer on the current state must be
                    // usable and safe.
                    let judge = judged_node_types(&state);
                    let decisions = policy.try_decide(&config, &state, &judge)?;
                    check_decisions(&config, &state, &decisions)
                        .map_err(|v| PluginError::Unsafe(v.to_string()))?;
                }
                Ok(policy)
            })
            .await
            .map_err(loader_failed)??;
        let info = policy.info().clone();
        Ok(PolicySlot {
            policy: Arc::new(policy),
            record: PolicyRecord::Component {
                digest: info.digest.clone(),
                bytes,
            },
            active: ActivePolicy {
                name: info.name,
                version: info.version,
                digest: Some(info.digest),
                since: now,
            },
        })
    }
}

/// A load in the policy status, until dropped.
struct Loading<'a, R, A> {
    inner: &'a Inner<R, A>,
    number: u64,
}

impl<'a, R, A> Loading<'a, R, A> {
    fn start(inner: &'a Inner<R, A>, source: String, since: Timestamp) -> Self {
        let number = inner.policy().start_loading(source, since);
        Self { inner, number }
    }
}

impl<R, A> Drop for Loading<'_, R, A> {
    fn drop(&mut self) {
        self.inner.policy().done_loading(self.number);
    }
}

/// `PolicySource::Builtin` is handled before loading; reaching the loader with it is a
/// host error, not a panic.
fn unreachable_builtin<T>() -> Result<T, PluginError> {
    Err(PluginError::Host(
        "the built-in policy has no component to load".into(),
    ))
}
