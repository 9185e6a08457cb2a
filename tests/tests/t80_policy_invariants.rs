//! The foundation's safety rules hold for the zones and upgrade components on random
//! clusters (zones, versions, failures): their answers always validate, and a round
//! never mixes kinds of change.

use std::sync::OnceLock;

use autopilot::Action;
use autopilot::plan::{parse_snapshot, plan_round};
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use proptest::prelude::*;
use serde_json::json;

fn load(path: &str) -> ComponentPolicy {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host");
    host.load(&guests::component(path)).expect("loads")
}

fn zones() -> &'static ComponentPolicy {
    static P: OnceLock<ComponentPolicy> = OnceLock::new();
    P.get_or_init(|| load(guests::REDUNDANCY_ZONES_PROMOTER))
}

fn upgrade() -> &'static ComponentPolicy {
    static P: OnceLock<ComponentPolicy> = OnceLock::new();
    P.get_or_init(|| load(guests::UPGRADE_MIGRATION_PROMOTER))
}

/// (zone 0..3 with 0 none, version 0..2, votes, alive, stable seconds)
type Gen = (u8, u8, bool, bool, u8);

fn snapshot(servers: &[Gen]) -> String {
    let mut raft = Vec::new();
    let mut known = serde_json::Map::new();
    let mut stats = serde_json::Map::new();
    let mut previous = serde_json::Map::new();
    for (i, (zone, version, votes, alive, stable)) in servers.iter().enumerate() {
        let id = format!("s{i}");
        let votes = *votes || i == 0;
        let alive = *alive || i == 0;
        let meta = if *zone == 0 {
            json!({})
        } else {
            json!({"zone": format!("z{zone}")})
        };
        let record = json!({"ID": id, "Name": id, "Address": format!("{id}:8300"),
            "NodeStatus": if alive { "alive" } else { "failed" },
            "Version": format!("1.{version}.0"), "Meta": meta, "NodeType": "voter"});
        raft.push(json!({"Suffrage": if votes { 0 } else { 1 }, "ID": id, "Address": format!("{id}:8300")}));
        known.insert(id.clone(), record.clone());
        if alive {
            stats.insert(
                id.clone(),
                json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100}),
            );
        }
        previous.insert(id.clone(), json!({"Server": record, "State": "voter",
            "Health": {"Healthy": true, "StableSince": format!("2020-11-02T12:09:{:02}Z", 59 - stable % 60)}}));
    }
    json!({
        "Now": "2020-11-02T12:10:00Z", "FirstStateTime": "2020-11-02T11:00:00Z",
        "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                   "MaxTrailingLogs": 10, "MinQuorum": 3, "ServerStabilizationTime": 10_000_000_000u64},
        "RaftConfig": {"Servers": raft}, "KnownServers": known,
        "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": "s0",
        "FetchedStats": stats, "CurrentState": {"Servers": previous}
    })
    .to_string()
}

fn check(promoter: &ComponentPolicy, servers: &[Gen]) -> Result<(), TestCaseError> {
    let inputs = parse_snapshot(&snapshot(servers)).expect("snapshot");
    let plan = plan_round(&inputs, promoter);
    let errors = plan.faults.clone();
    prop_assert!(
        errors.is_empty(),
        "the policy's answer did not validate: {:?}",
        errors
    );
    let reconcile: Vec<&Action> = plan
        .actions
        .iter()
        .take_while(|a| {
            !matches!(
                a,
                Action::RemoveServer { .. } | Action::RemoveFailedServer { .. }
            )
        })
        .collect();
    let promotions = reconcile
        .iter()
        .filter(|a| matches!(a, Action::AddVoter { .. }))
        .count();
    let demotions = reconcile
        .iter()
        .filter(|a| matches!(a, Action::DemoteVoter { .. }))
        .count();
    let transfers = reconcile
        .iter()
        .filter(|a| matches!(a, Action::LeadershipTransfer { .. }))
        .count();
    if transfers > 0 {
        prop_assert_eq!(reconcile.len(), 1, "a transfer only in a quiet round");
    }
    if promotions > 0 && demotions > 0 {
        prop_assert_eq!(
            demotions,
            1,
            "only the failed-voter demotion goes with promotions"
        );
        let demotion_first = matches!(reconcile[0], Action::DemoteVoter { .. });
        prop_assert!(demotion_first);
        prop_assert!(plan.state.voters.len() % 2 == 1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn zones_rounds_keep_the_rules(servers in prop::collection::vec(any::<Gen>().prop_map(|(z, v, vote, a, s)| (z % 4, v % 3, vote, a, s)), 1..10)) {
        check(zones(), &servers)?;
    }

    #[test]
    fn upgrade_rounds_keep_the_rules(servers in prop::collection::vec(any::<Gen>().prop_map(|(z, v, vote, a, s)| (z % 4, v % 3, vote, a, s)), 1..10)) {
        check(upgrade(), &servers)?;
    }
}

/// The zones policy's source run natively through the SDK adapter plans exactly as
/// its component does through the sandbox: the SDK's runner and the component are
/// the same policy behind the same trait.
fn same_as_native(servers: &[Gen]) -> Result<(), TestCaseError> {
    let inputs = parse_snapshot(&snapshot(servers)).expect("snapshot");
    let component = plan_round(&inputs, zones());
    let native = plan_round(
        &inputs,
        &autopilot_sdk::native::SdkPolicy(redundancy_zones_promoter::RedundancyZones),
    );
    prop_assert!(native.faults.is_empty(), "{:?}", native.faults);
    prop_assert_eq!(&native.actions, &component.actions);
    prop_assert_eq!(&native.state, &component.state);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn the_native_sdk_runner_plans_like_the_component(
        servers in prop::collection::vec(any::<Gen>().prop_map(|(z, v, vote, a, s)| (z % 4, v % 3, vote, a, s)), 1..10),
    ) {
        same_as_native(&servers)?;
    }
}
