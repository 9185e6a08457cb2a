//! Hot-swapping the policy on a running autopilot (simulated cluster, paused clock):
//! swaps and refusals, pinning, dry runs, rollback, the watched file, failover, and a
//! stress of concurrent swaps during thousands of rounds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot::testing::{CallKind, SimCluster};
use autopilot::{ArtifactCache, PluginError, PluginHost, PluginHostConfig, sha256_hex};
use autopilot::{Autopilot, PolicySource};
use autopilot::{
    Config, Decisions, FailedServers, NodeType, Policy, PolicyEvent, PolicyFault, PolicyMetadata,
    StablePolicy, State,
};
use autopilot_integration_tests as guests;

fn config() -> Config {
    Config {
        min_quorum: 3,
        ..Config::default()
    }
}

fn cluster() -> SimCluster {
    SimCluster::new(&["a", "b", "c"], config())
}

fn host() -> PluginHost {
    PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(
            std::env::temp_dir().join("autopilot-test-cache"),
        )),
        ..PluginHostConfig::default()
    })
    .expect("host")
}

fn autopilot(sim: &SimCluster) -> Autopilot<SimCluster, SimCluster> {
    Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .plugin_host(host())
        .build()
}

fn stable() -> Vec<u8> {
    guests::component(guests::STABLE_PROMOTER)
}

