//! A policy that misbehaves on request: the config's extension data names the
//! misbehaviour (for example `"loop"`); without one it is the stable policy. One
//! component serves the whole adversarial corpus of the host's tests.

use std::collections::BTreeMap;
use std::hint::black_box;

use autopilot_sdk::{
    Changes, Config, FailedServers, Metadata, Policy, PolicyError, ServerId, ServerState, State,
    stable_changes,
};

#[derive(Default)]
struct Adversary;

fn mode(config: &Config) -> &str {
    config.ext.as_deref().unwrap_or("").trim_matches('"')
}

fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    // Not a tail call: every level keeps a frame.
    recurse(depth + 1).wrapping_add(black_box(depth))
}

fn first_server(state: &State) -> ServerId {
    state.servers.keys().next().cloned().unwrap_or_default()
}

impl Policy for Adversary {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "adversary".into(),
            version: "0.1.0".into(),
        }
    }

    fn server_ext(
        &self,
        config: &Config,
        _server: &ServerState,
    ) -> Result<Option<String>, PolicyError> {
        match mode(config) {
            "bad-json" => Ok(Some("{not json".into())),
            _ => Ok(None),
        }
    }

    fn state_ext(&self, config: &Config, _state: &State) -> Result<Option<String>, PolicyError> {
        match mode(config) {
            "giant-output" => Ok(Some(format!("\"{}\"", "x".repeat(4 << 20)))),
            "state-ext" => Ok(Some("{\"zones\":2}".into())),
            _ => Ok(None),
        }
    }

    fn node_types(
        &self,
        config: &Config,
        state: &State,
    ) -> Result<BTreeMap<ServerId, String>, PolicyError> {
        let mut types: BTreeMap<ServerId, String> = state
            .servers
            .keys()
            .map(|id| (id.clone(), "voter".into()))
            .collect();
        match mode(config) {
            "ghost-node-type" => {
                types.insert("ghost".into(), "voter".into());
            }
            "huge-node-type" => {
                let id = first_server(state);
                types.insert(id, "t".repeat(1 << 20));
            }
            _ => {}
        }
        Ok(types)
    }

    fn changes(&self, config: &Config, state: &State) -> Result<Changes, PolicyError> {
        let mut changes = stable_changes(state);
        if let Some(n) = mode(config).strip_prefix("spin:") {
            // Busy work of a chosen size, then the stable answer.
            let n: u64 = n.parse().unwrap_or(0);
            let mut x = 0u64;
            for i in 0..n {
                x = black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            black_box(x);
        }
        match mode(config) {
            "loop" => loop {
                black_box(&changes);
            },
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "panic" => panic!("deliberate panic in the adversary policy"),
            "exit" => std::process::exit(3),
            "huge-error" => {
                return Err(PolicyError::Internal("e".repeat(1 << 20)));
            }
            // Unsafe answers: each breaks one safety rule.
            "demote-all" => changes.demotions = state.voters.clone(),
            "demote-leader" => changes.demotions = state.leader.iter().cloned().collect(),
            "demote-all-but-leader" => {
                changes.demotions = state
                    .voters
                    .iter()
                    .filter(|id| Some(*id) != state.leader.as_ref())
                    .cloned()
                    .collect();
            }
            "promote-unhealthy" => {
                changes.promotions = state
                    .servers
                    .iter()
                    .filter(|(_, s)| !s.raft_state.has_voting_rights() && !s.health.healthy)
                    .map(|(id, _)| id.clone())
                    .collect();
            }
            "promote-voter" => changes.promotions = state.voters.clone(),
            "demote-healthy-followers" => {
                changes.promotions.clear();
                changes.demotions = state
                    .servers
                    .iter()
                    .filter(|(_, s)| s.raft_state == autopilot_sdk::RaftState::Voter)
                    .filter(|(_, s)| s.health.healthy)
                    .map(|(id, _)| id.clone())
                    .collect();
            }
            "flood-then-panic" => {
                let filler = "!".repeat(2040);
                for _ in 0..64 {
                    eprintln!("{filler}");
                }
                panic!("the flood is over, then a panic")
            }
            "recursion" => {
                black_box(recurse(0));
            }
            "policy-error" => {
                return Err(PolicyError::InvalidInput("the adversary refuses".into()));
            }
            "unknown-id" => changes.promotions.push("no-such-server".into()),
            "duplicate-id" => {
                let id = first_server(state);
                changes.promotions = vec![id.clone(), id];
            }
            "promote-and-demote" => {
                let id = first_server(state);
                changes.promotions = vec![id.clone()];
                changes.demotions = vec![id];
            }
            "bad-leader" => {
                changes.leader = state
                    .servers
                    .iter()
                    .find(|(_, s)| !s.raft_state.has_voting_rights() || !s.health.healthy)
                    .map(|(id, _)| id.clone());
            }
            "chatty" => {
                for i in 0..20 {
                    println!("adversary line {i}");
                }
            }
            "flood" => {
                // Half a MiB on each stream, far over the host's bound.
                let filler = ".".repeat(2040);
                for i in 0..256 {
                    println!("{i:>6} {filler}");
                    eprintln!("{i:>6} {filler}");
                }
            }
            "transfer" => {
                changes.leader = state
                    .voters
                    .iter()
                    .find(|id| Some(*id) != state.leader.as_ref())
                    .cloned();
            }
            _ => {}
        }
        Ok(changes)
    }

    fn filter_failed_server_removals(
        &self,
        config: &Config,
        _state: &State,
        mut failed: FailedServers,
    ) -> Result<FailedServers, PolicyError> {
        match mode(config) {
            "filter-invents" => failed.stale_voters.push("invented".into()),
            "filter-keeps-all" => failed = FailedServers::default(),
            _ => {}
        }
        Ok(failed)
    }
}

autopilot_sdk::export_promoter!(Adversary);
