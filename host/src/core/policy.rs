//! The policy boundary, shaped like the contract in `wit/`: one `decide` call per
//! round, `filter_removals` when pruning has candidates, and the built-in stable
//! policy.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use super::changes::{FailedServers, RaftChanges};
use super::config::Config;
use super::ids::{NodeType, RaftState, ServerId};
use super::safety::SafetyViolation;
use super::state::State;
use super::time::Timestamp;

/// What a policy calls itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyMetadata {
    /// The policy's name (`stable` for the built-in one).
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Everything a policy decides in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decisions {
    /// Extension data per server (servers not listed keep theirs).
    pub server_ext: BTreeMap<ServerId, Value>,
    /// Extension data for the state (`None` keeps it).
    pub state_ext: Option<Value>,
    /// Node types to assign: (index of the server in `state.servers`, which is id
    /// order; its node type). Servers not listed keep theirs.
    pub node_types: Vec<(u32, NodeType)>,
    /// A potential-voter verdict for each node type the round asked about.
    pub potential_voters: BTreeMap<NodeType, bool>,
    /// Promotions, demotions and the desired leader.
    pub changes: RaftChanges,
    /// The instant at which the answer could change with no new input (when a
    /// probation ends, say); `None` when only new input can change it. The runtime
    /// runs a round then.
    pub wake_at: Option<Timestamp>,
}

/// Why a policy's answer was not used for a round. The round then uses the stable
/// policy's answer instead, and the fault is counted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyFault {
    /// The answer would break one of the safety rules the host enforces on every
    /// policy (see [`check_decisions`](super::check_decisions)).
    #[error("unsafe answer: {0}")]
    Unsafe(#[from] SafetyViolation),
    /// The policy did not give a usable answer: its own error value, a trap, its
    /// budget exhausted, output that fails validation...
    #[error("{message}")]
    Failed {
        /// The kind of failure as one word (`trap`, `out-of-budget`, `policy-error`...).
        kind: &'static str,
        /// What happened, starting with the kind in words.
        message: String,
        /// Whether the policy is to blame (not the host's own trouble): such faults
        /// count toward rolling the policy back.
        blames_policy: bool,
    },
}

impl PolicyFault {
    /// The kind of fault as one word: `unsafe-answer`, or the failure's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unsafe(_) => "unsafe-answer",
            Self::Failed { kind, .. } => kind,
        }
    }

    /// Whether the policy is to blame (counts toward rollback).
    pub fn blames_policy(&self) -> bool {
        match self {
            Self::Unsafe(_) => true,
            Self::Failed { blames_policy, .. } => *blames_policy,
        }
    }
}

/// A policy's answer, to be awaited.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, PolicyFault>> + Send + 'a>>;

/// A placement policy, shaped like the plugin contract: one `decide` per round.
///
/// Implemented by [`StablePolicy`], by policy components (the plugin host's
/// `ComponentPolicy`) and by embedders' native policies. A policy is a pure function
/// of its input: the instant to judge stability against is [`State::now`], never a
/// clock. Its answer is checked against the safety rules before anything is planned,
/// whoever wrote it.
pub trait Policy: Send + Sync {
    /// The policy's name and version.
    fn metadata(&self) -> PolicyMetadata;

    /// One round's decisions on a freshly built state, in the reference's order:
    /// server extensions, state extension, node types, then the changes on the state
    /// so annotated. `judge_node_types` lists the node types whose potential-voter
    /// verdicts the round needs.
    fn decide(
        &self,
        config: &Config,
        state: &State,
        judge_node_types: &[NodeType],
    ) -> Result<Decisions, PolicyFault>;

    /// Which of the failed and stale servers pruning may remove: a subset of
    /// `failed`. Default: all of them.
    fn filter_removals(
        &self,
        _config: &Config,
        _state: &State,
        failed: &FailedServers,
    ) -> Result<FailedServers, PolicyFault> {
        Ok(failed.clone())
    }

    /// Whether the runtime may await this policy on its async executor: true when the
    /// async methods below yield while they work (a component does, every
    /// millisecond or so of work) or the work is small and bounded (the built-in
    /// stable policy). Default false: every call then runs on the blocking pool, so a
    /// native policy that takes its time never holds an executor thread.
    fn runs_on_executor(&self) -> bool {
        false
    }

