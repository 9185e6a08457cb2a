//! For policy authors: `autopilot policy new` writes a working, tested policy project in
//! Rust, Python or JavaScript; `autopilot policy build` turns one into a component with
//! the language's standard toolchain on its defaults and checks that the host loads it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use autopilot::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot_cli::toolchain::find_tool;

/// The contract a component is built against (the one this host speaks).
const WIT: &str = include_str!("../../../../../wit/promoter.wit");

/// The SDKs, copied into Python and JavaScript projects (each is one file with no
/// dependencies, so a project builds anywhere).
const PYTHON_SDK: &str = include_str!("../../../../../sdk/python/autopilot_policy.py");
const JS_SDK: &str = include_str!("../../../../../sdk/js/autopilot-policy.js");

/// Where this command's Rust SDK lives when it runs from a checkout.
const CHECKOUT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk");

/// A policy's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, on the `autopilot-sdk` crate; built with cargo for wasm32-wasip2.
    Rust,
    /// Python, on `autopilot_policy.py`; built with componentize-py.
    Python,
    /// JavaScript, on `autopilot-policy.js`; built with componentize-js.
    Js,
}

/// The toolchain a JavaScript policy is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JsEngine {
    /// componentize-js 0.23.0 (npm `@bytecodealliance/componentize-js`): SpiderMonkey.
    Spidermonkey,
    /// componentize-qjs 0.4.5 (npm `componentize-qjs`): QuickJS.
    Quickjs,
}

/// A policy name: lowercase letters, digits and dashes, starting with a letter (it
/// names the directory, the Rust crate and the policy).
fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "invalid policy name {name:?}: use lowercase letters, digits and dashes, starting \
             with a letter (for example `one-at-a-time`)"
        );
    }
    Ok(())
}

/// `one-at-a-time` → `OneAtATime`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Writes a new policy project for `name` in `dir` (default `./NAME`), which must not
/// exist yet. `sdk` is the Rust SDK's directory (default: the checkout's).
pub fn new(lang: Lang, name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> Result<()> {
    check_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() {
        bail!(
            "{} already exists: give a new directory with --dir",
            dir.display()
        );
    }
    let sdk_path = match (lang, sdk) {
        (Lang::Rust, Some(sdk)) => sdk.to_path_buf(),
        (Lang::Rust, None) => Path::new(CHECKOUT_SDK).canonicalize().with_context(|| {
            "the Rust SDK is not where this command was built from; pass --sdk DIR \
             (the autopilot repository's sdk/ directory)"
                .to_owned()
        })?,
        _ => PathBuf::new(),
    };
    if lang == Lang::Rust && !sdk_path.join("Cargo.toml").is_file() {
        bail!(
            "{} is not the Rust SDK (no Cargo.toml there)",
            sdk_path.display()
        );
    }
    let sdk_text = sdk_path.to_string_lossy().replace('\\', "/");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{Type}}", &type_name(name))
            .replace("{{sdk}}", &sdk_text)
    };
    let files: Vec<(&str, String)> = match lang {
        Lang::Rust => vec![
            (
                "Cargo.toml",
                fill(include_str!("../../../templates/rust/Cargo.toml")),
            ),
            (
                "src/lib.rs",
                fill(include_str!("../../../templates/rust/lib.rs")),
            ),
            (
                "README.md",
                fill(include_str!("../../../templates/rust/README.md")),
            ),
            (
                ".gitignore",
                fill(include_str!("../../../templates/rust/gitignore")),
            ),
        ],
        Lang::Python => vec![
            (
                "policy.py",
                fill(include_str!("../../../templates/python/policy.py")),
            ),
            (
                "app.py",
                fill(include_str!("../../../templates/python/app.py")),
            ),
            (
                "test_policy.py",
                fill(include_str!("../../../templates/python/test_policy.py")),
            ),
            ("autopilot_policy.py", PYTHON_SDK.to_owned()),
            (
                "README.md",
                fill(include_str!("../../../templates/python/README.md")),
            ),
            (
                ".gitignore",
                fill(include_str!("../../../templates/python/gitignore")),
            ),
        ],
        Lang::Js => vec![
            (
                "policy.js",
                fill(include_str!("../../../templates/js/policy.js")),
            ),
            (
                "policy.test.js",
                fill(include_str!("../../../templates/js/policy.test.js")),
            ),
            ("autopilot-policy.js", JS_SDK.to_owned()),
            (
                "package.json",
                fill(include_str!("../../../templates/js/package.json")),
            ),
            (
                "README.md",
                fill(include_str!("../../../templates/js/README.md")),
            ),
            (
                ".gitignore",
                fill(include_str!("../../../templates/js/gitignore")),
            ),
        ],
    };
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let test = match lang {
        Lang::Rust => "cargo test",
        Lang::Python => "python3 -m pytest",
        Lang::Js => "node --test",
    };
    eprintln!(
        "wrote {}: test with `{test}`, build with `autopilot policy build {}` (see its README.md)",
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// A toolchain's command (see [`find_tool`]); `install` says how to get it.
fn tool(env: &str, name: &str, dirs: &[PathBuf], install: &str) -> Result<PathBuf> {
    find_tool(env, name, dirs)
        .with_context(|| format!("{name} is needed to build this policy: {install} (or set {env})"))
}

/// Runs a toolchain's command, failing with its output when it fails.
fn run(mut command: Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The `[package] name` of a Cargo.toml.
fn crate_name(manifest: &Path) -> Result<String> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().trim_start_matches('=').trim();
            return Ok(value.trim_matches('"').to_owned());
        }
    }
    bail!("{} names no package", manifest.display())
}