#[tokio::test(start_paused = true)]
async fn swaps_to_a_component_and_back_and_the_state_shows_it() {
    let sim = cluster();
    let ap = autopilot(&sim);
    ap.start().await;
    assert_eq!(ap.policy_status().active.digest, None);

    let active = ap
        .set_policy(PolicySource::Bytes(stable()))
        .await
        .expect("stable swaps in");
    assert_eq!(active.name, "stable");
    assert_eq!(active.digest, Some(sha256_hex(&stable())));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = ap.state();
    let shown = state.policy.as_ref().expect("the state carries the policy");
    assert_eq!(shown.active.digest, Some(sha256_hex(&stable())));
    assert!(matches!(
        shown.history.back(),
        Some(PolicyEvent::Swapped { .. })
    ));

    let back = ap.set_policy(PolicySource::Builtin).await.expect("builtin");
    assert_eq!(back.digest, None);
    assert_eq!(ap.policy_status().history.len(), 2);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_component_is_refused_and_the_running_policy_stays() {
    let sim = cluster();
    let ap = autopilot(&sim);
    ap.start().await;
    ap.set_policy(PolicySource::Bytes(stable()))
        .await
        .expect("stable");
    let before = ap.policy_status().active;

    for (bytes, kind) in [
        (b"not wasm at all".to_vec(), "not-a-component"),
        (
            guests::component(guests::WRONG_VERSION),
            "incompatible-version",
        ),
        (
            guests::component(guests::FORBIDDEN_IMPORT),
            "forbidden-import",
        ),
    ] {
        let error = ap
            .set_policy(PolicySource::Bytes(bytes))
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), kind);
        assert_eq!(ap.policy_status().active, before, "unchanged after {kind}");
        match ap.policy_status().history.back() {
            Some(PolicyEvent::Refused { reason, .. }) => assert_eq!(reason, &error.to_string()),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let missing = ap
        .set_policy(PolicySource::Path("/nonexistent/p.wasm".into()))
        .await
        .expect_err("refused");
    assert_eq!(missing.kind(), "unreadable");
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_policy_whose_dry_run_fails_is_refused() {
    let sim = SimCluster::new(
        &["a", "b", "c"],
        Config {
            ext: serde_json::json!("panic"),
            ..config()
        },
    );
    let ap = autopilot(&sim);
    ap.start().await;
    let error = ap
        .set_policy(PolicySource::Bytes(guests::component(guests::ADVERSARY)))
        .await
        .expect_err("the dry run traps");
    assert_eq!(error.kind(), "trap");
    assert_eq!(ap.policy_status().active.digest, None);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pinning_refuses_unlisted_components_before_compiling_them() {
    let sim = cluster();
    let pinned = PluginHost::new(PluginHostConfig {
        allowed_digests: Some(BTreeSet::from([sha256_hex(&stable())])),
        ..PluginHostConfig::default()
    })
    .expect("host");
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .plugin_host(pinned)
        .build();
    ap.start().await;
    ap.set_policy(PolicySource::Bytes(stable()))
        .await
        .expect("the pinned stable component loads");
    let adversary = ap
        .set_policy(PolicySource::Bytes(guests::component(guests::ADVERSARY)))
        .await
        .expect_err("not pinned");
    assert_eq!(adversary.kind(), "not-pinned");
    // Garbage is refused as not pinned, not as not-a-component: nothing looked at it.
    let garbage = ap
        .set_policy(PolicySource::Bytes(b"garbage".to_vec()))
        .await
        .expect_err("not pinned");
    assert!(matches!(garbage, PluginError::NotPinned { .. }));
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_policy_that_starts_faulting_is_rolled_back() {
    let sim = cluster();
    let ap = autopilot(&sim);
    ap.start().await;
    ap.set_policy(PolicySource::Bytes(stable()))
        .await
        .expect("stable");
    ap.set_policy(PolicySource::Bytes(guests::component(guests::ADVERSARY)))
        .await
        .expect("the adversary behaves at first");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        ap.policy_status().active.name,
        "adversary",
        "healthy rounds keep it"
    );

    // From now on every call traps.
    sim.set_config(Some(Config {
        ext: serde_json::json!("panic"),
        ..config()
    }));
    tokio::time::sleep(Duration::from_secs(20)).await;
    let status = ap.policy_status();
    assert_eq!(
        status.active.name, "stable",
        "rolled back to the previous good policy"
    );
    assert_eq!(status.active.digest, Some(sha256_hex(&stable())));
    let rollback = status
        .history
        .iter()
        .find_map(|e| match e {
            PolicyEvent::RolledBack { from, reason, .. } => Some((from.clone(), reason.clone())),
            _ => None,
        })
        .expect("a rollback event");
    assert!(rollback.0.starts_with("adversary"), "{rollback:?}");
    assert!(rollback.1.contains("trapped"), "{rollback:?}");
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_watched_file_swaps_in_when_good_and_is_refused_when_corrupt() {
    let sim = cluster();
    let ap = autopilot(&sim);
    ap.start().await;
    let dir = std::env::temp_dir().join(format!("autopilot-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("policy.wasm");
    std::fs::write(&path, stable()).expect("write");
    let watch = ap.watch_policy_file(path.clone(), Duration::from_millis(500));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ap.policy_status().active.digest,
        Some(sha256_hex(&stable()))
    );

    std::fs::write(&path, b"\0asm corrupt").expect("write");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = ap.policy_status();
    assert_eq!(
        status.active.digest,
        Some(sha256_hex(&stable())),
        "still running"
    );
    assert!(
        matches!(status.history.back(), Some(PolicyEvent::Refused { reason, .. }) if reason.contains("not a component")),
        "{:?}",
        status.history
    );
    drop(watch);
    let _ = std::fs::remove_dir_all(&dir);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_next_leader_runs_the_swapped_policy() {
    let sim = cluster();
    let on_a = autopilot(&sim.view_from("a"));
    on_a.start().await;
    on_a.set_policy(PolicySource::Bytes(stable()))
        .await
        .expect("swap");
    assert!(sim.policy_record().is_some(), "the record is stored");

    // Failover: a loses leadership, b wins it and starts its own autopilot.
    on_a.stop().await;
    sim.set_leader(Some("b"));
    let on_b = autopilot(&sim.view_from("b"));
    on_b.start().await;
    assert_eq!(
        on_b.policy_status().active.digest,
        Some(sha256_hex(&stable()))
    );
    on_b.stop().await;
}

/// A native policy that logs every call with its tag, whether it was the filter, and
/// the state it was given (by address: a round hands its decide and its filter the
/// same state).
struct Tagging {
    tag: u32,
    log: Arc<Mutex<Vec<(u32, bool, usize)>>>,
}

impl Policy for Tagging {
    fn metadata(&self) -> PolicyMetadata {
        PolicyMetadata {
            name: "tagging".into(),
            version: self.tag.to_string(),
        }
    }

    fn decide(
        &self,
        config: &Config,
        state: &State,
        judge: &[NodeType],
    ) -> Result<Decisions, PolicyFault> {
        let at = std::ptr::from_ref(state) as usize;
        self.log.lock().expect("log").push((self.tag, false, at));
        Ok(StablePolicy::decisions(config, state, judge))
    }

    fn filter_removals(
        &self,
        _config: &Config,
        state: &State,
        _failed: &FailedServers,
    ) -> Result<FailedServers, PolicyFault> {
        let at = std::ptr::from_ref(state) as usize;
        self.log.lock().expect("log").push((self.tag, true, at));
        // Keep the stale server so every round asks again.
        Ok(FailedServers::default())
    }
}

#[tokio::test(start_paused = true)]
async fn thousands_of_rounds_during_hundreds_of_swaps() {
    let sim = SimCluster::new(&["a", "b", "c", "d"], config());
    // No potential voters: the stale voter d is never removed, so every round's
    // pruning asks the policy's filter.
    for id in ["a", "b", "c"] {
        sim.set_node_type(id, "");
    }
    sim.forget("d");
    // A Raft call that yields inside every round, so swaps land mid-round.
    sim.set_latency(CallKind::Configuration, Duration::from_millis(1));
    let ap = autopilot(&sim);
    ap.start().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let swapper = {
        let ap = ap.clone();
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let mut refused = 0;
            for i in 0..300u32 {
                match i % 3 {
                    0 => ap.set_native_policy(Arc::new(Tagging {
                        tag: i,
                        log: Arc::clone(&log),
                    })),
                    1 => {
                        let bad = ap.set_policy(PolicySource::Bytes(vec![0, 1, 2, 3])).await;
                        assert!(bad.is_err());
                        refused += 1;
                    }
                    _ => {
                        ap.set_policy(PolicySource::Bytes(stable()))
                            .await
                            .expect("good swap");
                    }
                }
                // Off the rounds' 1 ms rhythm, so swaps land at every point of a round.
                tokio::time::sleep(Duration::from_micros(700 + u64::from(i % 7) * 100)).await;
            }
            refused
        })
    };
    let mut rounds = 0;
    while !swapper.is_finished() || rounds < 3_000 {
        ap.reconcile_now().await;
        rounds += 1;
        tokio::task::yield_now().await;
    }
    let refused = swapper.await.expect("swapper");
    assert_eq!(refused, 100, "every bad swap refused");
    let refusals = ap
        .policy_status()
        .history
        .iter()
        .filter(|e| matches!(e, PolicyEvent::Refused { .. }))
        .count();
    assert!(refusals > 0);
    assert_eq!(
        ap.counters().reconcile_errors,
        0,
        "no round failed because of a swap"
    );
    // Within a round, the decisions and the removal filter come from the same policy:
    // a filter entry has the tag of its round's decide entry (the latest before it on
    // the same state).
    let log = log.lock().expect("log").clone();
    assert!(
        log.len() > 100,
        "tagging policies served rounds: {}",
        log.len()
    );
    let mut filters = 0;
    for (i, (tag, filter, at)) in log.iter().enumerate() {
        if *filter {
            filters += 1;
            let decided = log[..i]
                .iter()
                .rev()
                .find(|(_, filter, state)| !filter && state == at);
            let Some((decided_tag, _, _)) = decided else {
                panic!("a filter without its round at {i}");
            };
            assert_eq!(decided_tag, tag, "a round saw two policies at {i}");
        }
    }
    assert!(filters > 100, "the filter ran in tagging rounds: {filters}");
    let per_tag: BTreeMap<u32, usize> = log.iter().fold(BTreeMap::new(), |mut m, (t, _, _)| {
        *m.entry(*t).or_default() += 1;
        m
    });
    assert!(per_tag.len() > 10, "many swaps were exercised");
    assert!(rounds >= 3_000);
    ap.stop().await;
}

/// A component being loaded (compiled: no cache here) is in the policy status, and
/// leaves it when the swap ends, whether it was swapped in or refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_being_loaded_is_in_the_status_until_the_swap_ends() {
    let sim = cluster();
    let ap = Autopilot::builder(sim.clone(), sim.clone())
        .reconciliation_enabled(true)
        .plugin_host(PluginHost::new(PluginHostConfig::default()).expect("host"))
        .build();
    ap.start().await;
    let swap = tokio::spawn({
        let ap = ap.clone();
        async move { ap.set_policy(PolicySource::Bytes(stable())).await }
    });
    let mut seen = None;
    while seen.is_none() && !swap.is_finished() {
        seen = ap.policy_status().loading.first().cloned();
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    let loading = seen.expect("the load shows while the component compiles");
    assert!(
        loading.source.contains(&sha256_hex(&stable())),
        "{loading:?}"
    );
    swap.await.expect("the swap task").expect("swapped in");
    let status = ap.policy_status();
    assert!(status.loading.is_empty(), "{status:?}");
    assert!(
        serde_json::to_value(&status)
            .expect("status encodes")
            .get("Loading")
            .is_none(),
        "absent from JSON when nothing loads"
    );
    let _ = ap.set_policy(PolicySource::Bytes(b"junk".to_vec())).await;
    assert!(
        ap.policy_status().loading.is_empty(),
        "a refusal leaves nothing behind"
    );
    ap.stop().await;
}
