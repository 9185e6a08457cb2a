//! Arithmetic every policy needs: stability, the reference's server order, quorums.

use std::cmp::Ordering;

use crate::types::{Changes, Config, NodeStatus, RaftState, ServerId, ServerState, State};

/// Healthy, and healthy for at least the state's effective stabilization time as of
/// the state's `now`.
pub fn is_stable(state: &State, server: &ServerState) -> bool {
    server.health.healthy
        && state.now.nanos_since(server.health.stable_since)
            >= i128::try_from(state.effective_stabilization.as_nanos()).unwrap_or(i128::MAX)
}

/// The first instant after the state's `now` at which a healthy non-voter will have
/// been healthy for `window`: when a policy that promotes after `window` must look
/// again. `None` when no healthy non-voter is waiting.
pub fn next_stable_after(state: &State, window: std::time::Duration) -> Option<crate::Timestamp> {
    let window = i128::try_from(window.as_nanos()).unwrap_or(i128::MAX);
    state
        .servers
        .values()
        .filter(|s| s.health.healthy && s.raft_state == RaftState::NonVoter)
        .map(|s| s.health.stable_since.plus_nanos(window))
        .filter(|at| *at > state.now)
        .min()
}

/// Voters needed for a quorum of `voters`.
pub fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// How many of `voters` may fail with a quorum of `healthy_voters` left.
pub fn failure_tolerance(voters: usize, healthy_voters: usize) -> usize {
    healthy_voters.saturating_sub(quorum(voters))
}

/// The reference's order: leader, then voters, healthy before unhealthy, longer
/// stable first among healthy (shorter unhealthy first among unhealthy), then id.
pub fn compare_servers(a: &ServerState, b: &ServerState) -> Ordering {
    let rank = |s: &ServerState| match s.raft_state {
        RaftState::Leader => 0,
        RaftState::Voter => 1,
        _ => 2,
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| b.health.healthy.cmp(&a.health.healthy))
        .then_with(|| {
            let by_time = a.health.stable_since.cmp(&b.health.stable_since);
            if a.health.healthy {
                by_time
            } else {
                by_time.reverse()
            }
        })
        .then_with(|| a.server.id.cmp(&b.server.id))
}

/// Sorts ids of the state's servers with [`compare_servers`] (unknown ids last).
pub fn sort_servers(ids: &mut [ServerId], state: &State) {
    ids.sort_by(|a, b| match (state.servers.get(a), state.servers.get(b)) {
        (Some(x), Some(y)) => compare_servers(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

/// Whether two ids are the same, comparing eight bytes at a time. (In a component,
/// `==` on strings calls the C library's `memcmp`, which compares byte by byte; ids
/// are long and alike, and the glue compares many of them.)
pub(crate) fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut wa, mut wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let words_equal = wa.by_ref().zip(wb.by_ref()).all(|(x, y)| {
        let word = |c: &[u8]| c.try_into().map_or(0, u64::from_ne_bytes);
        word(x) == word(y)
    });
    words_equal && wa.remainder() == wb.remainder()
}

/// `changes` cut down to what the host's safety rules accept, so that a policy whose
/// plan would go too far in some cluster still gets its safe part through (the host
/// refuses an unsafe answer whole, and counts it as a fault). It drops:
///
/// - a demotion of the leader (transfer leadership first);
/// - promotions of servers that are not healthy non-voters (or staging) the
///   application sees alive;
/// - demotions, unhealthy voters first, beyond those that leave at least
///   `config.min_quorum` voters (promotions counted) of whom the healthy ones are a
///   majority;
/// - a leader choice that is not a healthy voter.
pub fn safe_changes(config: &Config, state: &State, changes: Changes) -> Changes {
    let server = |id: &ServerId| state.servers.get(id);
    let promotions: Vec<ServerId> = changes
        .promotions
        .into_iter()
        .filter(|id| {
            server(id).is_some_and(|s| {
                matches!(s.raft_state, RaftState::NonVoter | RaftState::Staging)
                    && s.health.healthy
                    && s.server.node_status == NodeStatus::Alive
            })
        })
        .collect();
    let votes = |id: &ServerId| server(id).is_some_and(|s| s.raft_state.has_voting_rights());
    let healthy = |id: &ServerId| server(id).is_some_and(|s| s.health.healthy);
    let mut candidates: Vec<ServerId> = changes
        .demotions
        .into_iter()
        .filter(|id| state.leader.as_ref() != Some(id))
        .collect();
    // Unhealthy voters first: demoting them can only help the healthy majority.
    candidates.sort_by_key(|id| votes(id) && healthy(id));
    let mut remaining: Vec<&ServerId> = state.voters.iter().chain(&promotions).collect();
    remaining.sort();
    remaining.dedup();
    let mut demotions = Vec::new();
    for id in candidates {
        if !votes(&id) {
            demotions.push(id);
            continue;
        }
        let after: Vec<&ServerId> = remaining.iter().copied().filter(|r| *r != &id).collect();
        let healthy_after = after.iter().filter(|r| healthy(r)).count();
        if after.len() >= config.min_quorum as usize && healthy_after >= quorum(after.len()) {
            remaining = after;
            demotions.push(id);
        }
    }
    let leader = changes
        .leader
        .filter(|id| state.leader.as_ref() == Some(id) || (votes(id) && healthy(id)));
    Changes {
        promotions,
        demotions,
        leader,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{safe_changes, same_id};
    use crate::testing::StateBuilder;
    use crate::types::{Changes, Config, RaftState::*, Timestamp};

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Leader `a`, voters `b`, `c` healthy and `d` unhealthy; non-voters `e` healthy
    /// and `f` unhealthy.
    fn cluster() -> crate::State {
        let long = Duration::from_secs(600);
        StateBuilder::new(Timestamp::from_secs(1_000_000), Duration::from_secs(10))
            .server("a", Leader, true, long)
            .server("b", Voter, true, long)
            .server("c", Voter, true, long)
            .server("d", Voter, false, long)
            .server("e", NonVoter, true, long)
            .server("f", NonVoter, false, long)
            .build()
    }

    fn config(min_quorum: u32) -> Config {
        Config {
            min_quorum,
            ..Config::default()
        }
    }

    #[test]
    fn safe_changes_keeps_a_safe_answer_whole() {
        let changes = Changes {
            promotions: ids(&["e"]),
            demotions: ids(&["d"]),
            leader: Some("b".into()),
        };
        assert_eq!(
            safe_changes(&config(3), &cluster(), changes.clone()),
            changes
        );
    }

    #[test]
    fn safe_changes_drops_what_the_host_would_refuse() {
        let changes = Changes {
            promotions: ids(&["b", "e", "f"]),
            demotions: ids(&["a", "b", "c", "d"]),
            leader: Some("d".into()),
        };
        let safe = safe_changes(&config(3), &cluster(), changes);
        // The leader stays; the unhealthy voter goes first; then healthy voters only
        // while three voters with a healthy majority remain (a, c, e after b goes).
        assert_eq!(safe.promotions, ids(&["e"]));
        assert_eq!(safe.demotions, ids(&["d", "b"]));
        assert!(safe.leader.is_none());
    }

    #[test]
    fn same_id_is_string_equality() {
        let ids = [
            "",
            "a",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefghj",
            "00000001-0000-4000-8000-000000000001",
            "00000001-0000-4000-8000-000000000002",
            "00000002-0000-4000-8000-000000000001",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(same_id(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}
