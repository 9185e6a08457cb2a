//! Safe by construction: every safety rule the host enforces on a policy's answer,
//! each broken on purpose by the adversary component, and refused as a named fault
//! in the library (`plan_round`), through `autopilot plan --promoter` (non-zero exit,
//! one line naming the rule) and in a running autopilot (the round falls back to the
//! stable policy, the fault is counted, the cluster keeps its voters).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use autopilot::plan::{parse_snapshot, plan_round};
use autopilot::testing::SimCluster;
use autopilot::{
    Action, Config, Decisions, NodeType, Policy, PolicyFault, PolicyMetadata, StablePolicy, State,
};
use autopilot::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot::{Autopilot, PolicySource};
use autopilot_integration_tests as guests;
use serde_json::json;

/// Voters `a` (leader), `b`, `c` and `e` (unhealthy: far behind), a stable non-voter
/// `d` and a lagging non-voter `f`; `mode` goes into the config's extension data.
fn snapshot(mode: &str, min_quorum: u32) -> String {
    let known = |id: &str| {
        json!({"ID": id, "Name": id, "Address": format!("{id}:8300"), "NodeStatus": "alive",
               "NodeType": "voter"})
    };
    let previous = |id: &str, state: &str| {
        json!({"Server": known(id), "State": state,
               "Health": {"Healthy": true, "StableSince": "2020-11-02T12:00:00Z"}})
    };
    let stats = json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 100});
    let behind = json!({"LastContact": 1_000_000, "LastTerm": 2, "LastIndex": 10});
    json!({
        "Now": "2020-11-02T12:10:00Z", "FirstStateTime": "2020-11-02T11:00:00Z",
        "Config": {"CleanupDeadServers": true, "LastContactThreshold": 200_000_000,
                   "MaxTrailingLogs": 10, "MinQuorum": min_quorum,
                   "ServerStabilizationTime": 10_000_000_000u64, "Ext": mode},
        "RaftConfig": {"Servers": [
            {"Suffrage": 0, "ID": "a", "Address": "a:8300"},
            {"Suffrage": 0, "ID": "b", "Address": "b:8300"},
            {"Suffrage": 0, "ID": "c", "Address": "c:8300"},
            {"Suffrage": 1, "ID": "d", "Address": "d:8300"},
            {"Suffrage": 0, "ID": "e", "Address": "e:8300"},
            {"Suffrage": 1, "ID": "f", "Address": "f:8300"}
        ]},
        "KnownServers": {"a": known("a"), "b": known("b"), "c": known("c"), "d": known("d"),
                         "e": known("e"), "f": known("f")},
        "LatestIndex": 100, "LastTerm": 2, "IsLeader": true, "LeaderID": "a",
        "FetchedStats": {"a": stats, "b": stats, "c": stats, "d": stats, "e": behind,
                         "f": behind},
        "CurrentState": {"Servers": {"a": previous("a", "leader"), "b": previous("b", "voter"),
                                     "c": previous("c", "voter"), "d": previous("d", "non-voter")}}
    })
    .to_string()
}

/// Each rule, the adversary mode that breaks it, the MinQuorum of the case, and the
/// words of the refusal.
const RULES: [(&str, u32, &str); 6] = [
    (
        "demote-leader",
        3,
        "unsafe answer: it demotes the leader \"a\" (leadership must be transferred first)",
    ),
    (
        "demote-all",
        0,
        "unsafe answer: it demotes the leader \"a\"",
    ),
    (
        "demote-all-but-leader",
        3,
        "unsafe answer: after its demotions 2 voters would remain, and MinQuorum is 3",
    ),
    (
        "demote-healthy-followers",
        1,
        "unsafe answer: after its demotions 1 of the 2 remaining voters would be healthy, not a majority",
    ),
    (
        "promote-unhealthy",
        3,
        "unsafe answer: it promotes \"f\", which is not healthy",
    ),
    (
        "promote-voter",
        3,
        "unsafe answer: it promotes \"a\", which already votes",
    ),
];

fn host() -> PluginHost {
    PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(
            std::env::temp_dir().join("autopilot-test-cache"),
        )),
        ..PluginHostConfig::default()
    })
    .expect("host")
}

#[test]
fn every_unsafe_answer_is_refused_whole_and_the_round_falls_back() {
    let adversary = host()
        .load(&guests::component(guests::ADVERSARY))
        .expect("adversary loads");
    for (mode, min_quorum, words) in RULES {
        let inputs = parse_snapshot(&snapshot(mode, min_quorum)).expect("snapshot");
        let plan = plan_round(&inputs, &adversary);
        let fault = plan.faults.first().expect("a fault");
        assert_eq!(fault.kind(), "unsafe-answer", "{mode}: {fault}");
        assert!(fault.to_string().contains(words), "{mode}: {fault}");
        // Nothing the policy asked for survives: the stable policy's round instead.
        assert_eq!(
            plan.actions,
            plan_round(&inputs, &StablePolicy).actions,
            "{mode}"
        );
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::DemoteVoter { .. })),
            "{mode}: no demotion planned"
        );
    }
}

