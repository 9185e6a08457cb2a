//! The redundancy-zones policy written three times (Rust, `promoters/redundancy-zones`;
//! Python, `promoters/python/redundancy-zones` on `sdk/python`; JavaScript,
//! `promoters/js/redundancy-zones` on `sdk/js`, built with componentize-js and with
//! componentize-qjs), each built from source with its toolchain's defaults and run in
//! the real host, plans identically on 600 generated
//! cluster states: the same state (node types, the zone report byte for byte), the same
//! actions (promotions, demotions, removals), the same reasons, and no faults.

use autopilot::plan::{Plan, parse_snapshot, plan_round};
use autopilot::{Action, ComponentPolicy, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::{Value, json};

/// A seeded generator (proptest's ChaCha `TestRng`), so every run checks the same
/// states and a failure names a seed that reproduces it.
struct Rng(TestRng);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Self(TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One generated cluster as an `autopilot plan` snapshot: 1–12 servers in up to four
/// zones (some without one), voters and non-voters, failed, left and unreachable
/// servers, servers long stable or still on probation, stale servers the application
/// no longer knows, and either the `zone` meta key or a configured `zone_tag`.
fn snapshot(seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let tag = if rng.chance(20) { "rack" } else { "zone" };
    let count = 1 + rng.below(12);
    let mut raft = Vec::new();
    let mut known = serde_json::Map::new();
    let mut stats = serde_json::Map::new();
    let mut previous = serde_json::Map::new();
    for i in 0..count {
        let id = format!("s{i:02}");
        let leader = i == 0;
        let votes = leader || rng.chance(45);
        let zone = rng.below(5);
        let meta = if zone == 0 {
            json!({})
        } else {
            json!({ tag: format!("z{zone}") })
        };
        let status = if leader {
            "alive"
        } else {
            ["alive", "alive", "alive", "alive", "failed", "left"][rng.below(6) as usize]
        };
        let stale = !leader && rng.chance(8);
        raft.push(json!({"Suffrage": if votes { 0 } else { 1 }, "ID": id,
                         "Address": format!("{id}:8300")}));
        let record = json!({"ID": id, "Name": id, "Address": format!("{id}:8300"),
            "NodeStatus": status, "Version": "1.0.0", "Meta": meta, "NodeType": "voter"});
        if !stale {
            known.insert(id.clone(), record.clone());
        }
        // Reachable and caught up, lagging, or not answering at all.
        if status == "alive" && !rng.chance(10) {
            let behind = if rng.chance(10) { 50 } else { 0 };
            stats.insert(
                id.clone(),
                json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100 - behind}),
            );
        }
        let stable_for = [1, 5, 9, 11, 30, 600][rng.below(6) as usize];
        let since = chrono::DateTime::parse_from_rfc3339("2020-11-02T12:10:00Z").expect("a time")
            - chrono::Duration::seconds(stable_for);
        previous.insert(
            id.clone(),
            json!({"Server": record, "State": if votes { "voter" } else { "non-voter" },
                   "Health": {"Healthy": rng.chance(85),
                              "StableSince": since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}}),
        );
    }
    let ext = if tag == "zone" && rng.chance(50) {
        Value::Null
    } else {
        json!({ "zone_tag": tag })
    };
    json!({
        "Now": "2020-11-02T12:10:00Z", "FirstStateTime": "2020-11-02T11:00:00Z",
        "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                   "MaxTrailingLogs": 10, "MinQuorum": 1 + rng.below(4),
                   "ServerStabilizationTime": 10_000_000_000u64, "Ext": ext},
        "RaftConfig": {"Servers": raft}, "KnownServers": known,
        "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": "s00",
        "FetchedStats": stats, "CurrentState": {"Servers": previous}
    })
    .to_string()
}

fn load(bytes: &[u8]) -> ComponentPolicy {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
    host.load(bytes).expect("the component loads")
}

const STATES: u64 = 600;

#[test]
fn python_javascript_and_rust_zones_plan_alike_on_generated_clusters() {
    let rust = load(&guests::component(guests::REDUNDANCY_ZONES_PROMOTER));
    let python = load(&guests::python_component("redundancy-zones"));
    let javascript = load(&guests::js_component("promoters/js/redundancy-zones"));
    let quickjs = load(&guests::qjs_component("promoters/js/redundancy-zones"));
    assert_eq!(python.info().name, "redundancy-zones-py");
    assert_eq!(javascript.info().name, "redundancy-zones-js");
    assert!(python.info().reads_server_details && javascript.info().reads_server_details);

    // How much of the policy the states reached: a test of identical no-ops proves little.
    let (mut promoted, mut demoted, mut removed, mut stood_in) = (0, 0, 0, 0);
    for seed in 0..STATES {
        let text = snapshot(seed);
        let inputs = parse_snapshot(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let expected: Plan = plan_round(&inputs, &rust);
        assert!(
            expected.faults.is_empty(),
            "seed {seed}: the Rust policy faulted: {:?}",
            expected.faults
        );
        for (policy, language) in [
            (&python, "Python"),
            (&javascript, "JavaScript (SpiderMonkey)"),
            (&quickjs, "JavaScript (QuickJS)"),
        ] {
            let plan = plan_round(&inputs, policy);
            assert!(
                plan.faults.is_empty(),
                "seed {seed}: the {language} policy faulted: {:?}\n{text}",
                plan.faults
            );
            assert_eq!(plan, expected, "seed {seed}: {language} differs\n{text}");
        }
        let has = |f: fn(&Action) -> bool| expected.actions.iter().any(f);
        promoted += usize::from(has(|a| matches!(a, Action::AddVoter { .. })));
        demoted += usize::from(has(|a| matches!(a, Action::DemoteVoter { .. })));
        removed += usize::from(has(|a| matches!(a, Action::RemoveServer { .. })));
        stood_in += usize::from(
            expected
                .state
                .servers
                .values()
                .any(|s| s.server.node_type.to_string() == "zone-extra-voter"),
        );
    }
    eprintln!(
        "{STATES} states: {promoted} with promotions, {demoted} with demotions, \
         {removed} with removals, {stood_in} with a stand-in voter"
    );
    for (what, count) in [
        ("promotions", promoted),
        ("demotions", demoted),
        ("removals", removed),
        ("stand-in voters", stood_in),
    ] {
        assert!(count >= 20, "only {count} of {STATES} states had {what}");
    }
}
