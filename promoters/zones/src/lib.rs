//! The redundancy-zones policy as a library (the `redundancy-zones` component exports
//! it; `upgrade-migration` reuses it). Servers carry a zone in their metadata (key `zone`, or the config
//! extension's `zone_tag`). Each zone has exactly one voter; its other servers are
//! standbys (non-voters). When a zone's voter fails, the zone's healthiest stable
//! standby is promoted and the failed voter demoted; when a whole zone is lost, a
//! standby of another zone is promoted so the voter count holds. Servers without a
//! zone behave as under the stable policy.

use std::collections::BTreeMap;

use autopilot_sdk::{
    Changes, Config, FailedServers, Metadata, NodeStatus, Policy, PolicyError, RaftState, ServerId,
    ServerState, State, compare_servers, is_stable, quorum, safe_changes,
};
use serde_json::{Value, json};

/// Node type of a zone's voter.
pub const ZONE_VOTER: &str = "zone-voter";
/// Node type of a voter promoted to stand in for a lost zone.
pub const ZONE_EXTRA_VOTER: &str = "zone-extra-voter";
/// Node type of a zone's other servers.
pub const ZONE_STANDBY: &str = "zone-standby";
/// Node type of servers without a zone.
pub const VOTER: &str = "voter";

/// The redundancy-zones policy.
#[derive(Debug, Default)]
pub struct RedundancyZones;

/// The meta key naming a server's zone: the config extension's `zone_tag`, else `zone`.
pub fn zone_tag(config: &Config) -> Result<String, PolicyError> {
    let Some(text) = config.ext.as_deref() else {
        return Ok("zone".to_owned());
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| PolicyError::InvalidInput(format!("config extension is not JSON: {e}")))?;
    match value.get("zone_tag") {
        None | Some(Value::Null) => Ok("zone".to_owned()),
        Some(Value::String(tag)) if !tag.is_empty() => Ok(tag.clone()),
        Some(other) => Err(PolicyError::InvalidInput(format!(
            "zone_tag must be a non-empty string, not {other}"
        ))),
    }
}

/// What the policy decides for a state: each server's role.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Node type per server.
    pub node_types: BTreeMap<ServerId, String>,
    /// Servers that should vote.
    pub promotions: Vec<ServerId>,
    /// Servers that should stop voting.
    pub demotions: Vec<ServerId>,
    /// Zones and their servers.
    pub zones: BTreeMap<String, Vec<ServerId>>,
}

fn best_first<'a>(mut servers: Vec<&'a ServerState>) -> Vec<&'a ServerState> {
    servers.sort_by(|a, b| compare_servers(a, b));
    servers
}

/// Decides every server's role.
pub fn plan(tag: &str, state: &State) -> Plan {
    let mut out = Plan::default();
    let mut zoned: BTreeMap<String, Vec<&ServerState>> = BTreeMap::new();
    for server in state.servers.values() {
        match server.server.meta(tag).filter(|z| !z.is_empty()) {
            Some(zone) => zoned.entry(zone.to_owned()).or_default().push(server),
            None => {
                // No zone: the stable policy.
                out.node_types
                    .insert(server.server.id.clone(), VOTER.to_owned());
                if server.raft_state == RaftState::NonVoter && is_stable(state, server) {
                    out.promotions.push(server.server.id.clone());
                }
            }
        }
    }

    let mut lost_zones = 0usize;
    let mut spare: Vec<&ServerState> = Vec::new();
    let mut voting_standbys: Vec<ServerId> = Vec::new();
    for (zone, members) in &zoned {
        out.zones.insert(
            zone.clone(),
            members.iter().map(|s| s.server.id.clone()).collect(),
        );
        let members = best_first(members.clone());
        // The zone's voter: its best healthy voter, else its best stable standby.
        let chosen = members
            .iter()
            .find(|s| s.raft_state.has_voting_rights() && s.health.healthy)
            .or_else(|| {
                members
                    .iter()
                    .find(|s| !s.raft_state.has_voting_rights() && is_stable(state, s))
            });
        let Some(voter) = chosen else {
            // Lost: nobody can vote for this zone. Its failed voters step down.
            lost_zones += 1;
            for member in &members {
                out.node_types
                    .insert(member.server.id.clone(), ZONE_STANDBY.to_owned());
                if member.raft_state.has_voting_rights() && !member.health.healthy {
                    out.demotions.push(member.server.id.clone());
                }
            }
            continue;
        };
        out.node_types
            .insert(voter.server.id.clone(), ZONE_VOTER.to_owned());
        if !voter.raft_state.has_voting_rights() {
            out.promotions.push(voter.server.id.clone());
        }
        for other in members.iter().filter(|s| s.server.id != voter.server.id) {
            out.node_types
                .insert(other.server.id.clone(), ZONE_STANDBY.to_owned());
            let votes = other.raft_state.has_voting_rights();
            if votes {
                voting_standbys.push(other.server.id.clone());
            }
            if other.health.healthy && (votes || is_stable(state, other)) {
                spare.push(other);
            }
        }
    }

    // Stand-ins for lost zones: healthy standbys of other zones, those already voting
    // first (no churn), then the best.
    spare.sort_by(|a, b| {
        b.raft_state
            .has_voting_rights()
            .cmp(&a.raft_state.has_voting_rights())
            .then_with(|| compare_servers(a, b))
    });
    for stand_in in spare.into_iter().take(lost_zones) {
        out.node_types
            .insert(stand_in.server.id.clone(), ZONE_EXTRA_VOTER.to_owned());
        if !stand_in.raft_state.has_voting_rights() {
            out.promotions.push(stand_in.server.id.clone());
        }
    }
    // Every other voting standby steps down.
    for id in voting_standbys {
        if out.node_types.get(&id).map(String::as_str) == Some(ZONE_STANDBY) {
            out.demotions.push(id);
        }
    }
    out.promotions.sort();
    out.demotions.sort();
    out
}

