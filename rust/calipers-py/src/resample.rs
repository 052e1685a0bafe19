//! Bindings of `calipers_core::resample`: chunk-range kernels that Python distributes.

use calipers_core::resample;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::arrays::{matrix, slices};
use crate::detach;

/// Replicates per chunk and the number of chunks for `n_resamples`.
#[pyfunction]
fn resample_chunking(n_resamples: usize) -> (usize, usize) {
    (resample::CHUNK, resample::n_chunks(n_resamples))
}

/// Bootstrap means, shape (replicates in the chunk range, models).
#[pyfunction]
#[pyo3(signature = (samples, paired, seed, n_resamples, chunk_start, chunk_end, progress=None))]
#[allow(clippy::too_many_arguments)]
fn bootstrap_means<'py>(
    py: Python<'py>,
    samples: Vec<PyReadonlyArray1<'py, f64>>,
    paired: bool,
    seed: u64,
    n_resamples: usize,
    chunk_start: usize,
    chunk_end: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let s = slices(&samples)?;
    let m = s.len();
    let out = detach::run(py, progress, |monitor| {
        resample::bootstrap_means(
            &s,
            paired,
            seed,
            n_resamples,
            chunk_start..chunk_end,
            monitor,
        )
    })?;
    matrix(py, out, m)
}

/// Bootstrap item indices, flat: per replicate, `sizes[0]` indices of sample 0, then sample 1...
#[pyfunction]
#[pyo3(signature = (sizes, seed, n_resamples, chunk_start, chunk_end, progress=None))]
fn bootstrap_indices<'py>(
    py: Python<'py>,
    sizes: Vec<usize>,
    seed: u64,
    n_resamples: usize,
    chunk_start: usize,
    chunk_end: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let out = detach::run(py, progress, |monitor| {
        resample::bootstrap_indices(&sizes, seed, n_resamples, chunk_start..chunk_end, monitor)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Sign-flip null distribution of the mean paired difference.
#[pyfunction]
#[pyo3(signature = (differences, seed, n_resamples, chunk_start, chunk_end, progress=None))]
fn permutation_null_paired<'py>(
    py: Python<'py>,
    differences: PyReadonlyArray1<'py, f64>,
    seed: u64,
    n_resamples: usize,
    chunk_start: usize,
    chunk_end: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = differences.as_slice()?;
    let out = detach::run(py, progress, |monitor| {
        resample::permutation_null_paired(d, seed, n_resamples, chunk_start..chunk_end, monitor)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Label-permutation null distribution of mean(x) − mean(y).
#[pyfunction]
#[pyo3(signature = (x, y, seed, n_resamples, chunk_start, chunk_end, progress=None))]
#[allow(clippy::too_many_arguments)]
fn permutation_null_unpaired<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    seed: u64,
    n_resamples: usize,
    chunk_start: usize,
    chunk_end: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (xs, ys) = (x.as_slice()?, y.as_slice()?);
    let out = detach::run(py, progress, |monitor| {
        resample::permutation_null_unpaired(
            xs,
            ys,
            seed,
            n_resamples,
            chunk_start..chunk_end,
            monitor,
        )
    })?;
    Ok(PyArray1::from_vec(py, out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(resample_chunking, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_means, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_indices, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_null_paired, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_null_unpaired, m)?)?;
    Ok(())
}
