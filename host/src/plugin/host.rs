//! The plugin host: one wasmtime engine (Cranelift, epoch interruption, pooling
//! allocator), a linker that grants nothing, and loading with every check a component
//! must pass before it may run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};

use super::cache::{ArtifactCache, sha256_hex};
use super::component::{ComponentPolicy, Contract, PolicyExports};
use super::error::PluginError;
use super::sandbox::Sandbox;

/// The interface a policy component must export.
pub const POLICY_INTERFACE: &str = "autopilot:promoter/policy@0.3.0";

/// Imports a component may have: the WASI interfaces a standard guest toolchain links
/// even when the policy never calls them. They are satisfied without granting
/// anything (no arguments, environment or input; output bounded and captured).
const ALLOWED_IMPORTS: &[&str] = &[
    // Types only (records and enums shared by the contract): no functions to call.
    "autopilot:promoter/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// The default fuel budget of one call: about 65–75 ms of busy WebAssembly on this
/// project's reference machine (measured by the `budget` benchmark).
pub const DEFAULT_FUEL: u64 = 600_000_000;

/// How much a policy may use per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// The work one call may do, in wasmtime fuel units (about one per WebAssembly
    /// instruction; default [`DEFAULT_FUEL`], about 65–75 ms of busy work on this project's
    /// reference machine). Deterministic: the same input and policy use the same fuel
    /// on an idle and on a loaded machine, so a replay's verdict does not depend on
    /// load. `None` meters nothing (calls run faster, see BENCHMARKS.md) and leaves
    /// only the wall-clock `deadline`, whose verdict near the limit depends on load.
    pub fuel: Option<u64>,
    /// Wall-clock backstop for one call (default 1 s), against a host stall; the fuel
    /// budget is what normally bounds a call.
    pub deadline: Duration,
    /// Memory cap per instance (default 64 MiB).
    pub memory: usize,
    /// Bytes of stdout and of stderr kept per call (default 16 KiB each: the first
    /// bytes and the last); what a policy writes beyond that is dropped (and counted
    /// in a warning), never fatal.
    pub output: usize,
    /// Total bytes of extension JSON accepted from one call (default 1 MiB).
    pub ext_bytes: usize,
    /// The largest component accepted, in bytes (default 16 MiB). Compiling runs at
    /// load, outside any call's deadline, so the size is what bounds it.
    pub component_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            fuel: Some(DEFAULT_FUEL),
            deadline: Duration::from_secs(1),
            memory: 64 << 20,
            output: 16 << 10,
            ext_bytes: 1 << 20,
            component_bytes: 16 << 20,
        }
    }
}

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

/// Shared by every policy a host loads.
pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Sandbox>,
    pub(crate) limits: PluginLimits,
    pub(crate) cache: Option<ArtifactCache>,
    pub(crate) allowed_digests: Option<std::collections::BTreeSet<String>>,
    ticker: Option<Ticker>,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// Bytes of each pooled memory kept resident between instances.
const KEEP_RESIDENT: usize = 2 << 20;

/// How often the epoch advances; deadlines are whole numbers of ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// A background thread advancing the engine's epoch, which is what interrupts a call
/// at its deadline.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("autopilot-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
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

struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

fn host_error(context: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::Host(format!("{context}: {e}"))
}

impl PluginHost {
    /// A host with the given limits and cache.
    pub fn new(config: PluginHostConfig) -> Result<Self, PluginError> {
        let mut wasm = Config::new();
        // Fuel bounds a call's work deterministically; the epoch is a wall-clock
        // backstop against a host stall.
        wasm.consume_fuel(config.limits.fuel.is_some());
        wasm.epoch_interruption(true);
        wasm.wasm_component_model(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64)
            .total_stacks(64)
            .total_core_instances(512)
            .total_memories(64)
            .total_tables(256)
            .max_memory_size(config.limits.memory)
            // Reset the first pages of a finished instance's memory in place instead of
            // returning them to the kernel: the next instance then starts without page
            // faults (most of a policy's instantiation cost otherwise).
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            // Where the kernel can say which pages an instance dirtied (Linux 6.7+),
            // reset only those instead of the whole resident prefix.
            .pagemap_scan(wasmtime::Enabled::Auto);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| host_error("cannot create engine", e))?;

        let mut linker = Linker::<Sandbox>::new(&engine);
        add_granted_wasi(&mut linker).map_err(|e| host_error("cannot link WASI", e))?;

