//! Whole dry-run rounds through `plan_round`: state, reconcile, then pruning on the
//! configuration reconcile leaves behind, and the JSON layout of the result.

use autopilot::plan::{parse_snapshot, plan_round};
use autopilot::{Action, ServerId, StablePolicy};
use serde_json::{Value, json};

/// Five servers led by `a`; `d` is a non-voter that has been healthy since 12:00, `e`
/// a voter the application reports failed; `f` is in Raft but unknown (stale).
fn snapshot() -> Value {
    let known = |id: &str, status: &str| {
        json!({"ID": id, "Name": id, "Address": format!("{id}:8300"), "NodeStatus": status,
               "NodeType": "voter"})
    };
    let healthy_since = |id: &str, state: &str| {
        json!({"Server": known(id, "alive"), "State": state,
               "Stats": {"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100},
               "Health": {"Healthy": true, "StableSince": "2020-11-02T12:00:00Z"}})
    };
    json!({
        "Now": "2020-11-02T12:10:00Z",
        "FirstStateTime": "2020-11-02T11:00:00Z",
        "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                   "MaxTrailingLogs": 10, "MinQuorum": 3,
                   "ServerStabilizationTime": 10_000_000_000u64},
        "RaftConfig": {"Servers": [
            {"Suffrage": 0, "ID": "a", "Address": "a:8300"},
            {"Suffrage": 0, "ID": "b", "Address": "b:8300"},
            {"Suffrage": 0, "ID": "c", "Address": "c:8300"},
            {"Suffrage": 1, "ID": "d", "Address": "d:8300"},
            {"Suffrage": 0, "ID": "e", "Address": "e:8300"},
            {"Suffrage": 1, "ID": "f", "Address": "f:8300"}
        ]},
        "KnownServers": {
            "a": known("a", "alive"), "b": known("b", "alive"), "c": known("c", "alive"),
            "d": known("d", "alive"), "e": known("e", "failed")
        },
        "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": "a",
        "FetchedStats": {
            "a": {"LastTerm": 2, "LastIndex": 100},
            "b": {"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100},
            "c": {"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100},
            "d": {"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 95},
            "e": null
        },
        "CurrentState": {"Servers": {
            "a": healthy_since("a", "leader"), "b": healthy_since("b", "voter"),
            "c": healthy_since("c", "voter"), "d": healthy_since("d", "non-voter")
        }}
    })
}

#[test]
fn promotes_the_stable_non_voter_then_prunes_stale_and_failed_servers() {
    let inputs = parse_snapshot(&snapshot().to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &StablePolicy);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(
        plan.actions,
        [
            Action::AddVoter {
                id: "d".into(),
                address: "d:8300".into()
            },
            Action::RemoveServer { id: "f".into() },
            Action::RemoveFailedServer { id: "e".into() },
        ]
    );
    let d = &plan.state.servers[&ServerId::from("d")];
    assert_eq!(
        d.health.stable_since.to_rfc3339(),
        "2020-11-02T12:00:00+00:00"
    );
    assert_eq!(
        plan.state.failure_tolerance, 0,
        "e counts as an unhealthy voter"
    );
}

#[test]
fn a_recent_non_voter_waits_for_its_stabilization_window() {
    let mut snapshot = snapshot();
    snapshot["CurrentState"]["Servers"]["d"]["Health"]["StableSince"] =
        json!("2020-11-02T12:09:55Z");
    let inputs = parse_snapshot(&snapshot.to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &StablePolicy);
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddVoter { .. })),
        "{:?}",
        plan.actions
    );
}

#[test]
fn cleanup_off_plans_no_removals() {
    let mut snapshot = snapshot();
    snapshot["Config"]["CleanupDeadServers"] = json!(false);
    let inputs = parse_snapshot(&snapshot.to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &StablePolicy);
    assert_eq!(plan.actions.len(), 1);
}

#[test]
fn json_layout_matches_the_contract() {
    let inputs = parse_snapshot(&snapshot().to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &StablePolicy);
    let value = serde_json::to_value(&plan).expect("encodes");
    assert_eq!(
        value["Actions"],
        json!([
            {"Op": "AddVoter", "ID": "d", "Address": "d:8300"},
            {"Op": "RemoveServer", "ID": "f"},
            {"Op": "RemoveFailedServer", "ID": "e"}
        ])
    );
    assert_eq!(value["Errors"], json!([]));
    let server = &value["State"]["Servers"]["f"];
    assert_eq!(server["State"], "non-voter");
    assert_eq!(server["Server"]["NodeStatus"], "left");
    assert_eq!(server["Server"]["Meta"], Value::Null);
    assert_eq!(server["Health"]["StableSince"], "2020-11-02T12:10:00Z");
    assert_eq!(value["State"]["Leader"], "a");
    assert_eq!(value["State"]["Voters"][0], "a");
}
