//! The upgrade-migration policy, round by round through the real host on the compiled
//! component: new-version servers wait until there are enough of them, are promoted,
//! the old voters are demoted, leadership moves, and the old servers wait for removal;
//! with zones, leadership waits for the new version to cover every zone.

use std::sync::OnceLock;

use autopilot::Action;
use autopilot::plan::{Plan, parse_snapshot, plan_round};
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use serde_json::{Value, json};

fn upgrade() -> &'static ComponentPolicy {
    static PROMOTER: OnceLock<ComponentPolicy> = OnceLock::new();
    PROMOTER.get_or_init(|| {
        let host = PluginHost::new(PluginHostConfig::default()).expect("host");
        host.load(&guests::component(guests::UPGRADE_MIGRATION_PROMOTER))
            .expect("the upgrade component loads")
    })
}

/// A cluster model the scenario drives: (id, version, zone, votes), and the leader.
struct Cluster {
    servers: Vec<(String, String, String, bool)>,
    leader: String,
}

impl Cluster {
    fn new(servers: &[(&str, &str, &str, bool)], leader: &str) -> Self {
        Self {
            servers: servers
                .iter()
                .map(|(i, v, z, vote)| ((*i).into(), (*v).into(), (*z).into(), *vote))
                .collect(),
            leader: leader.into(),
        }
    }

    fn join(&mut self, id: &str, version: &str, zone: &str) {
        self.servers
            .push((id.into(), version.into(), zone.into(), false));
    }

    fn snapshot(&self) -> String {
        let known = |id: &str, version: &str, zone: &str| {
            let meta = if zone.is_empty() {
                json!({})
            } else {
                json!({"zone": zone})
            };
            json!({"ID": id, "Name": id, "Address": format!("{id}:8300"), "NodeStatus": "alive",
                   "Version": version, "Meta": meta})
        };
        let mut raft = Vec::new();
        let mut servers = serde_json::Map::new();
        let mut stats = serde_json::Map::new();
        let mut previous = serde_json::Map::new();
        for (id, version, zone, votes) in &self.servers {
            raft.push(json!({"Suffrage": if *votes { 0 } else { 1 }, "ID": id, "Address": format!("{id}:8300")}));
            servers.insert(id.clone(), known(id, version, zone));
            stats.insert(
                id.clone(),
                json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100}),
            );
            previous.insert(
                id.clone(),
                json!({"Server": known(id, version, zone), "State": "voter",
                       "Health": {"Healthy": true, "StableSince": "2020-11-02T12:00:00Z"}}),
            );
        }
        json!({
            "Now": "2020-11-02T12:10:00Z", "FirstStateTime": "2020-11-02T11:00:00Z",
            "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                       "MaxTrailingLogs": 10, "MinQuorum": 3,
                       "ServerStabilizationTime": 10_000_000_000u64},
            "RaftConfig": {"Servers": raft},
            "KnownServers": servers,
            "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": self.leader,
            "FetchedStats": stats,
            "CurrentState": {"Servers": previous}
        })
        .to_string()
    }

    /// One round: plan it and apply its actions to the model.
    fn round(&mut self) -> (Plan, Value) {
        let inputs = parse_snapshot(&self.snapshot()).expect("snapshot");
        let plan = plan_round(&inputs, upgrade());
        let errors = plan.faults.clone();
        assert!(errors.is_empty(), "{errors:?}");
        for action in &plan.actions {
            match action {
                Action::AddVoter { id, .. } => self.set_vote(id.as_str(), true),
                Action::DemoteVoter { id } => self.set_vote(id.as_str(), false),
                Action::LeadershipTransfer { id, .. } => self.leader = id.to_string(),
                _ => {}
            }
        }
        let ext = plan.state.ext.clone();
        (plan, ext)
    }

    fn set_vote(&mut self, id: &str, votes: bool) {
        if let Some(s) = self.servers.iter_mut().find(|s| s.0 == id) {
            s.3 = votes;
        }
    }
}

