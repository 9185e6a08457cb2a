//! Scenarios on the simulated cluster (tokio's paused clock): joining and promotion,
//! failed and stale servers, slow and failing calls.

use std::time::Duration;

use autopilot::testing::{CallKind, SimCluster};
use autopilot::{Action, Config, ServerId};

mod common;
use common::{advance, autopilot, config};

fn actions(sim: &SimCluster) -> Vec<Action> {
    sim.calls()
        .into_iter()
        .filter(|c| c.ok)
        .map(|c| c.action)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_joining_server_is_added_as_non_voter_then_promoted_once_stable() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;

    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    let joined = tokio::time::Instant::now();
    assert_eq!(
        actions(&sim),
        [Action::AddNonvoter {
            id: "d".into(),
            address: "d.sim:8300".into()
        }]
    );
    advance(Duration::from_secs(30)).await;
    let calls = sim.calls();
    let promotion = calls
        .iter()
        .find(|c| matches!(c.action, Action::AddVoter { .. }))
        .expect("d promoted");
    let waited = promotion.at - joined;
    assert!(
        waited >= Duration::from_secs(10),
        "promoted only after the 10 s stabilization: {waited:?}"
    );
    assert_eq!(ap.num_voters().await.expect("config"), 4);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_voter_is_removed_without_going_below_min_quorum() {
    let sim = SimCluster::new(&["a", "b", "c", "d", "e"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    sim.kill("e");
    advance(Duration::from_secs(30)).await;
    assert_eq!(sim.removed_failed(), [ServerId::from("e")]);
    assert_eq!(ap.num_voters().await.expect("config"), 4);

    // Down to MinQuorum voters: the next failure is not cleaned up.
    sim.kill("d");
    advance(Duration::from_secs(30)).await;
    assert_eq!(
        sim.removed_failed(),
        [ServerId::from("e"), ServerId::from("d")]
    );
    sim.kill("c");
    advance(Duration::from_secs(60)).await;
    assert_eq!(
        sim.removed_failed(),
        [ServerId::from("e"), ServerId::from("d")],
        "3 voters left: MinQuorum 3 keeps c"
    );
    assert!(
        sim.calls()
            .iter()
            .all(|c| !c.quorum_before || c.quorum_after)
    );
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stale_server_is_removed_from_raft() {
    let sim = SimCluster::new(&["a", "b", "c", "d", "e"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    sim.forget("e");
    advance(Duration::from_secs(15)).await;
    assert!(actions(&sim).contains(&Action::RemoveServer { id: "e".into() }));
    assert!(sim.raft_configuration().get(&"e".into()).is_none());
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn slow_stats_do_not_stall_state_updates() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    sim.set_latency(CallKind::Stats, Duration::from_secs(30));
    let before = sim.states_notified();
    advance(Duration::from_secs(20)).await;
    let updates = sim.states_notified() - before;
    assert!(
        updates >= 9,
        "an update every ~2 s despite 30 s stats calls: {updates}"
    );
    // Without fresh stats the last known ones are kept: once the log moves on, the
    // followers look behind.
    assert!(ap.state().healthy);
    sim.append(1_000);
    advance(Duration::from_secs(3)).await;
    assert!(!ap.state().healthy);
    sim.set_latency(CallKind::Stats, Duration::ZERO);
    advance(Duration::from_secs(3)).await;
    assert!(ap.state().healthy);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failing_raft_calls_are_counted_and_retried() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    sim.fail_next(CallKind::Membership, 2);
    sim.fail_next(CallKind::Configuration, 3);
    advance(Duration::from_secs(60)).await;
    let counters = ap.counters();
    let failures = counters.reconcile_errors + counters.state_update_errors;
    assert!(failures >= 3, "failures counted: {failures}");
    assert!(
        actions(&sim).contains(&Action::AddVoter {
            id: "d".into(),
            address: "d.sim:8300".into()
        }),
        "promoted once the calls succeed again"
    );
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_follower_makes_no_changes() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    sim.set_leader(Some("b"));
    sim.kill("c");
    advance(Duration::from_secs(30)).await;
    assert!(
        sim.calls()
            .iter()
            .all(|c| !c.ok || matches!(c.action, Action::RemoveFailedServer { .. }))
    );
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_membership_change_is_not_acted_on_again_before_the_state_shows_it() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    // Wait for the promotion, then keep asking for rounds (a policy swap triggers
    // one) before the next state update: none may promote d a second time.
    let promoted = |sim: &SimCluster| {
        sim.calls()
            .iter()
            .filter(|c| matches!(&c.action, Action::AddVoter { id, .. } if id.as_str() == "d"))
            .count()
    };
    while promoted(&sim) == 0 {
        advance(Duration::from_millis(10)).await;
    }
    for _ in 0..10 {
        ap.set_native_policy(std::sync::Arc::new(autopilot::StablePolicy));
        advance(Duration::from_millis(50)).await;
    }
    advance(Duration::from_secs(30)).await;
    assert_eq!(promoted(&sim), 1);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_config_change_triggers_a_round() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    let rounds = || ap.counters().reconcile_rounds;
    let before = rounds();
    sim.set_config(Some(Config {
        max_trailing_logs: 1_000,
        ..config()
    }));
    // The next state update (within 2 s) notices the change; the ticker is 10 s away.
    advance(Duration::from_millis(2_100)).await;
    assert!(rounds() > before, "a round ran on the config change");
    ap.stop().await;
}