    /// [`Policy::decide`] as a future. The default runs `decide` when polled.
    fn decide_async<'a>(
        &'a self,
        config: &'a Config,
        state: &'a State,
        judge_node_types: &'a [NodeType],
    ) -> Answer<'a, Decisions> {
        Box::pin(std::future::ready(self.decide(
            config,
            state,
            judge_node_types,
        )))
    }

    /// [`Policy::filter_removals`] as a future. The default runs `filter_removals`
    /// when polled.
    fn filter_removals_async<'a>(
        &'a self,
        config: &'a Config,
        state: &'a State,
        failed: &'a FailedServers,
    ) -> Answer<'a, FailedServers> {
        Box::pin(std::future::ready(
            self.filter_removals(config, state, failed),
        ))
    }
}

/// The built-in stable policy: every server is a `voter`, every stable non-voter is
/// promoted, nothing is demoted, the leader stays, removals pass unfiltered.
#[derive(Debug, Clone, Copy, Default)]
pub struct StablePolicy;

impl StablePolicy {
    /// The stable policy's answer (it cannot fail).
    ///
    /// It leaves `wake_at` unset: the instant its answer next changes is when a
    /// healthy non-voter's stabilization window ends, which the runtime watches for
    /// itself (see [`next_stable`] for policies that need it).
    pub fn decisions(config: &Config, state: &State, judge_node_types: &[NodeType]) -> Decisions {
        let min_stable = state.effective_stabilization(config);
        // One pass: every server becomes a voter, and stable non-voters are promoted.
        let mut node_types = Vec::new();
        let mut promotions = Vec::new();
        for (i, (id, s)) in state.servers.iter().enumerate() {
            if s.server.node_type.as_str() != NodeType::VOTER {
                node_types.push((u32::try_from(i).unwrap_or(u32::MAX), NodeType::voter()));
            }
            if s.state == RaftState::NonVoter && s.health.is_stable(state.now, min_stable) {
                promotions.push(id.clone());
            }
        }
        let potential_voters = judge_node_types
            .iter()
            .map(|t| (t.clone(), stable_potential_voter(t)))
            .collect();
        Decisions {
            node_types,
            potential_voters,
            changes: RaftChanges {
                promotions,
                ..RaftChanges::default()
            },
            ..Decisions::default()
        }
    }
}

impl Policy for StablePolicy {
    fn metadata(&self) -> PolicyMetadata {
        PolicyMetadata {
            name: "stable".to_owned(),
            version: "built-in".to_owned(),
        }
    }

    fn decide(
        &self,
        config: &Config,
        state: &State,
        judge_node_types: &[NodeType],
    ) -> Result<Decisions, PolicyFault> {
        Ok(Self::decisions(config, state, judge_node_types))
    }

    /// One pass over the servers: cheaper than a hand-off to another thread.
    fn runs_on_executor(&self) -> bool {
        true
    }
}

/// The stable policy's verdict: only `voter` servers are potential voters.
pub fn stable_potential_voter(node_type: &NodeType) -> bool {
    node_type.as_str() == NodeType::VOTER
}

/// The stable policy's changes: promote every stable non-voter (staging servers are
/// left alone), in id order.
pub fn stable_changes(config: &Config, state: &State) -> RaftChanges {
    let min_stable = state.effective_stabilization(config);
    let promotions = state
        .servers
        .iter()
        .filter(|(_, s)| {
            s.state == RaftState::NonVoter && s.health.is_stable(state.now, min_stable)
        })
        .map(|(id, _)| id.clone())
        .collect();
    RaftChanges {
        promotions,
        ..RaftChanges::default()
    }
}

/// The first instant after `state.now` at which a healthy non-voter will have been
/// healthy for `window`: when the stable policy's answer next changes by itself.
pub fn next_stable(state: &State, window: Duration) -> Option<Timestamp> {
    let window = chrono::TimeDelta::from_std(window).ok()?;
    state
        .servers
        .values()
        .filter(|s| s.health.healthy && s.state == RaftState::NonVoter)
        .filter_map(|s| s.health.stable_since.checked_add_signed(window))
        .filter(|at| *at > state.now)
        .min()
}

/// Writes a round's annotations onto `state`: each server's extension, the state's
/// extension and the node types.
pub fn annotate(state: &mut State, decisions: &Decisions) {
    if decisions.server_ext.is_empty()
        && decisions.state_ext.is_none()
        && decisions.node_types.is_empty()
    {
        return;
    }
    for (id, ext) in &decisions.server_ext {
        if let Some(s) = state.servers.get_mut(id) {
            s.server.ext = ext.clone();
        }
    }
    if let Some(ext) = &decisions.state_ext {
        state.ext = ext.clone();
    }
    if decisions.node_types.is_empty() {
        return;
    }
    // Indices ascend in practice: walk the servers once, in step with them.
    let mut servers = state.servers.values_mut().enumerate().peekable();
    let mut out_of_order = Vec::new();
    for (index, node_type) in &decisions.node_types {
        let index = *index as usize;
        while servers.next_if(|(i, _)| *i < index).is_some() {}
        match servers.peek_mut() {
            Some((i, s)) if *i == index => {
                if s.server.node_type != *node_type {
                    s.server.node_type = node_type.clone();
                }
            }
            _ => out_of_order.push((index, node_type)),
        }
    }
    if !out_of_order.is_empty() {
        let mut servers: Vec<_> = state.servers.values_mut().collect();
        for (index, node_type) in out_of_order {
            if let Some(s) = servers.get_mut(index) {
                s.server.node_type = node_type.clone();
            }
        }
    }
}

