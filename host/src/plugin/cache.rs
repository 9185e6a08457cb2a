//! The on-disk cache of compiled components, keyed by the component's digest and the
//! engine's compatibility hash, so a policy is compiled once per machine and engine.
//!
//! # What the cache trusts
//!
//! Loading a compiled artifact runs native code outside the sandbox, so the cache is
//! exactly as trusted as the autopilot binary, or it is not used:
//!
//! - its directory must be owned by the user autopilot runs as and writable by nobody
//!   else (checked before every load and store, as ssh checks its keys); a directory
//!   autopilot creates is made `0700`. A directory that fails the check is not used:
//!   autopilot warns once, naming it and the reason, and compiles every time;
//! - every artifact is authenticated with HMAC-SHA256 under the cache's own key (`key`
//!   in the directory: 32 random bytes, `0600`, created on first use, refused if
//!   another user owns it or others can read it), over the artifact's name and
//!   content. An artifact whose MAC does not verify is refused and the component
//!   recompiled, so a file planted under a known policy's name never runs.
//!
//! The directory's parents are not checked. On platforms without Unix permissions only
//! the MAC is checked.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components (`<digest>-<engine>.cwasm`, each with a
/// `.mac` beside it), authenticated with the directory's own key.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

/// Why a cache directory is not used (see the module docs: the cache must be as
/// trusted as the binary).
#[derive(Debug, thiserror::Error)]
#[error("artifact cache {dir} is not used: {reason}")]
pub struct UntrustedCache {
    /// The cache directory.
    pub dir: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The key file's name inside the cache directory.
const KEY_FILE: &str = "key";
/// The key's length in bytes.
const KEY_LEN: usize = 32;

type Key = [u8; KEY_LEN];

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

fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A short, stable fingerprint of what makes compiled code loadable by `engine`.
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    hex(&digest[..8])
}

/// The MAC of an artifact: over its name (digest and engine) and its content, so an
/// artifact is valid only under the name it was stored with.
fn mac(key: &Key, stem: &str, bytes: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(stem.as_bytes());
    mac.update(&[0]);
    mac.update(bytes);
    mac
}

/// Directories already warned about (a warning per directory and process).
static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

