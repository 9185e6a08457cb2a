//! The engine every policy of a host shares: wasmtime set up for policies (Cranelift,
//! fuel, epoch interruption, the pooling allocator), the epoch ticker that is a call's
//! wall-clock backstop, the per-call limits, and a linker that grants nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};

use super::cache::ArtifactCache;
use super::error::PluginError;
use super::inert::{InertMonotonic, MonotonicView, deny_http_requests};
use super::sandbox::Sandbox;

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
    /// The largest component accepted, in bytes (default 64 MiB: room for the CPython
    /// and SpiderMonkey runtimes that Python and JavaScript components carry, 12 to 18
    /// MB). Compiling runs at load, outside any call's deadline, so the size is what
    /// bounds it.
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
            component_bytes: 64 << 20,
        }
    }
}

/// An engine and the linker that grants a policy its imports on it.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Sandbox>,
}

/// Shared by every policy a host loads.
///
/// Two engines: the one every policy runs on unless it needs more, without the
/// component model's concurrency support (whose per-store set-up costs about 6 µs a
/// call, most of a small round), and one with it and the async ABI, made the first
/// time a component needs it (componentize-qjs's QuickJS runtime uses the async ABI's
/// built-ins).
pub(crate) struct HostInner {
    pub(crate) plain: Runtime,
    concurrent: OnceLock<Runtime>,
    /// The concurrent engine once made, for the epoch thread.
    concurrent_engine: Arc<OnceLock<Engine>>,
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
    fn start(engine: Engine, concurrent: Arc<OnceLock<Engine>>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("autopilot-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                    if let Some(engine) = concurrent.get() {
                        engine.increment_epoch();
                    }
                }
            })?;
        Ok(Self { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

impl HostInner {
    /// The engine, linker and ticker for these limits.
    pub(crate) fn new(
        limits: PluginLimits,
        cache: Option<ArtifactCache>,
        allowed_digests: Option<BTreeSet<String>>,
    ) -> Result<Self, PluginError> {
        let plain = Runtime::new(&limits, false)?;
        let concurrent_engine = Arc::new(OnceLock::new());
        let ticker = Ticker::start(plain.engine.clone(), Arc::clone(&concurrent_engine))
            .map_err(|e| host_error("cannot start the epoch thread", e))?;
        Ok(Self {
            plain,
            concurrent: OnceLock::new(),
            concurrent_engine,
            limits,
            cache,
            allowed_digests,
            ticker: Some(ticker),
        })
    }

    /// The engine with the component model's concurrency support, made on first use.
    pub(crate) fn concurrent(&self) -> Result<&Runtime, PluginError> {
        if let Some(runtime) = self.concurrent.get() {
            return Ok(runtime);
        }
        let runtime = Runtime::new(&self.limits, true)?;
        let engine = runtime.engine.clone();
        // Two loads racing here both build one; the first stored wins, the other is
        // dropped unused. The epoch thread ticks the winner.
        let runtime = self.concurrent.get_or_init(|| runtime);
        if Engine::same(&runtime.engine, &engine) {
            let _ = self.concurrent_engine.set(engine);
        }
        Ok(runtime)
    }
}

impl Runtime {
    /// An engine set up for policies (with the component model's concurrency support
    /// and async ABI if `concurrent`) and its linker.
    fn new(limits: &PluginLimits, concurrent: bool) -> Result<Self, PluginError> {
        let mut wasm = Config::new();
        // Fuel bounds a call's work deterministically; the epoch is a wall-clock
        // backstop against a host stall.
        wasm.consume_fuel(limits.fuel.is_some());
        wasm.epoch_interruption(true);
        wasm.wasm_component_model(true);
        wasm.concurrency_support(concurrent);
        if concurrent {
            wasm.wasm_component_model_async(true);
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64)
            .total_stacks(64)
            .total_core_instances(512)
            .total_memories(64)
            .total_tables(256)
            .max_memory_size(limits.memory)
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
        Ok(Self { engine, linker })
    }
}

struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

fn host_error(context: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::Host(format!("{context}: {e}"))
}

/// Links only the WASI interfaces standard toolchains import, backed by a context that
/// grants nothing: no arguments, environment or input, output bounded; clocks,
/// randomness, filesystem and sockets inert (`inert.rs`).
fn add_granted_wasi(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
    use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
    use wasmtime_wasi_http::WasiHttp;
    use wasmtime_wasi_http::p2::bindings::http;
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
    // The wall clock reads the round's instant; the monotonic clock is ours, so its
    // timers need no executor.
    clocks::wall_clock::add_to_linker::<Sandbox, WasiClocks>(l, Sandbox::clocks)?;
    clocks::monotonic_clock::add_to_linker::<Sandbox, InertMonotonic>(l, |s| {
        MonotonicView(&mut s.table)
    })?;
    random::random::add_to_linker::<Sandbox, WasiRandom>(l, Sandbox::random)?;
    random::insecure::add_to_linker::<Sandbox, WasiRandom>(l, Sandbox::random)?;
    random::insecure_seed::add_to_linker::<Sandbox, WasiRandom>(l, Sandbox::random)?;
    // No preopened directory: a descriptor can never be had, so none of the file
    // functions can do anything.
    filesystem::preopens::add_to_linker::<Sandbox, WasiFilesystem>(l, Sandbox::filesystem)?;
    filesystem::types::add_to_linker::<Sandbox, WasiFilesystem>(l, Sandbox::filesystem)?;
    // No network use allowed: creating a socket or looking up a name is refused with
    // `access-denied`.
    sockets::instance_network::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::network::add_to_linker::<Sandbox, WasiSockets>(
        l,
        &sockets::network::LinkOptions::default(),
        Sandbox::sockets,
    )?;
    sockets::tcp_create_socket::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::tcp::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::udp_create_socket::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::udp::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    // Requests can be built (wasmtime-wasi-http's own types); sending one is refused
    // with `HTTP-request-denied`.
    http::types::add_to_linker::<Sandbox, WasiHttp>(l, &Default::default(), |s| {
        s.http.view(&mut s.table)
    })?;
    deny_http_requests(l)?;
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
