//! A loaded policy component: one fresh, sandboxed instance per call, and the
//! [`Promoter`] adapter that falls back to the stable policy when a call fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower,
};
use wasmtime::{Store, Trap};

use super::bindings::wit;
use super::convert;
use super::error::PluginError;
use super::host::{EPOCH_TICK, HostInner};
use super::sandbox::Sandbox;
use super::validate::{self, Decisions};
use crate::core::{Config, FailedServers, NodeType, Promoter, RaftChanges, StablePromoter, State};

/// What a component says it is, and which bytes it was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The policy's name (from its `metadata` export).
    pub name: String,
    /// The policy's version (from its `metadata` export).
    pub version: String,
    /// The sha256 of the component's bytes, hex.
    pub digest: String,
    /// Whether the policy reads servers' names, addresses, versions and metadata
    /// (from its `metadata` export); when not, the host does not send them. Always
    /// `true` for a policy of contract 0.1, which has no way to say.
    pub reads_server_details: bool,
    /// The interface the component exports, with its version (for example
    /// `autopilot:promoter/policy@0.2.0`).
    pub interface: String,
}

/// The revision of the contract a component was built against. The host speaks
/// every revision it lists here, so a policy keeps working when the host moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    /// `autopilot:promoter@0.1.x`: every server record carries every field.
    V0_1,
    /// `autopilot:promoter@0.2.x`: server details only on request.
    V0_2,
}

/// Where a component's three policy functions are, found once at load.
pub(crate) struct PolicyExports {
    metadata: ComponentExportIndex,
    decide: ComponentExportIndex,
    filter_removals: ComponentExportIndex,
}

impl PolicyExports {
    /// The functions of the policy interface `interface` (the export name the
    /// component uses) in `component`.
    pub(crate) fn find(component: &Component, interface: &str) -> Result<Self, PluginError> {
        let missing = |what: &str| PluginError::MissingExport {
            found: format!("{interface} without `{what}`"),
            expected: super::host::POLICY_INTERFACE.to_owned(),
        };
        let (_, instance) = component
            .get_export(None, interface)
            .ok_or_else(|| missing(interface))?;
        let func = |name: &str| {
            component
                .get_export_index(Some(&instance), name)
                .ok_or_else(|| missing(name))
        };
        Ok(Self {
            metadata: func("metadata")?,
            decide: func("decide")?,
            filter_removals: func("filter-removals")?,
        })
    }
}

/// `decide`'s parameters, lowered from borrowed core data, with server records `S`.
type DecideParams<'a, S> = (
    &'a convert::ConfigIn,
    &'a convert::StateIn<'a, S>,
    &'a [&'a str],
);
/// `decide`'s result.
type DecideResult = (Result<wit::Decisions, wit::PolicyError>,);
/// `filter-removals`' parameters, with server records `S`.
type FilterParams<'a, S> = (
    &'a convert::ConfigIn,
    &'a convert::StateIn<'a, S>,
    &'a convert::FailedIn<'a, S>,
);
/// `filter-removals`' result.
type FilterResult = (Result<wit::Removals, wit::PolicyError>,);

/// A compiled, checked policy component, ready to run. Each call gets a fresh
/// instance in its own store, so no state leaks from one call to the next.
pub struct ComponentPolicy {
    host: Arc<HostInner>,
    pre: InstancePre<Sandbox>,
    exports: PolicyExports,
    contract: Contract,
    info: PolicyInfo,
}

impl std::fmt::Debug for ComponentPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentPolicy")
            .field("info", &self.info)
            .finish()
    }
}

const MAX_NAME: usize = 128;

