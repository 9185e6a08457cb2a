//! `autopilot demo` end to end: separate node processes on loopback, the live view and
//! a summary with no acknowledged write lost.

use std::process::Command;

#[test]
fn the_demo_runs_and_loses_no_acknowledged_write() {
    let output = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .arg("demo")
        .output()
        .expect("autopilot demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "nodes 4 and 5 promoted: 5 voters",
        "detected failed and removed",
        "its autopilot takes over",
        "swapped the policy: stable -> cautious",
        "runs the recorded policy: cautious",
        "acknowledged writes lost            : 0",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    let acknowledged: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("  writes acknowledged                 : "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a count of acknowledged writes");
    assert!(
        acknowledged > 100,
        "the client kept writing: {acknowledged}"
    );
}
