//! Server details (name, address, version, metadata) reach a policy exactly when its
//! metadata says it reads them: through the host, and through the SDK's native runner.

use std::sync::Arc;
use std::time::Duration;

use autopilot::{Config, NodeStatus, RaftState, Server, ServerState, State};
use autopilot::{PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use autopilot_sdk::testing::StateBuilder;
use autopilot_sdk::{Metadata, Policy, PolicyError, Timestamp};

fn host() -> PluginHost {
    PluginHost::new(PluginHostConfig::default()).expect("host starts")
}

/// One leader with every detail filled in.
fn state() -> State {
    let mut server = Server::new("node-1", "10.0.0.1:8300", NodeStatus::Alive);
    server.name = "one".into();
    server.version = "1.2.3".into();
    server.meta = Some(Arc::new([("zone".to_owned(), "a".to_owned())].into()));
    let mut state = State::default();
    state.servers.insert(
        server.id.clone(),
        ServerState {
            server,
            state: RaftState::Leader,
            stats: Default::default(),
            health: Default::default(),
        },
    );
    state
}

fn echo_config() -> Config {
    Config {
        ext: serde_json::json!({"echo": true}),
        ..Config::default()
    }
}

#[test]
fn each_policy_declares_whether_it_reads_server_details() {
    let host = host();
    let read = |path: &str| {
        host.load(&guests::component(path))
            .expect("loads")
            .info()
            .reads_server_details
    };
    assert!(!read(guests::STABLE_PROMOTER));
    assert!(!read(guests::CAUTIOUS_PROMOTER));
    assert!(read(guests::REDUNDANCY_ZONES_PROMOTER));
    assert!(read(guests::UPGRADE_MIGRATION_PROMOTER));
    assert!(read(guests::STABLE_DETAILS));
}

#[test]
fn a_policy_that_reads_details_receives_them_through_the_host() {
    let policy = host()
        .load(&guests::component(guests::STABLE_DETAILS))
        .expect("loads");
    let state = state();
    let decisions = policy
        .try_decide(&echo_config(), &state, &[])
        .expect("decides");
    let echoed = decisions
        .server_ext
        .get("node-1")
        .expect("an echo for the server");
    assert_eq!(echoed, &serde_json::json!("one|10.0.0.1:8300|1.2.3|a"));
}

/// Echoes the details it sees, and says whether it reads them.
struct Echo(bool);

impl Policy for Echo {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "echo".into(),
            version: "0".into(),
        }
    }

    fn server_ext(
        &self,
        _config: &autopilot_sdk::Config,
        server: &autopilot_sdk::ServerState,
    ) -> Result<Option<String>, PolicyError> {
        let s = &server.server;
        Ok(Some(format!(
            "{}|{}|{}|{}",
            s.name,
            s.address,
            s.version,
            s.meta.is_some()
        )))
    }

    fn reads_server_details(&self) -> bool {
        self.0
    }
}

#[test]
fn the_native_runner_hides_details_from_a_policy_that_does_not_read_them() {
    let state = StateBuilder::new(Timestamp::from_secs(1_000_000), Duration::ZERO)
        .server("a", autopilot_sdk::RaftState::Leader, true, Duration::ZERO)
        .meta("a", "zone", "z1")
        .with("a", |s| {
            s.server.name = "alpha".into();
            s.server.version = "1.0.0".into();
        })
        .build();
    let run = |reads| {
        autopilot_sdk::decide(
            &Echo(reads),
            &autopilot_sdk::Config::default(),
            state.clone(),
            &[],
        )
        .expect("decides")
        .server_ext["a"]
            .clone()
    };
    assert_eq!(run(true), "alpha|a:8300|1.0.0|true");
    assert_eq!(run(false), "|||false");
}