impl ComponentPolicy {
    pub(crate) fn new(
        host: Arc<HostInner>,
        pre: InstancePre<Sandbox>,
        exports: PolicyExports,
        contract: Contract,
        interface: String,
        digest: String,
    ) -> Result<Self, PluginError> {
        let mut policy = Self {
            host,
            pre,
            exports,
            contract,
            info: PolicyInfo {
                name: String::new(),
                version: String::new(),
                digest,
                reads_server_details: true,
                interface,
            },
        };
        // Every function's signature is checked against the contract once, here, so a
        // component with other types is refused at load rather than at its first round.
        let (name, version, reads_server_details) = policy.call(|store, instance| {
            let e = &policy.exports;
            match contract {
                Contract::V0_2 => {
                    check_signatures::<convert::V0_2>(store, instance, e)?;
                    let (m,) = typed::<(), (wit::PolicyInfo,)>(store, instance, &e.metadata)
                        .map_err(mismatch("metadata"))?
                        .call(store, ())?;
                    Ok((m.name, m.version, m.reads_server_details))
                }
                Contract::V0_1 => {
                    check_signatures::<convert::V0_1>(store, instance, e)?;
                    let (m,) = typed::<(), (convert::PolicyInfoV1,)>(store, instance, &e.metadata)
                        .map_err(mismatch("metadata"))?
                        .call(store, ())?;
                    Ok((m.name, m.version, true))
                }
            }
        })?;
        if name.is_empty() || name.len() > MAX_NAME || version.len() > MAX_NAME {
            return Err(PluginError::InvalidOutput(format!(
                "metadata must give a name of 1 to {MAX_NAME} bytes and a version of at most {MAX_NAME}"
            )));
        }
        policy.info.name = name;
        policy.info.version = version;
        policy.info.reads_server_details = reads_server_details;
        Ok(policy)
    }

