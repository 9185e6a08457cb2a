//! The store data of one policy instance: a WASI context that grants nothing, bounded
//! output capture, and the memory cap.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// What one instance may use: no arguments, environment, files, sockets, clocks or
/// randomness (those interfaces are not even linked); stdout and stderr go to bounded
/// in-memory pipes that the host forwards to `tracing`.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    memory_cap: usize,
    /// Set when the guest tried to grow its memory past the cap.
    pub memory_exceeded: bool,
    /// The guest's stdout.
    pub stdout: MemoryOutputPipe,
    /// The guest's stderr.
    pub stderr: MemoryOutputPipe,
}

impl Sandbox {
    /// A fresh sandbox with a memory cap and an output bound (per stream).
    pub fn new(memory_cap: usize, output_bound: usize) -> Self {
        let stdout = MemoryOutputPipe::new(output_bound);
        let stderr = MemoryOutputPipe::new(output_bound);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory_cap,
            memory_exceeded: false,
            stdout,
            stderr,
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            // An error (not `Ok(false)`) makes the growth a trap, so the failure is
            // reported as out-of-memory rather than as whatever the guest's allocator
            // does with a failed `memory.grow`.
            wasmtime::bail!("memory cap of {} bytes reached", self.memory_cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