#[test]
fn a_policy_of_the_previous_contract_still_runs_and_always_gets_details() {
    let policy = host()
        .load(&guests::component(guests::LEGACY_V1))
        .expect("a 0.1 policy loads");
    assert_eq!(policy.info().name, "legacy");
    assert_eq!(
        policy.info().interface,
        "autopilot:promoter/policy@0.1.0",
        "{:?}",
        policy.info()
    );
    assert!(policy.info().reads_server_details);

    // A leader and a non-voter healthy for a minute, autopilot up for an hour.
    let mut state = state();
    let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
    state.now = now;
    state.first_state_time = now - chrono::TimeDelta::hours(1);
    let mut learner = Server::new("node-2", "10.0.0.2:8300", NodeStatus::Alive);
    learner.name = "two".into();
    state.servers.insert(
        learner.id.clone(),
        ServerState {
            server: learner,
            state: RaftState::NonVoter,
            stats: Default::default(),
            health: autopilot::ServerHealth {
                healthy: true,
                stable_since: now - chrono::TimeDelta::seconds(60),
            },
        },
    );
    let decisions = policy
        .try_decide(&Config::default(), &state, &[])
        .expect("decides");
    assert_eq!(
        decisions.server_ext.get("node-1"),
        Some(&serde_json::json!("one|10.0.0.1:8300|1.2.3|a"))
    );
    assert_eq!(
        decisions.server_ext.get("node-2"),
        Some(&serde_json::json!("two|10.0.0.2:8300||"))
    );
    assert_eq!(decisions.changes.promotions, vec!["node-2".into()]);

    let failed = autopilot::FailedServers {
        stale_non_voters: vec!["gone".into()],
        ..Default::default()
    };
    let kept = policy
        .try_filter_removals(&Config::default(), &state, &failed)
        .expect("filters");
    assert_eq!(kept, failed);
}

/// A leader and a non-voter healthy for `healthy_for`, autopilot up for an hour, at
/// `now`.
fn waiting_state(now: chrono::DateTime<chrono::Utc>, healthy_for: i64) -> State {
    let mut state = state();
    state.now = now;
    state.first_state_time = now - chrono::TimeDelta::hours(1);
    let learner = Server::new("node-2", "10.0.0.2:8300", NodeStatus::Alive);
    state.servers.insert(
        learner.id.clone(),
        ServerState {
            server: learner,
            state: RaftState::NonVoter,
            stats: Default::default(),
            health: autopilot::ServerHealth {
                healthy: true,
                stable_since: now - chrono::TimeDelta::seconds(healthy_for),
            },
        },
    );
    state
}

#[test]
fn a_policy_of_contract_0_2_still_runs_and_cannot_say_when_to_look_again() {
    let policy = host()
        .load(&guests::component(guests::LEGACY_V2))
        .expect("a 0.2 policy loads");
    assert_eq!(policy.info().interface, "autopilot:promoter/policy@0.2.0");
    assert!(!policy.info().reads_server_details);
    let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
    // Healthy for 4 s of the 10 s window: not yet promoted.
    let decisions = policy
        .try_decide(&Config::default(), &waiting_state(now, 4), &[])
        .expect("decides");
    assert!(decisions.changes.promotions.is_empty());
    assert_eq!(decisions.wake_at, None);
    let decisions = policy
        .try_decide(&Config::default(), &waiting_state(now, 60), &[])
        .expect("decides");
    assert_eq!(decisions.changes.promotions, vec!["node-2".into()]);
}

#[test]
fn a_policy_of_contract_0_3_says_when_its_answer_changes() {
    let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
    let state = waiting_state(now, 4);
    let stable = host()
        .load(&guests::component(guests::STABLE_PROMOTER))
        .expect("stable loads");
    assert_eq!(stable.info().interface, "autopilot:promoter/policy@0.3.0");
    let decisions = stable
        .try_decide(&Config::default(), &state, &[])
        .expect("decides");
    // Healthy for 4 s of the 10 s window: look again in 6 s.
    assert_eq!(decisions.wake_at, Some(now + chrono::TimeDelta::seconds(6)));
    // The cautious policy's probation is twice as long: 16 s.
    let cautious = host()
        .load(&guests::component(guests::CAUTIOUS_PROMOTER))
        .expect("cautious loads");
    let decisions = cautious
        .try_decide(&Config::default(), &state, &[])
        .expect("decides");
    assert_eq!(
        decisions.wake_at,
        Some(now + chrono::TimeDelta::seconds(16))
    );
}
