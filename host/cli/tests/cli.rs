//! `autopilot plan` on unusable input: a one-line reason naming what is wrong, a
//! non-zero exit, never a panic.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn base_snapshot() -> Value {
    json!({
        "Now": "2020-11-02T15:00:00Z",
        "FirstStateTime": "2020-11-02T13:00:00Z",
        "Config": {
            "CleanupDeadServers": true,
            "LastContactThreshold": 200_000_000,
            "MaxTrailingLogs": 200,
            "MinQuorum": 3,
            "ServerStabilizationTime": 10_000_000_000u64
        },
        "RaftConfig": {"Servers": [
            {"Suffrage": 0, "ID": "a", "Address": "10.0.0.1:8300"},
            {"Suffrage": 0, "ID": "b", "Address": "10.0.0.2:8300"}
        ]},
        "KnownServers": {
            "a": {"ID": "a", "Name": "a", "Address": "10.0.0.1:8300", "NodeStatus": "alive"},
            "b": {"ID": "b", "Name": "b", "Address": "10.0.0.2:8300", "NodeStatus": "alive"}
        },
        "LatestIndex": 10, "LastTerm": 2, "IsLeader": true, "LeaderID": "a",
        "FetchedStats": {"a": {"LastTerm": 2, "LastIndex": 10}, "b": {"LastTerm": 2, "LastIndex": 10}}
    })
}

fn plan_stdin(input: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args(["plan", "--inputs", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("autopilot starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("autopilot exits")
}

/// Asserts a refusal: non-zero exit, nothing on stdout, one line on stderr containing
/// every `needle`, and no panic.
fn assert_refused(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, got {output:?}");
    assert!(output.stdout.is_empty(), "nothing on stdout: {output:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
}

fn with(mut snapshot: Value, pointer: &str, value: Value) -> String {
    *snapshot.pointer_mut(pointer).expect("pointer exists") = value;
    snapshot.to_string()
}

fn without(mut snapshot: Value, key: &str) -> String {
    snapshot
        .as_object_mut()
        .expect("object")
        .remove(key)
        .expect("key exists");
    snapshot.to_string()
}

#[test]
fn accepts_the_base_snapshot_from_stdin() {
    let output = plan_stdin(&base_snapshot().to_string(), &["--json"]);
    assert!(output.status.success(), "{output:?}");
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(plan["State"]["Leader"], "a");
    assert_eq!(plan["State"]["Healthy"], true);
}

#[test]
fn refuses_unreadable_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args(["plan", "--inputs", "/nonexistent/snapshot.json"])
        .output()
        .expect("runs");
    assert_refused(
        &output,
        &["cannot read the snapshot", "/nonexistent/snapshot.json"],
    );
}

#[test]
fn refuses_bad_json() {
    assert_refused(&plan_stdin("{\"Now\": ", &[]), &["invalid input", "EOF"]);
    assert_refused(&plan_stdin("[1, 2]", &[]), &["invalid input"]);
}

#[test]
fn refuses_missing_required_fields() {
    for key in ["Now", "FirstStateTime", "Config", "RaftConfig"] {
        let output = plan_stdin(&without(base_snapshot(), key), &[]);
        assert_refused(&output, &["missing field", key]);
    }
    let mut snapshot = base_snapshot();
    snapshot["Config"]
        .as_object_mut()
        .expect("object")
        .remove("MinQuorum");
    assert_refused(
        &plan_stdin(&snapshot.to_string(), &[]),
        &["Config", "MinQuorum"],
    );
    let mut snapshot = base_snapshot();
    snapshot["KnownServers"]["b"]
        .as_object_mut()
        .expect("object")
        .remove("NodeStatus");
    assert_refused(
        &plan_stdin(&snapshot.to_string(), &[]),
        &["KnownServers.b", "NodeStatus"],
    );
}

#[test]
fn refuses_duplicate_server_ids() {
    let duplicate_raft = with(
        base_snapshot(),
        "/RaftConfig/Servers/1/ID",
        Value::from("a"),
    );
    assert_refused(
        &plan_stdin(&duplicate_raft, &[]),
        &["duplicate server id", "\"a\""],
    );

    let text = base_snapshot().to_string().replacen(
        "\"KnownServers\":{",
        "\"KnownServers\":{\"a\":{\"ID\":\"a\",\"NodeStatus\":\"alive\"},",
        1,
    );
    assert_refused(
        &plan_stdin(&text, &[]),
        &["KnownServers", "duplicate server id"],
    );

    let mismatched = with(base_snapshot(), "/KnownServers/b/ID", Value::from("c"));
    assert_refused(&plan_stdin(&mismatched, &[]), &["KnownServers.b", "\"c\""]);
}

#[test]
fn refuses_negative_and_absurd_durations() {
    let negative = with(
        base_snapshot(),
        "/Config/LastContactThreshold",
        Value::from(-5),
    );
    assert_refused(
        &plan_stdin(&negative, &[]),
        &["Config.LastContactThreshold", "negative"],
    );
    let absurd = with(
        base_snapshot(),
        "/Config/ServerStabilizationTime",
        Value::from(10_000_000_000_000_000_000u64),
    );
    assert_refused(
        &plan_stdin(&absurd, &[]),
        &["Config.ServerStabilizationTime"],
    );
    let years = with(
        base_snapshot(),
        "/Config/ServerStabilizationTime",
        Value::from(36_000_000_000_000_000_i64),
    );
    assert_refused(
        &plan_stdin(&years, &[]),
        &["Config.ServerStabilizationTime", "longer than a year"],
    );
    let fractional = with(base_snapshot(), "/Config/LastContactThreshold", json!(1.5));
    assert_refused(
        &plan_stdin(&fractional, &[]),
        &["Config.LastContactThreshold"],
    );
}

#[test]
fn refuses_bad_values() {
    let suffrage = with(base_snapshot(), "/RaftConfig/Servers/0/Suffrage", json!(7));
    assert_refused(
        &plan_stdin(&suffrage, &[]),
        &["RaftConfig.Servers[0].Suffrage", "suffrage 7"],
    );
    let status = with(
        base_snapshot(),
        "/KnownServers/a/NodeStatus",
        json!("zombie"),
    );
    assert_refused(
        &plan_stdin(&status, &[]),
        &["KnownServers.a.NodeStatus", "zombie"],
    );
    let time = with(base_snapshot(), "/Now", json!("yesterday"));
    assert_refused(&plan_stdin(&time, &[]), &["Now", "RFC 3339"]);
}

#[test]
fn refuses_a_promoter_it_cannot_load() {
    let output = plan_stdin(
        &base_snapshot().to_string(),
        &["--promoter", "/nonexistent/p.wasm"],
    );
    assert_refused(&output, &["promoter", "/nonexistent/p.wasm"]);
}
