//! Builds the policy components the tests load, from source, with a nested cargo for
//! `wasm32-wasip2`: the shipped policies (`promoters/`) and the adversarial test
//! guests (`tests/guests/`). Emits a path constant per component into `guests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("tests/ has a parent").to_owned();
    let out = PathBuf::from(env("OUT_DIR"));
    // A target directory of its own, beside the outer one so clippy and test builds
    // share it (OUT_DIR is <target>/<profile>/build/<pkg>/out).
    let target = out
        .ancestors()
        .nth(4)
        .map_or_else(|| out.join("guests"), |t| t.join("guests"));

    for dir in ["sdk", "wit", "promoters", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let mut consts = String::new();
    for (workspace, crates) in [
        (
            "promoters",
            &[
                "stable-promoter",
                "cautious-promoter",
                "redundancy-zones-promoter",
                "upgrade-migration-promoter",
            ][..],
        ),
        (
            "tests/guests",
            &["adversary", "foreign-world", "wrong-version", "fs-importer"][..],
        ),
    ] {
        build(&root.join(workspace).join("Cargo.toml"), &target);
        for name in crates {
            let file = target
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            assert!(file.is_file(), "{} was not built", file.display());
            consts.push_str(&format!(
                "/// The `{name}` component.\npub const {}: &str = {:?};\n",
                name.to_uppercase().replace('-', "_"),
                file.display().to_string()
            ));
        }
    }
    std::fs::write(out.join("guests.rs"), consts).expect("write guests.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by cargo"))
}

fn build(manifest: &Path, target: &Path) {
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
