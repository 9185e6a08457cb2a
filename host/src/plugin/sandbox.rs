//! The store data of one policy instance: a WASI context that grants nothing, bounded
//! output capture, and the memory cap.

use std::collections::VecDeque;
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

use super::inert::InertHttp;
use crate::core::Timestamp;

/// A guest's stdout or stderr, bounded: keeps the first bytes written and the last
/// ones (where a panic message is), `capacity` in all, and counts what it drops in
/// between. Writing never fails, so a chatty policy loses output, not its round.
#[derive(Clone)]
pub struct OutputPipe {
    inner: Arc<Mutex<Captured>>,
    capacity: usize,
}

#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    tail: VecDeque<u8>,
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

    /// How much of the capacity keeps the latest bytes.
    fn tail_capacity(&self) -> usize {
        (self.capacity / 4).min(4 << 10)
    }

    /// What was kept (the first bytes, a line saying how many were dropped if any, the
    /// last bytes) and how many bytes were dropped.
    pub fn contents(&self) -> (Vec<u8>, usize) {
        let captured = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = captured.head.clone();
        if captured.dropped > 0 {
            text.extend_from_slice(
                format!("\n[... {} bytes dropped ...]\n", captured.dropped).as_bytes(),
            );
        }
        text.extend(captured.tail.iter());
        (text, captured.dropped)
    }

    fn append(&self, bytes: &[u8]) {
        let tail_capacity = self.tail_capacity();
        let head_capacity = self.capacity - tail_capacity;
        let mut captured = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = head_capacity.saturating_sub(captured.head.len());
        let (head, rest) = bytes.split_at(room.min(bytes.len()));
        captured.head.extend_from_slice(head);
        // The tail keeps the latest `tail_capacity` bytes.
        let rest = if rest.len() > tail_capacity {
            let skipped = rest.len() - tail_capacity;
            let cleared = captured.tail.len();
            captured.tail.clear();
            captured.dropped = captured.dropped.saturating_add(cleared + skipped);
            &rest[skipped..]
        } else {
            rest
        };
        captured.tail.extend(rest);
        let excess = captured.tail.len().saturating_sub(tail_capacity);
        captured.tail.drain(..excess);
        captured.dropped = captured.dropped.saturating_add(excess);
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
    pub(crate) table: ResourceTable,
    /// `wasi:http`'s context: requests can be built, none is sent.
    pub(crate) http: InertHttp,
    memory_cap: usize,
    /// Set when the guest tried to grow its memory past the cap.
    pub memory_exceeded: bool,
    /// The guest's stdout.
    pub stdout: OutputPipe,
    /// The guest's stderr.
    pub stderr: OutputPipe,
}

impl Sandbox {
    /// A fresh sandbox with a memory cap and an output bound (per stream), whose wall
    /// clock reads `now`.
    pub fn new(memory_cap: usize, output_bound: usize, now: Timestamp) -> Self {
        let stdout = OutputPipe::new(output_bound);
        let stderr = OutputPipe::new(output_bound);
        let mut builder = WasiCtxBuilder::new();
        builder.stdout(stdout.clone()).stderr(stderr.clone());
        super::inert::configure(&mut builder, now);
        let wasi = builder.build();
        Self {
            wasi,
            table: ResourceTable::new(),
            http: InertHttp::default(),
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
    fn keeps_everything_within_the_bound() {
        let pipe = OutputPipe::new(64);
        let mut stream = pipe.clone();
        assert!(stream.write(Bytes::from_static(b"hello ")).is_ok());
        assert!(stream.write(Bytes::from_static(b"world")).is_ok());
        assert_eq!(pipe.contents(), (b"hello world".to_vec(), 0));
    }

    #[test]
    fn keeps_the_first_and_last_bytes_and_counts_the_rest() {
        // 16 bytes: 12 for the first ones, 4 for the latest.
        let pipe = OutputPipe::new(16);
        let mut stream = pipe.clone();
        assert!(stream.write(Bytes::from_static(b"0123456789ab")).is_ok());
        assert!(stream.write(Bytes::from_static(b"cdefgh")).is_ok());
        assert!(stream.write(Bytes::from_static(b"ij")).is_ok());
        assert!(stream.write(Bytes::from(vec![b'x'; 100])).is_ok());
        assert!(stream.write(Bytes::from_static(b"end!")).is_ok());
        assert!(stream.check_write().is_ok_and(|n| n > 0));
        let (text, dropped) = pipe.contents();
        assert_eq!(dropped, 6 + 2 + 100);
        assert_eq!(
            String::from_utf8_lossy(&text),
            "0123456789ab\n[... 108 bytes dropped ...]\nend!"
        );
    }
}
