//! The store data of one policy instance: a WASI context that grants nothing, bounded
//! output capture, and the memory cap.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// A guest's stdout or stderr: keeps the first `capacity` bytes and counts the rest.
/// Writing never fails, so a chatty policy loses output, not its round.
#[derive(Clone)]
pub struct OutputPipe {
    inner: Arc<Mutex<Captured>>,
    capacity: usize,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
}

impl OutputPipe {
    /// A pipe keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::default(),
            capacity,
        }
    }

    /// The bytes kept, and how many more were written and dropped.
    pub fn contents(&self) -> (Vec<u8>, usize) {
        let captured = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (captured.kept.clone(), captured.dropped)
    }

    fn append(&self, bytes: &[u8]) {
        let mut captured = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.capacity.saturating_sub(captured.kept.len());
        let (kept, dropped) = bytes.split_at(room.min(bytes.len()));
        captured.kept.extend_from_slice(kept);
        captured.dropped = captured.dropped.saturating_add(dropped.len());
    }
}

/// How much a guest may write in one go (it then asks again).
const WRITE_PERMIT: usize = 64 << 10;

#[wasmtime_wasi_io::async_trait]
impl Pollable for OutputPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for OutputPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for OutputPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

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
    pub stdout: OutputPipe,
    /// The guest's stderr.
    pub stderr: OutputPipe,
}

impl Sandbox {
    /// A fresh sandbox with a memory cap and an output bound (per stream).
    pub fn new(memory_cap: usize, output_bound: usize) -> Self {
        let stdout = OutputPipe::new(output_bound);
        let stderr = OutputPipe::new(output_bound);
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

#[cfg(test)]
mod tests {
    use super::OutputPipe;
    use wasmtime_wasi_io::bytes::Bytes;
    use wasmtime_wasi_io::streams::OutputStream;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let pipe = OutputPipe::new(8);
        let mut stream = pipe.clone();
        assert!(stream.write(Bytes::from_static(b"hello ")).is_ok());
        assert!(stream.write(Bytes::from_static(b"world, again")).is_ok());
        assert!(stream.check_write().is_ok_and(|n| n > 0));
        assert_eq!(pipe.contents(), (b"hello wo".to_vec(), 10));
    }
}
