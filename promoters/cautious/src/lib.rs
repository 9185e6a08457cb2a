//! The cautious policy: like the stable one, but a non-voter must have been healthy
//! for twice the stabilization time before it is promoted; servers still waiting are
//! of node type `probation`, and the state extension counts them.

use std::collections::BTreeMap;

use autopilot_sdk::{
    Changes, Config, Metadata, Policy, PolicyError, RaftState, ServerId, ServerState, State,
    Timestamp, next_stable_after,
};

/// The cautious policy.
#[derive(Debug, Default)]
pub struct Cautious;

fn proven(state: &State, server: &ServerState) -> bool {
    let window = i128::try_from(state.effective_stabilization.as_nanos()).unwrap_or(i128::MAX);
    server.health.healthy
        && state.now.nanos_since(server.health.stable_since) >= window.saturating_mul(2)
}

fn waiting(state: &State) -> impl Iterator<Item = &ServerState> {
    state
        .servers
        .values()
        .filter(|s| s.raft_state == RaftState::NonVoter)
}

impl Policy for Cautious {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "cautious".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Health and roles are all it judges.
    fn reads_server_details(&self) -> bool {
        false
    }

    fn state_ext(&self, _config: &Config, state: &State) -> Result<Option<String>, PolicyError> {
        let on_probation = waiting(state).filter(|s| !proven(state, s)).count();
        Ok(Some(format!("{{\"on_probation\":{on_probation}}}")))
    }

    fn node_types(
        &self,
        _config: &Config,
        state: &State,
    ) -> Result<BTreeMap<ServerId, String>, PolicyError> {
        Ok(state
            .servers
            .iter()
            .map(|(id, s)| {
                let kind = if s.raft_state == RaftState::NonVoter && !proven(state, s) {
                    "probation"
                } else {
                    "voter"
                };
                (id.clone(), kind.to_owned())
            })
            .collect())
    }

    fn changes(&self, _config: &Config, state: &State) -> Result<Changes, PolicyError> {
        Ok(Changes {
            promotions: waiting(state)
                .filter(|s| proven(state, s))
                .map(|s| s.server.id.clone())
                .collect(),
            ..Changes::default()
        })
    }

    fn is_potential_voter(&self, node_type: &str) -> bool {
        matches!(node_type, "voter" | "probation")
    }

    /// Its probation is twice the stabilization time: look again when the next
    /// server's ends, not at the configured window.
    fn wake_at(&self, _config: &Config, state: &State) -> Option<Timestamp> {
        next_stable_after(state, state.effective_stabilization.saturating_mul(2))
    }
}

autopilot_sdk::export_promoter!(Cautious);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use autopilot_sdk::testing::StateBuilder;
    use autopilot_sdk::{RaftState::*, decide};

    use super::*;

    #[test]
    fn promotes_only_after_twice_the_window() {
        let window = Duration::from_secs(10);
        let state = StateBuilder::new(Timestamp::from_secs(1_000_000), window)
            .server("a", Leader, true, Duration::from_secs(600))
            .server("b", NonVoter, true, Duration::from_secs(15))
            .server("c", NonVoter, true, Duration::from_secs(25))
            .build();
        let decisions =
            decide(&Cautious, &Config::default(), state, &["probation".into()]).expect("decides");
        assert_eq!(decisions.changes.promotions, ["c"]);
        assert_eq!(decisions.node_types["b"], "probation");
        assert_eq!(decisions.node_types["c"], "voter");
        assert_eq!(decisions.state_ext.as_deref(), Some("{\"on_probation\":1}"));
        assert_eq!(decisions.potential_voter_types, ["probation"]);
        // b has been healthy for 15 s of its 20 s probation: look again in 5 s.
        assert_eq!(decisions.wake_at, Some(Timestamp::from_secs(1_000_005)));
    }
}
