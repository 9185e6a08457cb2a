//! Builds the shipped policy components (`promoters/`) for `wasm32-wasip2` with a
//! nested cargo, so the `autopilot` binary can carry them for `autopilot demo`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    if std::env::var_os("CARGO_FEATURE_OPENRAFT").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.parent().expect("host/ has a parent").to_owned();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // Shared with the integration tests' build (OUT_DIR is <target>/<profile>/build/<pkg>/out).
    let target = out
        .ancestors()
        .nth(4)
        .map_or_else(|| out.join("guests"), |t| t.join("guests"));
    for dir in ["sdk", "wit", "promoters"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(root.join("promoters/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building promoters/ for wasm32-wasip2 failed (is the target installed? \
         `rustup target add wasm32-wasip2`)"
    );
    let dir = target.join("wasm32-wasip2/release");
    let mut consts = String::new();
    for (name, file, what) in [
        ("STABLE", "stable_promoter.wasm", "stable"),
        ("CAUTIOUS", "cautious_promoter.wasm", "cautious"),
        (
            "REDUNDANCY_ZONES",
            "redundancy_zones_promoter.wasm",
            "redundancy-zones",
        ),
        (
            "UPGRADE_MIGRATION",
            "upgrade_migration_promoter.wasm",
            "upgrade-migration",
        ),
    ] {
        consts.push_str(&format!(
            "/// The {what} policy component.\npub const {name}: &[u8] = include_bytes!({:?});\n",
            dir.join(file).display().to_string()
        ));
    }
    std::fs::write(out.join("promoters.rs"), consts).expect("write promoters.rs");
}
