//! Checking what a policy returns before anything can reach Raft.

use std::collections::BTreeMap;

use serde_json::Value;

use super::bindings::wit;
use super::error::PluginError;
use crate::core::{Decisions, FailedServers, NodeType, RaftChanges, ServerId, State, Timestamp};

/// The longest node-type name a policy may return, in bytes.
pub const MAX_NODE_TYPE: usize = 128;
/// The longest message (an error value, a panic line) kept from a policy, in bytes;
/// the rest is cut.
pub const MAX_MESSAGE: usize = 1024;

/// `text` cut to at most `limit` bytes (at a character boundary), marked as cut.
pub fn bounded(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

fn invalid(message: String) -> PluginError {
    PluginError::InvalidOutput(message)
}

/// The state's servers in the order the policy saw them (by id), for its indices.
fn order(state: &State) -> Vec<&ServerId> {
    state.servers.keys().collect()
}

fn server_at<'a>(
    ids: &[&'a ServerId],
    index: u32,
    what: &str,
) -> Result<&'a ServerId, PluginError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| ids.get(i))
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "{what} names a server not in the state (index {index}, {} servers)",
                ids.len()
            ))
        })
}

fn unique_servers(
    ids: &[&ServerId],
    indices: &[u32],
    what: &str,
) -> Result<Vec<ServerId>, PluginError> {
    let mut seen = vec![false; ids.len()];
    let mut out = Vec::with_capacity(indices.len());
    for &index in indices {
        let id = server_at(ids, index, what)?;
        let slot = &mut seen[index as usize];
        if *slot {
            return Err(invalid(format!("{what} lists server \"{id}\" twice")));
        }
        *slot = true;
        out.push(id.clone());
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
    let ids = order(state);

    let mut server_ext = BTreeMap::new();
    for (index, text) in &raw.server_ext {
        let id = server_at(&ids, *index, "server extension")?;
        let value = parse_ext(text, &format!("extension data for \"{id}\""))?;
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

    if let Some(long) = raw.node_type_names.iter().find(|n| n.len() > MAX_NODE_TYPE) {
        return Err(invalid(format!(
            "node type name of {} bytes (\"{}\"), over the {MAX_NODE_TYPE} byte limit",
            long.len(),
            bounded(long, 32)
        )));
    }
    if raw.node_type_names.len() > ids.len() + judged.len() + 16 {
        return Err(invalid(format!(
            "{} node type names for {} servers",
            raw.node_type_names.len(),
            ids.len()
        )));
    }
    let names: Vec<NodeType> = raw
        .node_type_names
        .into_iter()
        .map(NodeType::from)
        .collect();
    let mut assigned = vec![false; ids.len()];
    let mut node_types = Vec::with_capacity(raw.node_types.len());
    for (index, name) in raw.node_types {
        let id = server_at(&ids, index, "node types")?;
        let node_type = usize::try_from(name)
            .ok()
            .and_then(|n| names.get(n))
            .ok_or_else(|| {
                invalid(format!(
                    "node type index {name} for \"{id}\" is not in node-type-names"
                ))
            })?;
        if std::mem::replace(&mut assigned[index as usize], true) {
            return Err(invalid(format!("node types list server \"{id}\" twice")));
        }
        node_types.push((index, node_type.clone()));
    }

    if raw.potential_voters.len() != judged.len() {
        return Err(invalid(format!(
            "{} potential-voter verdicts for {} node types asked about",
            raw.potential_voters.len(),
            judged.len()
        )));
    }
    let potential_voters = judged.iter().cloned().zip(raw.potential_voters).collect();

    let promotions = unique_servers(&ids, &raw.changes.promotions, "promotions")?;
    let demotions = unique_servers(&ids, &raw.changes.demotions, "demotions")?;
    if let Some(both) = promotions.iter().find(|p| demotions.contains(p)) {
        return Err(invalid(format!(
            "server \"{both}\" is both promoted and demoted"
        )));
    }
    // Whether the chosen leader may lead is a safety rule, checked for every policy.
    let leader = raw
        .changes
        .leader
        .map(|index| server_at(&ids, index, "the leader choice").cloned())
        .transpose()?;
    let wake_at = raw.wake_at.map(|t| instant(&t)).transpose()?;

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
        wake_at,
    })
}

/// A contract timestamp as an instant.
fn instant(t: &wit::Timestamp) -> Result<Timestamp, PluginError> {
    if t.nanos >= 1_000_000_000 {
        return Err(invalid(format!(
            "wake-at has {} nanoseconds (at most 999999999)",
            t.nanos
        )));
    }
    chrono::DateTime::from_timestamp(t.seconds, t.nanos)
        .ok_or_else(|| invalid(format!("wake-at {}s is out of range", t.seconds)))
}

/// Validates a `filter-removals` result: indices into each offered category, no
/// duplicates. The kept entries are the host's own records.
pub fn filtered(offered: &FailedServers, raw: wit::Removals) -> Result<FailedServers, PluginError> {
    fn pick<T: Clone>(offered: &[T], indices: &[u32], what: &str) -> Result<Vec<T>, PluginError> {
        let mut seen = vec![false; offered.len()];
        let mut out = Vec::with_capacity(indices.len());
        for &index in indices {
            let i = usize::try_from(index).ok().filter(|i| *i < offered.len()).ok_or_else(|| {
                invalid(format!(
                    "{what} names a server that was not offered for removal (index {index}, {} offered)",
                    offered.len()
                ))
            })?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(invalid(format!("{what} lists entry {index} twice")));
            }
            out.push(offered[i].clone());
        }
        Ok(out)
    }
    Ok(FailedServers {
        stale_non_voters: pick(
            &offered.stale_non_voters,
            &raw.stale_non_voters,
            "stale non-voters",
        )?,
        stale_voters: pick(&offered.stale_voters, &raw.stale_voters, "stale voters")?,
        failed_non_voters: pick(
            &offered.failed_non_voters,
            &raw.failed_non_voters,
            "failed non-voters",
        )?,
        failed_voters: pick(&offered.failed_voters, &raw.failed_voters, "failed voters")?,
    })
}
