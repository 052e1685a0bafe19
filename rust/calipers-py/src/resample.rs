//! Bindings of `calipers_core::resample`: chunk-range kernels that Python distributes.

use calipers_core::resample;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2, slices};
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

/// Per pair (first[k], second[k]) of rows of `replicates` (models × resamples): the mean and
/// standard deviation of the replicate differences and the counts below, at or below, and as
/// extreme as `observed[k]`.
#[pyfunction]
#[pyo3(signature = (replicates, first, second, observed, progress=None))]
#[allow(clippy::type_complexity)]
fn pair_moments<'py>(
    py: Python<'py>,
    replicates: PyReadonlyArray2<'py, f64>,
    first: PyReadonlyArray1<'py, u32>,
    second: PyReadonlyArray1<'py, u32>,
    observed: PyReadonlyArray1<'py, f64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
)> {
    let (_, b) = shape2(&replicates);
    let reps = replicates.as_slice()?;
    let (f, s, o) = (first.as_slice()?, second.as_slice()?, observed.as_slice()?);
    let out = detach::run(py, progress, |monitor| {
        resample::pair_moments(reps, b, f, s, o, monitor)
    })?;
    Ok((
        PyArray1::from_vec(py, out.mean),
        PyArray1::from_vec(py, out.sd),
        PyArray1::from_vec(py, out.below),
        PyArray1::from_vec(py, out.at_or_below),
        PyArray1::from_vec(py, out.extreme),
    ))
}

/// P(model k has rank r), (models × models), from replicates (models × resamples).
#[pyfunction]
#[pyo3(signature = (replicates, higher_is_better, progress=None))]
fn rank_probabilities<'py>(
    py: Python<'py>,
    replicates: PyReadonlyArray2<'py, f64>,
    higher_is_better: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (m, b) = shape2(&replicates);
    let reps = replicates.as_slice()?;
    let out = detach::run(py, progress, |monitor| {
        resample::rank_probabilities(reps, b, higher_is_better, monitor)
    })?;
    matrix(py, out, m)
}

/// Two arrays of one value per pair.
type Pair<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// Zips quantile fractions with their hints.
fn queries(q: &[f64], hint: &[f64]) -> PyResult<Vec<resample::QuantileQuery>> {
    if q.len() != hint.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "quantiles and hints need equal lengths",
        ));
    }
    Ok(q.iter()
        .zip(hint)
        .map(|(&q, &hint)| resample::QuantileQuery { q, hint })
        .collect())
}

/// Per pair: numpy's linear-method `low_q[k]` and `high_q[k]` quantiles of the replicate
/// differences; the hints (values just beyond each quantile, away from the median) only
/// narrow the selection.
#[pyfunction]
#[pyo3(signature = (replicates, first, second, low_q, low_hint, high_q, high_hint, progress=None))]
#[allow(clippy::too_many_arguments)]
fn pair_quantiles<'py>(
    py: Python<'py>,
    replicates: PyReadonlyArray2<'py, f64>,
    first: PyReadonlyArray1<'py, u32>,
    second: PyReadonlyArray1<'py, u32>,
    low_q: PyReadonlyArray1<'py, f64>,
    low_hint: PyReadonlyArray1<'py, f64>,
    high_q: PyReadonlyArray1<'py, f64>,
    high_hint: PyReadonlyArray1<'py, f64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Pair<'py>> {
    let (_, b) = shape2(&replicates);
    let reps = replicates.as_slice()?;
    let (f, s) = (first.as_slice()?, second.as_slice()?);
    let low = queries(low_q.as_slice()?, low_hint.as_slice()?)?;
    let high = queries(high_q.as_slice()?, high_hint.as_slice()?)?;
    let (lo, hi) = detach::run(py, progress, |monitor| {
        resample::pair_quantiles(reps, b, f, s, &low, &high, monitor)
    })?;
    Ok((PyArray1::from_vec(py, lo), PyArray1::from_vec(py, hi)))
}

/// Per pair: the BCa acceleration of the difference from jackknife influence values (rows).
#[pyfunction]
#[pyo3(signature = (influence, paired, first, second, progress=None))]
fn pair_acceleration<'py>(
    py: Python<'py>,
    influence: Vec<PyReadonlyArray1<'py, f64>>,
    paired: bool,
    first: PyReadonlyArray1<'py, u32>,
    second: PyReadonlyArray1<'py, u32>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let u = slices(&influence)?;
    let (f, s) = (first.as_slice()?, second.as_slice()?);
    let out = detach::run(py, progress, |monitor| {
        resample::pair_acceleration(&u, paired, f, s, monitor)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(resample_chunking, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_means, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_indices, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_null_paired, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_null_unpaired, m)?)?;
    m.add_function(wrap_pyfunction!(pair_moments, m)?)?;
    m.add_function(wrap_pyfunction!(rank_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(pair_quantiles, m)?)?;
    m.add_function(wrap_pyfunction!(pair_acceleration, m)?)?;
    Ok(())
}
