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

/// The plan's reason for each server, as text.
fn reasons(snapshot: &Value) -> std::collections::BTreeMap<String, String> {
    let inputs = parse_snapshot(&snapshot.to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &StablePolicy);
    plan.reasons
        .iter()
        .map(|(id, r)| (id.to_string(), r.to_string()))
        .collect()
}

#[test]
fn each_server_acted_on_says_what_happens_to_it() {
    let reasons = reasons(&snapshot());
    assert_eq!(reasons["d"], "promoted");
    assert_eq!(reasons["e"], "removed: failed");
    assert_eq!(
        reasons["f"],
        "removed: in Raft but unknown to the application"
    );
    assert!(
        !reasons.contains_key("a") && !reasons.contains_key("b"),
        "{reasons:?}"
    );
}

#[test]
fn a_waiting_non_voter_says_how_long_it_has_been_stable() {
    let mut snapshot = snapshot();
    snapshot["CurrentState"]["Servers"]["d"]["Health"]["StableSince"] =
        json!("2020-11-02T12:09:55.8Z");
    assert_eq!(reasons(&snapshot)["d"], "waiting: stable for 4.2s of 10s");
}

#[test]
fn an_unhealthy_server_names_the_rule_it_fails() {
    let mut snapshot = snapshot();
    snapshot["FetchedStats"]["b"]["LastContact"] = json!(3_100_000_000u64);
    snapshot["FetchedStats"]["c"]["LastIndex"] = json!(80);
    snapshot["FetchedStats"]["d"]["LastTerm"] = json!(1);
    let reasons = reasons(&snapshot);
    assert_eq!(
        reasons["b"],
        "unhealthy: last contact 3.1s over the 200ms threshold"
    );
    assert_eq!(reasons["c"], "unhealthy: 20 entries behind (limit 10)");
    assert_eq!(reasons["d"], "unhealthy: on term 1, the leader is on 2");
}

#[test]
fn a_failed_voter_kept_for_quorum_says_so() {
    let mut snapshot = snapshot();
    // Raft holds only a, b and the failed e: three potential voters, MinQuorum 3.
    snapshot["RaftConfig"]["Servers"]
        .as_array_mut()
        .expect("servers")
        .retain(|s| ["a", "b", "e"].contains(&s["ID"].as_str().unwrap_or_default()));
    let reasons = reasons(&snapshot);
    assert_eq!(
        reasons["e"],
        "kept: removing it would leave 2 potential voters, MinQuorum is 3"
    );
}

#[test]
fn reasons_appear_in_the_table_and_beside_the_reference_layout_in_json() {
    let inputs = parse_snapshot(&snapshot().to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &StablePolicy);
    let value = serde_json::to_value(&plan).expect("encodes");
    assert_eq!(value["Reasons"]["d"], "promoted");
    assert!(value["State"]["Servers"]["d"].get("Reason").is_none());
    let table = autopilot::plan::render_table(&plan);
    let header = table.lines().nth(2).expect("header");
    assert!(header.ends_with("Reason"), "{header}");
    let row = table
        .lines()
        .find(|l| l.starts_with("d "))
        .expect("d's row");
    assert!(row.ends_with("promoted"), "{row}");
}

#[test]
fn failed_voters_kept_by_the_majority_cap_or_their_node_type_say_so() {
    // a, b, c and e vote; c and e have failed; MinQuorum 1: one of the four may go.
    let mut snapshot = snapshot();
    snapshot["Config"]["MinQuorum"] = json!(1);
    snapshot["RaftConfig"]["Servers"]
        .as_array_mut()
        .expect("servers")
        .retain(|s| ["a", "b", "c", "e"].contains(&s["ID"].as_str().unwrap_or_default()));
    snapshot["KnownServers"]["c"]["NodeStatus"] = json!("failed");
    let reasons = reasons(&snapshot);
    assert_eq!(reasons["c"], "removed: failed");
    assert_eq!(
        reasons["e"],
        "kept: at most 1 voter may be removed at once without risking the quorum"
    );

    // With no node type the stable policy counts, nobody is a potential voter.
    for id in ["a", "b", "c", "d", "e"] {
        snapshot["KnownServers"][id]["NodeType"] = json!("");
    }
    let reasons = self::reasons(&snapshot);
    assert_eq!(
        reasons["e"],
        "kept: its node type \"\" is not a potential voter under the policy"
    );
}

/// The stable policy, except that it allows no removal.
struct KeepsEveryone;

impl autopilot::Policy for KeepsEveryone {
    fn metadata(&self) -> autopilot::PolicyMetadata {
        StablePolicy.metadata()
    }

    fn decide(
        &self,
        config: &autopilot::Config,
        state: &autopilot::State,
        judge: &[autopilot::NodeType],
    ) -> Result<autopilot::Decisions, autopilot::PolicyFault> {
        StablePolicy.decide(config, state, judge)
    }

    fn filter_removals(
        &self,
        _config: &autopilot::Config,
        _state: &autopilot::State,
        _failed: &autopilot::FailedServers,
    ) -> Result<autopilot::FailedServers, autopilot::PolicyFault> {
        Ok(autopilot::FailedServers::default())
    }
}

#[test]
fn a_server_the_policy_keeps_says_the_policy_kept_it() {
    let inputs = parse_snapshot(&snapshot().to_string()).expect("valid snapshot");
    let plan = plan_round(&inputs, &KeepsEveryone);
    assert_eq!(
        plan.reasons[&ServerId::from("e")].to_string(),
        "kept: the policy did not allow removing it"
    );
    assert_eq!(
        plan.reasons[&ServerId::from("f")].to_string(),
        "kept: the policy did not allow removing it"
    );
}
