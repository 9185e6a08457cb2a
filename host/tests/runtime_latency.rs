//! Reaction latency on tokio's paused clock (logical time, so exact and repeatable):
//! how long after a non-voter's stabilization window elapses it is promoted, with
//! event-driven rounds and with the reference's ticker only, at default intervals.

use std::time::Duration;

use autopilot::testing::SimCluster;
use autopilot::{Action, Config, ServerId};
use autopilot::{Autopilot, Clock};

/// Joins `d` at `offset` into a reconcile period and returns the time from the
/// instant its window elapsed (stable-since + 10 s) to its promotion.
async fn promotion_latency(event_driven: bool, offset: Duration) -> Duration {
    let sim = SimCluster::new(&["a", "b", "c"], Config::default());
    let clock = Clock::starting_at(
        chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant"),
    );
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .event_driven(event_driven)
        .clock(clock)
        .build();
    ap.start().await;
    tokio::time::sleep(Duration::from_secs(30) + offset).await;
    let d = sim.join("d");
    ap.add_server(&d).await.expect("added");
    let id = ServerId::from("d");
    // Wait for a state that shows d healthy: its stable-since is the window's start.
    let stable_since = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(health) = ap.server_health(&id).filter(|h| h.healthy) {
            break health.stable_since;
        }
    };
    tokio::time::sleep(Duration::from_secs(30)).await;
    let promoted = sim
        .calls()
        .into_iter()
        .find(|c| matches!(c.action, Action::AddVoter { .. }))
        .expect("d promoted");
    ap.stop().await;
    let window_end = stable_since + chrono::TimeDelta::seconds(10);
    (clock.wall(promoted.at) - window_end)
        .to_std()
        .expect("promoted no earlier than the window's end")
}

#[tokio::test(start_paused = true)]
async fn event_driven_promotion_follows_the_window_within_100ms() {
    let mut worst = Duration::ZERO;
    for offset_ms in [0, 700, 1_300, 4_900, 9_100] {
        let latency = promotion_latency(true, Duration::from_millis(offset_ms)).await;
        worst = worst.max(latency);
    }
    eprintln!("event-driven: worst promotion latency {worst:?}");
    assert!(worst <= Duration::from_millis(100), "{worst:?}");
}

#[tokio::test(start_paused = true)]
async fn ticker_only_promotion_waits_for_the_reconcile_ticker() {
    let mut worst = Duration::ZERO;
    for offset_ms in [0, 700, 1_300, 4_900, 9_100] {
        let latency = promotion_latency(false, Duration::from_millis(offset_ms)).await;
        worst = worst.max(latency);
    }
    eprintln!("ticker only: worst promotion latency {worst:?}");
    assert!(worst > Duration::from_secs(1), "{worst:?}");
    assert!(worst <= Duration::from_secs(10), "{worst:?}");
}
