//! The operator's surface beyond Consul's endpoints, on real openraft nodes: the
//! latest round as a plan snapshot (replayed with `plan_round`), a policy previewed
//! without a swap, the runtime's metrics, the live page (in a real headless browser),
//! and the `autopilot` operator commands against a running cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use autopilot::StablePolicy;
use autopilot::plan::{parse_snapshot, plan_round};
use autopilot_cli::DemoNode;
use serde_json::Value;

#[path = "support/cluster.rs"]
mod cluster;
use cluster::*;

const SNAPSHOT: &str = "/v1/operator/autopilot/snapshot";
const POLICY: &str = "/v1/operator/autopilot/policy";

/// Three nodes, healthy and registered, and a round recorded on the leader.
async fn cluster_with_a_round() -> (std::collections::BTreeMap<u64, DemoNode>, DemoNode) {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let (nodes, leader) = bootstrap_three(&ports, "1.0.0").await;
    wait_healthy(&leader, "1.0.0", true).await;
    (nodes, leader)
}

fn counter(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_round_is_served_as_a_snapshot_that_replays_to_the_same_plan() {
    let (nodes, leader) = cluster_with_a_round().await;
    let follower = a_follower(&nodes, &leader);
    let (status, headers, body) = get_json(&api(&follower), SNAPSHOT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers.get("x-autopilot-leader"),
        Some(&leader.id().to_string())
    );
    let inputs = parse_snapshot(&body.to_string()).expect("the snapshot parses as plan input");
    assert_eq!(inputs.raft_config.servers.len(), 3);
    let replay = plan_round(&inputs, &StablePolicy);
    assert_eq!(
        serde_json::to_value(&replay.actions).expect("actions encode"),
        body["LastRound"]["Actions"]
    );
    assert_eq!(
        serde_json::to_value(&replay.reasons).expect("reasons encode"),
        body["LastRound"]["Reasons"]
    );
    for node in nodes.values() {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_previewed_without_a_swap_and_metrics_count_calls_and_swaps() {
    let (nodes, leader) = cluster_with_a_round().await;
    let follower = a_follower(&nodes, &leader);
    let cautious = autopilot_cli::components::CAUTIOUS;
    let dry_run = format!("{POLICY}?dry-run");

    let (status, _, _) = request(&api(&follower), "PUT", &dry_run, None, cautious).await;
    assert_eq!(
        status, 401,
        "a preview runs code on the leader: it needs the token"
    );
    let (status, _, text) = request(&api(&follower), "PUT", &dry_run, Some(TOKEN), cautious).await;
    assert_eq!(status, 200, "{text}");
    let preview: Value = serde_json::from_str(&text).expect("JSON");
    assert!(preview["Actions"].is_array(), "{preview}");
    assert!(preview["Reasons"].is_object(), "{preview}");
    assert_eq!(preview["Faults"], serde_json::json!([]));
    assert_eq!(
        preview["State"]["Servers"].as_object().map(|s| s.len()),
        Some(3)
    );
    let (status, _, text) = request(
        &api(&follower),
        "PUT",
        &dry_run,
        Some(TOKEN),
        b"not a component",
    )
    .await;
    assert_eq!(status, 422, "{text}");
    let status_now = leader.autopilot().policy_status();
    assert_eq!(status_now.active.name, "stable", "nothing swapped");
    assert!(status_now.history.is_empty(), "a preview is not an event");

    // One refusal and one swap, then the leader's metrics count them.
    let (status, _, _) = request(&api(&leader), "PUT", POLICY, Some(TOKEN), b"junk").await;
    assert_eq!(status, 422);
    let (status, _, text) = request(&api(&leader), "PUT", POLICY, Some(TOKEN), cautious).await;
    assert_eq!(status, 200, "{text}");
    let (status, _, text) = get(&api(&leader), "/metrics").await;
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("parses as Prometheus text");
    let swaps = |outcome| {
        counter(
            &scrape,
            "autopilot_policy_swaps_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(swaps("swapped"), 1.0, "{text}");
    assert_eq!(swaps("refused"), 1.0, "{text}");
    let decide_ok = counter(
        &scrape,
        "autopilot_policy_calls_total",
        &[("function", "decide"), ("outcome", "ok")],
    );
    assert!(decide_ok >= 1.0, "{text}");
    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "autopilot_policy_call_duration_seconds")
        .unwrap_or_else(|| panic!("the call-duration histogram in {text}"));
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let total = buckets.last().map_or(0.0, |b| b.count);
            assert!(total >= decide_ok, "{text}");
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert!(text.contains("autopilot_policy_fallbacks_total"), "{text}");
    for node in nodes.values() {
        node.shutdown().await;
    }
}

/// The browser the page test drives: `AUTOPILOT_CHROMIUM`, else `chromium` or
/// `chromium-browser` on the PATH. `scripts/test` installs Debian's when missing.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("AUTOPILOT_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the page test needs Chromium: `apt-get install chromium` (scripts/test \
                 does it), or set AUTOPILOT_CHROMIUM to a Chromium binary"
            )
        })
}

