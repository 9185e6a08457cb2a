//! The redundancy-zones policy: scenario tables through the real host on the compiled
//! component, and a property test of its zone rules (natively, on the same code).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use autopilot::Action;
use autopilot::plan::{Plan, parse_snapshot, plan_round};
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use autopilot_sdk::testing::StateBuilder;
use autopilot_sdk::{RaftState, Timestamp};
use proptest::prelude::*;
use redundancy_zones_promoter::{ZONE_EXTRA_VOTER, ZONE_STANDBY, ZONE_VOTER, plan};
use serde_json::{Value, json};

fn zones() -> &'static ComponentPolicy {
    static PROMOTER: OnceLock<ComponentPolicy> = OnceLock::new();
    PROMOTER.get_or_init(|| {
        let host = PluginHost::new(PluginHostConfig::default()).expect("host");
        host.load(&guests::component(guests::REDUNDANCY_ZONES_PROMOTER))
            .expect("the zones component loads")
    })
}

/// One server of a scenario: id, zone, suffrage (0 voter, 1 non-voter), alive.
type Row = (&'static str, &'static str, u8, bool);

/// A snapshot of `rows`, led by `s1`, every server known for ten minutes.
fn snapshot(rows: &[Row], ext: Value) -> String {
    let known = |id: &str, zone: &str, alive: bool| {
        let meta = if zone.is_empty() {
            json!({})
        } else {
            json!({"zone": zone})
        };
        json!({"ID": id, "Name": id, "Address": format!("{id}:8300"),
               "NodeStatus": if alive { "alive" } else { "failed" }, "Meta": meta})
    };
    let mut raft = Vec::new();
    let mut servers = serde_json::Map::new();
    let mut stats = serde_json::Map::new();
    let mut previous = serde_json::Map::new();
    for (id, zone, suffrage, alive) in rows {
        raft.push(json!({"Suffrage": suffrage, "ID": id, "Address": format!("{id}:8300")}));
        servers.insert((*id).into(), known(id, zone, *alive));
        if *alive {
            stats.insert(
                (*id).into(),
                json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100}),
            );
        }
        previous.insert(
            (*id).into(),
            json!({"Server": known(id, zone, true), "State": if *suffrage == 0 { "voter" } else { "non-voter" },
                   "Stats": {"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100},
                   "Health": {"Healthy": true, "StableSince": "2020-11-02T12:00:00Z"}}),
        );
    }
    json!({
        "Now": "2020-11-02T12:10:00Z", "FirstStateTime": "2020-11-02T11:00:00Z",
        "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                   "MaxTrailingLogs": 10, "MinQuorum": 3,
                   "ServerStabilizationTime": 10_000_000_000u64, "Ext": ext},
        "RaftConfig": {"Servers": raft},
        "KnownServers": servers,
        "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": "s1",
        "FetchedStats": stats,
        "CurrentState": {"Servers": previous}
    })
    .to_string()
}

fn run(rows: &[Row], ext: Value) -> Plan {
    let inputs = parse_snapshot(&snapshot(rows, ext)).expect("snapshot");
    let plan = plan_round(&inputs, zones());
    let errors = plan.faults.clone();
    assert!(errors.is_empty(), "{errors:?}");
    plan
}

fn node_type(plan: &Plan, id: &str) -> String {
    plan.state.servers[&autopilot::ServerId::from(id)]
        .server
        .node_type
        .to_string()
}

const STEADY: &[Row] = &[
    ("s1", "a", 0, true),
    ("s2", "a", 1, true),
    ("s3", "b", 0, true),
    ("s4", "b", 1, true),
    ("s5", "c", 0, true),
];

#[test]
fn one_voter_per_zone_and_the_rest_standbys() {
    let plan = run(STEADY, Value::Null);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    for (id, kind) in [
        ("s1", ZONE_VOTER),
        ("s2", ZONE_STANDBY),
        ("s3", ZONE_VOTER),
        ("s4", ZONE_STANDBY),
        ("s5", ZONE_VOTER),
    ] {
        assert_eq!(node_type(&plan, id), kind, "{id}");
    }
    let ext = &plan.state.ext;
    assert_eq!(ext["zones"]["a"]["servers"], json!(["s1", "s2"]));
    assert_eq!(ext["zones"]["a"]["voters"], json!(["s1"]));
    assert_eq!(ext["zones"]["a"]["failure_tolerance"], 1);
    assert_eq!(ext["zones"]["c"]["failure_tolerance"], 0);
    // 3 healthy voters + 2 promotable standbys against a quorum of 2.
    assert_eq!(ext["optimistic_failure_tolerance"], 3);
}