/// The node types of the state's servers before a policy assigns its own: the
/// application's, which are what pruning judges (distinct, sorted).
pub fn judged_node_types(state: &State) -> Vec<NodeType> {
    distinct_node_types(state.servers.values().map(|s| &s.server.node_type))
}

/// The distinct node types among `types`, sorted. A cluster has a handful of types
/// and runs of the same one: one pass with a comparison to the last type seen, not a
/// sort of every server's.
pub fn distinct_node_types<'a>(types: impl IntoIterator<Item = &'a NodeType>) -> Vec<NodeType> {
    let mut distinct: Vec<NodeType> = Vec::new();
    let mut last: Option<&NodeType> = None;
    for node_type in types {
        if last == Some(node_type) {
            continue;
        }
        last = Some(node_type);
        if !distinct.contains(node_type) {
            distinct.push(node_type.clone());
        }
    }
    distinct.sort();
    distinct
}

/// What consulting a policy gave: the answer the round uses, and the fault that made
/// it the stable policy's instead, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Consulted<T> {
    /// The answer in force: the policy's, or the fallback's after a fault.
    pub answer: T,
    /// Why the policy's own answer was not used.
    pub fault: Option<PolicyFault>,
}

/// Asks `policy` for a round's decisions and checks them against the safety rules;
/// on a fault (a failed call or an unsafe answer) the round takes the stable policy's
/// decisions instead, and the fault is returned with them.
pub fn consult_decide(
    policy: &dyn Policy,
    config: &Config,
    state: &State,
    judge_node_types: &[NodeType],
) -> Consulted<Decisions> {
    let answer = policy.decide(config, state, judge_node_types);
    settle(config, state, judge_node_types, answer)
}

/// [`consult_decide`] through the policy's [`Policy::decide_async`].
pub async fn consult_decide_async(
    policy: &dyn Policy,
    config: &Config,
    state: &State,
    judge_node_types: &[NodeType],
) -> Consulted<Decisions> {
    let answer = policy.decide_async(config, state, judge_node_types).await;
    settle(config, state, judge_node_types, answer)
}

/// A policy's answer checked against the safety rules, or the stable policy's.
fn settle(
    config: &Config,
    state: &State,
    judge_node_types: &[NodeType],
    answer: Result<Decisions, PolicyFault>,
) -> Consulted<Decisions> {
    let checked = answer.and_then(
        |d| match super::safety::check_decisions(config, state, &d) {
            Ok(()) => Ok(d),
            Err(violation) => Err(PolicyFault::Unsafe(violation)),
        },
    );
    match checked {
        Ok(answer) => Consulted {
            answer,
            fault: None,
        },
        Err(fault) => Consulted {
            answer: StablePolicy::decisions(config, state, judge_node_types),
            fault: Some(fault),
        },
    }
}

/// Asks `policy` which of `failed` may be removed; on a fault every candidate stays
/// offered (the stable policy's answer: pruning's own quorum rules still apply).
pub fn consult_filter(
    policy: &dyn Policy,
    config: &Config,
    state: &State,
    failed: &FailedServers,
) -> Consulted<FailedServers> {
    settle_filter(failed, policy.filter_removals(config, state, failed))
}

/// [`consult_filter`] through the policy's [`Policy::filter_removals_async`].
pub async fn consult_filter_async(
    policy: &dyn Policy,
    config: &Config,
    state: &State,
    failed: &FailedServers,
) -> Consulted<FailedServers> {
    let answer = policy.filter_removals_async(config, state, failed).await;
    settle_filter(failed, answer)
}

fn settle_filter(
    failed: &FailedServers,
    answer: Result<FailedServers, PolicyFault>,
) -> Consulted<FailedServers> {
    match answer {
        Ok(answer) => Consulted {
            answer,
            fault: None,
        },
        Err(fault) => Consulted {
            answer: failed.clone(),
            fault: Some(fault),
        },
    }
}