fn ops(plan: &Plan) -> Vec<String> {
    plan.actions.iter().map(ToString::to_string).collect()
}

#[test]
fn an_upgrade_runs_to_the_end_one_kind_of_change_per_round() {
    let mut cluster = Cluster::new(
        &[
            ("o1", "1.0.0", "", true),
            ("o2", "1.0.0", "", true),
            ("o3", "1.0.0", "", true),
        ],
        "o1",
    );
    let (plan, ext) = cluster.round();
    assert_eq!(ext["status"], "idle");
    assert!(plan.actions.is_empty());

    cluster.join("n1", "1.1.0", "");
    cluster.join("n2", "1.1.0+build.7", "");
    let (plan, ext) = cluster.round();
    assert_eq!(
        ext["status"], "await-new-voters",
        "2 new servers for 3 old voters"
    );
    assert!(plan.actions.is_empty(), "{:?}", ops(&plan));
    assert_eq!(
        plan.state.servers["n1"].server.node_type.as_str(),
        "upgrade-pending"
    );
    assert_eq!(
        ext["versions"]["1.1.0"],
        json!(["n1", "n2"]),
        "build metadata ignored"
    );

    cluster.join("n3", "1.1.0", "");
    let (plan, ext) = cluster.round();
    assert_eq!(ext["status"], "promoting");
    assert_eq!(
        ops(&plan),
        [
            "add voter n1 (n1:8300)",
            "add voter n2 (n2:8300)",
            "add voter n3 (n3:8300)"
        ]
    );

    let (plan, ext) = cluster.round();
    assert_eq!(ext["status"], "demoting");
    assert_eq!(ops(&plan), ["demote voter o2", "demote voter o3"]);

    let (plan, ext) = cluster.round();
    assert_eq!(ext["status"], "leader-transfer");
    assert_eq!(ops(&plan), ["transfer leadership to n1 (n1:8300)"]);

    let (plan, ext) = cluster.round();
    assert_eq!(ext["status"], "demoting");
    assert_eq!(ops(&plan), ["demote voter o1"]);

    let (plan, ext) = cluster.round();
    assert_eq!(ext["status"], "await-server-removal");
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.state.servers["o1"].server.node_type.as_str(),
        "upgrade-old"
    );
    assert_eq!(ext["target_version"], "1.1.0");
}

#[test]
fn servers_of_unknown_version_are_never_demoted_for_the_upgrade() {
    let mut cluster = Cluster::new(
        &[
            ("o1", "1.0.0", "", true),
            ("u1", "custom-build", "", true),
            ("o2", "1.0.0", "", true),
        ],
        "o1",
    );
    cluster.join("n1", "2.0.0-rc.1", "");
    cluster.join("n2", "2.0.0-rc.1", "");
    for _ in 0..8 {
        let (plan, _) = cluster.round();
        assert!(
            !plan
                .actions
                .contains(&Action::DemoteVoter { id: "u1".into() })
        );
    }
    let (_, ext) = cluster.round();
    assert_eq!(
        ext["status"], "await-server-removal",
        "pre-releases count as versions"
    );
    assert_eq!(ext["unknown_version"], json!(["u1"]));
    assert!(
        cluster.servers.iter().any(|s| s.0 == "u1" && s.3),
        "u1 still votes"
    );
}