#[test]
fn a_failed_zone_voter_is_replaced_by_its_standby() {
    let rows = [
        ("s1", "a", 0, true),
        ("s2", "a", 1, true),
        ("s3", "b", 0, false),
        ("s4", "b", 1, true),
        ("s5", "c", 0, true),
    ];
    let plan = run(&rows, Value::Null);
    assert_eq!(
        plan.actions[..2],
        [
            Action::DemoteVoter { id: "s3".into() },
            Action::AddVoter {
                id: "s4".into(),
                address: "s4:8300".into()
            },
        ]
    );
    assert_eq!(node_type(&plan, "s4"), ZONE_VOTER);
    assert_eq!(node_type(&plan, "s3"), ZONE_STANDBY);
    // s3 is not its zone's last server: it may be cleaned up.
    assert!(
        plan.actions
            .contains(&Action::RemoveFailedServer { id: "s3".into() })
    );
}

#[test]
fn a_lost_zone_is_stood_in_for_by_another_zones_standby() {
    let rows = [
        ("s1", "a", 0, true),
        ("s2", "a", 1, true),
        ("s3", "b", 0, true),
        ("s4", "b", 1, true),
        ("s5", "c", 0, false),
    ];
    let plan = run(&rows, Value::Null);
    let promoted: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::AddVoter { .. }))
        .collect();
    assert_eq!(plan.actions[0], Action::DemoteVoter { id: "s5".into() });
    assert_eq!(promoted.len(), 1, "{:?}", plan.actions);
    let stand_in = promoted[0].id().to_string();
    assert!(stand_in == "s2" || stand_in == "s4");
    assert_eq!(node_type(&plan, &stand_in), ZONE_EXTRA_VOTER);
    // s5 is the last server of zone c and may come back: not removed.
    assert!(
        !plan
            .actions
            .contains(&Action::RemoveFailedServer { id: "s5".into() })
    );
}

#[test]
fn servers_without_a_zone_follow_the_stable_policy() {
    let rows = [
        ("s1", "", 0, true),
        ("s2", "", 0, true),
        ("s3", "", 0, true),
        ("s6", "", 1, true),
    ];
    let plan = run(&rows, Value::Null);
    assert_eq!(
        plan.actions,
        [Action::AddVoter {
            id: "s6".into(),
            address: "s6:8300".into()
        }]
    );
    assert_eq!(node_type(&plan, "s6"), "voter");
}

#[test]
fn the_zone_meta_key_is_configurable() {
    let plan = run(STEADY, json!({"zone_tag": "rack"}));
    // Nobody has a `rack`: all zoneless, all voters (s2 and s4 promoted).
    assert_eq!(node_type(&plan, "s2"), "voter");
    assert_eq!(plan.state.ext["zone_tag"], "rack");
    let bad = parse_snapshot(&snapshot(STEADY, json!({"zone_tag": 7}))).expect("snapshot");
    let errors = plan_round(&bad, zones()).faults;
    assert_eq!(errors.first().map(|e| e.kind()), Some("policy-error"));
}

fn arb_state() -> impl Strategy<Value = autopilot_sdk::State> {
    prop::collection::vec((0u8..4, 0u8..3, any::<bool>(), 0u64..40), 1..10).prop_map(|servers| {
        let mut b = StateBuilder::new(Timestamp::from_secs(1_700_000_000), Duration::from_secs(10));
        for (i, (zone, role, healthy, stable)) in servers.into_iter().enumerate() {
            let id = format!("s{i}");
            let role = match (i, role) {
                (0, _) => RaftState::Leader,
                (_, 0) => RaftState::Voter,
                _ => RaftState::NonVoter,
            };
            b = b.server(&id, role, healthy || i == 0, Duration::from_secs(stable));
            if zone > 0 {
                b = b.meta(&id, "zone", &format!("z{zone}"));
            }
        }
        b.build()
    })
}

proptest! {
    #[test]
    fn at_most_one_zone_voter_per_zone_and_sane_changes(state in arb_state()) {
        let plan = plan("zone", &state);
        let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
        for (id, kind) in &plan.node_types {
            if kind == ZONE_VOTER {
                let zone = state.servers[id].server.meta("zone").unwrap_or_default().to_owned();
                *per_zone.entry(zone).or_default() += 1;
            }
        }
        prop_assert!(per_zone.values().all(|n| *n == 1));
        for id in &plan.promotions {
            let s = &state.servers[id];
            prop_assert!(!s.raft_state.has_voting_rights() && s.health.healthy);
            prop_assert!(!plan.demotions.contains(id));
        }
        for id in &plan.demotions {
            prop_assert!(state.servers[id].raft_state.has_voting_rights());
        }
    }
}
