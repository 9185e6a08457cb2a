//! The adversarial corpus: every way a policy can misbehave at run time gives its own
//! named error, and the next round with a well-behaved policy succeeds in the same
//! process (and the same host).

use autopilot::plan::{parse_snapshot, plan_round};
use autopilot::{Action, StablePolicy};
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use serde_json::{Value, json};

/// Three voters led by `a`, a stable non-voter `d`, a failed voter `e` and a stale
/// non-voter `f`; `mode` goes into the config's extension data.
fn snapshot(mode: &str) -> String {
    let known = |id: &str, status: &str| {
        json!({"ID": id, "Name": id, "Address": format!("{id}:8300"), "NodeStatus": status,
               "NodeType": "voter"})
    };
    let previous = |id: &str, state: &str| {
        json!({"Server": known(id, "alive"), "State": state,
               "Health": {"Healthy": true, "StableSince": "2020-11-02T12:00:00Z"}})
    };
    let stats = json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100});
    json!({
        "Now": "2020-11-02T12:10:00Z", "FirstStateTime": "2020-11-02T11:00:00Z",
        "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                   "MaxTrailingLogs": 10, "MinQuorum": 3,
                   "ServerStabilizationTime": 10_000_000_000u64, "Ext": mode},
        "RaftConfig": {"Servers": [
            {"Suffrage": 0, "ID": "a", "Address": "a:8300"},
            {"Suffrage": 0, "ID": "b", "Address": "b:8300"},
            {"Suffrage": 0, "ID": "c", "Address": "c:8300"},
            {"Suffrage": 1, "ID": "d", "Address": "d:8300"},
            {"Suffrage": 0, "ID": "e", "Address": "e:8300"},
            {"Suffrage": 1, "ID": "f", "Address": "f:8300"}
        ]},
        "KnownServers": {"a": known("a", "alive"), "b": known("b", "alive"),
                         "c": known("c", "alive"), "d": known("d", "alive"),
                         "e": known("e", "failed")},
        "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": "a",
        "FetchedStats": {"a": stats, "b": stats, "c": stats, "d": stats},
        "CurrentState": {"Servers": {"a": previous("a", "leader"), "b": previous("b", "voter"),
                                     "c": previous("c", "voter"), "d": previous("d", "non-voter")}}
    })
    .to_string()
}

fn adversary(host: &PluginHost) -> ComponentPolicy {
    host.load(&guests::component(guests::ADVERSARY))
        .expect("adversary loads")
}