        let ticker = Ticker::start(engine.clone())
            .map_err(|e| host_error("cannot start the epoch thread", e))?;
        Ok(Self {
            inner: Arc::new(HostInner {
                engine,
                linker,
                limits: config.limits,
                cache: config.cache,
                allowed_digests: config.allowed_digests,
                ticker: Some(ticker),
            }),
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
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(limit.saturating_add(1)).read_to_end(&mut bytes))
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
            return Err(PluginError::Invalid(format!(
                "{} bytes, over the {limit}-byte limit for a policy component",
                bytes.len()
            )));
        }
        let digest = sha256_hex(bytes);
        if let Some(allowed) = &self.inner.allowed_digests
            && !allowed.contains(&digest)
        {
            return Err(PluginError::NotPinned { digest });
        }
        check_component_header(bytes)?;
        let component = self.compile(bytes, &digest)?;
        check_imports(&component, &self.inner.engine)?;
        let (interface, contract) = check_exports(&component, &self.inner.engine)?;
        let exports = PolicyExports::find(&component, &interface)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Invalid(format!("cannot link: {e:#}")))?;
        ComponentPolicy::new(
            self.inner.clone(),
            pre,
            exports,
            contract,
            interface,
            digest,
        )
    }

    fn compile(&self, bytes: &[u8], digest: &str) -> Result<Component, PluginError> {
        let engine = &self.inner.engine;
        if let Some(component) = self
            .inner
            .cache
            .as_ref()
            .and_then(|c| c.load(digest, engine))
        {
            return Ok(component);
        }
        let component =
            Component::new(engine, bytes).map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        if let Some(cache) = &self.inner.cache {
            cache.store(digest, engine, &component);
        }
        Ok(component)
    }
}

/// Links only the WASI interfaces a standard guest imports, backed by a context that
/// grants nothing. Clocks, randomness, filesystem and sockets are not linked at all.
fn add_granted_wasi(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::cli;
    use wasmtime_wasi_io::bindings::wasi::io;
    let l = linker;
    // The asynchronous bindings: the sandbox's streams are always ready, so they need
    // no particular executor (the synchronous ones would enter a tokio runtime).
    io::error::add_to_linker::<Sandbox, HasIo>(l, table)?;
    io::poll::add_to_linker::<Sandbox, HasIo>(l, table)?;
    io::streams::add_to_linker::<Sandbox, HasIo>(l, table)?;
    cli::exit::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::environment::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::stdin::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::stdout::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::stderr::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_input::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_output::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_stdin::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_stdout::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_stderr::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    Ok(())
}

#[allow(
    non_snake_case,
    reason = "a function pointer standing in for a view accessor"
)]
fn table(sandbox: &mut Sandbox) -> &mut ResourceTable {
    use wasmtime_wasi::WasiView;
    sandbox.ctx().table
}

/// A component starts with `\0asm` and the component layer's version bytes; a core
/// module has version 1 there.
fn check_component_header(bytes: &[u8]) -> Result<(), PluginError> {
    match bytes.get(..8) {
        Some([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]) => Ok(()),
        Some([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) => Err(PluginError::NotAComponent(
            "this is a core WebAssembly module; build the policy as a component \
             (for example with cargo build --target wasm32-wasip2)"
                .into(),
        )),
        Some([0x00, 0x61, 0x73, 0x6d, ..]) => Err(PluginError::NotAComponent(
            "unsupported WebAssembly binary version".into(),
        )),
        _ => Err(PluginError::NotAComponent(format!(
            "not WebAssembly ({} bytes without the \\0asm header)",
            bytes.len()
        ))),
    }
}

/// The name of an interface without its version (`wasi:io/error@0.2.6` → `wasi:io/error`).
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

fn check_imports(component: &Component, engine: &Engine) -> Result<(), PluginError> {
    let component_type = component.component_type();
    let forbidden: Vec<&str> = component_type
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !ALLOWED_IMPORTS.contains(&unversioned(name)))
        .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(PluginError::ForbiddenImport(forbidden.join(", ")))
    }
}

/// Checks the component exports a version of the policy interface the host speaks,
/// and returns the name it exports it under and the contract revision.
fn check_exports(
    component: &Component,
    engine: &Engine,
) -> Result<(String, Contract), PluginError> {
    let component_type = component.component_type();
    let exports: Vec<&str> = component_type.exports(engine).map(|(n, _)| n).collect();
    let wanted = unversioned(POLICY_INTERFACE);
    if let Some(other) = exports.iter().find(|n| unversioned(n) == wanted) {
        // 0.3.x is the current contract; 0.2.x and 0.1.x, the previous ones, are still
        // spoken so that policies built against them keep working. Anything else is not.
        let version = other.split_once('@').map_or("", |(_, v)| v);
        let contract = if version.starts_with("0.3.") {
            Some(Contract::V0_3)
        } else if version.starts_with("0.2.") {
            Some(Contract::V0_2)
        } else if version.starts_with("0.1.") {
            Some(Contract::V0_1)
        } else {
            None
        };
        if let Some(contract) = contract {
            return Ok(((*other).to_owned(), contract));
        }
        return Err(PluginError::IncompatibleVersion {
            found: (*other).to_owned(),
            expected: format!("{POLICY_INTERFACE} (or @0.2.x, @0.1.x)"),
        });
    }
    Err(PluginError::MissingExport {
        found: if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        },
        expected: POLICY_INTERFACE.to_owned(),
    })
}
