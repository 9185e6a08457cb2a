//! Shared by the build scripts that turn policy crates into components: a nested cargo
//! build for `wasm32-wasip2` into a target directory of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The components' target directory: `guests/` beside the outer build's target
/// directory (OUT_DIR is `<target>/<profile>/build/<pkg>/out`), so every build script
/// and profile shares one.
pub fn guests_target(out: &Path) -> PathBuf {
    out.ancestors()
        .nth(4)
        .map_or_else(|| out.join("guests"), |t| t.join("guests"))
}

/// Builds every crate of the workspace at `manifest` for `wasm32-wasip2`, release.
pub fn build(manifest: &Path, target: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target)
        // The outer build's flags and wrappers are for the host, not for wasm.
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
        "building the components in {} failed (is the wasm32-wasip2 target installed? \
         `rustup target add wasm32-wasip2`)",
        manifest.display()
    );
}
