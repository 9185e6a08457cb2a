//! Captures what is logged at `warn` and above on the current thread, for tests that
//! check a warning is given (and given once).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// The captured log.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// The warning lines containing every one of `needles`.
    pub fn warnings(&self, needles: &[&str]) -> usize {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains("WARN") && needles.iter().all(|n| l.contains(n)))
            .count()
    }
}

/// Captures warnings on this thread until the guard is dropped.
pub fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    (log, tracing::subscriber::set_default(subscriber))
}
