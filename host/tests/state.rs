//! State building (behaviour.md section 2) and the stable policy (section 3): health,
//! stability, ordering, and where we deliberately differ from the reference.

use std::collections::BTreeMap;
use std::time::Duration;

use autopilot::{
    Config, Decisions, LastContact, NodeStatus, NodeType, Policy, PolicyFault, PolicyMetadata,
    RaftConfiguration, RaftServer, RaftState, Server, ServerHealth, ServerId, ServerState,
    ServerStats, Servers, StablePolicy, State, StateInputs, Suffrage, Timestamp, annotate,
    compute_state, is_healthy, leader_id, sort_servers,
};
use chrono::{DateTime, Utc};

fn at(text: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

fn config() -> Config {
    Config {
        cleanup_dead_servers: true,
        last_contact_threshold: Duration::from_millis(100),
        max_trailing_logs: 200,
        min_quorum: 3,
        server_stabilization_time: Duration::from_secs(10),
        ext: serde_json::Value::Null,
    }
}

fn alive(stats: ServerStats) -> ServerState {
    ServerState {
        server: Server::new("s", "10.0.0.1:8300", NodeStatus::Alive),
        state: RaftState::Voter,
        stats,
        health: ServerHealth::default(),
    }
}

fn stats(contact_ms: i64, term: u64, index: u64) -> ServerStats {
    ServerStats {
        last_contact: LastContact(contact_ms * 1_000_000),
        last_term: term,
        last_index: index,
    }
}

#[test]
fn health_follows_contact_term_index_and_status() {
    let conf = config();
    // (case, server, leader term, leader index, healthy)
    let failed = {
        let mut s = alive(stats(99, 5, 801));
        s.server.node_status = NodeStatus::Failed;
        s
    };
    let cases = [
        ("ok", alive(stats(99, 5, 801)), 5, 1000, true),
        ("node-failed", failed, 5, 1000, false),
        ("bad-raft-term", alive(stats(99, 6, 801)), 5, 1000, false),
        ("too-stale", alive(stats(150, 5, 801)), 5, 1000, false),
        ("contact-unknown", alive(stats(-1, 5, 801)), 5, 1000, false),
        ("index-too-old", alive(stats(99, 5, 799)), 5, 1000, false),
        ("no-leader", alive(stats(99, 5, 801)), 0, 0, false),
        (
            "contact-at-threshold",
            alive(stats(100, 5, 800)),
            5,
            1000,
            true,
        ),
    ];
    for (name, server, term, index, want) in cases {
        assert_eq!(is_healthy(&server, term, index, &conf), want, "case {name}");
    }
}

#[test]
fn huge_max_trailing_logs_saturates_instead_of_wrapping() {
    let conf = Config {
        max_trailing_logs: u64::MAX,
        ..config()
    };
    assert!(is_healthy(&alive(stats(1, 5, 10)), 5, 1000, &conf));
}

#[test]
fn stability_needs_health_and_time() {
    let since = at("2020-11-02T01:00:00Z");
    let healthy = ServerHealth {
        healthy: true,
        stable_since: since,
    };
    let unhealthy = ServerHealth {
        healthy: false,
        stable_since: at("2020-11-02T00:00:00Z"),
    };
    let ten = Duration::from_secs(10);
    assert!(!unhealthy.is_stable(at("2020-11-02T01:00:00Z"), ten));
    assert!(!healthy.is_stable(at("2020-11-02T01:00:01Z"), ten));
    assert!(healthy.is_stable(at("2020-11-02T01:00:10Z"), ten));
    // A clock that went backwards never makes a server stable early.
    assert!(!healthy.is_stable(at("2020-11-02T00:59:59Z"), Duration::ZERO));
}

#[test]
fn stabilization_is_waived_until_autopilot_has_run_that_long() {
    let conf = Config {
        server_stabilization_time: Duration::from_millis(350),
        ..config()
    };
    let first = at("2020-11-02T12:00:00Z");
    let state_at = |now: &str| State {
        now: at(now),
        first_state_time: first,
        ..State::default()
    };
    assert_eq!(
        state_at("2020-11-02T12:00:00Z").effective_stabilization(&conf),
        Duration::ZERO
    );
    assert_eq!(
        state_at("2020-11-02T12:00:00.350Z").effective_stabilization(&conf),
        Duration::ZERO
    );
    assert_eq!(
        state_at("2020-11-02T12:00:00.351Z").effective_stabilization(&conf),
        Duration::from_millis(350)
    );
}

fn server_with(state: RaftState, healthy: bool, stable_since: Timestamp) -> ServerState {
    ServerState {
        server: Server::new("x", "10.0.0.9:8300", NodeStatus::Alive),
        state,
        stats: ServerStats::default(),
        health: ServerHealth {
            healthy,
            stable_since,
        },
    }
}

#[test]
fn stable_policy_promotes_only_stable_non_voters_in_id_order() {
    let now = at("2020-11-02T12:00:30Z");
    let ago = |secs: i64| now - chrono::TimeDelta::seconds(secs);
    let servers: Servers = [
        ("leader", server_with(RaftState::Leader, true, ago(30))),
        ("voter", server_with(RaftState::Voter, true, ago(20))),
        (
            "stable-non-voter",
            server_with(RaftState::NonVoter, true, ago(11)),
        ),
        (
            "unhealthy-non-voter",
            server_with(RaftState::NonVoter, false, ago(11)),
        ),
        ("staging", server_with(RaftState::Staging, true, ago(11))),
        (
            "fresh-non-voter",
            server_with(RaftState::NonVoter, true, ago(2)),
        ),
        (
            "another-stable",
            server_with(RaftState::NonVoter, true, ago(12)),
        ),
    ]
    .into_iter()
    .map(|(id, s)| (ServerId::from(id), s))
    .collect();
    let state = State {
        servers,
        now,
        first_state_time: ago(30),
        ..State::default()
    };
    let judge = [NodeType::voter(), NodeType::from("")];
    let decisions = StablePolicy
        .decide(&config(), &state, &judge)
        .expect("stable decides");
    let changes = &decisions.changes;
    assert_eq!(
        changes.promotions,
        [
            ServerId::from("another-stable"),
            ServerId::from("stable-non-voter")
        ]
    );
    assert!(changes.demotions.is_empty());
    assert_eq!(changes.leader, None);
    // Every server becomes a voter: those not yet typed so are listed.
    let mut annotated = state.clone();
    annotate(&mut annotated, &decisions);
    assert!(
        annotated
            .servers
            .values()
            .all(|s| s.server.node_type == NodeType::voter())
    );
    assert!(decisions.potential_voters[&NodeType::voter()]);
    assert!(!decisions.potential_voters[&NodeType::from("")]);
}

#[test]
fn voters_sort_leader_first_then_health_then_stability_then_id() {
    let t0 = at("2020-11-02T12:00:00Z");
    let t1 = at("2020-11-02T12:00:05Z");
    let servers: Servers = [
        ("a-unhealthy-old", server_with(RaftState::Voter, false, t0)),
        ("b-unhealthy-new", server_with(RaftState::Voter, false, t1)),
        ("c-healthy-new", server_with(RaftState::Voter, true, t1)),
        ("d-healthy-old", server_with(RaftState::Voter, true, t0)),
        ("e-healthy-old", server_with(RaftState::Voter, true, t0)),
        ("f-non-voter", server_with(RaftState::NonVoter, true, t0)),
        ("z-leader", server_with(RaftState::Leader, false, t1)),
    ]
    .into_iter()
    .map(|(id, s)| (ServerId::from(id), s))
    .collect();
    let state = State {
        servers,
        ..State::default()
    };
    let mut ids: Vec<ServerId> = state.servers.keys().cloned().collect();
    sort_servers(&mut ids, &state);
    let names: Vec<&str> = ids.iter().map(ServerId::as_str).collect();
    assert_eq!(
        names,
        [
            "z-leader",
            "d-healthy-old",
            "e-healthy-old",
            "c-healthy-new",
            "b-unhealthy-new",
            "a-unhealthy-old",
            "f-non-voter"
        ]
    );
}

#[test]
fn leader_comes_from_the_application_then_from_the_raft_address() {
    let raft = RaftConfiguration {
        servers: vec![
            RaftServer {
                suffrage: Suffrage::Voter,
                id: "a".into(),
                address: "10.0.0.1:1".into(),
            },
            RaftServer {
                suffrage: Suffrage::Voter,
                id: "b".into(),
                address: "10.0.0.2:1".into(),
            },
        ],
    };
    let mut known: BTreeMap<ServerId, Server> = ["a", "b"]
        .iter()
        .map(|id| (ServerId::from(*id), Server::new(*id, "", NodeStatus::Alive)))
        .collect();
    assert_eq!(
        leader_id(&known, &raft, Some("10.0.0.2:1")),
        Some("b".into())
    );
    assert_eq!(leader_id(&known, &raft, None), None);
    assert_eq!(leader_id(&known, &raft, Some("10.9.9.9:1")), None);
    known.get_mut("a").expect("a").is_leader = true;
    assert_eq!(
        leader_id(&known, &raft, Some("10.0.0.2:1")),
        Some("a".into())
    );
}

/// A three-voter cluster led by `a` where `c` reports the given stats; `previous` is
/// the state before.
fn inputs(now: Timestamp, c_stats: ServerStats, previous: Option<State>) -> StateInputs {
    let ids = ["a", "b", "c"];
    StateInputs {
        now,
        first_state_time: at("2020-11-02T12:00:00Z"),
        config: config(),
        raft_config: RaftConfiguration {
            servers: ids
                .iter()
                .map(|id| RaftServer {
                    suffrage: Suffrage::Voter,
                    id: (*id).into(),
                    address: format!("{id}:8300").into(),
                })
                .collect(),
        },
        known_servers: ids
            .iter()
            .map(|id| (ServerId::from(*id), Server::new(*id, "", NodeStatus::Alive)))
            .collect(),
        latest_index: 100,
        last_term: 2,
        is_leader: true,
        fetched_stats: [
            ("a", stats(0, 2, 100)),
            ("b", stats(10, 2, 100)),
            ("c", c_stats),
        ]
        .into_iter()
        .map(|(id, s)| (ServerId::from(id), s))
        .collect(),
        leader_id: Some("a".into()),
        current_state: previous,
    }
}

#[test]
fn stable_since_restarts_whenever_health_flips() {
    let t0 = at("2020-11-02T12:00:00Z");
    let t1 = at("2020-11-02T12:01:00Z");
    let t2 = at("2020-11-02T12:02:00Z");
    let t3 = at("2020-11-02T12:03:00Z");
    let first = compute_state(&inputs(t0, stats(10, 2, 100), None), &StablePolicy);
    let c = ServerId::from("c");
    assert!(first.servers[&c].health.healthy);
    assert_eq!(first.servers[&c].health.stable_since, t0, "new server");

    let same = compute_state(&inputs(t1, stats(10, 2, 100), Some(first)), &StablePolicy);
    assert_eq!(
        same.servers[&c].health.stable_since, t0,
        "unchanged health keeps it"
    );

    let sick = compute_state(&inputs(t2, stats(500, 2, 100), Some(same)), &StablePolicy);
    assert!(!sick.servers[&c].health.healthy);
    assert_eq!(
        sick.servers[&c].health.stable_since, t2,
        "healthy -> unhealthy"
    );

    // The reference would keep t0 here (its flip check compares the new value with
    // itself), so a server that just recovered would count as long stable.
    let back = compute_state(&inputs(t3, stats(10, 2, 100), Some(sick)), &StablePolicy);
    assert!(back.servers[&c].health.healthy);
    assert_eq!(
        back.servers[&c].health.stable_since, t3,
        "unhealthy -> healthy"
    );
}

#[test]
fn state_summarises_voters_health_and_failure_tolerance() {
    let now = at("2020-11-02T12:00:00Z");
    let state = compute_state(&inputs(now, stats(10, 2, 100), None), &StablePolicy);
    assert!(state.healthy);
    assert_eq!(state.leader, Some("a".into()));
    assert_eq!(state.failure_tolerance, 1);
    assert_eq!(state.servers[&ServerId::from("a")].state, RaftState::Leader);
    assert!(state.servers[&ServerId::from("a")].server.is_leader);

    let sick = compute_state(&inputs(now, stats(10, 1, 100), None), &StablePolicy);
    assert!(!sick.healthy);
    assert_eq!(sick.failure_tolerance, 0);
    let order: Vec<&str> = sick.voters.iter().map(ServerId::as_str).collect();
    assert_eq!(order, ["a", "b", "c"]);
}

#[test]
fn servers_unknown_to_the_application_are_left_and_keep_their_old_record() {
    let now = at("2020-11-02T12:00:00Z");
    let first = compute_state(&inputs(now, stats(10, 2, 100), None), &StablePolicy);
    let mut next = inputs(now, stats(10, 2, 100), Some(first));
    next.known_servers.remove("c");
    next.raft_config.servers[2].address = "moved:8300".into();
    let state = compute_state(&next, &StablePolicy);
    let c = &state.servers[&ServerId::from("c")];
    assert_eq!(c.server.node_status, NodeStatus::Left);
    assert_eq!(c.server.address, "moved:8300", "address always from Raft");
    assert_eq!(c.server.node_type, NodeType::voter());
    assert!(!c.health.healthy);
}

/// A native policy that annotates every server and the state.
struct Annotating;

impl Policy for Annotating {
    fn metadata(&self) -> PolicyMetadata {
        PolicyMetadata {
            name: "annotating".into(),
            version: "1".into(),
        }
    }

    fn decide(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Decisions, PolicyFault> {
        let server_ext: BTreeMap<ServerId, serde_json::Value> = state
            .servers
            .keys()
            .map(|id| (id.clone(), serde_json::json!({"seen": id.as_str()})))
            .collect();
        let seen: Vec<serde_json::Value> = server_ext.values().map(|e| e["seen"].clone()).collect();
        let node_types = state
            .servers
            .keys()
            .enumerate()
            .map(|(i, id)| (i as u32, NodeType::from(format!("type-of-{id}").as_str())))
            .collect();
        Ok(Decisions {
            server_ext,
            state_ext: Some(serde_json::Value::Array(seen)),
            node_types,
            ..StablePolicy::decisions(config, state, judge)
        })
    }
}

#[test]
fn promoter_annotations_land_on_the_state() {
    let now = at("2020-11-02T12:00:00Z");
    let state = compute_state(&inputs(now, stats(10, 2, 100), None), &Annotating);
    assert_eq!(state.ext, serde_json::json!(["a", "b", "c"]));
    let b = &state.servers[&ServerId::from("b")];
    assert_eq!(b.server.ext, serde_json::json!({"seen": "b"}));
    assert_eq!(b.server.node_type, NodeType::from("type-of-b"));
}
