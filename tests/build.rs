//! Builds the policy components the tests load, from source, with a nested cargo for
//! `wasm32-wasip2`: the shipped policies (`promoters/`) and the adversarial test
//! guests (`tests/guests/`). Emits a path constant per component into `guests.rs`.

#[path = "../tools/wasm_build.rs"]
mod wasm_build;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("tests/ has a parent").to_owned();
    let out = PathBuf::from(env("OUT_DIR"));
    // A target directory of its own, beside the outer one so clippy and test builds
    // share it (OUT_DIR is <target>/<profile>/build/<pkg>/out).
    let target = wasm_build::guests_target(&out);

    for dir in ["tools", "sdk", "wit", "promoters", "tests/guests"] {
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
            &[
                "adversary",
                "foreign-world",
                "wrong-version",
                "wasi-probe",
                "forbidden-import",
                "stable-details",
                "legacy-v1",
                "legacy-v2",
                "wrong-types",
            ][..],
        ),
    ] {
        wasm_build::build(&root.join(workspace).join("Cargo.toml"), &target);
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
