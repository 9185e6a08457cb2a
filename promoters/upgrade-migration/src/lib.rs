//! Automated upgrades: when servers of a newer version join, they are promoted once
//! there are at least as many healthy ones as old-version voters; then the old voters
//! are demoted, leadership moves to a new-version voter, and the old servers wait as
//! non-voters for removal. With redundancy zones, leadership does not move until the
//! new version covers every zone the old voters did; outside an upgrade the zones
//! policy decides (or the stable policy, for servers without zones).

use std::collections::BTreeMap;

use autopilot_sdk::{
    Changes, Config, FailedServers, Metadata, Policy, PolicyError, RaftState, ServerId,
    ServerState, State, compare_servers, is_stable, safe_changes,
};
use autopilot_zones as zones;
use semver::{BuildMetadata, Version};
use serde_json::{Value, json};

/// Node type of an old-version server phased out of the voters.
pub const UPGRADE_OLD: &str = "upgrade-old";
/// Node type of a new-version server waiting for enough peers to be promoted.
pub const UPGRADE_PENDING: &str = "upgrade-pending";

/// Where an upgrade stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every voter runs the newest version.
    Idle,
    /// Newer servers exist, but fewer healthy ones than old voters.
    AwaitingNewVoters,
    /// Newer servers are being promoted.
    Promoting,
    /// Old voters are being demoted.
    Demoting,
    /// Leadership moves to a new-version voter.
    LeaderTransfer,
    /// Old servers are non-voters, waiting to be removed.
    AwaitingRemoval,
    /// Upgrades are disabled in the config.
    Disabled,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::AwaitingNewVoters => "await-new-voters",
            Self::Promoting => "promoting",
            Self::Demoting => "demoting",
            Self::LeaderTransfer => "leader-transfer",
            Self::AwaitingRemoval => "await-server-removal",
            Self::Disabled => "disabled",
        }
    }
}

/// The settings read from the config extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Meta key holding the version (`None`: the server's version field).
    pub version_tag: Option<String>,
    /// Meta key holding the zone.
    pub zone_tag: String,
    /// Upgrades off.
    pub disabled: bool,
}

/// Reads `version_tag`, `zone_tag` and `disable_upgrade_migration` from the config
/// extension.
pub fn settings(config: &Config) -> Result<Settings, PolicyError> {
    let zone_tag = zones::zone_tag(config)?;
    let value: Value = match config.ext.as_deref() {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| PolicyError::InvalidInput(format!("config extension is not JSON: {e}")))?,
        None => Value::Null,
    };
    let version_tag = match value.get("version_tag") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
        Some(other) => {
            return Err(PolicyError::InvalidInput(format!(
                "version_tag must be a non-empty string, not {other}"
            )));
        }
    };
    let disabled = match value.get("disable_upgrade_migration") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(PolicyError::InvalidInput(format!(
                "disable_upgrade_migration must be a boolean, not {other}"
            )));
        }
    };
    Ok(Settings {
        version_tag,
        zone_tag,
        disabled,
    })
}

/// A server's version (build metadata ignored), if it has a valid one.
pub fn version(settings: &Settings, server: &ServerState) -> Option<Version> {
    let text = match &settings.version_tag {
        Some(tag) => server.server.meta(tag)?,
        None => server.server.version.as_str(),
    };
    let mut version = Version::parse(text.trim().trim_start_matches('v')).ok()?;
    version.build = BuildMetadata::EMPTY;
    Some(version)
}

/// The upgrade's decisions for a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// Where it stands.
    pub status: Status,
    /// The newest version present.
    pub target: Option<Version>,
    /// Servers by version.
    pub versions: BTreeMap<Version, Vec<ServerId>>,
    /// Servers without a known version (never demoted for the upgrade).
    pub unknown: Vec<ServerId>,
    /// Node types.
    pub node_types: BTreeMap<ServerId, String>,
    /// Changes.
    pub changes: Changes,
}

