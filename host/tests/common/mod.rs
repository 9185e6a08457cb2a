//! Helpers shared by the runtime tests.

use std::time::Duration;

use autopilot::Autopilot;
use autopilot::Config;
use autopilot::testing::SimCluster;

/// The tests' config: the defaults with a MinQuorum of 3.
pub fn config() -> Config {
    Config {
        min_quorum: 3,
        ..Config::default()
    }
}

/// An autopilot on the simulated cluster, reconciliation enabled.
// Not every test crate that shares this module uses it.
#[allow(dead_code)]
pub fn autopilot(sim: &SimCluster) -> Autopilot<SimCluster, SimCluster> {
    Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .build()
}

/// Lets `d` of (paused) time pass.
pub async fn advance(d: Duration) {
    tokio::time::sleep(d).await;
}