    /// Name, version and digest.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// Runs `f` on a fresh instance under the deadline and memory cap, forwarding the
    /// guest's output to `tracing` and classifying failures.
    ///
    /// Inside a tokio runtime the call runs on a scoped thread of its own: the WASI
    /// streams a guest writes its output through block on an async runtime, which must
    /// not be the caller's.
    fn call<R: Send>(
        &self,
        f: impl FnOnce(&mut Store<Sandbox>, &Instance) -> wasmtime::Result<R> + Send,
    ) -> Result<R, PluginError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.call_here(f);
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("autopilot-policy".into())
                .spawn_scoped(scope, || self.call_here(f))
                .map_err(|e| PluginError::Host(format!("cannot start the policy thread: {e}")))?
                .join()
                .unwrap_or_else(|_| Err(PluginError::Host("the policy thread panicked".into())))
        })
    }

    fn call_here<R>(
        &self,
        f: impl FnOnce(&mut Store<Sandbox>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let limits = &self.host.limits;
        let mut store = Store::new(
            &self.host.engine,
            Sandbox::new(limits.memory, limits.output),
        );
        store.limiter(|s| s);
        let ticks = limits.deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        // One extra tick: the next increment may land immediately after we start.
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1));
        store.epoch_deadline_trap();
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance));
        self.forward_output(store.data());
        result.map_err(|e| self.classify(&e, store.data()))
    }

    fn forward_output(&self, sandbox: &Sandbox) {
        for (stream, pipe) in [("stdout", &sandbox.stdout), ("stderr", &sandbox.stderr)] {
            let (bytes, dropped) = pipe.contents();
            if !bytes.is_empty() {
                let text = String::from_utf8_lossy(&bytes);
                tracing::info!(policy = %self.info.name, stream, "{}", text.trim_end());
            }
            if dropped > 0 {
                tracing::warn!(
                    policy = %self.info.name,
                    stream,
                    dropped,
                    "policy output over the {}-byte bound was dropped",
                    self.host.limits.output
                );
            }
        }
    }

    fn classify(&self, e: &wasmtime::Error, sandbox: &Sandbox) -> PluginError {
        if sandbox.memory_exceeded {
            return PluginError::OutOfMemory(self.host.limits.memory);
        }
        if let Some(mismatch) = e.downcast_ref::<SignatureMismatch>() {
            return PluginError::IncompatibleVersion {
                found: format!("{} with other types ({})", self.info.interface, mismatch.0),
                expected: super::host::POLICY_INTERFACE.to_owned(),
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Deadline(self.host.limits.deadline),
            Some(Trap::StackOverflow) => PluginError::StackOverflow,
            Some(trap) => {
                let (stderr, _) = sandbox.stderr.contents();
                let said = String::from_utf8_lossy(&stderr);
                let said = said.trim();
                if said.is_empty() {
                    PluginError::Trap(trap.to_string())
                } else {
                    // The last line that is not a hint about backtraces: for a Rust
                    // panic, its message.
                    let last = said
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))
                        .unwrap_or(said);
                    PluginError::Trap(format!("{trap} (the policy wrote: {last})"))
                }
            }
            None => PluginError::Trap(format!("{e:#}").lines().next().unwrap_or("").to_owned()),
        }
    }

    /// One round's decisions, validated. `judge` lists the node types whose
    /// potential-voter verdicts are wanted.
    pub fn decide(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Decisions, PluginError> {
        let raw = match self.contract {
            Contract::V0_2 => self.call_decide::<convert::V0_2>(config, state, judge)?,
            Contract::V0_1 => self.call_decide::<convert::V0_1>(config, state, judge)?,
        };
        let raw = raw.map_err(policy_error)?;
        validate::decisions(state, judge, raw, self.host.limits.ext_bytes)
    }

    fn call_decide<R: convert::Revision>(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Result<wit::Decisions, wit::PolicyError>, PluginError> {
        let wit_config = convert::config(config);
        let details = self.info.reads_server_details;
        let wit_state = convert::state::<R::Server<'_>>(state, config, details);
        let judged: Vec<&str> = judge.iter().map(NodeType::as_str).collect();
        let (raw,) = self.call(|store, instance| {
            typed::<DecideParams<'_, R::Server<'_>>, DecideResult>(
                store,
                instance,
                &self.exports.decide,
            )?
            .call(store, (&wit_config, &wit_state, &judged))
        })?;
        Ok(raw)
    }

    /// Which of `failed` may be removed, validated as a subset.
    pub fn filter_removals(
        &self,
        config: &Config,
        state: &State,
        failed: &FailedServers,
    ) -> Result<FailedServers, PluginError> {
        let raw = match self.contract {
            Contract::V0_2 => self.call_filter::<convert::V0_2>(config, state, failed)?,
            Contract::V0_1 => self.call_filter::<convert::V0_1>(config, state, failed)?,
        };
        validate::filtered(failed, raw.map_err(policy_error)?)
    }

    fn call_filter<R: convert::Revision>(
        &self,
        config: &Config,
        state: &State,
        failed: &FailedServers,
    ) -> Result<Result<wit::Removals, wit::PolicyError>, PluginError> {
        let wit_config = convert::config(config);
        let details = self.info.reads_server_details;
        let wit_state = convert::state::<R::Server<'_>>(state, config, details);
        let wit_failed = convert::failed::<R::Server<'_>>(failed, details);
        let (raw,) = self.call(|store, instance| {
            typed::<FilterParams<'_, R::Server<'_>>, FilterResult>(
                store,
                instance,
                &self.exports.filter_removals,
            )?
            .call(store, (&wit_config, &wit_state, &wit_failed))
        })?;
        Ok(raw)
    }
}

/// A function of the policy interface whose signature is not the contract's.
#[derive(Debug)]
struct SignatureMismatch(String);

impl std::fmt::Display for SignatureMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignatureMismatch {}

/// Marks a failed signature check of function `name`.
fn mismatch(name: &'static str) -> impl Fn(wasmtime::Error) -> wasmtime::Error {
    move |e| wasmtime::Error::new(SignatureMismatch(format!("`{name}`: {e:#}")))
}

/// Checks `decide` and `filter-removals` against revision `R` of the contract.
fn check_signatures<R: convert::Revision>(
    store: &mut Store<Sandbox>,
    instance: &Instance,
    exports: &PolicyExports,
) -> wasmtime::Result<()> {
    typed::<DecideParams<'_, R::Server<'_>>, DecideResult>(store, instance, &exports.decide)
        .map_err(mismatch("decide"))?;
    typed::<FilterParams<'_, R::Server<'_>>, FilterResult>(
        store,
        instance,
        &exports.filter_removals,
    )
    .map_err(mismatch("filter-removals"))?;
    Ok(())
}

/// The function at `index`, checked against the contract's signature `P -> R`.
fn typed<P, R>(
    store: &mut Store<Sandbox>,
    instance: &Instance,
    index: &ComponentExportIndex,
) -> wasmtime::Result<wasmtime::component::TypedFunc<P, R>>
where
    P: ComponentNamedList + Lower,
    R: ComponentNamedList + Lift,
{
    instance.get_typed_func::<P, R>(store, index)
}

fn policy_error(e: wit::PolicyError) -> PluginError {
    match e {
        wit::PolicyError::InvalidInput(m) => PluginError::Policy(format!("invalid input: {m}")),
        wit::PolicyError::Internal(m) => PluginError::Policy(m),
    }
}

/// A component as a [`Promoter`]: each round's decisions in one call; a failed call
/// is recorded (see [`ComponentPromoter::take_errors`]) and that decision falls back
/// to the built-in stable policy, so autopilot never stops because of a policy.
pub struct ComponentPromoter {
    policy: Arc<ComponentPolicy>,
    memo: Mutex<Memo>,
}

#[derive(Default)]
struct Memo {
    errors: Vec<PluginError>,
    verdicts: BTreeMap<NodeType, bool>,
    config: Option<Config>,
}

impl std::fmt::Debug for ComponentPromoter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentPromoter")
            .field("policy", &self.policy.info)
            .finish()
    }
}

