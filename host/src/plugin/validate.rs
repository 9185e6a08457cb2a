//! Checking what a policy returns before anything can reach Raft.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::bindings::wit;
use super::error::PluginError;
use crate::core::{FailedServers, NodeType, RaftChanges, ServerId, State};

/// A policy's validated decisions for one round, in core types.
#[derive(Debug, Clone, PartialEq)]
pub struct Decisions {
    /// Extension data per server.
    pub server_ext: BTreeMap<ServerId, Value>,
    /// Extension data for the state.
    pub state_ext: Option<Value>,
    /// Node type per server.
    pub node_types: BTreeMap<ServerId, NodeType>,
    /// Verdicts for the node types asked about.
    pub potential_voters: BTreeMap<NodeType, bool>,
    /// The changes.
    pub changes: RaftChanges,
}

fn invalid(message: String) -> PluginError {
    PluginError::InvalidOutput(message)
}

fn known_id(state: &State, id: String, what: &str) -> Result<ServerId, PluginError> {
    let id = ServerId(id);
    if state.servers.contains_key(&id) {
        Ok(id)
    } else {
        Err(invalid(format!("{what} names unknown server \"{id}\"")))
    }
}

fn unique_ids(state: &State, ids: Vec<String>, what: &str) -> Result<Vec<ServerId>, PluginError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = known_id(state, id, what)?;
        if !seen.insert(id.clone()) {
            return Err(invalid(format!("{what} lists server \"{id}\" twice")));
        }
        out.push(id);
    }
    Ok(out)
}

fn parse_ext(text: &str, what: &str) -> Result<Value, PluginError> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what} is not valid JSON ({e})")))
}

/// Validates one `decide` result against the state it was computed for and the node
/// types that were asked about.
pub fn decisions(
    state: &State,
    judged: &[NodeType],
    raw: wit::Decisions,
    ext_limit: usize,
) -> Result<Decisions, PluginError> {
    let ext_bytes: usize = raw.server_ext.iter().map(|(_, e)| e.len()).sum::<usize>()
        + raw.state_ext.as_ref().map_or(0, String::len);
    if ext_bytes > ext_limit {
        return Err(PluginError::OutputTooLarge {
            bytes: ext_bytes,
            limit: ext_limit,
        });
    }

    let mut server_ext = BTreeMap::new();
    for (id, text) in raw.server_ext {
        let id = known_id(state, id, "server extension")?;
        let value = parse_ext(&text, &format!("extension data for \"{id}\""))?;
        if server_ext.insert(id.clone(), value).is_some() {
            return Err(invalid(format!(
                "server extension lists server \"{id}\" twice"
            )));
        }
    }
    let state_ext = raw
        .state_ext
        .as_deref()
        .map(|t| parse_ext(t, "state extension data"))
        .transpose()?;

    let mut node_types = BTreeMap::new();
    for (id, node_type) in raw.node_types {
        let id = known_id(state, id, "node types")?;
        if node_types.insert(id.clone(), NodeType(node_type)).is_some() {
            return Err(invalid(format!("node types list server \"{id}\" twice")));
        }
    }

    let asked: BTreeSet<&str> = judged.iter().map(NodeType::as_str).collect();
    let mut potential = BTreeSet::new();
    for node_type in raw.potential_voter_types {
        if !asked.contains(node_type.as_str()) {
            return Err(invalid(format!(
                "potential-voter verdict for node type {node_type:?}, which was not asked about"
            )));
        }
        potential.insert(node_type);
    }
    let potential_voters = judged
        .iter()
        .map(|t| (t.clone(), potential.contains(t.as_str())))
        .collect();

    let promotions = unique_ids(state, raw.changes.promotions, "promotions")?;
    let demotions = unique_ids(state, raw.changes.demotions, "demotions")?;
    if let Some(both) = promotions.iter().find(|p| demotions.contains(p)) {
        return Err(invalid(format!(
            "server \"{both}\" is both promoted and demoted"
        )));
    }
    let leader = match raw.changes.leader {
        None => None,
        Some(id) => {
            let id = known_id(state, id, "the leader choice")?;
            let healthy_voter = state
                .servers
                .get(&id)
                .is_some_and(|s| s.has_voting_rights() && s.health.healthy);
            if !healthy_voter {
                return Err(invalid(format!(
                    "the chosen leader \"{id}\" is not a healthy voter"
                )));
            }
            Some(id)
        }
    };

    Ok(Decisions {
        server_ext,
        state_ext,
        node_types,
        potential_voters,
        changes: RaftChanges {
            promotions,
            demotions,
            leader,
        },
    })
}

/// Validates a `filter-removals` result: every category a subset of what was offered,
/// no duplicates. Failed servers keep the host's records (a policy cannot edit them).
pub fn filtered(
    offered: &FailedServers,
    raw: wit::FailedServers,
) -> Result<FailedServers, PluginError> {
    fn subset(
        offered: &[ServerId],
        returned: Vec<String>,
        what: &str,
    ) -> Result<Vec<ServerId>, PluginError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for id in returned {
            let id = ServerId(id);
            if !offered.contains(&id) {
                return Err(invalid(format!(
                    "{what} names \"{id}\", which was not offered for removal"
                )));
            }
            if !seen.insert(id.clone()) {
                return Err(invalid(format!("{what} lists \"{id}\" twice")));
            }
            out.push(id);
        }
        Ok(out)
    }
    let ids =
        |servers: &[crate::core::Server]| servers.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let records = |servers: &[crate::core::Server], kept: Vec<ServerId>| {
        kept.iter()
            .filter_map(|id| servers.iter().find(|s| &s.id == id).cloned())
            .collect()
    };
    let stale_non_voters = subset(
        &offered.stale_non_voters,
        raw.stale_non_voters,
        "stale non-voters",
    )?;
    let stale_voters = subset(&offered.stale_voters, raw.stale_voters, "stale voters")?;
    let failed_non_voters = subset(
        &ids(&offered.failed_non_voters),
        raw.failed_non_voters.into_iter().map(|s| s.id).collect(),
        "failed non-voters",
    )?;
    let failed_voters = subset(
        &ids(&offered.failed_voters),
        raw.failed_voters.into_iter().map(|s| s.id).collect(),
        "failed voters",
    )?;
    Ok(FailedServers {
        stale_non_voters,
        stale_voters,
        failed_non_voters: records(&offered.failed_non_voters, failed_non_voters),
        failed_voters: records(&offered.failed_voters, failed_voters),
    })
}
