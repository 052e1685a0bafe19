//! Process-wide settings shared by every capability: thread count and memory budget.

use calipers_core::{mem, par};
use pyo3::prelude::*;

use crate::errors::to_pyerr;

#[pyfunction]
fn set_num_threads(py: Python<'_>, n: usize) -> PyResult<()> {
    par::set_num_threads(n).map_err(|e| to_pyerr(py, e))
}

#[pyfunction]
fn get_num_threads() -> usize {
    par::num_threads()
}

#[pyfunction]
fn max_num_threads() -> usize {
    par::max_num_threads()
}

#[pyfunction]
fn memory_budget() -> u64 {
    mem::budget_bytes()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(max_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(memory_budget, m)?)?;
    Ok(())
}
