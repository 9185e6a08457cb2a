//! The artifact cache trusts only what it wrote itself: a directory owned by this user
//! and closed to others, and artifacts carrying a MAC under its own key.

#![cfg(unix)]

#[path = "support/log.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use autopilot::{ArtifactCache, engine_fingerprint};
use support::capture;
use wasmtime::Engine;
use wasmtime::component::Component;

/// An empty component and a different one (an empty core module inside), both valid.
const EMPTY: &[u8] = b"\0asm\x0d\x00\x01\x00";
const OTHER: &[u8] = b"\0asm\x0d\x00\x01\x00\x01\x08\0asm\x01\x00\x00\x00";

/// A fresh directory path (not created) under the system's temporary directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "autopilot-cache-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn compiled(engine: &Engine, bytes: &[u8]) -> Component {
    Component::new(engine, bytes).expect("a valid component")
}

#[test]
fn a_cache_written_by_this_node_loads() {
    let engine = Engine::default();
    let dir = fresh_dir("own");
    let cache = ArtifactCache::new(&dir);
    cache.store("d1", &engine, &compiled(&engine, EMPTY));

    assert_eq!(mode(&dir), 0o700, "created private");
    assert_eq!(mode(&dir.join("key")), 0o600, "the key is private");
    let stem = format!("d1-{}", engine_fingerprint(&engine));
    assert_eq!(
        files(&dir),
        [format!("{stem}.cwasm"), format!("{stem}.mac"), "key".into()]
    );
    assert!(cache.load("d1", &engine).is_some(), "loads what it stored");
    // Another handle on the same directory (another process, later) uses the same key.
    assert!(ArtifactCache::new(&dir).load("d1", &engine).is_some());
    assert!(
        cache.load("d2", &engine).is_none(),
        "nothing under another digest"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_planted_artifact_is_refused() {
    let engine = Engine::default();
    let dir = fresh_dir("planted");
    let cache = ArtifactCache::new(&dir);
    cache.store("d1", &engine, &compiled(&engine, EMPTY));
    let stem = format!("d1-{}", engine_fingerprint(&engine));
    let (log, _guard) = capture();

    // Someone who can write files there but does not hold the key replaces the
    // artifact with compiled code of their own (the old MAC left beside it).
    let planted = compiled(&engine, OTHER).serialize().expect("serializes");
    std::fs::write(dir.join(format!("{stem}.cwasm")), &planted).expect("plant");
    assert!(
        cache.load("d1", &engine).is_none(),
        "the old MAC does not fit"
    );

    // ... or writes a MAC of their own, under another key.
    let elsewhere = fresh_dir("attacker");
    let theirs = ArtifactCache::new(&elsewhere);
    theirs.store("d1", &engine, &compiled(&engine, OTHER));
    for ext in ["cwasm", "mac"] {
        let name = format!("{stem}.{ext}");
        std::fs::copy(elsewhere.join(&name), dir.join(&name)).expect("copy");
    }
    assert!(
        theirs.load("d1", &engine).is_some(),
        "valid in its own cache"
    );
    assert!(
        cache.load("d1", &engine).is_none(),
        "not under this cache's key"
    );

    // ... or renames a valid artifact of this cache to another policy's name.
    cache.store("d2", &engine, &compiled(&engine, OTHER));
    let other = format!("d2-{}", engine_fingerprint(&engine));
    for ext in ["cwasm", "mac"] {
        std::fs::copy(
            dir.join(format!("{other}.{ext}")),
            dir.join(format!("{stem}.{ext}")),
        )
        .expect("copy");
    }
    assert!(cache.load("d1", &engine).is_none(), "a MAC covers the name");
    assert!(cache.load("d2", &engine).is_some());

    assert_eq!(
        log.warnings(&["MAC does not verify"]),
        3,
        "each refusal is logged"
    );

    // Storing again repairs the entry.
    cache.store("d1", &engine, &compiled(&engine, EMPTY));
    assert!(cache.load("d1", &engine).is_some());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&elsewhere);
}

#[test]
fn a_directory_writable_by_others_is_not_used() {
    let engine = Engine::default();
    let dir = fresh_dir("shared");
    std::fs::create_dir_all(&dir).expect("create");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let cache = ArtifactCache::new(&dir);
    let (log, _guard) = capture();

    let e = cache.check().expect_err("refused");
    assert!(e.reason.contains("writable by group or others"), "{e}");
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");

    cache.store("d1", &engine, &compiled(&engine, EMPTY));
    assert!(files(&dir).is_empty(), "nothing written, not even a key");
    assert!(cache.load("d1", &engine).is_none());
    assert_eq!(log.warnings(&["artifact cache not used"]), 1, "warned once");
    let named = format!("dir={}", dir.display());
    assert_eq!(
        log.warnings(&["artifact cache not used", &named]),
        1,
        "names it"
    );

    // Closed again, it is used.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    cache.store("d1", &engine, &compiled(&engine, EMPTY));
    assert!(cache.load("d1", &engine).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_key_others_can_read_is_not_used() {
    let engine = Engine::default();
    let dir = fresh_dir("open-key");
    let cache = ArtifactCache::new(&dir);
    cache.store("d1", &engine, &compiled(&engine, EMPTY));
    std::fs::set_permissions(dir.join("key"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");

    let e = cache.check().expect_err("refused");
    assert!(
        e.reason.contains("its key is open to group or others"),
        "{e}"
    );
    assert!(cache.load("d1", &engine).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_in_place_of_the_directory_is_not_used() {
    let dir = fresh_dir("file");
    std::fs::write(&dir, b"not a directory").expect("write");
    let e = ArtifactCache::new(&dir).check().expect_err("refused");
    assert!(e.reason.contains("not a directory"), "{e}");
    let _ = std::fs::remove_file(&dir);
}