#[test]
fn each_misbehaviour_has_its_own_error_and_the_next_round_succeeds() {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
    let promoter = adversary(&host);
    let good = parse_snapshot(&snapshot("")).expect("snapshot");
    let expected = plan_round(&good, &StablePolicy);

    let cases = [
        ("loop", "out-of-budget", "out of budget"),
        // WASI 0.2's stable `exit` carries success or failure only: `exit(3)` in the
        // guest arrives as failure, status 1.
        ("exit", "exit", "exited with status 1"),
        ("memory", "out-of-memory", "out of memory"),
        ("panic", "trap", "deliberate panic"),
        // The panic message survives an output flood: the latest bytes are kept.
        ("flood-then-panic", "trap", "the flood is over"),
        ("recursion", "stack-overflow", "stack overflow"),
        ("giant-output", "invalid-output", "extension data, over the"),
        ("policy-error", "policy-error", "the adversary refuses"),
        (
            "unknown-id",
            "invalid-output",
            "promotions names a server not in the state",
        ),
        ("duplicate-id", "invalid-output", "twice"),
        (
            "promote-and-demote",
            "invalid-output",
            "both promoted and demoted",
        ),
        (
            "huge-node-type",
            "invalid-output",
            "node type name of 1048576 bytes",
        ),
        // Unsafe answers: each breaks one safety rule and is refused whole.
        ("bad-leader", "unsafe-answer", "hands leadership to"),
        ("demote-leader", "unsafe-answer", "demotes the leader \"a\""),
        ("demote-all", "unsafe-answer", "demotes the leader \"a\""),
        (
            "demote-all-but-leader",
            "unsafe-answer",
            "2 voters would remain, and MinQuorum is 3",
        ),
        (
            "promote-unhealthy",
            "unsafe-answer",
            "promotes \"f\", which the application does not see alive",
        ),
        ("promote-voter", "unsafe-answer", "already votes"),
        (
            "ghost-node-type",
            "invalid-output",
            "node types names a server not in the state",
        ),
        ("bad-json", "invalid-output", "not valid JSON"),
        (
            "filter-invents",
            "invalid-output",
            "not offered for removal",
        ),
    ];
    for (mode, kind, words) in cases {
        let inputs = parse_snapshot(&snapshot(mode)).expect("snapshot");
        let plan = plan_round(&inputs, &promoter);
        let errors = plan.faults.clone();
        assert!(!errors.is_empty(), "{mode}: expected an error");
        assert_eq!(errors[0].kind(), kind, "{mode}: {}", errors[0]);
        assert!(
            errors[0].to_string().contains(words),
            "{mode}: {}",
            errors[0]
        );
        // The round fell back to the stable policy: the same plan as natively.
        assert_eq!(plan.actions, expected.actions, "{mode}: fallback plan");

        // The next round, same host and same component, behaves.
        let plan = plan_round(&good, &promoter);
        assert!(plan.faults.is_empty(), "{mode}: next round is clean");
        assert_eq!(plan, expected, "{mode}: next round");
    }
}

#[test]
fn a_well_behaved_round_goes_through_the_policy() {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
    let promoter = adversary(&host);

    let inputs = parse_snapshot(&snapshot("state-ext")).expect("snapshot");
    let plan = plan_round(&inputs, &promoter);
    assert!(plan.faults.is_empty());
    assert_eq!(plan.state.ext, json!({"zones": 2}));

    // A filter that keeps everything: no removals.
    let inputs = parse_snapshot(&snapshot("filter-keeps-all")).expect("snapshot");
    let plan = plan_round(&inputs, &promoter);
    assert!(plan.faults.is_empty());
    assert_eq!(
        plan.actions,
        [Action::AddVoter {
            id: "d".into(),
            address: "d:8300".into()
        }]
    );

    // Output is captured, not fatal.
    let inputs = parse_snapshot(&snapshot("chatty")).expect("snapshot");
    let plan = plan_round(&inputs, &promoter);
    assert!(plan.faults.is_empty());

    // Even far over the bound: the excess is dropped and the round goes on, deciding
    // what the stable policy decides.
    let inputs = parse_snapshot(&snapshot("flood")).expect("snapshot");
    let flooded = plan_round(&inputs, &promoter);
    let errors = &flooded.faults;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(flooded.actions, plan_round(&inputs, &StablePolicy).actions);
}

#[test]
fn a_leadership_transfer_comes_only_in_a_quiet_round() {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
    let promoter = adversary(&host);
    // With d pending promotion, the round promotes and does not transfer.
    let inputs = parse_snapshot(&snapshot("transfer")).expect("snapshot");
    let plan = plan_round(&inputs, &promoter);
    assert!(plan.faults.is_empty());
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::LeadershipTransfer { .. }))
    );
    // Once d votes, the round is quiet and leadership moves.
    let mut snapshot: Value = serde_json::from_str(&snapshot("transfer")).expect("json");
    snapshot["RaftConfig"]["Servers"][3]["Suffrage"] = json!(0);
    let inputs = parse_snapshot(&snapshot.to_string()).expect("snapshot");
    let plan = plan_round(&inputs, &promoter);
    assert!(plan.faults.is_empty());
    assert!(
        matches!(
            plan.actions.first(),
            Some(Action::LeadershipTransfer { .. })
        ),
        "{:?}",
        plan.actions
    );
}
