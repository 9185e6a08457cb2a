//! The [`Policy`] trait: six decisions whose defaults are the stable policy, and the
//! round runner that calls them in the reference's order.

use std::collections::BTreeMap;

use crate::helpers::{is_stable, next_stable_after};
use crate::types::{
    Changes, Config, Decisions, FailedServers, Metadata, PolicyError, RaftState, ServerId,
    ServerState, State, Timestamp,
};

/// The node type the stable policy gives every server.
pub const VOTER: &str = "voter";

/// A placement policy. Override only what differs from the stable policy: every
/// method's default is the stable policy's behaviour.
///
/// Methods receive the state with its clock ([`State::now`],
/// [`State::effective_stabilization`]); a policy must not need any other source of
/// time or randomness, so the same input always gives the same decisions.
pub trait Policy {
    /// The policy's name and version, as the host reports them.
    fn metadata(&self) -> Metadata;

    /// Extension data (JSON text) for one server; `None` leaves it unchanged.
    fn server_ext(
        &self,
        _config: &Config,
        _server: &ServerState,
    ) -> Result<Option<String>, PolicyError> {
        Ok(None)
    }

    /// Extension data (JSON text) for the state; `None` leaves it unchanged.
    fn state_ext(&self, _config: &Config, _state: &State) -> Result<Option<String>, PolicyError> {
        Ok(None)
    }

    /// Each server's node type. Stable: `voter` for everyone.
    fn node_types(
        &self,
        _config: &Config,
        state: &State,
    ) -> Result<BTreeMap<ServerId, String>, PolicyError> {
        Ok(state
            .servers
            .keys()
            .map(|id| (id.clone(), VOTER.to_owned()))
            .collect())
    }

    /// Promotions, demotions and the desired leader. Stable: promote every stable
    /// non-voter (not staging), in id order; nothing else.
    fn changes(&self, _config: &Config, state: &State) -> Result<Changes, PolicyError> {
        Ok(stable_changes(state))
    }

    /// Which failed and stale servers may be removed. Stable: all of them.
    fn filter_failed_server_removals(
        &self,
        _config: &Config,
        _state: &State,
        failed: FailedServers,
    ) -> Result<FailedServers, PolicyError> {
        Ok(failed)
    }

    /// Whether servers of this node type count as potential voters. Stable: `voter`.
    fn is_potential_voter(&self, node_type: &str) -> bool {
        node_type == VOTER
    }

    /// When this policy's answer could next change with no new input: the host runs a
    /// round then, so a policy with windows of its own acts on time. Stable: when the
    /// next healthy non-voter has been healthy for the effective stabilization time.
    /// Return `None` when only new input (health, membership, configuration) can
    /// change the answer.
    fn wake_at(&self, _config: &Config, state: &State) -> Option<Timestamp> {
        next_stable_after(state, state.effective_stabilization)
    }

    /// Whether the policy reads servers' names, addresses, versions or metadata.
    /// When it returns `false` the host does not send them (those fields are empty
    /// and `meta` is `None`), which makes each round cheaper; [`decide`] clears them
    /// the same way, so native tests see what the component will. Default: `true`.
    fn reads_server_details(&self) -> bool {
        true
    }
}

/// The stable policy's changes: every stable non-voter, in id order.
pub fn stable_changes(state: &State) -> Changes {
    Changes {
        promotions: state
            .servers
            .iter()
            .filter(|(_, s)| s.raft_state == RaftState::NonVoter && is_stable(state, s))
            .map(|(id, _)| id.clone())
            .collect(),
        ..Changes::default()
    }
}

/// The stable policy, as a [`Policy`] with every default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stable;

impl Policy for Stable {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "stable".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The stable policy judges health, roles and stability only.
    fn reads_server_details(&self) -> bool {
        false
    }
}

/// Clears what the host does not send to a policy that does not read server details.
pub(crate) fn without_details(server: &mut crate::types::Server) {
    server.name.clear();
    server.address.clear();
    server.version.clear();
    server.meta = None;
}

/// Runs one round of a policy, as the host's `decide` call does: each server's
/// extension, then the state extension, then node types (each step seeing the previous
/// ones applied), then the changes on the annotated state, and the potential-voter
/// verdicts for `judge_node_types`. Use it to unit-test a policy natively.
pub fn decide<P: Policy + ?Sized>(
    policy: &P,
    config: &Config,
    mut state: State,
    judge_node_types: &[String],
) -> Result<Decisions, PolicyError> {
    if !policy.reads_server_details() {
        for server in state.servers.values_mut() {
            without_details(&mut server.server);
        }
    }
    decide_in_place(policy, config, &mut state, judge_node_types)
}

/// [`decide`] on a state the caller keeps (annotated as the policy saw it last).
pub(crate) fn decide_in_place<P: Policy + ?Sized>(
    policy: &P,
    config: &Config,
    state: &mut State,
    judge_node_types: &[String],
) -> Result<Decisions, PolicyError> {
    let mut decisions = Decisions::default();
    for (id, server) in state.servers.iter_mut() {
        if let Some(ext) = policy.server_ext(config, server)? {
            server.server.ext = Some(ext.clone());
            decisions.server_ext.insert(id.clone(), ext);
        }
    }
    if let Some(ext) = policy.state_ext(config, state)? {
        state.ext = Some(ext.clone());
        decisions.state_ext = Some(ext);
    }
    decisions.node_types = policy.node_types(config, state)?;
    // Both maps are sorted by id: one pass, no lookups.
    let mut types = decisions.node_types.iter().peekable();
    for (id, server) in state.servers.iter_mut() {
        // Equality first: it is the usual case, and one comparison settles it.
        let same = |(t, _): &(&String, &String)| crate::helpers::same_id(t, id);
        let mut found = types.next_if(same);
        while found.is_none() && types.next_if(|(t, _)| *t < id).is_some() {
            found = types.next_if(same);
        }
        if let Some((_, node_type)) = found
            && server.server.node_type != *node_type
        {
            server.server.node_type.clone_from(node_type);
        }
    }
    decisions.changes = policy.changes(config, state)?;
    decisions.wake_at = policy.wake_at(config, state);
    decisions.potential_voter_types = judge_node_types
        .iter()
        .filter(|t| policy.is_potential_voter(t))
        .cloned()
        .collect();
    Ok(decisions)
}
