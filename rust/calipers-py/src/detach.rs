//! Running core work with the GIL released, with progress callbacks, Ctrl-C and error mapping.

use std::sync::Mutex;

use calipers_core::Error;
use calipers_core::par::Monitor;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// Monitor that re-attaches to Python between batches: it checks for pending signals
/// (Ctrl-C) and calls the optional `callback(done, total)`. Any Python exception raised there
/// stops the computation and is re-raised unchanged once the core returns.
struct PyMonitor {
    callback: Option<Py<PyAny>>,
    raised: Mutex<Option<PyErr>>,
}

impl Monitor for PyMonitor {
    fn tick(&self, done: usize, total: usize) -> Result<(), Error> {
        Python::attach(|py| {
            let outcome = py.check_signals().and_then(|()| match &self.callback {
                Some(cb) => cb.call1(py, (done, total)).map(drop),
                None => Ok(()),
            });
            outcome.map_err(|err| {
                *self.raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                Error::Interrupted
            })
        })
    }
}

/// Runs `work` without the GIL. `progress` is an optional Python callable `(done, total)`.
pub fn run<T, F>(py: Python<'_>, progress: Option<Py<PyAny>>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&dyn Monitor) -> Result<T, Error> + Send,
{
    let monitor = PyMonitor {
        callback: progress,
        raised: Mutex::new(None),
    };
    let result = py.detach(|| work(&monitor));
    result.map_err(|e| {
        let raised = monitor
            .raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        raised.unwrap_or_else(|| to_pyerr(py, e))
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
