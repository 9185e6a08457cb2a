//! A policy built against contract 0.2.0 (the previous revision, frozen in `wit/`),
//! written without the SDK: the host must still load and run it (its decisions carry
//! no wake-up instant). It behaves like the stable policy.

wit_bindgen::generate!({ world: "promoter", path: "wit" });

use autopilot::promoter::types::{
    Changes, Config, Decisions, FailedServers, PolicyError, PolicyInfo, RaftState, Removals, State,
};

struct LegacyV2;

fn nanos(t: &autopilot::promoter::types::Timestamp) -> i128 {
    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
}

fn all(n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect()
}

impl exports::autopilot::promoter::policy::Guest for LegacyV2 {
    fn metadata() -> PolicyInfo {
        PolicyInfo {
            name: "legacy-v2".into(),
            version: "0.2.0".into(),
            reads_server_details: false,
        }
    }

    fn decide(
        _config: Config,
        state: State,
        judge_node_types: Vec<String>,
    ) -> Result<Decisions, PolicyError> {
        let now = nanos(&state.now);
        let stabilization = i128::from(state.effective_stabilization_ns);
        let mut node_types = Vec::new();
        let mut promotions = Vec::new();
        for (i, s) in state.servers.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            node_types.push((index, 0));
            let stable = s.health.healthy && now - nanos(&s.health.stable_since) >= stabilization;
            if s.raft_state == RaftState::NonVoter && stable {
                promotions.push(index);
            }
        }
        Ok(Decisions {
            server_ext: Vec::new(),
            state_ext: None,
            node_type_names: vec!["voter".into()],
            node_types,
            potential_voters: judge_node_types.iter().map(|t| t == "voter").collect(),
            changes: Changes {
                promotions,
                demotions: Vec::new(),
                leader: None,
            },
        })
    }

    fn filter_removals(
        _config: Config,
        _state: State,
        failed: FailedServers,
    ) -> Result<Removals, PolicyError> {
        Ok(Removals {
            stale_non_voters: all(failed.stale_non_voters.len()),
            stale_voters: all(failed.stale_voters.len()),
            failed_non_voters: all(failed.failed_non_voters.len()),
            failed_voters: all(failed.failed_voters.len()),
        })
    }
}

export!(LegacyV2);
