//! A soak of 10,000 logical seconds on the simulated cluster with random faults
//! (deaths, revivals, joins, forgotten servers, lag, failing and slow calls): the loops
//! keep running and no autopilot action ever costs the cluster its quorum.

use std::time::Duration;

use autopilot::Autopilot;
use autopilot::testing::{CallKind, SimCluster};
use autopilot::{Action, Config};

/// xorshift64*: deterministic randomness for a repeatable soak.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_seconds_of_faults_never_cost_quorum() {
    let config = Config {
        min_quorum: 3,
        ..Config::default()
    };
    let sim = SimCluster::new(&["a", "b", "c", "d", "e"], config);
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .build();
    ap.start().await;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut next_id = 0u32;
    let mut members: Vec<String> = ["b", "c", "d", "e"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();

    let step = Duration::from_secs(5);
    for _ in 0..(10_000 / 5) {
        match rng.below(12) {
            0 | 1 => {
                next_id += 1;
                let id = format!("n{next_id}");
                let server = sim.join(&id);
                let _ = ap.add_server(&server).await;
                members.push(id);
            }
            2 => {
                if let Some(id) = members.get(rng.below(members.len() as u64) as usize) {
                    sim.kill(id);
                }
            }
            3 => {
                if let Some(id) = members.get(rng.below(members.len() as u64) as usize) {
                    sim.revive(id);
                }
            }
            4 => {
                if let Some(id) = members.get(rng.below(members.len() as u64) as usize) {
                    sim.set_lag(id, rng.below(600));
                }
            }
            5 => {
                if rng.below(4) == 0
                    && let Some(id) = members.get(rng.below(members.len() as u64) as usize)
                {
                    sim.forget(id);
                }
            }
            6 => sim.fail_next(CallKind::Membership, rng.below(3) as u32),
            7 => sim.fail_next(CallKind::Configuration, rng.below(2) as u32),
            8 => sim.set_latency(CallKind::Stats, Duration::from_millis(rng.below(3_000))),
            9 => sim.set_latency(CallKind::Membership, Duration::from_millis(rng.below(500))),
            10 => sim.append(rng.below(300)),
            _ => {}
        }
        tokio::time::sleep(step).await;
    }
    ap.stop().await;

    let calls = sim.calls();
    assert!(
        calls.len() > 100,
        "the soak exercised autopilot: {} calls",
        calls.len()
    );
    for call in &calls {
        assert!(
            !call.quorum_before || call.quorum_after,
            "{:?} cost the cluster its quorum",
            call.action
        );
    }
    let promoted = calls
        .iter()
        .filter(|c| c.ok && matches!(c.action, Action::AddVoter { .. }))
        .count();
    let removed = calls
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::RemoveServer { .. } | Action::RemoveFailedServer { .. }
            )
        })
        .count();
    assert!(
        promoted > 10 && removed > 10,
        "promoted {promoted}, removed {removed}"
    );
    let counters = ap.counters();
    assert!(counters.state_updates >= 4_900);
}