#[test]
fn a_safe_upgrade_shape_passes_the_rules() {
    // Promoting new servers while demoting as many old ones keeps a healthy majority.
    let inputs = parse_snapshot(&snapshot("", 3)).expect("snapshot");
    let state = plan_round(&inputs, &StablePolicy).state;
    let mut decisions = StablePolicy::decisions(&inputs.config, &state, &[]);
    decisions.changes.promotions = vec!["d".into()];
    decisions.changes.demotions = vec!["b".into()];
    assert_eq!(
        autopilot::check_decisions(&inputs.config, &state, &decisions),
        Ok(())
    );
}

fn autopilot_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .join("autopilot")
}

#[test]
fn the_plan_command_names_the_broken_rule_in_one_line() {
    for (mode, min_quorum, words) in RULES {
        let path = std::env::temp_dir().join(format!(
            "autopilot-safety-{mode}-{}.json",
            std::process::id()
        ));
        std::fs::write(&path, snapshot(mode, min_quorum)).expect("write");
        let output = Command::new(autopilot_binary())
            .args(["plan", "--inputs"])
            .arg(&path)
            .args(["--promoter", guests::ADVERSARY])
            .env(
                "AUTOPILOT_CACHE_DIR",
                std::env::temp_dir().join("autopilot-test-cache"),
            )
            .output()
            .expect("autopilot runs");
        let _ = std::fs::remove_file(&path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{mode}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{mode}: {stderr}");
        assert!(stderr.contains("unusable promoter"), "{mode}: {stderr}");
        assert!(stderr.contains(words), "{mode}: {words:?} not in {stderr}");
    }
}

fn config(mode: &str) -> Config {
    Config {
        min_quorum: 3,
        ext: json!(mode),
        ..Config::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_running_autopilot_refuses_unsafe_answers_and_keeps_its_voters() {
    for (mode, _, _) in RULES {
        // Five voters (`e` far behind: unhealthy but alive), a stable non-voter `f`
        // joining, a lagging non-voter `g`.
        let sim = SimCluster::new(&["a", "b", "c", "d", "e"], config(""));
        sim.append(1_000);
        sim.set_lag("e", 1_000);
        let ap = Autopilot::builder(sim.clone(), sim.clone())
            .reconciliation_enabled(true)
            .plugin_host(host())
            .rollback_after(0)
            .build();
        ap.start().await;
        ap.set_policy(PolicySource::Bytes(guests::component(guests::ADVERSARY)))
            .await
            .expect("the adversary behaves while its mode is unset");
        tokio::time::sleep(Duration::from_secs(30)).await;
        let g = sim.join("g");
        ap.add_server(&g).await.expect("g added");
        sim.set_lag("g", 1_000);
        sim.set_config(Some(config(mode)));
        tokio::time::sleep(Duration::from_secs(60)).await;

        let faults = ap.counters().policy_faults;
        assert!(faults > 0, "{mode}: faults counted");
        let demotions = sim
            .calls()
            .iter()
            .filter(|c| matches!(c.action, Action::DemoteVoter { .. }))
            .count();
        assert_eq!(demotions, 0, "{mode}: nothing demoted");
        assert_eq!(
            ap.num_voters().await.expect("voters"),
            5,
            "{mode}: {:?}",
            sim.calls()
        );
        assert!(sim.has_quorum(), "{mode}");
        assert!(
            !sim.calls()
                .iter()
                .any(|c| matches!(&c.action, Action::AddVoter { id, .. } if id.as_str() == "g")),
            "{mode}: the lagging server is not promoted"
        );
        ap.stop().await;
    }
}

/// A native policy that demotes every voter: the same rules hold for native code.
struct DemoteEveryone;

impl Policy for DemoteEveryone {
    fn metadata(&self) -> PolicyMetadata {
        PolicyMetadata {
            name: "demote-everyone".into(),
            version: "1".into(),
        }
    }

    fn decide(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Decisions, PolicyFault> {
        let mut decisions = StablePolicy::decisions(config, state, judge);
        decisions.changes.demotions = state.voters.clone();
        Ok(decisions)
    }
}

#[tokio::test(start_paused = true)]
async fn a_native_policy_obeys_the_same_rules_and_is_rolled_back() {
    let sim = SimCluster::new(&["a", "b", "c", "d", "e"], config(""));
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .policy(std::sync::Arc::new(DemoteEveryone))
        .build();
    ap.start().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        !sim.calls()
            .iter()
            .any(|c| matches!(c.action, Action::DemoteVoter { .. }))
    );
    assert_eq!(ap.num_voters().await.expect("voters"), 5);
    let status = ap.policy_status();
    assert_eq!(
        status.active.name, "stable",
        "rolled back after repeated faults"
    );
    assert!(
        status.history.iter().any(|e| matches!(
            e,
            autopilot::PolicyEvent::RolledBack { reason, .. }
                if reason.contains("unsafe answer: it demotes the leader")
        )),
        "{:?}",
        status.history
    );
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_refuses_a_policy_whose_answer_is_unsafe_now() {
    {
        let sim = SimCluster::new(&["a", "b", "c"], config("demote-leader"));
        let ap = Autopilot::builder(sim.clone(), sim.clone())
            .plugin_host(host())
            .build();
        ap.start().await;
        let refused = ap
            .set_policy(PolicySource::Bytes(guests::component(guests::ADVERSARY)))
            .await
            .expect_err("refused");
        assert_eq!(refused.kind(), "unsafe-answer", "{refused}");
        assert!(refused.to_string().contains("demotes the leader"));
        assert_eq!(ap.policy_status().active.name, "stable");
        ap.stop().await;
    }
}
