//! The runtime's record of its latest round, replayed through `autopilot plan`'s
//! library, its metrics, and a policy preview on that round (tokio's paused clock).

use std::time::Duration;

use autopilot::plan::{parse_snapshot, plan_round, snapshot_json};
use autopilot::testing::SimCluster;
use autopilot::{Action, Autopilot, PolicyFunction, PolicySource, Reason, ServerId, StablePolicy};

mod common;
use common::{advance, config};

/// Rounds only when the test asks (`reconcile_now`): the loop's ticker is an hour.
fn manual(sim: &SimCluster) -> Autopilot<SimCluster, SimCluster> {
    Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .event_driven(false)
        .reconcile_interval(Duration::from_secs(3600))
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_last_round_replays_through_plan_with_the_same_actions_and_reasons() {
    let sim = SimCluster::new(&["a", "b", "c", "e"], config());
    let ap = manual(&sim);
    ap.start().await;
    assert!(ap.last_round().is_none(), "no round yet");
    let d = sim.join("d");
    // Adding a server asks for a pruning pass: let it pass before `e` fails.
    ap.add_server(&d).await.expect("added");
    advance(Duration::from_secs(30)).await;
    sim.kill("e");
    advance(Duration::from_secs(30)).await;
    assert!(sim.removed_failed().is_empty(), "no round has run");

    ap.reconcile_now().await;
    let round = ap.last_round().expect("a round ran");
    assert!(
        round.actions.contains(&Action::AddVoter {
            id: "d".into(),
            address: "d.sim:8300".into()
        }),
        "{:?}",
        round.actions
    );
    assert!(
        round
            .actions
            .contains(&Action::RemoveFailedServer { id: "e".into() }),
        "{:?}",
        round.actions
    );
    assert_eq!(
        round.reasons.get(&ServerId::from("d")),
        Some(&Reason::Promoted)
    );
    assert!(
        round.reasons.contains_key(&ServerId::from("e")),
        "{:?}",
        round.reasons
    );

    // What an operator saves (`autopilot record`) and replays (`autopilot plan`).
    let written = round.snapshot().expect("the round serializes");
    assert_eq!(
        written,
        snapshot_json(&round.inputs).expect("inputs serialize")
    );
    let inputs = parse_snapshot(&written.to_string()).expect("the record parses");
    let replay = plan_round(&inputs, &StablePolicy);
    assert!(replay.errors.is_empty(), "{:?}", replay.errors);
    assert_eq!(replay.actions, round.actions);
    assert_eq!(replay.reasons, round.reasons);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_count_actions_by_op_and_policy_calls_by_function() {
    let sim = SimCluster::new(&["a", "b", "c", "e"], config());
    let ap = manual(&sim);
    ap.start().await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    sim.kill("e");
    advance(Duration::from_secs(30)).await;
    ap.reconcile_now().await;

    let m = ap.metrics();
    assert_eq!(m.actions.get("AddVoter"), Some(&1), "{:?}", m.actions);
    assert_eq!(m.actions.get("RemoveFailedServer"), Some(&1));
    let decide = m.policy_calls.get(&(PolicyFunction::Decide, "ok")).copied();
    let filter = m
        .policy_calls
        .get(&(PolicyFunction::FilterRemovals, "ok"))
        .copied();
    assert!(decide.is_some_and(|n| n >= 2), "{:?}", m.policy_calls);
    assert_eq!(filter, Some(1), "one pruning pass had a failed server");
    let calls: u64 = m.policy_calls.values().sum();
    assert_eq!(m.policy_call_seconds.count, calls);
    assert_eq!(
        m.policy_call_seconds.buckets.last().map(|b| b.1),
        Some(calls)
    );
    assert!(m.policy_swaps.is_empty());
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_preview_runs_the_candidate_on_the_last_round_and_swaps_nothing() {
    let sim = SimCluster::new(&["a", "b", "c"], config());
    let ap = manual(&sim);
    ap.start().await;
    let refused = ap.preview_policy(PolicySource::Builtin).await;
    assert!(
        refused.is_err_and(|e| e.to_string().contains("no reconcile round")),
        "nothing to preview on before a round"
    );
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    advance(Duration::from_secs(30)).await;
    ap.reconcile_now().await;
    let before = ap.policy_status();

    let plan = ap
        .preview_policy(PolicySource::Builtin)
        .await
        .expect("the built-in policy previews");
    let round = ap.last_round().expect("a round ran");
    assert_eq!(plan.actions, round.actions);
    assert_eq!(ap.policy_status(), before, "nothing swapped or recorded");
    ap.stop().await;
}