/// The page as a headless Chromium renders it after its scripts ran.
async fn rendered(url: &str) -> String {
    let profile = scratch_dir("chromium-profile");
    let output = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // No background connections: this machine's network is closed to them.
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("Chromium finishes")
        .expect("Chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_every_server_and_the_policy_in_a_browser() {
    let (nodes, leader) = cluster_with_a_round().await;
    let follower = a_follower(&nodes, &leader);
    let (status, headers, html) = get(&api(&follower), "/ui").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/html"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );

    let dom = rendered(&format!("http://{}/ui", api(&follower))).await;
    for id in nodes.keys() {
        assert!(
            dom.contains(&format!("data-id=\"{id}\"")),
            "server {id} in {dom}"
        );
    }
    assert!(
        dom.contains("id=\"policy-name\">stable "),
        "the active policy in {dom}"
    );
    assert!(dom.contains(">healthy<"), "the cluster's health in {dom}");
    for node in nodes.values() {
        node.shutdown().await;
    }
}

/// A directory of this test process's own.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "autopilot-operator-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Runs the `autopilot` binary with `args` (off the async executor).
async fn autopilot(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_autopilot"))
            .args(&args)
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the command's thread")
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_private(path: &Path, contents: &[u8]) {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).expect("a new private file");
    file.write_all(contents).expect("written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_commands_drive_a_running_cluster() {
    let (mut nodes, leader) = cluster_with_a_round().await;
    let follower = a_follower(&nodes, &leader);
    let http = api(&follower);
    let dir = scratch_dir("commands");
    let token_file = dir.join("token");
    write_private(&token_file, TOKEN.as_bytes());
    let token = token_file.display().to_string();
    let target = |words: &[&str]| {
        let mut all = args(words);
        all.extend(args(&["--http", &http]));
        all
    };

    // state: the summary and one row per server; --json is the API's answer.
    let out = autopilot(target(&["state"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("Healthy:                      true"),
        "{table}"
    );
    assert!(
        table.contains("Policy:                       stable"),
        "{table}"
    );
    for id in nodes.keys() {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("{id} "))),
            "server {id} in {table}"
        );
    }
    let out = autopilot(target(&["state", "--json"])).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON state");
    assert_eq!(json["Leader"], leader.id().to_string());

    // health: 0 when healthy; 1 when the node is unreachable.
    let out = autopilot(target(&["health"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("healthy"), "{}", stdout(&out));
    let unreachable = free_port().to_string();
    let out = autopilot(args(&["health", "--http", &unreachable, "--timeout", "5"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));

    // config: get, set with check-and-set, a stale index refused, no token refused.
    let out = autopilot(target(&["config", "get"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let config: Value = serde_json::from_slice(&out.stdout).expect("JSON config");
    let index = config["ModifyIndex"]
        .as_u64()
        .expect("ModifyIndex")
        .to_string();
    let set = |words: &[&str]| {
        let mut all = target(&["config", "set"]);
        all.extend(args(words));
        all
    };
    let out = autopilot(set(&[
        "MinQuorum=3",
        "LastContactThreshold=400ms",
        "--cas",
        &index,
        "--token-file",
        &token,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // The follower answers from its copy of the replicated record.
    wait_for(
        "the new configuration",
        Duration::from_secs(10),
        async || {
            let out = autopilot(target(&["config", "get"])).await;
            let config: Value = serde_json::from_slice(&out.stdout).expect("JSON config");
            (config["MinQuorum"] == 3 && config["LastContactThreshold"] == "400ms").then_some(())
        },
    )
    .await;
    let out = autopilot(set(&[
        "MinQuorum=4",
        "--cas",
        &index,
        "--token-file",
        &token,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not applied"), "{}", stderr(&out));
    let out = autopilot(set(&["MinQuorum=4"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    let out = autopilot(set(&["Quorum=4", "--token-file", &token])).await;
    assert!(
        stderr(&out).contains("is not a setting"),
        "{}",
        stderr(&out)
    );

    // policy: status, a preview that swaps nothing.
    let wasm = dir.join("cautious.wasm");
    std::fs::write(&wasm, autopilot_cli::components::CAUTIOUS).expect("component written");
    let wasm = wasm.display().to_string();
    let out = autopilot(target(&["policy", "status"])).await;
    assert!(
        stdout(&out).starts_with("Active: stable"),
        "{}",
        stdout(&out)
    );
    let out = autopilot(target(&[
        "policy",
        "set",
        &wasm,
        "--dry-run",
        "--token-file",
        &token,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("On the latest round, the candidate would:"),
        "{}",
        stdout(&out)
    );
    assert_eq!(leader.autopilot().policy_status().active.name, "stable");

    // record, then plan: the replay's actions are the leader's round's.
    let out = autopilot(target(&["record"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let snap = dir.join("snap.json");
    std::fs::write(&snap, &out.stdout).expect("snapshot written");
    let recorded: Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    let snap = snap.display().to_string();
    let out = autopilot(args(&["plan", "--inputs", &snap, "--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON plan");
    assert_eq!(plan["Actions"], recorded["LastRound"]["Actions"]);
    assert_eq!(plan["Reasons"], recorded["LastRound"]["Reasons"]);

    // A voter dies: health exits 2.
    let dead = follower.id();
    nodes.remove(&dead).expect("present").shutdown().await;
    let leader_api = api(&leader);
    wait_for("health exit 2", Duration::from_secs(20), async || {
        let out = autopilot(args(&["health", "--http", &leader_api])).await;
        (out.status.code() == Some(2)).then_some(())
    })
    .await;
    for node in nodes.values() {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `component` with a custom section of `padding` bytes appended: still a valid
/// component, as large as a Python or JavaScript policy.
fn padded(component: &[u8], padding: usize) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"padding";
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.resize(payload.len() + padding, 0);
    let mut bytes = component.to_vec();
    bytes.push(0); // a custom section
    leb128(payload.len(), &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_of_cpython_size_swaps_through_a_follower_and_the_cluster_keeps_its_leader() {
    use autopilot::{Application, PolicyRecord};
    let (nodes, leader) = cluster_with_a_round().await;
    let term = leader.raft().metrics().borrow().current_term;
    let follower = a_follower(&nodes, &leader);
    // The size of a CPython component (18 MB), and more: the bytes travel beside the
    // Raft log, which names only their digest.
    let big = padded(autopilot_cli::components::CAUTIOUS, 24 << 20);
    let (status, _, text) = request(&api(&follower), "PUT", POLICY, Some(TOKEN), &big).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(leader.autopilot().policy_status().active.name, "cautious");
    let want = PolicyRecord::component(big);
    for node in nodes.values() {
        wait_for(
            "the record on every node",
            Duration::from_secs(30),
            async || {
                let stored = node.autopilot().application().stored_policy().await;
                (stored.as_ref() == Some(&want)).then_some(())
            },
        )
        .await;
    }
    let now = leader_of(&nodes).expect("a leader");
    assert_eq!(now.id(), leader.id(), "the leader stays");
    assert_eq!(
        now.raft().metrics().borrow().current_term,
        term,
        "no election"
    );
    for node in nodes.values() {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_that_reaches_no_majority_is_refused_and_the_policy_stays() {
    let (nodes, leader) = cluster_with_a_round().await;
    // Both followers go: the component cannot reach a majority of the voters, so the
    // log must not name it (a later leader could not find its bytes).
    for node in nodes.values().filter(|n| n.id() != leader.id()) {
        node.shutdown().await;
    }
    let component = padded(autopilot_cli::components::CAUTIOUS, 1 << 20);
    let (status, _, text) = request(&api(&leader), "PUT", POLICY, Some(TOKEN), &component).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("not a majority"), "{text}");
    assert_eq!(leader.autopilot().policy_status().active.name, "stable");
    leader.shutdown().await;
}
