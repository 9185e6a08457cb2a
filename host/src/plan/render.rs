//! The human-readable plan: a table of the state, then the numbered actions.

use std::fmt::Write;

use crate::core::time::{format_rfc3339, human_duration};
use crate::core::{ServerId, compare_servers};

use super::round::Plan;

/// Renders a plan for people: the cluster summary, one row per server (best first),
/// the numbered actions and any errors.
pub fn render_table(plan: &Plan) -> String {
    let state = &plan.state;
    let mut out = String::new();
    let leader = state.leader.as_ref().map_or("(none)", ServerId::as_str);
    let _ = writeln!(
        out,
        "Healthy: {}   Failure tolerance: {}   Leader: {}   Voters: {}",
        state.healthy,
        state.failure_tolerance,
        leader,
        state.voters.len()
    );
    let _ = writeln!(out);

    let mut ids: Vec<&ServerId> = state.servers.keys().collect();
    ids.sort_by(|a, b| compare_servers(a, b, state));
    let header = [
        "ID",
        "Name",
        "Address",
        "Raft state",
        "Node type",
        "Status",
        "Healthy",
        "Stable since",
        "Last contact",
        "Term",
        "Index",
        "Reason",
    ];
    let rows: Vec<[String; 12]> = ids
        .iter()
        .filter_map(|id| state.servers.get(*id).map(|s| (id, s)))
        .map(|(id, s)| {
            [
                id.to_string(),
                s.server.name.to_string(),
                s.server.address.to_string(),
                s.state.to_string(),
                s.server.node_type.to_string(),
                s.server.node_status.to_string(),
                if s.health.healthy { "yes" } else { "no" }.to_owned(),
                format_rfc3339(&s.health.stable_since),
                s.stats
                    .last_contact
                    .as_duration()
                    .map_or_else(|| "unknown".to_owned(), human_duration),
                s.stats.last_term.to_string(),
                s.stats.last_index.to_string(),
                plan.reasons
                    .get(*id)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }

    let _ = writeln!(out);
    if plan.actions.is_empty() {
        let _ = writeln!(out, "Actions: none");
    } else {
        let _ = writeln!(out, "Actions:");
        for (i, action) in plan.actions.iter().enumerate() {
            let _ = writeln!(out, "  {}. {action}", i + 1);
        }
    }
    if !plan.errors.is_empty() {
        let _ = writeln!(out, "Errors:");
        for error in &plan.errors {
            let _ = writeln!(out, "  - {error}");
        }
    }
    out
}
