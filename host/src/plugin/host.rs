//! The plugin host: loading, with every check a component must pass before it may run
//! (the contract's, in `contract.rs`), on the engine all its policies share
//! (`engine.rs`).

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Component;

use super::cache::{ArtifactCache, sha256_hex};
use super::component::ComponentPolicy;
use super::contract::{PolicyExports, check_component_header, check_exports, check_imports};
use super::engine::{HostInner, PluginLimits, Runtime};
use super::error::PluginError;

/// How the host is set up.
#[derive(Debug, Clone, Default)]
pub struct PluginHostConfig {
    /// Per-call limits.
    pub limits: PluginLimits,
    /// Where compiled components are cached (`None`: compile every time).
    pub cache: Option<ArtifactCache>,
    /// If set, only components whose sha256 (hex) is listed may load; any other is
    /// refused before it is compiled.
    pub allowed_digests: Option<std::collections::BTreeSet<String>>,
}

/// Loads policy components into a sandbox. Cheap to clone; every policy it loads
/// shares its engine and cache.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.inner.limits)
            .field("cache", &self.inner.cache)
            .finish()
    }
}

impl PluginHost {
    /// A host with the given limits and cache.
    pub fn new(config: PluginHostConfig) -> Result<Self, PluginError> {
        let inner = HostInner::new(config.limits, config.cache, config.allowed_digests)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The per-call limits.
    pub fn limits(&self) -> &PluginLimits {
        &self.inner.limits
    }

    /// Loads a component file (see [`PluginHost::load`]).
    pub fn load_file(&self, path: &Path) -> Result<ComponentPolicy, PluginError> {
        self.load_file_with_bytes(path).map(|(policy, _)| policy)
    }

    /// Loads a component file, also returning the bytes read (never more than one
    /// byte past the component size limit).
    pub fn load_file_with_bytes(
        &self,
        path: &Path,
    ) -> Result<(ComponentPolicy, Vec<u8>), PluginError> {
        use std::io::Read;
        let unreadable = |e: std::io::Error| PluginError::Unreadable {
            path: path.to_owned(),
            message: e.to_string(),
        };
        // Never read more than one byte past the limit: `load` refuses the rest.
        let limit = u64::try_from(self.inner.limits.component_bytes).unwrap_or(u64::MAX);
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let size = file.metadata().map_err(unreadable)?.len();
        if size > limit {
            return Err(too_large(size, limit));
        }
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        let policy = self.load(&bytes)?;
        Ok((policy, bytes))
    }

    /// Loads a component: checks it is a component, compiles it (or takes it from the
    /// artifact cache), checks its imports and exports, prepares it for cheap
    /// instantiation and asks it for its metadata.
    pub fn load(&self, bytes: &[u8]) -> Result<ComponentPolicy, PluginError> {
        let limit = self.inner.limits.component_bytes;
        if bytes.len() > limit {
            let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            return Err(too_large(size, u64::try_from(limit).unwrap_or(u64::MAX)));
        }
        let digest = sha256_hex(bytes);
        if let Some(allowed) = &self.inner.allowed_digests
            && !allowed.contains(&digest)
        {
            return Err(PluginError::NotPinned { digest });
        }
        check_component_header(bytes)?;
        let (component, runtime) = self.compile(bytes, &digest)?;
        let engine = &runtime.engine;
        check_imports(&component, engine)?;
        let (interface, contract) = check_exports(&component, engine)?;
        let exports = PolicyExports::find(&component, &interface)?;
        let cannot_link = |e: wasmtime::Error| PluginError::Invalid(format!("cannot link: {e:#}"));
        let pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(cannot_link)?;
        ComponentPolicy::new(
            self.inner.clone(),
            pre,
            exports,
            contract,
            interface,
            digest,
        )
    }

    /// Compiles (or takes from the cache) a component on the plain engine, or on the
    /// concurrent one if it uses the component model's async features.
    fn compile(&self, bytes: &[u8], digest: &str) -> Result<(Component, &Runtime), PluginError> {
        let plain = &self.inner.plain;
        if let Some(component) = self.cached(digest, plain) {
            return Ok((component, plain));
        }
        let runtime = match Component::new(&plain.engine, bytes) {
            Ok(component) => return Ok((self.keep(digest, plain, component), plain)),
            Err(e) if needs_concurrency(&e) => self.inner.concurrent()?,
            Err(e) => return Err(PluginError::Invalid(format!("{e:#}"))),
        };
        if let Some(component) = self.cached(digest, runtime) {
            return Ok((component, runtime));
        }
        let component = Component::new(&runtime.engine, bytes)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        Ok((self.keep(digest, runtime, component), runtime))
    }

    fn cached(&self, digest: &str, runtime: &Runtime) -> Option<Component> {
        self.inner.cache.as_ref()?.load(digest, &runtime.engine)
    }

    fn keep(&self, digest: &str, runtime: &Runtime, component: Component) -> Component {
        if let Some(cache) = &self.inner.cache {
            cache.store(digest, &runtime.engine, &component);
        }
        component
    }
}

/// Whether compiling failed because the component uses a component-model feature the
/// plain engine leaves out (the async ABI's built-ins say "`task.cancel` requires the
/// component model async feature"); the concurrent engine then has its say.
fn needs_concurrency(e: &wasmtime::Error) -> bool {
    format!("{e:#}").contains("requires the component model")
}

/// The refusal of a component of `size` bytes, over `limit`.
fn too_large(size: u64, limit: u64) -> PluginError {
    PluginError::Invalid(format!(
        "{size} bytes, over the {limit}-byte limit for a policy component \
         (PluginLimits::component_bytes)"
    ))
}
