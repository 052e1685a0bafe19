//! Running core work with the GIL released, with progress callbacks, Ctrl-C and error mapping.
//!
//! Long work runs on a worker thread while the calling thread (Python's main thread, the only
//! one that sees Ctrl-C) checks for signals every few tens of milliseconds. A signal sets a
//! stop flag that the core polls between chunks (`Monitor::stop_requested`) and at every
//! batch boundary (`Monitor::tick`), so a long call stops within one chunk of work.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use calipers_core::Error;
use calipers_core::par::Monitor;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// How often the calling thread looks for Ctrl-C while the work runs.
const SIGNAL_POLL: Duration = Duration::from_millis(25);
/// Stack of the worker thread (the core's recursions are shallow; this leaves room).
const WORKER_STACK: usize = 16 << 20;

/// Monitor shared by the worker (which ticks it and polls the stop flag) and the calling
/// thread (which checks for signals). A Python exception raised by the signal handler or by
/// the progress callback stops the computation and is re-raised unchanged afterwards.
struct PyMonitor {
    callback: Option<Py<PyAny>>,
    raised: Mutex<Option<PyErr>>,
    stop: AtomicBool,
}

impl PyMonitor {
    fn stop_with(&self, err: PyErr) {
        let mut slot = self.raised.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(err);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Runs Python's signal handlers (on the calling thread); a raised KeyboardInterrupt
    /// asks the work to stop.
    fn poll_signals(&self) {
        if self.stop_requested() {
            return;
        }
        if let Err(err) = Python::attach(|py| py.check_signals()) {
            self.stop_with(err);
        }
    }
}

impl Monitor for PyMonitor {
    fn tick(&self, done: usize, total: usize) -> Result<(), Error> {
        if let Some(cb) = &self.callback {
            if let Err(err) = Python::attach(|py| cb.call1(py, (done, total)).map(drop)) {
                self.stop_with(err);
            }
        }
        if self.stop_requested() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs `work` without the GIL on a worker thread, watching for Ctrl-C from this thread.
/// `progress` is an optional Python callable `(done, total)`.
pub fn run<T, F>(py: Python<'_>, progress: Option<Py<PyAny>>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&dyn Monitor) -> Result<T, Error> + Send,
{
    let monitor = PyMonitor {
        callback: progress,
        raised: Mutex::new(None),
        stop: AtomicBool::new(false),
    };
    let result = py.detach(|| watched(&monitor, work));
    result.map_err(|e| {
        let raised = monitor
            .raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        raised.unwrap_or_else(|| to_pyerr(py, e))
    })
}

fn watched<T, F>(monitor: &PyMonitor, work: F) -> Result<T, Error>
where
    T: Send,
    F: FnOnce(&dyn Monitor) -> Result<T, Error> + Send,
{
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("calipers-call".into())
            .stack_size(WORKER_STACK)
            .spawn_scoped(scope, move || {
                let result = work(monitor);
                drop(done_tx); // wakes the watcher at once
                result
            })
            .map_err(|e| Error::Numerical(format!("could not start a worker thread: {e}")))?;
        while let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(SIGNAL_POLL) {
            monitor.poll_signals();
        }
        worker.join().unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::Numerical(format!(
                "internal error (a bug in calipers; please report it): {what}"
            )))
        })
    })
}

/// Runs short, non-interruptible `work` without the GIL.
pub fn quick<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    py.detach(work).map_err(|e| to_pyerr(py, e))
}