/// Decides the round.
pub fn decide_upgrade(settings: &Settings, state: &State) -> Upgrade {
    let mut versions: BTreeMap<Version, Vec<ServerId>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (id, server) in &state.servers {
        match version(settings, server) {
            Some(v) => versions.entry(v).or_default().push(id.clone()),
            None => unknown.push(id.clone()),
        }
    }
    let target = versions.keys().next_back().cloned();
    // Outside an upgrade: the zones policy (stable for servers without zones).
    let zones_plan = zones::plan(&settings.zone_tag, state);
    let mut upgrade = Upgrade {
        status: Status::Idle,
        target: target.clone(),
        versions: versions.clone(),
        unknown,
        node_types: zones_plan.node_types.clone(),
        changes: Changes {
            promotions: zones_plan.promotions.clone(),
            demotions: zones_plan.demotions.clone(),
            leader: None,
        },
    };
    if settings.disabled {
        upgrade.status = Status::Disabled;
        return upgrade;
    }
    let Some(target) = target else {
        return upgrade;
    };
    let is_new = |s: &ServerState| version(settings, s).is_some_and(|v| v == target);
    let is_old = |s: &ServerState| version(settings, s).is_some_and(|v| v < target);
    let old_voters: Vec<&ServerState> = state
        .servers
        .values()
        .filter(|s| s.raft_state.has_voting_rights() && is_old(s))
        .collect();
    let olds: Vec<&ServerState> = state.servers.values().filter(|s| is_old(s)).collect();
    for old in &olds {
        if !old.raft_state.has_voting_rights() {
            upgrade
                .node_types
                .insert(old.server.id.clone(), UPGRADE_OLD.to_owned());
            upgrade.changes.promotions.retain(|id| id != &old.server.id);
        }
    }
    if old_voters.is_empty() {
        if !olds.is_empty() {
            upgrade.status = Status::AwaitingRemoval;
        }
        return upgrade;
    }
    // During an upgrade this policy decides membership alone.
    upgrade.changes = Changes::default();
    let mut ready: Vec<&ServerState> = state
        .servers
        .values()
        .filter(|s| is_new(s) && s.health.healthy && is_stable(state, s))
        .collect();
    ready.sort_by(|a, b| compare_servers(a, b));
    let pending: Vec<&ServerState> = state
        .servers
        .values()
        .filter(|s| is_new(s) && !s.raft_state.has_voting_rights())
        .collect();
    if ready.len() < old_voters.len() {
        upgrade.status = Status::AwaitingNewVoters;
        for s in &pending {
            upgrade
                .node_types
                .insert(s.server.id.clone(), UPGRADE_PENDING.to_owned());
            upgrade.changes.promotions.retain(|id| id != &s.server.id);
        }
        return upgrade;
    }
    let to_promote: Vec<ServerId> = ready
        .iter()
        .filter(|s| !s.raft_state.has_voting_rights())
        .map(|s| s.server.id.clone())
        .collect();
    for s in &ready {
        upgrade
            .node_types
            .insert(s.server.id.clone(), zones::VOTER.to_owned());
    }
    if !to_promote.is_empty() {
        upgrade.status = Status::Promoting;
        upgrade.changes.promotions = to_promote;
        return upgrade;
    }
    // New voters are in place. Zones: the new version must cover every zone the old
    // servers cover before leadership moves.
    let zone_of = |s: &ServerState| s.server.meta(&settings.zone_tag).map(str::to_owned);
    let covered = olds.iter().filter_map(|s| zone_of(s)).all(|zone| {
        ready
            .iter()
            .any(|n| zone_of(n).as_deref() == Some(zone.as_str()))
    });
    let leader_is_old = state
        .leader
        .as_ref()
        .and_then(|l| state.servers.get(l))
        .is_some_and(|l| is_old(l));
    let demotable: Vec<ServerId> = old_voters
        .iter()
        .filter(|s| s.raft_state != RaftState::Leader)
        .map(|s| s.server.id.clone())
        .collect();
    for s in &old_voters {
        upgrade
            .node_types
            .insert(s.server.id.clone(), UPGRADE_OLD.to_owned());
    }
    if !demotable.is_empty() {
        upgrade.status = Status::Demoting;
        upgrade.changes.demotions = demotable;
        return upgrade;
    }
    if leader_is_old {
        upgrade.status = Status::LeaderTransfer;
        if covered {
            upgrade.changes.leader = ready
                .iter()
                .find(|s| s.raft_state.has_voting_rights())
                .map(|s| s.server.id.clone());
        }
    }
    upgrade
}

fn report(upgrade: &Upgrade) -> Value {
    let versions: serde_json::Map<String, Value> = upgrade
        .versions
        .iter()
        .map(|(v, ids)| (v.to_string(), json!(ids)))
        .collect();
    json!({
        "status": upgrade.status.name(),
        "target_version": upgrade.target.as_ref().map(ToString::to_string),
        "versions": versions,
        "unknown_version": upgrade.unknown,
    })
}

/// The upgrade-migration policy.
#[derive(Debug, Default)]
pub struct UpgradeMigration;

impl Policy for UpgradeMigration {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "upgrade-migration".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn state_ext(&self, config: &Config, state: &State) -> Result<Option<String>, PolicyError> {
        let upgrade = decide_upgrade(&settings(config)?, state);
        Ok(Some(report(&upgrade).to_string()))
    }

    fn node_types(
        &self,
        config: &Config,
        state: &State,
    ) -> Result<BTreeMap<ServerId, String>, PolicyError> {
        Ok(decide_upgrade(&settings(config)?, state).node_types)
    }

    fn changes(&self, config: &Config, state: &State) -> Result<Changes, PolicyError> {
        let changes = decide_upgrade(&settings(config)?, state).changes;
        // Never more than the cluster can spare, whatever the migration's step.
        Ok(safe_changes(config, state, changes))
    }

    fn filter_failed_server_removals(
        &self,
        config: &Config,
        state: &State,
        failed: FailedServers,
    ) -> Result<FailedServers, PolicyError> {
        zones::RedundancyZones.filter_failed_server_removals(config, state, failed)
    }

    fn is_potential_voter(&self, node_type: &str) -> bool {
        node_type == UPGRADE_PENDING || zones::RedundancyZones.is_potential_voter(node_type)
    }
}

autopilot_sdk::export_promoter!(UpgradeMigration);
