//! Where log lines go: a buffer that a background thread writes to stderr every few
//! milliseconds. An admission's log line costs a short memcpy under an uncontended
//! lock; it never waits on stderr, and it wakes no thread (a writer woken per line
//! showed as a tenth of the CPU under load).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often the buffer is written out.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Lines past this many pending bytes are dropped (and counted) rather than queued
/// without bound while stderr is stalled.
const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    /// Set when the program ends: flush now and stop.
    closing: Mutex<bool>,
    wake: Condvar,
}

/// The `MakeWriter` for tracing-subscriber; clones share one buffer.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

/// Writes what is pending when dropped, and stops the writer thread.
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BatchedStderr {
    pub fn start() -> (Self, FlushOnDrop) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            dropped: AtomicU64::new(0),
            closing: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("log-writer".into())
                .spawn(move || write_out(&shared))
                .expect("starting the log writer thread")
        };
        (
            BatchedStderr {
                shared: shared.clone(),
            },
            FlushOnDrop {
                shared,
                thread: Some(thread),
            },
        )
    }
}

fn write_out(shared: &Shared) {
    let mut batch = Vec::with_capacity(64 * 1024);
    loop {
        let closing = {
            let closing = shared.closing.lock().unwrap_or_else(|e| e.into_inner());
            let (closing, _) = shared
                .wake
                .wait_timeout_while(closing, FLUSH_EVERY, |closing| !*closing)
                .unwrap_or_else(|e| e.into_inner());
            *closing
        };
        std::mem::swap(
            &mut batch,
            &mut shared.pending.lock().unwrap_or_else(|e| e.into_inner()),
        );
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&batch);
        if dropped > 0 {
            let _ = writeln!(
                stderr,
                "log writer: {dropped} log lines dropped while stderr was slow"
            );
        }
        let _ = stderr.flush();
        batch.clear();
        if closing {
            return;
        }
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        *self
            .shared
            .closing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One log line's writer.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if pending.len() + line.len() > MAX_PENDING_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn lines_are_kept_whole_and_bounded() {
        let (writer, _flush) = BatchedStderr::start();
        writer.make_writer().write_all(b"one line\n").unwrap();
        let big = vec![b'x'; MAX_PENDING_BYTES];
        writer.make_writer().write_all(&big).unwrap();
        // The oversized line is dropped and counted; the short one is kept.
        let pending = writer.shared.pending.lock().unwrap().clone();
        assert!(pending.is_empty() || pending == b"one line\n");
        assert!(writer.shared.dropped.load(Ordering::Relaxed) <= 1);
    }
}
