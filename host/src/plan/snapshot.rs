//! The `autopilot plan` input: one cluster snapshot in the reference's JSON layout,
//! parsed strictly enough that bad input is refused with the field that is wrong.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::core::json::{null_as_default, unique_server_map};
use crate::core::time::rfc3339;
use crate::core::{
    Config, RaftConfiguration, Server, ServerId, ServerStats, State, StateInputs, Timestamp,
};

/// Why a snapshot is unusable.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// Not JSON, or a field of the wrong type, missing or out of range.
    #[error("invalid input at {path}: {message}")]
    Json {
        /// Where in the document (`.` for the top level).
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The same id twice in the Raft configuration.
    #[error("invalid input at RaftConfig.Servers: duplicate server id {0:?}")]
    DuplicateRaftServer(ServerId),
    /// A `KnownServers` entry whose `ID` differs from its key.
    #[error(
        "invalid input at KnownServers.{key}: its ID is {id:?}, not the key it is listed under"
    )]
    MismatchedKnownId {
        /// The map key.
        key: ServerId,
        /// The record's `ID`.
        id: ServerId,
    },
}

#[derive(Debug, Deserialize)]
struct Snapshot {
    #[serde(rename = "Now", with = "rfc3339")]
    now: Timestamp,
    #[serde(rename = "FirstStateTime", with = "rfc3339")]
    first_state_time: Timestamp,
    #[serde(rename = "Config")]
    config: Config,
    #[serde(rename = "RaftConfig")]
    raft_config: RaftConfiguration,
    #[serde(
        rename = "KnownServers",
        default,
        deserialize_with = "unique_server_map"
    )]
    known_servers: BTreeMap<ServerId, Server>,
    #[serde(rename = "LatestIndex", default)]
    latest_index: u64,
    #[serde(rename = "LastTerm", default)]
    last_term: u64,
    #[serde(rename = "IsLeader", default)]
    is_leader: bool,
    #[serde(
        rename = "FetchedStats",
        default,
        deserialize_with = "unique_server_map"
    )]
    fetched_stats: BTreeMap<ServerId, Option<ServerStats>>,
    #[serde(rename = "LeaderID", default, deserialize_with = "null_as_default")]
    leader_id: String,
    #[serde(rename = "CurrentState", default)]
    current_state: Option<State>,
}

/// Parses a snapshot into the core's state inputs.
pub fn parse_snapshot(text: &str) -> Result<StateInputs, SnapshotError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let snapshot: Snapshot = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        SnapshotError::Json {
            path,
            message: strip_position(&inner),
        }
    })?;

    let mut seen = BTreeSet::new();
    for server in &snapshot.raft_config.servers {
        if !seen.insert(&server.id) {
            return Err(SnapshotError::DuplicateRaftServer(server.id.clone()));
        }
    }
    for (key, server) in &snapshot.known_servers {
        if key != &server.id {
            return Err(SnapshotError::MismatchedKnownId {
                key: key.clone(),
                id: server.id.clone(),
            });
        }
    }
    let mut current_state = snapshot.current_state;
    if let Some(state) = current_state.as_mut() {
        state.now = snapshot.now;
        state.first_state_time = snapshot.first_state_time;
    }
    Ok(StateInputs {
        now: snapshot.now,
        first_state_time: snapshot.first_state_time,
        config: snapshot.config,
        raft_config: snapshot.raft_config,
        known_servers: snapshot.known_servers,
        latest_index: snapshot.latest_index,
        last_term: snapshot.last_term,
        is_leader: snapshot.is_leader,
        // A `null` entry is a server whose stats could not be fetched: as if absent.
        fetched_stats: snapshot
            .fetched_stats
            .into_iter()
            .filter_map(|(id, s)| s.map(|s| (id, s)))
            .collect(),
        leader_id: (!snapshot.leader_id.is_empty()).then_some(ServerId::from(snapshot.leader_id)),
        current_state,
    })
}

/// The snapshot layout [`parse_snapshot`] reads, written from `inputs` (what the
/// runtime's [`Round::snapshot`](crate::Round::snapshot) and the API's
/// `GET /v1/operator/autopilot/snapshot` answer): `parse_snapshot` of it gives back
/// `inputs`.
///
/// # Errors
/// When a value does not serialize (none does: every map is keyed by id).
pub fn snapshot_json(inputs: &StateInputs) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(SnapshotOut {
        now: inputs.now,
        first_state_time: inputs.first_state_time,
        config: &inputs.config,
        raft_config: &inputs.raft_config,
        known_servers: &inputs.known_servers,
        latest_index: inputs.latest_index,
        last_term: inputs.last_term,
        is_leader: inputs.is_leader,
        fetched_stats: &inputs.fetched_stats,
        leader_id: inputs.leader_id.as_ref().map_or("", ServerId::as_str),
        current_state: inputs.current_state.as_ref(),
    })
}

/// The snapshot as written: the fields [`Snapshot`] reads, borrowed.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    #[serde(rename = "Now", with = "rfc3339")]
    now: Timestamp,
    #[serde(rename = "FirstStateTime", with = "rfc3339")]
    first_state_time: Timestamp,
    #[serde(rename = "Config")]
    config: &'a Config,
    #[serde(rename = "RaftConfig")]
    raft_config: &'a RaftConfiguration,
    #[serde(rename = "KnownServers")]
    known_servers: &'a BTreeMap<ServerId, Server>,
    #[serde(rename = "LatestIndex")]
    latest_index: u64,
    #[serde(rename = "LastTerm")]
    last_term: u64,
    #[serde(rename = "IsLeader")]
    is_leader: bool,
    #[serde(rename = "FetchedStats")]
    fetched_stats: &'a BTreeMap<ServerId, ServerStats>,
    #[serde(rename = "LeaderID")]
    leader_id: &'a str,
    #[serde(rename = "CurrentState", skip_serializing_if = "Option::is_none")]
    current_state: Option<&'a State>,
}

/// serde_json appends " at line L column C"; keep it only for syntax errors, where it
/// is the useful part, and drop it where the path already says where.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.is_syntax() || e.is_eof() {
        return text;
    }
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