#[test]
fn with_zones_leadership_waits_until_the_new_version_covers_every_zone() {
    let mut cluster = Cluster::new(
        &[
            ("o1", "1.0.0", "a", true),
            ("o2", "1.0.0", "b", true),
            ("o3", "1.0.0", "c", true),
        ],
        "o1",
    );
    cluster.join("n1", "1.1.0", "a");
    cluster.join("n2", "1.1.0", "a");
    cluster.join("n3", "1.1.0", "b");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (plan, ext) = cluster.round();
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::LeadershipTransfer { .. })),
            "no transfer while zone c has no new server: {:?}",
            ops(&plan)
        );
        statuses.push(ext["status"].clone());
    }
    assert_eq!(statuses.last(), Some(&json!("leader-transfer")));
    cluster.join("n4", "1.1.0", "c");
    let mut moved = false;
    for _ in 0..4 {
        let (plan, _) = cluster.round();
        moved |= plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::LeadershipTransfer { .. }));
    }
    assert!(moved, "leadership moves once zone c is covered");
}

#[test]
fn upgrades_can_be_disabled() {
    let mut cluster = Cluster::new(&[("o1", "1.0.0", "", true)], "o1");
    cluster.join("n1", "1.1.0", "");
    let text = cluster.snapshot().replace(
        "\"ServerStabilizationTime\":10000000000",
        "\"ServerStabilizationTime\":10000000000,\"Ext\":{\"disable_upgrade_migration\":true}",
    );
    let plan = plan_round(&parse_snapshot(&text).expect("snapshot"), upgrade());
    assert!(plan.faults.is_empty());
    assert_eq!(plan.state.ext["status"], "disabled");
    // Disabled: the stable behaviour promotes n1.
    assert_eq!(ops(&plan), ["add voter n1 (n1:8300)"]);
}

/// The upgrade on the simulated cluster, through the runtime: demotions and the
/// leadership transfer happen for real, and the autopilot follows the leader.
#[tokio::test(start_paused = true)]
async fn an_upgrade_on_the_simulated_cluster() {
    use std::time::Duration;

    use autopilot::Config;
    use autopilot::testing::SimCluster;
    use autopilot::{Autopilot, PolicySource};

    let config = Config {
        min_quorum: 3,
        ..Config::default()
    };
    let sim = SimCluster::new(&["o1", "o2", "o3"], config);
    for id in ["o1", "o2", "o3"] {
        sim.set_version(id, "1.0.0");
    }
    let start = |sim: &SimCluster, on: &str| {
        Autopilot::builder(sim.view_from(on), sim.view_from(on))
            .reconciliation_enabled(true)
            .plugin_host(PluginHost::new(PluginHostConfig::default()).expect("host"))
            .build()
    };
    let mut leader = "o1".to_owned();
    let mut ap = start(&sim, &leader);
    ap.start().await;
    ap.set_policy(PolicySource::Bytes(guests::component(
        guests::UPGRADE_MIGRATION_PROMOTER,
    )))
    .await
    .expect("the upgrade policy swaps in");
    tokio::time::sleep(Duration::from_secs(30)).await;
    for id in ["n1", "n2", "n3"] {
        let server = sim.join(id);
        sim.set_version(id, "1.1.0");
        ap.add_server(&server).await.expect("joins");
    }
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Autopilot runs on whoever leads (the application's job; here, the test's).
        if let Some(now) = sim.leader().map(|l| l.to_string())
            && now != leader
        {
            ap.stop().await;
            leader = now;
            ap = start(&sim, &leader);
            ap.start().await;
        }
    }
    ap.stop().await;

    let calls = sim.calls();
    assert!(
        calls.iter().all(|c| !c.quorum_before || c.quorum_after),
        "quorum kept"
    );
    assert!(
        calls
            .iter()
            .any(|c| matches!(c.action, Action::DemoteVoter { .. }) && c.ok)
    );
    assert!(
        calls
            .iter()
            .any(|c| matches!(c.action, Action::LeadershipTransfer { .. }) && c.ok)
    );
    assert!(
        leader.starts_with('n'),
        "a new-version server leads: {leader}"
    );
    let config = sim.raft_configuration();
    for server in &config.servers {
        let votes = server.suffrage == autopilot::Suffrage::Voter;
        assert_eq!(votes, server.id.as_str().starts_with('n'), "{server:?}");
    }
}
