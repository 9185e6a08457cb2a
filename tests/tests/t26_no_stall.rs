//! A policy that uses its whole budget every round costs its own rounds, never the
//! node: on a current-thread runtime (where a blocked thread would stop everything),
//! a probe task woken every millisecond is never held up by more than a few
//! milliseconds, while every policy call runs out of fuel and falls back.
//!
//! Real time, not the paused clock: the point is what the executor thread does.
//! Alone in its test binary, so no other test competes for the cores.

use std::time::{Duration, Instant};

use autopilot::Config;
use autopilot::testing::SimCluster;
use autopilot::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot::{Autopilot, PolicySource};
use autopilot_integration_tests as guests;

fn config(mode: &str) -> Config {
    Config {
        min_quorum: 3,
        ext: serde_json::json!(mode),
        ..Config::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_policy_burning_its_budget_never_stalls_the_executor() {
    let sim = SimCluster::new(&["a", "b", "c"], config(""));
    let host = PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(
            std::env::temp_dir().join("autopilot-test-cache"),
        )),
        ..PluginHostConfig::default()
    })
    .expect("host");
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .update_interval(Duration::from_millis(50))
        .reconcile_interval(Duration::from_millis(50))
        .rollback_after(0)
        .plugin_host(host)
        .build();
    ap.start().await;
    ap.set_policy(PolicySource::Bytes(guests::component(guests::ADVERSARY)))
        .await
        .expect("the adversary swaps in while it behaves");
    // From now on every call loops until its fuel runs out.
    sim.set_config(Some(config("loop")));

    // The probe: a thread of its own sends the time every millisecond, and a task
    // on the runtime measures how long each message waited to be received. That is
    // the executor's scheduling delay, without the timer wheel's millisecond rounding.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let sender = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(1));
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut wakeups = 0u32;
    while let Some(sent) = rx.recv().await {
        let late = sent.elapsed();
        // The first second lets the swap's and the first rounds' setup settle.
        if started.elapsed() > Duration::from_secs(1) {
            worst = worst.max(late);
            wakeups += 1;
        }
    }
    sender.join().expect("probe thread");
    let faults = ap.counters().policy_faults;
    eprintln!("{wakeups} wake-ups, worst delay {worst:?}, {faults} policy faults");
    assert!(
        faults >= 10,
        "the policy burned its budget round after round: {faults}"
    );
    assert!(wakeups > 1_000, "the probe ran: {wakeups}");
    assert!(
        worst < Duration::from_millis(5),
        "the probe was held up for {worst:?}"
    );
    ap.stop().await;
}
