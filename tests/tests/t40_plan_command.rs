//! `autopilot plan --promoter`: the same plan through the stable component as through
//! the built-in policy, and a named one-line reason for every unusable promoter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autopilot_integration_tests as guests;
use serde_json::Value;

/// The `autopilot` binary, built alongside this test (target/<profile>/autopilot).
fn autopilot() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    dir.join("autopilot")
}

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../host/tests/data/conformance")
        .join(name)
        .join("inputs.json")
}

fn plan(inputs: &Path, promoter: Option<&str>) -> Output {
    let mut command = Command::new(autopilot());
    command.args(["plan", "--json", "--inputs"]).arg(inputs);
    if let Some(p) = promoter {
        command.args(["--promoter", p]);
    }
    // Keep the artifact cache out of the developer's home.
    command.env(
        "AUTOPILOT_CACHE_DIR",
        std::env::temp_dir().join("autopilot-test-cache"),
    );
    command.output().expect("autopilot runs")
}

#[test]
fn the_stable_component_plans_every_conformance_case_like_the_builtin_policy() {
    for name in [
        "typical",
        "no-leader",
        "non-voter",
        "not-the-leader",
        "one-failed",
        "staging",
        "state-overrides",
    ] {
        let builtin = plan(&case(name), None);
        let component = plan(&case(name), Some(guests::STABLE_PROMOTER));
        assert!(component.status.success(), "{name}: {component:?}");
        let a: Value = serde_json::from_slice(&builtin.stdout).expect("json");
        let b: Value = serde_json::from_slice(&component.stdout).expect("json");
        assert_eq!(a, b, "{name}");
    }
}

fn with_mode(mode: &str) -> PathBuf {
    let text = std::fs::read_to_string(case("typical")).expect("case");
    let mut value: Value = serde_json::from_str(&text).expect("json");
    value["Config"]["Ext"] = Value::from(mode);
    let path =
        std::env::temp_dir().join(format!("autopilot-mode-{mode}-{}.json", std::process::id()));
    std::fs::write(&path, value.to_string()).expect("write");
    path
}

fn assert_refused(output: &Output, words: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unusable promoter"), "{stderr}");
    assert!(stderr.contains(words), "{words:?} not in {stderr}");
    assert!(!stderr.contains("panicked at"), "{stderr}");
}

#[test]
fn names_what_is_wrong_with_an_unusable_promoter() {
    let random = std::env::temp_dir().join(format!("autopilot-random-{}.wasm", std::process::id()));
    std::fs::write(&random, (0..=255u8).cycle().take(2048).collect::<Vec<u8>>()).expect("write");
    let random = random.to_string_lossy().into_owned();
    let typical = case("typical");
    assert_refused(&plan(&typical, Some(&random)), "not a component");
    assert_refused(
        &plan(&typical, Some(guests::WRONG_VERSION)),
        "incompatible interface version",
    );
    assert_refused(
        &plan(&typical, Some(guests::FOREIGN_WORLD)),
        "missing export",
    );
    assert_refused(
        &plan(&typical, Some(guests::FORBIDDEN_IMPORT)),
        "forbidden import",
    );

    for (mode, words) in [
        ("panic", "trapped"),
        ("loop", "out of budget"),
        ("exit", "exited with status 1"),
        ("demote-leader", "unsafe answer: it demotes the leader"),
        ("memory", "out of memory"),
        ("unknown-id", "invalid output"),
    ] {
        let inputs = with_mode(mode);
        assert_refused(&plan(&inputs, Some(guests::ADVERSARY)), words);
        let _ = std::fs::remove_file(inputs);
    }
}