/// The nearest ancestor of `dir` (itself included) holding a `.git`: componentize-js
/// resolves relative imports inside its working directory only, so a policy that
/// imports a module from elsewhere in its repository is built from the repository's
/// root. `dir` itself when there is none.
fn js_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// Builds the policy project in `dir` into a component (default `DIR/NAME.wasm`, NAME
/// the directory's name) with its language's toolchain on its default settings, then
/// loads it in the host to check it.
pub fn build(dir: &Path, out: Option<&Path>, js_engine: JsEngine) -> Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("no policy project at {}", dir.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "policy".to_owned());
    let out = match out {
        Some(out) => std::path::absolute(out)
            .with_context(|| format!("bad output path {}", out.display()))?,
        None => dir.join(format!("{name}.wasm")),
    };
    // The contract, written where the toolchains can read it.
    let wit = std::env::temp_dir().join(format!("autopilot-wit-{}", std::process::id()));
    std::fs::create_dir_all(&wit).with_context(|| format!("cannot create {}", wit.display()))?;
    std::fs::write(wit.join("promoter.wit"), WIT).context("cannot write the contract")?;
    let started = std::time::Instant::now();
    let built = build_in(&dir, &out, &wit, js_engine);
    let _ = std::fs::remove_dir_all(&wit);
    let lang = built?;
    let build_time = started.elapsed();
    let bytes = std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let host = PluginHost::new(PluginHostConfig {
        cache: ArtifactCache::default_location(),
        ..PluginHostConfig::default()
    })?;
    let policy = host
        .load(&bytes)
        .with_context(|| format!("built {}, but the host refuses it", out.display()))?;
    let info = policy.info();
    println!(
        "built {} ({lang}, {:.1} MB, in {:.1} s): {} {}, loads in the host (in {:.1} s)",
        out.display(),
        bytes.len() as f64 / 1e6,
        build_time.as_secs_f64(),
        info.name,
        info.version,
        (started.elapsed() - build_time).as_secs_f64()
    );
    Ok(())
}

fn build_in(dir: &Path, out: &Path, wit: &Path, js_engine: JsEngine) -> Result<&'static str> {
    if dir.join("Cargo.toml").is_file() {
        let manifest = dir.join("Cargo.toml");
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest);
        run(command, "cargo build --target wasm32-wasip2")?;
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from);
        let artifact = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", crate_name(&manifest)?.replace('-', "_")));
        std::fs::copy(&artifact, out)
            .with_context(|| format!("cannot copy {} to {}", artifact.display(), out.display()))?;
        Ok("Rust")
    } else if dir.join("app.py").is_file() {
        let py = tool(
            "AUTOPILOT_COMPONENTIZE_PY",
            "componentize-py",
            &[],
            "`pip install componentize-py==0.25.1`",
        )?;
        let mut command = Command::new(py);
        command
            .arg("-d")
            .arg(wit)
            .args(["-w", "promoter", "componentize", "-p"])
            .arg(dir);
        // The shipped policies import the SDK from the checkout's sdk/python.
        let checkout = Path::new(CHECKOUT_SDK).join("python");
        if !dir.join("autopilot_policy.py").is_file() && checkout.is_dir() {
            command.arg("-p").arg(checkout);
        }
        command.arg("app").arg("-o").arg(out);
        run(command, "componentize-py")?;
        Ok("Python")
    } else if dir.join("policy.js").is_file() {
        let root = js_root(dir);
        let local: Vec<PathBuf> = dir
            .ancestors()
            .flat_map(|d| {
                [
                    d.join("node_modules/.bin"),
                    d.join("target/js/node_modules/.bin"),
                ]
            })
            .collect();
        let entry = dir
            .join("policy.js")
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .context("the policy is outside its build root")?;
        if js_engine == JsEngine::Quickjs {
            let qjs = tool(
                "AUTOPILOT_COMPONENTIZE_QJS",
                "componentize-qjs",
                &local,
                "`npm install componentize-qjs@0.4.5` in the project",
            )?;
            let mut command = Command::new(qjs);
            command
                .current_dir(&root)
                .arg("--wit")
                .arg(wit)
                .args(["--world", "promoter", "--js"])
                .arg(entry)
                .arg("--module-root")
                .arg(&root)
                .arg("-o")
                .arg(out);
            run(command, "componentize-qjs")?;
            return Ok("JavaScript on QuickJS");
        }
        let js = tool(
            "AUTOPILOT_COMPONENTIZE_JS",
            "componentize-js",
            &local,
            "`npm install` in the project (componentize-js 0.23.0)",
        )?;
        let mut command = Command::new(js);
        command
            .current_dir(&root)
            .arg(entry)
            .arg("--wit")
            .arg(wit)
            .args(["--world-name", "promoter", "-o"])
            .arg(out);
        run(command, "componentize-js")?;
        Ok("JavaScript")
    } else {
        bail!(
            "{} is not a policy project: expected Cargo.toml (Rust), app.py (Python) or \
             policy.js (JavaScript); `autopilot policy new` writes one",
            dir.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{check_name, type_name};

    #[test]
    fn names_are_checked_and_become_type_names() {
        for good in ["a", "one-at-a-time", "zones2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "One", "1st", "a_b", "a-", "a b", "../x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(type_name("one-at-a-time"), "OneAtATime");
        assert_eq!(type_name("zones2"), "Zones2");
    }
}
