//! Loading components: what the host accepts, and the named reason for everything it
//! refuses; the artifact cache.

use autopilot::{ArtifactCache, PluginError, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;

fn host() -> PluginHost {
    PluginHost::new(PluginHostConfig::default()).expect("host starts")
}

fn load_error(bytes: &[u8]) -> PluginError {
    match host().load(bytes) {
        Ok(policy) => panic!("expected a refusal, loaded {:?}", policy.info()),
        Err(e) => e,
    }
}

#[test]
fn loads_the_stable_component_and_reads_its_metadata() {
    let bytes = guests::component(guests::STABLE_PROMOTER);
    let policy = host().load(&bytes).expect("stable loads");
    assert_eq!(policy.info().name, "stable");
    assert_eq!(policy.info().version, "0.1.0");
    assert_eq!(policy.info().digest, autopilot::sha256_hex(&bytes));
}

#[test]
fn refuses_random_bytes_as_not_a_component() {
    // Deterministic pseudo-random bytes.
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    let e = load_error(&bytes);
    assert_eq!(e.kind(), "not-a-component", "{e}");
    assert!(e.to_string().starts_with("not a component"));
}

#[test]
fn refuses_a_core_module_as_not_a_component() {
    let e = load_error(b"\0asm\x01\0\0\0");
    assert_eq!(e.kind(), "not-a-component");
    assert!(e.to_string().contains("core WebAssembly module"), "{e}");
}

#[test]
fn refuses_a_truncated_component_as_invalid() {
    let bytes = guests::component(guests::STABLE_PROMOTER);
    let e = load_error(&bytes[..bytes.len() / 2]);
    assert_eq!(e.kind(), "invalid-component", "{e}");
}

#[test]
fn refuses_a_component_of_another_world() {
    let e = load_error(&guests::component(guests::FOREIGN_WORLD));
    assert_eq!(e.kind(), "missing-export", "{e}");
    assert!(e.to_string().contains("other:greeter/greet@1.0.0"), "{e}");
    assert!(
        e.to_string().contains("autopilot:promoter/policy@0.3.0"),
        "{e}"
    );
}

#[test]
fn refuses_an_incompatible_interface_version() {
    let e = load_error(&guests::component(guests::WRONG_VERSION));
    assert_eq!(e.kind(), "incompatible-version", "{e}");
    assert!(e.to_string().contains("@9.0.0"), "{e}");
}

#[test]
fn refuses_the_current_interface_with_other_types() {
    let e = load_error(&guests::component(guests::WRONG_TYPES));
    assert_eq!(e.kind(), "incompatible-version", "{e}");
    assert!(e.to_string().contains("other types"), "{e}");
    assert!(e.to_string().contains("`decide`"), "{e}");
}

#[test]
fn refuses_a_component_that_imports_something_outside_the_table() {
    let e = load_error(&guests::component(guests::FORBIDDEN_IMPORT));
    assert_eq!(e.kind(), "forbidden-import", "{e}");
    assert!(e.to_string().contains("other:snoop/vault"), "{e}");
}

#[test]
fn refuses_a_component_over_the_size_limit_before_compiling_it() {
    let bytes = guests::component(guests::STABLE_PROMOTER);
    let host = PluginHost::new(PluginHostConfig {
        limits: autopilot::PluginLimits {
            component_bytes: bytes.len() - 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("host starts");
    let e = host.load(&bytes).expect_err("one byte too many");
    assert_eq!(e.kind(), "invalid-component", "{e}");
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn refuses_an_unreadable_file() {
    let e = host()
        .load_file(std::path::Path::new("/nonexistent/policy.wasm"))
        .expect_err("no such file");
    assert_eq!(e.kind(), "unreadable");
}

#[test]
fn caches_compiled_artifacts_and_survives_a_corrupt_one() {
    let dir = std::env::temp_dir().join(format!("autopilot-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let host = PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(&dir)),
        ..PluginHostConfig::default()
    })
    .expect("host starts");
    let bytes = guests::component(guests::STABLE_PROMOTER);
    host.load(&bytes).expect("first load compiles");
    let artifacts: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "one artifact cached");
    let name = artifacts[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with(&autopilot::sha256_hex(&bytes)), "{name}");

    host.load(&bytes).expect("second load from the cache");

    std::fs::write(&artifacts[0], b"garbage").expect("corrupt the artifact");
    let policy = host.load(&bytes).expect("a corrupt artifact is recompiled");
    assert_eq!(policy.info().name, "stable");

    // Another policy's compiled code planted under the stable policy's name, with a
    // MAC under another cache's key: refused, and the stable policy recompiled.
    let elsewhere = dir.with_extension("attacker");
    let _ = std::fs::remove_dir_all(&elsewhere);
    let theirs = PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(&elsewhere)),
        ..PluginHostConfig::default()
    })
    .expect("host starts");
    let cautious = guests::component(guests::CAUTIOUS_PROMOTER);
    assert_eq!(
        theirs.load(&cautious).expect("loads").info().name,
        "cautious"
    );
    let stem = name.trim_end_matches(".cwasm");
    let planted = format!("{}{}", autopilot::sha256_hex(&cautious), &stem[64..]);
    for ext in ["cwasm", "mac"] {
        std::fs::copy(
            elsewhere.join(format!("{planted}.{ext}")),
            dir.join(format!("{stem}.{ext}")),
        )
        .expect("plant");
    }
    let policy = host.load(&bytes).expect("the planted artifact is refused");
    assert_eq!(policy.info().name, "stable", "never the planted code");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&elsewhere);
}
