//! The runtime's lifecycle on tokio's paused clock: start, stop, restart, leadership
//! changes and toggling reconciliation.

use std::sync::Arc;
use std::time::Duration;

use autopilot::testing::{CallKind, SimCluster};
use autopilot::{Action, ServerId};
use autopilot::{Autopilot, Status};

mod common;
use common::{advance, autopilot, config};

#[tokio::test(start_paused = true)]
async fn start_computes_a_first_state_at_once() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    assert_eq!(ap.status(), Status::NotRunning);
    assert!(ap.state().servers.is_empty());
    ap.start().await;
    assert_eq!(ap.status(), Status::Running);
    let state = ap.state();
    assert_eq!(state.servers.len(), 3);
    assert_eq!(state.leader, Some(ServerId::from("a")));
    assert!(state.healthy);
    assert_eq!(sim.states_notified(), 1);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_second_start_while_running_does_nothing() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    ap.start().await;
    assert_eq!(sim.states_notified(), 1, "no second first state");
    advance(Duration::from_millis(2_500)).await;
    assert_eq!(sim.states_notified(), 2, "one updater, not two");
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_resets_the_state_and_start_runs_again() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(5)).await;
    ap.stop().await;
    assert_eq!(ap.status(), Status::NotRunning);
    assert!(ap.state().servers.is_empty());
    let updates = sim.states_notified();
    advance(Duration::from_secs(10)).await;
    assert_eq!(sim.states_notified(), updates, "no updates while stopped");

    ap.start().await;
    assert_eq!(ap.status(), Status::Running);
    assert_eq!(ap.state().servers.len(), 3);
    ap.stop().await;
    // Stopping a stopped autopilot completes at once.
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_completes_while_a_round_is_in_flight() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    // Promotions now take a minute each: the round will be in flight.
    sim.set_latency(CallKind::Membership, Duration::from_secs(60));
    advance(Duration::from_secs(15)).await;
    let stopping = ap.stop();
    assert_eq!(ap.status(), Status::ShuttingDown);
    tokio::time::timeout(Duration::from_secs(1), stopping)
        .await
        .expect("stop does not wait for the slow Raft call");
    assert_eq!(ap.status(), Status::NotRunning);
    assert!(ap.state().servers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn start_waits_for_a_shutdown_in_progress() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    let stopping = ap.stop();
    ap.start().await;
    assert_eq!(ap.status(), Status::Running);
    stopping.await;
    assert_eq!(
        ap.status(),
        Status::Running,
        "the old stop does not stop the new run"
    );
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn losing_and_regaining_leadership_forgets_the_first_state_time() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    ap.start().await;
    let first = ap.state().first_state_time;
    advance(Duration::from_secs(60)).await;
    assert_eq!(ap.state().first_state_time, first, "kept across updates");
    // Leadership lost: the embedding service stops autopilot...
    sim.set_leader(Some("b"));
    ap.stop().await;
    advance(Duration::from_secs(60)).await;
    // ...and regained: it starts again, from a fresh first-state time.
    sim.set_leader(Some("a"));
    ap.start().await;
    let again = ap.state().first_state_time;
    assert_eq!((again - first).num_seconds(), 120);
    assert_eq!(ap.state().now, again);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn reconciliation_can_be_toggled() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let on = Autopilot::builder(sim.clone(), sim.clone()).build();
    assert!(
        on.reconciliation_enabled(),
        "enabled by default, as in the reference"
    );
    drop(on);
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(false)
        .build();
    assert!(!ap.reconciliation_enabled());
    ap.start().await;
    advance(Duration::from_secs(30)).await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    advance(Duration::from_secs(60)).await;
    let promotions = |sim: &SimCluster| {
        sim.calls()
            .iter()
            .filter(|c| matches!(c.action, Action::AddVoter { .. }))
            .count()
    };
    assert_eq!(promotions(&sim), 0, "nothing promoted while disabled");
    ap.enable_reconciliation();
    advance(Duration::from_secs(1)).await;
    assert_eq!(promotions(&sim), 1, "promoted promptly once enabled");
    ap.disable_reconciliation();
    let e = sim.join("e");
    ap.add_server(&e).await.expect("added");
    advance(Duration::from_secs(60)).await;
    assert_eq!(promotions(&sim), 1);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn autopilot_handles_are_shared() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = autopilot(&sim);
    let other = ap.clone();
    ap.start().await;
    assert_eq!(other.status(), Status::Running);
    let state = Arc::clone(&other.state());
    assert_eq!(state.servers.len(), 3);
    other.stop().await;
    assert_eq!(ap.status(), Status::NotRunning);
}
