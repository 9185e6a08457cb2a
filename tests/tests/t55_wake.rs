//! The policy says when to look again: a policy with windows of its own is acted on
//! when its window ends, not at the next periodic round (paused clock, logical time).

use std::time::Duration;

use autopilot::testing::SimCluster;
use autopilot::{Action, Config, ServerId};
use autopilot::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot::{Autopilot, Clock, PolicySource};
use autopilot_integration_tests as guests;

fn host() -> PluginHost {
    PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(
            std::env::temp_dir().join("autopilot-test-cache"),
        )),
        ..PluginHostConfig::default()
    })
    .expect("host")
}

/// Runs `cautious` (probation: twice the 10 s stabilization time), joins `d` at
/// `offset` into the run, and returns how long after d's probation ended it was
/// promoted.
async fn cautious_latency(offset: Duration) -> Duration {
    let sim = SimCluster::new(&["a", "b", "c"], Config::default());
    let clock = Clock::starting_at(
        chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant"),
    );
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .plugin_host(host())
        .clock(clock)
        .build();
    ap.start().await;
    ap.set_policy(PolicySource::Bytes(guests::component(
        guests::CAUTIOUS_PROMOTER,
    )))
    .await
    .expect("cautious swaps in");
    tokio::time::sleep(Duration::from_secs(30) + offset).await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    let id = ServerId::from("d");
    let stable_since = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(health) = ap.server_health(&id).filter(|h| h.healthy) {
            break health.stable_since;
        }
    };
    tokio::time::sleep(Duration::from_secs(40)).await;
    let promoted = sim
        .calls()
        .into_iter()
        .find(|c| matches!(c.action, Action::AddVoter { .. }))
        .expect("d promoted");
    ap.stop().await;
    let probation_end = stable_since + chrono::TimeDelta::seconds(20);
    (clock.wall(promoted.at) - probation_end)
        .to_std()
        .expect("promoted no earlier than its probation's end")
}

#[tokio::test(start_paused = true)]
async fn a_policy_with_its_own_window_is_acted_on_when_it_ends() {
    let mut worst = Duration::ZERO;
    for offset_ms in [0, 700, 1_300, 4_900, 9_100] {
        worst = worst.max(cautious_latency(Duration::from_millis(offset_ms)).await);
    }
    eprintln!("cautious: worst promotion latency after probation {worst:?}");
    assert!(worst <= Duration::from_millis(100), "{worst:?}");
}

/// A policy that always asks to be woken a nanosecond later.
struct Restless;

impl autopilot::Policy for Restless {
    fn metadata(&self) -> autopilot::PolicyMetadata {
        autopilot::PolicyMetadata {
            name: "restless".into(),
            version: "1".into(),
        }
    }

    fn decide(
        &self,
        config: &Config,
        state: &autopilot::State,
        judge: &[autopilot::NodeType],
    ) -> Result<autopilot::Decisions, autopilot::PolicyFault> {
        let mut decisions = autopilot::StablePolicy::decisions(config, state, judge);
        decisions.wake_at = Some(state.now + chrono::TimeDelta::nanoseconds(1));
        Ok(decisions)
    }
}

#[tokio::test(start_paused = true)]
async fn a_policy_cannot_make_rounds_run_back_to_back() {
    let sim = SimCluster::new(&["a", "b", "c"], Config::default());
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .policy(std::sync::Arc::new(Restless))
        .build();
    ap.start().await;
    let rounds = || ap.counters().reconcile_rounds;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = rounds();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let during = rounds() - before;
    // One a second from its wake-ups, a few from the ticker and state changes.
    assert!(during >= 50, "its wake-ups are honoured: {during}");
    assert!(during <= 75, "but at most one round a second: {during}");
    ap.stop().await;
}
