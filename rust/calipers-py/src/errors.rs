//! Core errors → the exception classes defined in `calipers.exceptions`.

use calipers_core::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The name of the `calipers.exceptions` class for each core error.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidArgument { .. } => "InvalidArgumentError",
        Error::Shape { .. } => "ShapeError",
        Error::NonFinite { .. } => "NonFiniteError",
        Error::Numerical(_) => "NumericalError",
        Error::Memory { .. } => "MemoryBudgetError",
        Error::Interrupted => "KeyboardInterrupt",
    }
}

/// Converts a core error into the matching Python exception.
pub fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    if matches!(e, Error::Interrupted) {
        return PyKeyboardInterrupt::new_err("calipers computation interrupted");
    }
    let message = e.to_string();
    let class = py
        .import("calipers.exceptions")
        .and_then(|m| m.getattr(class_name(&e)))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(cls) => PyErr::from_type(cls, message),
        Err(_) => PyRuntimeError::new_err(message),
    }
}
