//! Core errors → the exception classes defined in `calipers.exceptions`.
//!
//! The classes are looked up once, when the extension module is initialised (`register`),
//! and kept as handles: raising never imports or looks up names, and a missing class is an
//! import-time error instead of a silent fallback at raise time.

use calipers_core::Error;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// Handles of the `calipers.exceptions` classes the core's errors map to.
struct Classes {
    invalid_argument: Py<PyType>,
    shape: Py<PyType>,
    non_finite: Py<PyType>,
    numerical: Py<PyType>,
    memory: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn resolve(py: Python<'_>) -> PyResult<Classes> {
    let module = py.import("calipers.exceptions")?;
    let class = |name: &str| -> PyResult<Py<PyType>> {
        Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
    };
    Ok(Classes {
        invalid_argument: class("InvalidArgumentError")?,
        shape: class("ShapeError")?,
        non_finite: class("NonFiniteError")?,
        numerical: class("NumericalError")?,
        memory: class("MemoryBudgetError")?,
    })
}

fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || resolve(py))
}

/// Converts a core error into the matching Python exception.
pub fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    let classes = match classes(py) {
        Ok(c) => c,
        Err(import_error) => return import_error,
    };
    let class = match &e {
        Error::InvalidArgument { .. } => &classes.invalid_argument,
        Error::Shape { .. } => &classes.shape,
        Error::NonFinite { .. } => &classes.non_finite,
        Error::Numerical(_) => &classes.numerical,
        Error::Memory { .. } => &classes.memory,
        Error::Interrupted => {
            return PyKeyboardInterrupt::new_err("calipers computation interrupted");
        }
    };
    PyErr::from_type(class.bind(py).clone(), e.to_string())
}

/// Raises one error of each kind, for the test that every variant maps to its class.
#[pyfunction]
fn raise_core_error(py: Python<'_>, kind: &str) -> PyResult<()> {
    let e = match kind {
        "invalid" => Error::invalid("x", "bad value"),
        "shape" => Error::shape("x", "bad shape"),
        "non_finite" => Error::non_finite("x", "has NaN"),
        "numerical" => Error::Numerical("breakdown".into()),
        "memory" => Error::Memory {
            arg: "x",
            reason: "would need 1 TB".into(),
        },
        "interrupted" => Error::Interrupted,
        other => Error::invalid("kind", format!("unknown error kind {other:?}")),
    };
    Err(to_pyerr(py, e))
}

/// Resolves the exception classes now (module initialisation) and adds the test hook.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    classes(m.py())?;
    m.add_function(wrap_pyfunction!(raise_core_error, m)?)?;
    Ok(())
}
