//! {{name}}: an autopilot placement policy.
//!
//! Every method of `Policy` defaults to the stable policy; override what differs. This
//! one promotes at most one stable non-voter per round (the best first, in the
//! reference's order), so the cluster gains one voter at a time.

use autopilot_sdk::{
    Changes, Config, Metadata, Policy, PolicyError, RaftState, State, is_stable, sort_servers,
};

/// The policy.
#[derive(Debug, Default)]
pub struct {{Type}};

impl Policy for {{Type}} {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// This policy judges health and roles only: the host need not send names,
    /// addresses, versions or metadata, and rounds cost less.
    fn reads_server_details(&self) -> bool {
        false
    }

    fn changes(&self, _config: &Config, state: &State) -> Result<Changes, PolicyError> {
        let mut ready: Vec<String> = state
            .servers
            .iter()
            .filter(|(_, s)| s.raft_state == RaftState::NonVoter && is_stable(state, s))
            .map(|(id, _)| id.clone())
            .collect();
        sort_servers(&mut ready, state);
        ready.truncate(1);
        Ok(Changes {
            promotions: ready,
            ..Changes::default()
        })
    }
}

autopilot_sdk::export_promoter!({{Type}});

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use autopilot_sdk::testing::StateBuilder;
    use autopilot_sdk::{Config, RaftState::*, Timestamp, decide};

    use super::{{Type}};

    #[test]
    fn promotes_one_stable_non_voter_per_round_the_longest_stable_first() {
        let state = StateBuilder::new(Timestamp::from_secs(1_000_000), Duration::from_secs(10))
            .server("a", Leader, true, Duration::from_secs(600))
            .server("b", NonVoter, true, Duration::from_secs(60))
            .server("c", NonVoter, true, Duration::from_secs(120))
            .server("d", NonVoter, true, Duration::from_secs(5))
            .build();
        let decisions = decide(&{{Type}}, &Config::default(), state, &[]).expect("decides");
        assert_eq!(decisions.changes.promotions, vec!["c".to_owned()]);
    }
}