impl ArtifactCache {
    /// A cache in `dir` (created, `0700`, on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default location: `$AUTOPILOT_CACHE_DIR` (empty: no cache), else
    /// `$XDG_CACHE_HOME/autopilot`, else `~/.cache/autopilot`; `None` when none of
    /// these is set (there is no fallback to a shared temporary directory).
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("AUTOPILOT_CACHE_DIR") {
            return (!dir.is_empty()).then(|| PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Some(Path::new(&dir).join("autopilot"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| Path::new(&home).join(".cache/autopilot"))
    }

    /// The cache at [`default_dir`](Self::default_dir), if there is one.
    pub fn default_location() -> Option<Self> {
        Self::default_dir().map(Self::new)
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks that the directory may be used (creating it and its key if absent):
    /// owned by this user, writable by nobody else, with a private key. Loading and
    /// storing check this themselves; call it to report a problem early.
    ///
    /// # Errors
    /// [`UntrustedCache`] naming the directory and what is wrong.
    pub fn check(&self) -> Result<(), UntrustedCache> {
        self.key().map(|_| ())
    }

    fn untrusted(&self, reason: impl Into<String>) -> UntrustedCache {
        UntrustedCache {
            dir: self.dir.clone(),
            reason: reason.into(),
        }
    }

    /// The cache's key, once the directory has passed the checks; `None` after a
    /// warning (once per directory) when it has not.
    fn trusted_key(&self) -> Option<Key> {
        match self.key() {
            Ok(key) => Some(key),
            Err(e) => {
                let first = WARNED
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(self.dir.clone());
                if first {
                    tracing::warn!(dir = %self.dir.display(), reason = %e.reason, "artifact cache not used; compiling every time");
                }
                None
            }
        }
    }

    fn key(&self) -> Result<Key, UntrustedCache> {
        self.ensure_dir()?;
        let path = self.dir.join(KEY_FILE);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => {
                self.check_private(&meta, KEY_FILE)?;
                let bytes = std::fs::read(&path)
                    .map_err(|e| self.untrusted(format!("cannot read its key: {e}")))?;
                Key::try_from(bytes.as_slice()).map_err(|_| {
                    self.untrusted(format!("its key is {} bytes, not {KEY_LEN}", bytes.len()))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.create_key(&path),
            Err(e) => Err(self.untrusted(format!("cannot read its key: {e}"))),
        }
    }

    /// Creates the directory (`0700`) if absent, then checks it.
    fn ensure_dir(&self) -> Result<(), UntrustedCache> {
        let meta = match std::fs::metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_private_dir(&self.dir)
                    .map_err(|e| self.untrusted(format!("cannot create it: {e}")))?;
                std::fs::metadata(&self.dir)
                    .map_err(|e| self.untrusted(format!("cannot read it: {e}")))?
            }
            Err(e) => return Err(self.untrusted(format!("cannot read it: {e}"))),
        };
        if !meta.is_dir() {
            return Err(self.untrusted("it is not a directory"));
        }
        self.check_owner(&meta, "it")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o022 != 0 {
                return Err(self.untrusted(format!(
                    "it is writable by group or others (mode {mode:03o}; `chmod go-w` it)"
                )));
            }
        }
        Ok(())
    }

    /// The key file must be a regular file of ours that nobody else can read or write.
    fn check_private(&self, meta: &std::fs::Metadata, what: &str) -> Result<(), UntrustedCache> {
        if !meta.file_type().is_file() {
            return Err(self.untrusted(format!("its {what} is not a regular file")));
        }
        self.check_owner(meta, &format!("its {what}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(self.untrusted(format!(
                    "its {what} is open to group or others (mode {mode:03o}; it must be 600)"
                )));
            }
        }
        Ok(())
    }

    #[cfg(unix)]
    fn check_owner(&self, meta: &std::fs::Metadata, what: &str) -> Result<(), UntrustedCache> {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(self.untrusted(format!(
                "{what} is owned by user {}, not by this user ({me})",
                meta.uid()
            )));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_owner(&self, _meta: &std::fs::Metadata, _what: &str) -> Result<(), UntrustedCache> {
        Ok(())
    }

    /// Writes a fresh random key (`0600`) without replacing one another process wrote
    /// first; returns whichever key ends up in place.
    fn create_key(&self, path: &Path) -> Result<Key, UntrustedCache> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key)
            .map_err(|e| self.untrusted(format!("no randomness for its key: {e}")))?;
        let tmp = self.dir.join(format!("{KEY_FILE}.{}.tmp", unique()));
        let written = write_private(&tmp, &key).and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok(key),
            // Another process created it meanwhile: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.key(),
            Err(e) => Err(self.untrusted(format!("cannot create its key: {e}"))),
        }
    }

    fn paths(&self, digest: &str, engine: &Engine) -> (String, PathBuf, PathBuf) {
        let stem = format!("{digest}-{}", engine_fingerprint(engine));
        let artifact = self.dir.join(format!("{stem}.cwasm"));
        let mac = self.dir.join(format!("{stem}.mac"));
        (stem, artifact, mac)
    }

    /// The compiled component for `digest`, if the cache is trusted and holds one
    /// whose MAC verifies.
    #[allow(
        unsafe_code,
        reason = "loading a precompiled artifact is unsafe in wasmtime"
    )]
    pub fn load(&self, digest: &str, engine: &Engine) -> Option<Component> {
        let key = self.trusted_key()?;
        let (stem, artifact, tag) = self.paths(digest, engine);
        let bytes = std::fs::read(&artifact).ok()?;
        let expected = std::fs::read_to_string(&tag).ok().and_then(|t| unhex(&t));
        let verified = expected.is_some_and(|t| mac(&key, &stem, &bytes).verify_slice(&t).is_ok());
        if !verified {
            tracing::warn!(path = %artifact.display(), "refusing a cached artifact whose MAC does not verify; recompiling");
            return None;
        }
        // SAFETY: `Component::deserialize` runs native code from `bytes`, so the bytes
        // must come from `Component::serialize` with a compatible engine. They do:
        // they carry a valid HMAC under this cache's key, which only this user can
        // read (checked above: the directory and the key are ours and closed to
        // others), and only `store` below computes such a MAC, over what
        // `Component::serialize` returned, for a name that includes the engine's
        // compatibility hash. A planted, truncated or corrupted file fails the MAC.
        let component = unsafe { Component::deserialize(engine, &bytes) };
        match component {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %artifact.display(), error = %e, "ignoring unusable cached artifact");
                None
            }
        }
    }

    /// Stores a compiled component, if the cache is trusted. Failures are logged, not
    /// fatal: the cache only saves time.
    pub fn store(&self, digest: &str, engine: &Engine, component: &Component) {
        let Some(key) = self.trusted_key() else {
            return;
        };
        if let Err(e) = self.try_store(&key, digest, engine, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled component");
        }
    }

    fn try_store(
        &self,
        key: &Key,
        digest: &str,
        engine: &Engine,
        component: &Component,
    ) -> std::io::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let (stem, artifact, tag) = self.paths(digest, engine);
        let code = hex(&mac(key, &stem, &bytes).finalize().into_bytes());
        // Write to temporary names, then rename: readers never see a partial file.
        let unique = unique();
        let tmp_artifact = artifact.with_extension(format!("cwasm.{unique}.tmp"));
        let tmp_tag = tag.with_extension(format!("mac.{unique}.tmp"));
        write_private(&tmp_artifact, &bytes)?;
        write_private(&tmp_tag, code.as_bytes())?;
        std::fs::rename(&tmp_tag, &tag)?;
        std::fs::rename(&tmp_artifact, &artifact)?;
        Ok(())
    }
}

/// A name no other thread or process uses at the same time.
fn unique() -> String {
    format!("{}.{:?}", std::process::id(), std::thread::current().id())
}

/// Creates `dir` and its missing parents, `0700` on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a new file (it must not exist) readable by this user only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