impl ComponentPromoter {
    /// Wraps a loaded policy.
    pub fn new(policy: Arc<ComponentPolicy>) -> Self {
        Self {
            policy,
            memo: Mutex::new(Memo::default()),
        }
    }

    /// The wrapped policy.
    pub fn policy(&self) -> &Arc<ComponentPolicy> {
        &self.policy
    }

    /// The failures since the last call, oldest first.
    pub fn take_errors(&self) -> Vec<PluginError> {
        std::mem::take(&mut self.memo().errors)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, error: PluginError) {
        tracing::warn!(policy = %self.policy.info.name, kind = error.kind(), %error, "policy failed; using the stable policy for this decision");
        self.memo().errors.push(error);
    }

    /// The node types of the state's servers before the policy assigns its own: the
    /// application's, which are what pruning judges (distinct, sorted).
    pub fn judged(state: &State) -> Vec<NodeType> {
        let mut types: Vec<NodeType> = state
            .servers
            .values()
            .map(|s| s.server.node_type.clone())
            .collect();
        types.sort();
        types.dedup();
        types
    }
}

impl Promoter for ComponentPromoter {
    fn evaluate(&self, config: &Config, state: &mut State) -> RaftChanges {
        let judge = Self::judged(state);
        match self.policy.decide(config, state, &judge) {
            Ok(decisions) => {
                for (id, ext) in decisions.server_ext {
                    if let Some(s) = state.servers.get_mut(&id) {
                        s.server.ext = ext;
                    }
                }
                if let Some(ext) = decisions.state_ext {
                    state.ext = ext;
                }
                if !decisions.node_types.is_empty() {
                    let mut servers: Vec<&mut crate::core::ServerState> =
                        state.servers.values_mut().collect();
                    for (index, node_type) in decisions.node_types {
                        if let Some(s) = servers.get_mut(index as usize)
                            && s.server.node_type != node_type
                        {
                            s.server.node_type = node_type;
                        }
                    }
                }
                let mut memo = self.memo();
                memo.verdicts = decisions.potential_voters;
                memo.config = Some(config.clone());
                decisions.changes
            }
            Err(e) => {
                self.record(e);
                self.memo().verdicts.clear();
                StablePromoter.evaluate(config, state)
            }
        }
    }

    fn changes(&self, config: &Config, state: &State) -> RaftChanges {
        match self.policy.decide(config, state, &[]) {
            Ok(decisions) => decisions.changes,
            Err(e) => {
                self.record(e);
                StablePromoter.changes(config, state)
            }
        }
    }

    fn filter_failed_server_removals(
        &self,
        config: &Config,
        state: &State,
        failed: FailedServers,
    ) -> FailedServers {
        match self.policy.filter_removals(config, state, &failed) {
            Ok(kept) => kept,
            Err(e) => {
                self.record(e);
                failed
            }
        }
    }

    fn is_potential_voter(&self, node_type: &NodeType) -> bool {
        self.potential_voters(&[node_type])
            .first()
            .copied()
            .unwrap_or(false)
    }

    fn potential_voters(&self, node_types: &[&NodeType]) -> Vec<bool> {
        let (missing, config): (Vec<NodeType>, Config) = {
            let memo = self.memo();
            let missing = node_types
                .iter()
                .filter(|t| !memo.verdicts.contains_key(**t))
                .map(|t| (*t).clone())
                .collect();
            (missing, memo.config.clone().unwrap_or_default())
        };
        if !missing.is_empty() {
            // Types the last round did not judge: ask once, on an empty state (a
            // verdict is about the type, not the cluster).
            match self.policy.decide(&config, &State::default(), &missing) {
                Ok(decisions) => self.memo().verdicts.extend(decisions.potential_voters),
                Err(e) => self.record(e),
            }
        }
        let memo = self.memo();
        node_types
            .iter()
            .map(|t| {
                memo.verdicts
                    .get(*t)
                    .copied()
                    .unwrap_or_else(|| StablePromoter.is_potential_voter(t))
            })
            .collect()
    }
}
