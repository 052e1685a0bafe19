//! Bindings of `calipers_core::dominance`.

use calipers_core::dominance::{self, Order};
use numpy::{PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::arrays::{matrix, slices};
use crate::detach;

/// ε(X, Y) for two samples of any sizes.
#[pyfunction]
fn violation_ratio(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, f64>,
    y: PyReadonlyArray1<'_, f64>,
    order: u32,
) -> PyResult<f64> {
    let (xs, ys) = (x.as_slice()?, y.as_slice()?);
    detach::quick(py, || {
        let order = Order::from_int(order)?;
        let e = dominance::violation_matrix(&[xs, ys], order)?;
        Ok(e[1])
    })
}

/// The m × m matrix of ε(F_i, F_j).
#[pyfunction]
fn violation_ratio_matrix<'py>(
    py: Python<'py>,
    samples: Vec<PyReadonlyArray1<'py, f64>>,
    order: u32,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let s = slices(&samples)?;
    let m = s.len();
    let out = detach::quick(py, || {
        dominance::violation_matrix(&s, Order::from_int(order)?)
    })?;
    matrix(py, out, m)
}

/// Bootstrap replicates of the one-vs-all ratios, shape (replicates in range, models).
#[pyfunction]
#[pyo3(signature = (samples, paired, order, seed, n_resamples, chunk_start, chunk_end, progress=None))]
#[allow(clippy::too_many_arguments)]
fn bootstrap_one_vs_all<'py>(
    py: Python<'py>,
    samples: Vec<PyReadonlyArray1<'py, f64>>,
    paired: bool,
    order: u32,
    seed: u64,
    n_resamples: usize,
    chunk_start: usize,
    chunk_end: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let s = slices(&samples)?;
    let m = s.len();
    let out = detach::run(py, progress, |monitor| {
        let order = Order::from_int(order)?;
        dominance::bootstrap_one_vs_all(
            &s,
            paired,
            order,
            seed,
            n_resamples,
            chunk_start..chunk_end,
            monitor,
        )
    })?;
    matrix(py, out, m)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(violation_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(violation_ratio_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_one_vs_all, m)?)?;
    Ok(())
}
