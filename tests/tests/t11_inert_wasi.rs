//! The WASI interfaces standard toolchains import are satisfied, and grant nothing:
//! the wall clock reads the round's `now`, the monotonic clock stands still (a sleep
//! returns at once), random bytes are the same every call, there is no file to open
//! and no socket or name lookup to make. A policy stays a pure function of its input.

use autopilot::{
    Config, NodeStatus, PluginHost, PluginHostConfig, RaftState, Server, ServerState, State,
};
use autopilot_integration_tests as guests;
use serde_json::Value;

fn state_at(now: &str) -> State {
    let server = Server::new("node-1", "10.0.0.1:8300", NodeStatus::Alive);
    let mut state = State {
        now: chrono::DateTime::parse_from_rfc3339(now)
            .expect("an instant")
            .to_utc(),
        ..State::default()
    };
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

/// What the probe saw, for its one server.
fn probe(policy: &autopilot::ComponentPolicy, state: &State) -> Value {
    let decisions = policy
        .try_decide(&Config::default(), state, &[])
        .expect("the probe decides");
    decisions
        .server_ext
        .get("node-1")
        .cloned()
        .expect("the probe's report")
}

#[test]
fn standard_wasi_imports_load_and_grant_nothing() {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
    let policy = host
        .load(&guests::component(guests::WASI_PROBE))
        .expect("a component importing clocks, random, filesystem and sockets loads");

    let first = state_at("2021-01-02T03:04:05Z");
    let seen = probe(&policy, &first);
    eprintln!("the probe saw: {seen}");
    assert_eq!(seen["wall_secs"], first.now.timestamp(), "{seen}");
    assert_eq!(
        seen["slept_ms"], 0,
        "time does not pass inside a call: {seen}"
    );
    // No directory to open anything in; sockets refused with `access-denied`.
    assert_eq!(seen["file"], "NotFound", "{seen}");
    assert_eq!(seen["dir"], "NotFound", "{seen}");
    assert_eq!(seen["socket"], "PermissionDenied", "{seen}");
    // A request can be built; sending it is denied with wasi:http's own error code.
    assert_eq!(seen["http"], "ErrorCode::HttpRequestDenied", "{seen}");
    let lookup = seen["lookup"].as_str().unwrap_or_default();
    assert!(!lookup.is_empty() && lookup != "ok", "{seen}");
    let random = seen["random"].as_str().unwrap_or_default().to_owned();
    assert_eq!(random.len(), 16, "8 random bytes in hex: {seen}");

    // Another call, another instant: the clock follows the round, the bytes repeat.
    let later = state_at("2030-06-07T08:09:10Z");
    let again = probe(&policy, &later);
    assert_eq!(again["wall_secs"], later.now.timestamp(), "{again}");
    assert_eq!(
        again["random"],
        random.as_str(),
        "the same bytes every call"
    );
    assert_eq!(
        probe(&policy, &first),
        seen,
        "a replay gives the same answer"
    );
}