fn zone_report(tag: &str, state: &State, plan: &Plan) -> Value {
    let mut zones = serde_json::Map::new();
    let mut healthy_servers = 0usize;
    for (zone, ids) in &plan.zones {
        let members: Vec<&ServerState> =
            ids.iter().filter_map(|id| state.servers.get(id)).collect();
        let healthy = members.iter().filter(|s| s.health.healthy).count();
        healthy_servers += usize::from(healthy > 0) + healthy.saturating_sub(1);
        let voters: Vec<&str> = members
            .iter()
            .filter(|s| s.raft_state.has_voting_rights())
            .map(|s| s.server.id.as_str())
            .collect();
        zones.insert(
            zone.clone(),
            json!({
                "servers": ids,
                "voters": voters,
                // How many of the zone's servers may fail with the zone still voting.
                "failure_tolerance": healthy.saturating_sub(1),
            }),
        );
    }
    let voters = state.voters.len();
    let healthy_voters = state
        .voters
        .iter()
        .filter(|id| state.servers.get(*id).is_some_and(|s| s.health.healthy))
        .count();
    // Counting standbys that could be promoted to replace failed voters.
    let healthy_standbys = healthy_servers.saturating_sub(plan.zones.len());
    let optimistic = (healthy_voters + healthy_standbys).saturating_sub(quorum(voters));
    json!({
        "zone_tag": tag,
        "zones": zones,
        "optimistic_failure_tolerance": optimistic,
    })
}

impl Policy for RedundancyZones {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "redundancy-zones".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn state_ext(&self, config: &Config, state: &State) -> Result<Option<String>, PolicyError> {
        let tag = zone_tag(config)?;
        let plan = plan(&tag, state);
        Ok(Some(zone_report(&tag, state, &plan).to_string()))
    }

    fn node_types(
        &self,
        config: &Config,
        state: &State,
    ) -> Result<BTreeMap<ServerId, String>, PolicyError> {
        Ok(plan(&zone_tag(config)?, state).node_types)
    }

    fn changes(&self, config: &Config, state: &State) -> Result<Changes, PolicyError> {
        let plan = plan(&zone_tag(config)?, state);
        let changes = Changes {
            promotions: plan.promotions,
            demotions: plan.demotions,
            leader: None,
        };
        // A lost zone's failed voter steps down only where the cluster can spare it.
        Ok(safe_changes(config, state, changes))
    }

    fn filter_failed_server_removals(
        &self,
        config: &Config,
        state: &State,
        mut failed: FailedServers,
    ) -> Result<FailedServers, PolicyError> {
        let tag = zone_tag(config)?;
        let zone_of = |id: &str| {
            state
                .servers
                .get(id)
                .and_then(|s| s.server.meta(&tag))
                .map(str::to_owned)
        };
        // Keep the last server of a zone while it could still come back (failed, not
        // left): removing it would leave the zone empty for good.
        let last_of_zone = |id: &str| {
            zone_of(id).is_some_and(|zone| {
                state
                    .servers
                    .values()
                    .filter(|s| s.server.meta(&tag) == Some(zone.as_str()))
                    .count()
                    == 1
            })
        };
        for list in [&mut failed.failed_voters, &mut failed.failed_non_voters] {
            list.retain(|s| s.node_status == NodeStatus::Left || !last_of_zone(&s.id));
        }
        Ok(failed)
    }

    fn is_potential_voter(&self, node_type: &str) -> bool {
        matches!(node_type, VOTER | ZONE_VOTER | ZONE_EXTRA_VOTER)
    }
}
