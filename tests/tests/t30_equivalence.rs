//! The stable component (Rust, Python and JavaScript) decides exactly as the native stable
//! policy: whole dry-run rounds (state, reconcile, prune) over generated clusters give
//! identical plans.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use autopilot::plan::plan_round;
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig};
use autopilot::{
    Config, LastContact, NodeStatus, NodeType, RaftConfiguration, RaftServer, Server, ServerHealth,
    ServerId, ServerState, ServerStats, StablePolicy, State, StateInputs, Suffrage, compute_state,
};
use autopilot_integration_tests as guests;
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

fn component() -> &'static ComponentPolicy {
    static PROMOTER: OnceLock<ComponentPolicy> = OnceLock::new();
    PROMOTER.get_or_init(|| {
        let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
        host.load(&guests::component(guests::STABLE_PROMOTER))
            .expect("stable loads")
    })
}

#[derive(Debug, Clone)]
struct GenServer {
    suffrage: u8,
    known: Option<(u8, bool)>,
    stats: Option<(i64, u64, u64)>,
    previous: Option<(bool, i64)>,
}

fn arb_server() -> impl Strategy<Value = GenServer> {
    (
        0u8..3,
        prop::option::weighted(0.85, (0u8..6, prop::bool::weighted(0.8))),
        prop::option::weighted(0.9, (-5i64..400, 1u64..4, 80u64..110)),
        prop::option::of((any::<bool>(), 0i64..120)),
    )
        .prop_map(|(suffrage, known, stats, previous)| GenServer {
            suffrage,
            known,
            stats,
            previous,
        })
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_600_000_000, 0).expect("valid") + TimeDelta::seconds(seconds)
}

fn inputs(
    servers: &[GenServer],
    leader: Option<usize>,
    is_leader: bool,
    running_for: i64,
    stabilization: u64,
    min_quorum: u32,
) -> StateInputs {
    let id = |i: usize| ServerId::from(format!("server-{i:02}"));
    let now = at(1_000);
    let config = Config {
        cleanup_dead_servers: true,
        last_contact_threshold: Duration::from_millis(200),
        max_trailing_logs: 10,
        min_quorum,
        server_stabilization_time: Duration::from_secs(stabilization),
        ext: serde_json::Value::Null,
    };
    let mut raft = RaftConfiguration::default();
    let mut known = BTreeMap::new();
    let mut stats = BTreeMap::new();
    let mut previous = State::default();
    for (i, s) in servers.iter().enumerate() {
        raft.servers.push(RaftServer {
            suffrage: [Suffrage::Voter, Suffrage::Nonvoter, Suffrage::Staging]
                [usize::from(s.suffrage)],
            id: id(i),
            address: format!("10.0.0.{i}:8300").into(),
        });
        if let Some((status, voter_type)) = s.known {
            let status = match status {
                0..=2 => NodeStatus::Alive,
                3 => NodeStatus::Failed,
                4 => NodeStatus::Left,
                _ => NodeStatus::Unknown,
            };
            let mut server = Server::new(id(i), format!("10.0.0.{i}:8300"), status);
            server.name = format!("node{i}").into();
            server.version = "1.2.3".into();
            server.meta = Some(std::sync::Arc::new(
                [("zone".to_owned(), format!("z{}", i % 3))].into(),
            ));
            server.node_type = if voter_type {
                NodeType::voter()
            } else {
                NodeType::default()
            };
            known.insert(id(i), server);
        }
        if let Some((contact_ms, term, index)) = s.stats {
            stats.insert(
                id(i),
                ServerStats {
                    last_contact: LastContact(contact_ms * 1_000_000),
                    last_term: term,
                    last_index: index,
                },
            );
        }
        if let Some((healthy, ago)) = s.previous {
            previous.servers.insert(
                id(i),
                ServerState {
                    server: Server::new(id(i), "old:1", NodeStatus::Alive),
                    state: autopilot::RaftState::Voter,
                    stats: ServerStats::default(),
                    health: ServerHealth {
                        healthy,
                        stable_since: now - TimeDelta::seconds(ago),
                    },
                },
            );
        }
    }
    StateInputs {
        now,
        first_state_time: now - TimeDelta::seconds(running_for),
        config,
        raft_config: raft,
        known_servers: known,
        latest_index: 100,
        last_term: 2,
        is_leader,
        fetched_stats: stats,
        leader_id: leader.filter(|l| *l < servers.len()).map(id),
        current_state: Some(previous),
    }
}

/// The stable policy written in Python (`promoters/python/stable`, built with
/// componentize-py's defaults).
fn python() -> &'static ComponentPolicy {
    static PROMOTER: OnceLock<ComponentPolicy> = OnceLock::new();
    PROMOTER.get_or_init(|| {
        let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
        host.load(&guests::python_component("stable"))
            .expect("the Python stable policy loads")
    })
}

/// The stable policy written in JavaScript (`promoters/js/stable`, built with
/// componentize-js's defaults).
fn javascript() -> &'static ComponentPolicy {
    static PROMOTER: OnceLock<ComponentPolicy> = OnceLock::new();
    PROMOTER.get_or_init(|| {
        let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
        host.load(&guests::js_component("promoters/js/stable"))
            .expect("the JavaScript stable policy loads")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The Rust component on every case; the Python or the JavaScript one (a third of
    /// the cases each) too.
    #[test]
    fn stable_components_plan_exactly_like_the_native_policy(
        servers in prop::collection::vec(arb_server(), 1..12),
        leader in prop::option::weighted(0.9, 0usize..12),
        is_leader in prop::bool::weighted(0.8),
        running_for in 0i64..60,
        stabilization in 0u64..30,
        min_quorum in 0u32..5,
        other in 0u8..3,
    ) {
        let inputs = inputs(&servers, leader, is_leader, running_for, stabilization, min_quorum);
        let native = plan_round(&inputs, &StablePolicy);
        let mut components = vec![component()];
        match other {
            1 => components.push(python()),
            2 => components.push(javascript()),
            _ => {}
        }
        for policy in components {
            let wasm = plan_round(&inputs, policy);
            prop_assert!(wasm.faults.is_empty(), "plugin errors: {:?}", wasm.faults);
            prop_assert_eq!(&wasm, &native);
        }
    }
}

#[test]
fn generated_rounds_include_promotions_and_removals() {
    // Guards the generator: the equivalence above must cover rounds that do something.
    let servers = vec![
        GenServer {
            suffrage: 0,
            known: Some((0, true)),
            stats: Some((0, 2, 100)),
            previous: Some((true, 100)),
        },
        GenServer {
            suffrage: 0,
            known: Some((0, true)),
            stats: Some((5, 2, 100)),
            previous: Some((true, 100)),
        },
        GenServer {
            suffrage: 0,
            known: Some((0, true)),
            stats: Some((5, 2, 100)),
            previous: Some((true, 100)),
        },
        GenServer {
            suffrage: 1,
            known: Some((0, true)),
            stats: Some((5, 2, 100)),
            previous: Some((true, 100)),
        },
        GenServer {
            suffrage: 1,
            known: Some((3, true)),
            stats: None,
            previous: None,
        },
    ];
    let inputs = inputs(&servers, Some(0), true, 50, 10, 3);
    let plan = plan_round(&inputs, component());
    assert!(plan.faults.is_empty());
    let ops: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        ops,
        [
            "add voter server-03 (10.0.0.3:8300)",
            "ask the application to remove failed server server-04"
        ]
    );
    assert_eq!(compute_state(&inputs, component()), plan.state);
}
