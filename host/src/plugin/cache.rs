//! The on-disk cache of compiled components, keyed by the component's digest and the
//! engine's compatibility hash, so a policy is compiled once per machine and engine.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components (`<digest>-<engine>.cwasm`, each with a
/// `.sha256` of its content beside it).
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

/// Feeds `std::hash::Hash` output into SHA-256 (for the engine's compatibility hash).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Hex of a SHA-256 digest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short, stable fingerprint of what makes compiled code loadable by `engine`.
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    hex(&digest[..8])
}

impl ArtifactCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default location: `$AUTOPILOT_CACHE_DIR`, else `$XDG_CACHE_HOME/autopilot`,
    /// else `~/.cache/autopilot`, else a folder in the temporary directory.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("AUTOPILOT_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Path::new(&dir).join("autopilot");
        }
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(".cache/autopilot");
        }
        std::env::temp_dir().join("autopilot-cache")
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn paths(&self, digest: &str, engine: &Engine) -> (PathBuf, PathBuf) {
        let stem = format!("{digest}-{}", engine_fingerprint(engine));
        (
            self.dir.join(format!("{stem}.cwasm")),
            self.dir.join(format!("{stem}.sha256")),
        )
    }

    /// The compiled component for `digest`, if cached and intact.
    #[allow(
        unsafe_code,
        reason = "loading a precompiled artifact is unsafe in wasmtime"
    )]
    pub fn load(&self, digest: &str, engine: &Engine) -> Option<Component> {
        let (artifact, checksum) = self.paths(digest, engine);
        let bytes = std::fs::read(&artifact).ok()?;
        let expected = std::fs::read_to_string(&checksum).ok()?;
        if sha256_hex(&bytes) != expected.trim() {
            tracing::warn!(path = %artifact.display(), "ignoring corrupt cached artifact");
            return None;
        }
        // SAFETY: `Component::deserialize` runs native code from `bytes`, so the bytes
        // must come from `Component::serialize` with a compatible engine. They do: this
        // cache only holds files it wrote itself (`store` below), named after the
        // engine's compatibility hash, and the content is checked against the checksum
        // written with it, so a truncated or corrupted file is rejected above. The
        // cache directory must be as trusted as the autopilot binary itself (anyone who
        // can write there could equally replace the binary).
        let component = unsafe { Component::deserialize(engine, &bytes) };
        match component {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %artifact.display(), error = %e, "ignoring unusable cached artifact");
                None
            }
        }
    }

    /// Stores a compiled component. Failures are logged, not fatal: the cache only
    /// saves time.
    pub fn store(&self, digest: &str, engine: &Engine, component: &Component) {
        if let Err(e) = self.try_store(digest, engine, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled component");
        }
    }

    fn try_store(
        &self,
        digest: &str,
        engine: &Engine,
        component: &Component,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let (artifact, checksum) = self.paths(digest, engine);
        // Write to temporary names, then rename: readers never see a partial file.
        let unique = format!("{}.{:?}", std::process::id(), std::thread::current().id());
        let tmp_artifact = artifact.with_extension(format!("cwasm.{unique}.tmp"));
        let tmp_checksum = checksum.with_extension(format!("sha256.{unique}.tmp"));
        std::fs::File::create(&tmp_artifact)?.write_all(&bytes)?;
        std::fs::write(&tmp_checksum, sha256_hex(&bytes))?;
        std::fs::rename(&tmp_checksum, &checksum)?;
        std::fs::rename(&tmp_artifact, &artifact)?;
        Ok(())
    }
}
