//! From zero to a loaded policy, per language, as an author would go: `autopilot policy
//! new --lang rust|python|js`, the project's own native tests (cargo test, pytest,
//! node --test), `autopilot policy build` (JavaScript with each engine), and
//! `autopilot plan --promoter` with the
//! result, which must make the scaffold's decision (one promotion per round, the
//! longest stable first) where the stable policy would make two.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn autopilot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autopilot"))
}

/// A toolchain's command, found as `autopilot policy build` finds it.
fn tool(env: &str, name: &str, dirs: &[PathBuf]) -> PathBuf {
    autopilot_cli::toolchain::find_tool(env, name, dirs).unwrap_or_else(|| {
        panic!("this test needs {name} (scripts/test installs it), or set {env}")
    })
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fresh directory for one language's project.
fn workspace(lang: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-author-{lang}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A leader and two non-voters, both stable (one for longer): the stable policy would
/// promote both.
const SNAPSHOT: &str = r#"{"Now":"2020-11-02T12:10:00Z","FirstStateTime":"2020-11-02T11:00:00Z",
 "Config":{"CleanupDeadServers":true,"LastContactThreshold":200000000,"MaxTrailingLogs":10,
           "MinQuorum":1,"ServerStabilizationTime":10000000000},
 "RaftConfig":{"Servers":[{"Suffrage":0,"ID":"a","Address":"a:1"},
   {"Suffrage":1,"ID":"b","Address":"b:1"},{"Suffrage":1,"ID":"c","Address":"c:1"}]},
 "KnownServers":{
   "a":{"ID":"a","Name":"a","Address":"a:1","NodeStatus":"alive","Version":"1","NodeType":"voter"},
   "b":{"ID":"b","Name":"b","Address":"b:1","NodeStatus":"alive","Version":"1","NodeType":"voter"},
   "c":{"ID":"c","Name":"c","Address":"c:1","NodeStatus":"alive","Version":"1","NodeType":"voter"}},
 "LatestIndex":100,"LastTerm":2,"IsLeader":true,"LeaderID":"a",
 "FetchedStats":{"a":{"LastContact":0,"LastTerm":2,"LastIndex":100},
   "b":{"LastContact":1000000,"LastTerm":2,"LastIndex":100},
   "c":{"LastContact":1000000,"LastTerm":2,"LastIndex":100}},
 "CurrentState":{"Servers":{
   "b":{"Server":{"ID":"b","Name":"b","Address":"b:1","NodeStatus":"alive","Version":"1","NodeType":"voter"},"State":"non-voter","Health":{"Healthy":true,"StableSince":"2020-11-02T12:09:00Z"}},
   "c":{"Server":{"ID":"c","Name":"c","Address":"c:1","NodeStatus":"alive","Version":"1","NodeType":"voter"},"State":"non-voter","Health":{"Healthy":true,"StableSince":"2020-11-02T12:00:00Z"}}}}}"#;

/// Writes, tests, builds and plans with a `lang` project, once per entry of `builds`
/// (extra arguments to `policy build`); `native_test` runs the project's own tests in
/// its directory.
fn zero_to_plan(
    lang: &str,
    env: &[(&str, PathBuf)],
    builds: &[&[&str]],
    native_test: impl FnOnce(&Path),
) {
    let base = workspace(lang);
    let name = format!("one-at-a-time-{lang}");
    let project = base.join(&name);
    ok(
        autopilot()
            .current_dir(&base)
            .args(["policy", "new", "--lang", lang, &name])
            .output()
            .expect("runs"),
        "policy new",
    );
    // A second `new` into the same place is refused, and writes nothing.
    let again = autopilot()
        .current_dir(&base)
        .args(["policy", "new", "--lang", lang, &name])
        .output()
        .expect("runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(project.join("README.md").is_file());

    native_test(&project);

    let inputs = base.join("snapshot.json");
    std::fs::write(&inputs, SNAPSHOT).expect("the snapshot");
    let plan = |promoter: Option<&Path>| -> serde_json::Value {
        let mut command = autopilot();
        command.args(["plan", "--json", "--inputs"]).arg(&inputs);
        if let Some(promoter) = promoter {
            command.arg("--promoter").arg(promoter);
        }
        serde_json::from_str(&ok(command.output().expect("runs"), "plan")).expect("JSON")
    };
    let promoted = |plan: &serde_json::Value| -> Vec<String> {
        plan["Actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter(|a| a["Op"] == "AddVoter")
            .map(|a| a["ID"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(promoted(&plan(None)), ["b", "c"], "the stable policy");
    for (i, extra) in builds.iter().enumerate() {
        let mut build = autopilot();
        build.args(["policy", "build"]).arg(&project).args(*extra);
        // The first build writes the default `DIR/NAME.wasm`; others name a file.
        let component = if i == 0 {
            project.join(format!("{name}.wasm"))
        } else {
            let file = base.join(format!("{name}-{i}.wasm"));
            build.arg("-o").arg(&file);
            file
        };
        for (key, value) in env {
            build.env(key, value);
        }
        let said = ok(build.output().expect("runs"), "policy build");
        assert!(said.contains("loads in the host"), "{said}");
        assert!(component.is_file(), "{said}");
        assert_eq!(
            promoted(&plan(Some(&component))),
            ["c"],
            "{lang}'s scaffold built with {extra:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_python_policy_from_zero() {
    let py = tool("AUTOPILOT_COMPONENTIZE_PY", "componentize-py", &[]);
    zero_to_plan(
        "python",
        &[("AUTOPILOT_COMPONENTIZE_PY", py)],
        &[&[]],
        |project| {
            let out = Command::new("python3")
                .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
                .current_dir(project)
                .output()
                .expect("python3 runs");
            assert!(ok(out, "pytest").contains("1 passed"));
        },
    );
}

#[test]
fn a_javascript_policy_from_zero() {
    let js = tool(
        "AUTOPILOT_COMPONENTIZE_JS",
        "componentize-js",
        &[root().join("target/js/node_modules/.bin")],
    );
    let qjs = tool(
        "AUTOPILOT_COMPONENTIZE_QJS",
        "componentize-qjs",
        &[root().join("target/js/node_modules/.bin")],
    );
    let env = [
        ("AUTOPILOT_COMPONENTIZE_JS", js),
        ("AUTOPILOT_COMPONENTIZE_QJS", qjs),
    ];
    // Built with componentize-js (SpiderMonkey), then componentize-qjs (QuickJS).
    let builds: &[&[&str]] = &[&[], &["--js-engine", "quickjs"]];
    zero_to_plan("js", &env, builds, |project| {
        let out = Command::new("node")
            .arg("--test")
            .current_dir(project)
            .output()
            .expect("node runs");
        assert!(ok(out, "node --test").contains("# pass 1"));
    });
}

#[test]
fn a_rust_policy_from_zero() {
    // One target directory for every run, beside the workspace's, so only the first
    // compiles the SDK's dependencies.
    let target = root().join("target/scaffold");
    zero_to_plan(
        "rust",
        &[("CARGO_TARGET_DIR", target.clone())],
        &[&[]],
        |project| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args(["test", "--release"])
                .env("CARGO_TARGET_DIR", &target)
                .current_dir(project)
                .output()
                .expect("cargo runs");
            assert!(ok(out, "cargo test").contains("1 passed"));
        },
    );
}
