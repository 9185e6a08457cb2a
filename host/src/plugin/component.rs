//! A loaded policy component: one fresh, sandboxed instance per call, under a fuel
//! budget, a wall-clock backstop and a memory cap; the core's [`Policy`] trait over it.

use std::sync::Arc;

use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower, TypedFunc,
};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::wit;
use super::contract::{Contract, POLICY_INTERFACE, PolicyExports};
use super::convert;
use super::engine::{EPOCH_TICK, HostInner};
use super::error::PluginError;
use super::sandbox::Sandbox;
use super::validate;
use crate::core::{
    Answer, Config, Decisions, FailedServers, NodeType, Policy, PolicyFault, PolicyMetadata, State,
    Timestamp,
};

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

/// `decide`'s parameters, lowered from borrowed core data, with server records `S`.
type DecideParams<'a, S> = (
    &'a convert::ConfigIn,
    &'a convert::StateIn<'a, S>,
    &'a [&'a str],
);
/// `decide`'s result (contract 0.3).
type DecideResult = (Result<wit::Decisions, wit::PolicyError>,);
/// `decide`'s result in contracts 0.1 and 0.2 (decisions without `wake-at`).
type DecideResultV2 = (Result<convert::DecisionsV2, wit::PolicyError>,);
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

/// How much fuel a call burns between two yields to the executor that awaits it
/// (under 0.1 ms of busy work here). Small, because an executor polls its other
/// sources (timers, sockets, wake-ups from other threads) only every few dozen
/// polls: tokio's current-thread scheduler every 31 to 61, so a task that keeps
/// yielding holds them back for that many slices.
const YIELD_FUEL: u64 = 500_000;

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
        let (name, version, reads_server_details) = match contract {
            Contract::V0_3 | Contract::V0_2 => {
                let (m,) = futures_executor::block_on(policy.call(
                    Timestamp::UNIX_EPOCH,
                    |store, instance| {
                        let e = &policy.exports;
                        if contract == Contract::V0_3 {
                            check_signatures::<convert::V0_2, DecideResult>(store, instance, e)?;
                        } else {
                            check_signatures::<convert::V0_2, DecideResultV2>(store, instance, e)?;
                        }
                        typed::<(), (wit::PolicyInfo,)>(store, instance, &e.metadata)
                            .map_err(mismatch("metadata"))
                    },
                    (),
                ))?;
                (m.name, m.version, m.reads_server_details)
            }
            Contract::V0_1 => {
                let (m,) = futures_executor::block_on(policy.call(
                    Timestamp::UNIX_EPOCH,
                    |store, instance| {
                        let e = &policy.exports;
                        check_signatures::<convert::V0_1, DecideResultV2>(store, instance, e)?;
                        typed::<(), (convert::PolicyInfoV1,)>(store, instance, &e.metadata)
                            .map_err(mismatch("metadata"))
                    },
                    (),
                ))?;
                (m.name, m.version, true)
            }
        };
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

    /// A fresh store for one call: the memory cap, the fuel budget (yielding to the
    /// caller's executor every [`YIELD_FUEL`] units), the wall-clock backstop
    /// (yielding at every epoch tick until it is reached, then interrupting), and a
    /// WASI wall clock reading `now`.
    fn store(&self, now: Timestamp) -> Result<Store<Sandbox>, PluginError> {
        let limits = &self.host.limits;
        let mut store = Store::new(
            self.pre.engine(),
            Sandbox::new(limits.memory, limits.output, now),
        );
        store.limiter(|s| s);
        if let Some(fuel) = limits.fuel {
            store
                .set_fuel(fuel)
                .and_then(|()| store.fuel_async_yield_interval(Some(YIELD_FUEL.min(fuel.max(1)))))
                .map_err(|e| PluginError::Host(format!("cannot set the fuel budget: {e}")))?;
        }
        let ticks = limits.deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        // One extra tick: the next increment may land immediately after we start.
        let backstop = u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1);
        let mut elapsed = 0u64;
        store.epoch_deadline_callback(move |_| {
            elapsed += 1;
            Ok(if elapsed >= backstop {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }

    /// Calls the function `get` finds on a fresh instance, with `params`, under the
    /// fuel budget, the wall-clock backstop and the memory cap; forwards the guest's
    /// output to `tracing` and classifies failures.
    ///
    /// The future yields to the executor that polls it while the policy works (every
    /// [`YIELD_FUEL`] units of fuel, and at every epoch tick), so awaiting it on an
    /// async executor never holds the executor's thread for long; it needs nothing of
    /// any particular executor. The guest's wall clock reads `now` (the round's
    /// instant).
    async fn call<P, R>(
        &self,
        now: Timestamp,
        get: impl FnOnce(&mut Store<Sandbox>, &Instance) -> wasmtime::Result<TypedFunc<P, R>>,
        params: P,
    ) -> Result<R, PluginError>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let mut store = self.store(now)?;
        let result = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let func = get(&mut store, &instance)?;
            func.call_async(&mut store, params).await
        }
        .await;
        let fuel_used = self
            .host
            .limits
            .fuel
            .map_or(0, |fuel| fuel.saturating_sub(store.get_fuel().unwrap_or(0)));
        self.forward_output(store.data());
        result.map_err(|e| self.classify(&e, store.data(), fuel_used))
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

    fn classify(&self, e: &wasmtime::Error, sandbox: &Sandbox, fuel_used: u64) -> PluginError {
        if sandbox.memory_exceeded {
            return PluginError::OutOfMemory(self.host.limits.memory);
        }
        if let Some(mismatch) = e.downcast_ref::<SignatureMismatch>() {
            return PluginError::IncompatibleVersion {
                found: format!("{} with other types ({})", self.info.interface, mismatch.0),
                expected: POLICY_INTERFACE.to_owned(),
            };
        }
        if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return PluginError::Exited(exit.0);
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel(fuel_used),
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
                    PluginError::Trap(format!(
                        "{trap} (the policy wrote: {})",
                        validate::bounded(last, validate::MAX_MESSAGE)
                    ))
                }
            }
            // Not a trap: the root cause says what happened (the error's own first
            // line is a backtrace header).
            None => PluginError::Trap(validate::bounded(
                &e.root_cause().to_string(),
                validate::MAX_MESSAGE,
            )),
        }
    }

    /// One round's decisions, validated against the state (indices, duplicates,
    /// bounds), not yet against the safety rules: that is the caller's
    /// ([`consult_decide`](crate::core::consult_decide)), for every policy alike.
    /// `judge` lists the node types whose potential-voter verdicts are wanted.
    /// Blocks the calling thread: from async code, await [`Self::decide_async`].
    pub fn try_decide(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Decisions, PluginError> {
        futures_executor::block_on(self.decide_async(config, state, judge))
    }

    /// [`Self::try_decide`] as a future that yields while the policy works.
    pub async fn decide_async(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Decisions, PluginError> {
        let raw = match self.contract {
            Contract::V0_3 => {
                self.call_decide::<convert::V0_2, wit::Decisions>(config, state, judge)
                    .await?
            }
            Contract::V0_2 => self
                .call_decide::<convert::V0_2, convert::DecisionsV2>(config, state, judge)
                .await?
                .map(convert::DecisionsV2::into_current),
            Contract::V0_1 => self
                .call_decide::<convert::V0_1, convert::DecisionsV2>(config, state, judge)
                .await?
                .map(convert::DecisionsV2::into_current),
        };
        let raw = raw.map_err(policy_error)?;
        validate::decisions(state, judge, raw, self.host.limits.ext_bytes)
    }

    async fn call_decide<R: convert::Revision, D>(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Result<D, wit::PolicyError>, PluginError>
    where
        (Result<D, wit::PolicyError>,): ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let wit_config = convert::config(config);
        let details = self.info.reads_server_details;
        let wit_state = convert::state::<R::Server<'_>>(state, config, details);
        let judged: Vec<&str> = judge.iter().map(NodeType::as_str).collect();
        let (raw,) = self
            .call(
                state.now,
                |store, instance| {
                    typed::<DecideParams<'_, R::Server<'_>>, (Result<D, wit::PolicyError>,)>(
                        store,
                        instance,
                        &self.exports.decide,
                    )
                },
                (&wit_config, &wit_state, judged.as_slice()),
            )
            .await?;
        Ok(raw)
    }

    /// Which of `failed` may be removed, validated as a subset. Blocks the calling
    /// thread: from async code, await [`Self::filter_removals_async`].
    pub fn try_filter_removals(
        &self,
        config: &Config,
        state: &State,
        failed: &FailedServers,
    ) -> Result<FailedServers, PluginError> {
        futures_executor::block_on(self.filter_removals_async(config, state, failed))
    }

    /// [`Self::try_filter_removals`] as a future that yields while the policy works.
    pub async fn filter_removals_async(
        &self,
        config: &Config,
        state: &State,
        failed: &FailedServers,
    ) -> Result<FailedServers, PluginError> {
        let raw = match self.contract {
            Contract::V0_3 | Contract::V0_2 => {
                self.call_filter::<convert::V0_2>(config, state, failed)
                    .await?
            }
            Contract::V0_1 => {
                self.call_filter::<convert::V0_1>(config, state, failed)
                    .await?
            }
        };
        validate::filtered(failed, raw.map_err(policy_error)?)
    }

    async fn call_filter<R: convert::Revision>(
        &self,
        config: &Config,
        state: &State,
        failed: &FailedServers,
    ) -> Result<Result<wit::Removals, wit::PolicyError>, PluginError> {
        let wit_config = convert::config(config);
        let details = self.info.reads_server_details;
        let wit_state = convert::state::<R::Server<'_>>(state, config, details);
        let wit_failed = convert::failed::<R::Server<'_>>(failed, details);
        let (raw,) = self
            .call(
                state.now,
                |store, instance| {
                    typed::<FilterParams<'_, R::Server<'_>>, FilterResult>(
                        store,
                        instance,
                        &self.exports.filter_removals,
                    )
                },
                (&wit_config, &wit_state, &wit_failed),
            )
            .await?;
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

/// Checks `decide` (returning `D`) and `filter-removals` against revision `R` of the
/// contract.
fn check_signatures<R: convert::Revision, D: ComponentNamedList + Lift>(
    store: &mut Store<Sandbox>,
    instance: &Instance,
    exports: &PolicyExports,
) -> wasmtime::Result<()> {
    typed::<DecideParams<'_, R::Server<'_>>, D>(store, instance, &exports.decide)
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
    let bounded = |m: &str| validate::bounded(m, validate::MAX_MESSAGE);
    match e {
        wit::PolicyError::InvalidInput(m) => {
            PluginError::Policy(format!("invalid input: {}", bounded(&m)))
        }
        wit::PolicyError::Internal(m) => PluginError::Policy(bounded(&m)),
    }
}

impl Policy for ComponentPolicy {
    fn metadata(&self) -> PolicyMetadata {
        PolicyMetadata {
            name: self.info.name.clone(),
            version: self.info.version.clone(),
        }
    }

    fn decide(
        &self,
        config: &Config,
        state: &State,
        judge_node_types: &[NodeType],
    ) -> Result<Decisions, PolicyFault> {
        self.try_decide(config, state, judge_node_types)
            .map_err(PolicyFault::from)
    }

    fn filter_removals(
        &self,
        config: &Config,
        state: &State,
        failed: &FailedServers,
    ) -> Result<FailedServers, PolicyFault> {
        self.try_filter_removals(config, state, failed)
            .map_err(PolicyFault::from)
    }

    /// Calls yield to the executor every millisecond or so of work.
    fn runs_on_executor(&self) -> bool {
        true
    }

    fn decide_async<'a>(
        &'a self,
        config: &'a Config,
        state: &'a State,
        judge_node_types: &'a [NodeType],
    ) -> Answer<'a, Decisions> {
        Box::pin(async move {
            self.decide_async(config, state, judge_node_types)
                .await
                .map_err(PolicyFault::from)
        })
    }

    fn filter_removals_async<'a>(
        &'a self,
        config: &'a Config,
        state: &'a State,
        failed: &'a FailedServers,
    ) -> Answer<'a, FailedServers> {
        Box::pin(async move {
            self.filter_removals_async(config, state, failed)
                .await
                .map_err(PolicyFault::from)
        })
    }
}
