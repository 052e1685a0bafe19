//! Bindings of `calipers_core::prompts`: the PromptEval template model.

use calipers_core::prompts::{self, Design, State};
use numpy::{
    PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2, PyReadonlyArray3,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;
use crate::errors::to_pyerr;

type FitOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<bool>>,
);

fn shape3<T: numpy::Element>(a: &PyReadonlyArray3<'_, T>) -> (usize, usize, usize) {
    let s = a.shape();
    (s[0], s[1], s[2])
}

fn covariates<'a>(
    a: &'a Option<PyReadonlyArray2<'_, f64>>,
) -> PyResult<(Option<&'a [f64]>, usize)> {
    match a {
        None => Ok((None, 0)),
        Some(arr) => Ok((Some(arr.as_slice()?), shape2(arr).1)),
    }
}

/// Fits the template model to every job of `y` (n_jobs × F × J float32, NaN = not
/// evaluated). Returns (dense coefficients [γ; ψ], β, accuracy, accuracy SE, objective,
/// n_iter, converged), one row per job; the SE has no columns unless `with_se`. A small problem
/// (a few milliseconds of work) runs on the calling thread without the GIL and without the
/// pool: faster than dispatching it, the same bits, and too short to need Ctrl-C.
#[pyfunction]
#[pyo3(signature = (y, x, z, onehot, prior_sd, max_iter, tol, with_se=true, progress=None))]
#[allow(clippy::too_many_arguments)]
fn prompts_fit<'py>(
    py: Python<'py>,
    y: PyReadonlyArray3<'py, f32>,
    x: Option<PyReadonlyArray2<'py, f64>>,
    z: Option<PyReadonlyArray2<'py, f64>>,
    onehot: bool,
    prior_sd: f64,
    max_iter: usize,
    tol: f64,
    with_se: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<FitOut<'py>> {
    let (n_jobs, nf, nj) = shape3(&y);
    let ys = y.as_slice()?;
    let (xs, p) = covariates(&x)?;
    let (zs, q) = covariates(&z)?;
    let design =
        Design::new(nf, nj, xs, p, zs, q, onehot, prior_sd).map_err(|e| to_pyerr(py, e))?;
    let fits = if progress.is_none() && prompts::is_small(n_jobs, &design) {
        detach::quick(py, || {
            prompts::fit_sequential(ys, n_jobs, &design, max_iter, tol, with_se)
        })?
    } else {
        detach::run(py, progress, |monitor| {
            prompts::fit_map(ys, n_jobs, &design, max_iter, tol, with_se, monitor)
        })?
    };
    let np = fits.first().map_or(0, |f| f.dense.len());
    let nb = fits.first().map_or(0, |f| f.beta.len());
    let ns = if with_se { nf } else { 0 };
    let mut dense = Vec::with_capacity(n_jobs * np);
    let mut beta = Vec::with_capacity(n_jobs * nb);
    let mut acc = Vec::with_capacity(n_jobs * nf);
    let mut se = Vec::with_capacity(n_jobs * ns);
    let mut obj = Vec::with_capacity(n_jobs);
    let mut iters = Vec::with_capacity(n_jobs);
    let mut conv = Vec::with_capacity(n_jobs);
    for f in fits {
        dense.extend(f.dense);
        beta.extend(f.beta);
        acc.extend(f.accuracy);
        se.extend(f.se);
        obj.push(f.objective);
        iters.push(f.n_iter as u64);
        conv.push(f.converged);
    }
    Ok((
        rows(py, dense, n_jobs, np)?,
        rows(py, beta, n_jobs, nb)?,
        matrix(py, acc, nf)?,
        rows(py, se, n_jobs, ns)?,
        PyArray1::from_vec(py, obj),
        PyArray1::from_vec(py, iters),
        PyArray1::from_vec(py, conv),
    ))
}

/// `values` as an n_rows × width array (width may be 0).
fn rows(
    py: Python<'_>,
    values: Vec<f64>,
    n_rows: usize,
    width: usize,
) -> PyResult<Bound<'_, PyArray2<f64>>> {
    PyArray1::from_vec(py, values).reshape([n_rows, width])
}

/// The parameters of a fit (`dense`, `beta`: the output of `prompts_fit`), one state per job.
fn states(
    py: Python<'_>,
    dense: &PyReadonlyArray2<'_, f64>,
    beta: &PyReadonlyArray2<'_, f64>,
    n_jobs: usize,
) -> PyResult<Vec<State>> {
    let (dn, dp) = shape2(dense);
    let (bn, bp) = shape2(beta);
    if dn != n_jobs || bn != n_jobs {
        let err = calipers_core::Error::shape(
            "dense",
            "needs one row per job; pass the parameters from prompts_fit",
        );
        return Err(to_pyerr(py, err));
    }
    let (ds, bs) = (dense.as_slice()?, beta.as_slice()?);
    Ok((0..n_jobs)
        .map(|m| State {
            dense: ds[m * dp..(m + 1) * dp].to_vec(),
            beta: bs[m * bp..(m + 1) * bp].to_vec(),
        })
        .collect())
}

/// Standard errors of the template accuracies (n_jobs × F) at the parameters of a fit: the
/// numbers `prompts_fit` gives with `with_se`, computed on demand.
#[pyfunction]
#[pyo3(signature = (y, x, z, onehot, prior_sd, dense, beta, progress=None))]
#[allow(clippy::too_many_arguments)]
fn prompts_accuracy_se<'py>(
    py: Python<'py>,
    y: PyReadonlyArray3<'py, f32>,
    x: Option<PyReadonlyArray2<'py, f64>>,
    z: Option<PyReadonlyArray2<'py, f64>>,
    onehot: bool,
    prior_sd: f64,
    dense: PyReadonlyArray2<'py, f64>,
    beta: PyReadonlyArray2<'py, f64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (n_jobs, nf, nj) = shape3(&y);
    let ys = y.as_slice()?;
    let (xs, p) = covariates(&x)?;
    let (zs, q) = covariates(&z)?;
    let starts = states(py, &dense, &beta, n_jobs)?;
    let se = detach::run(py, progress, |monitor| {
        let design = Design::new(nf, nj, xs, p, zs, q, onehot, prior_sd)?;
        prompts::accuracy_se(ys, n_jobs, &design, &starts, monitor)
    })?;
    matrix(py, se.concat(), nf)
}

/// Bootstrap over examples: n_jobs × n_resamples × F template accuracies (× 2F when
/// `parametric`: refitted then realised), each replicate refitted from the given parameters
/// (`dense`, `beta`: the output of `prompts_fit`).
#[pyfunction]
#[pyo3(signature = (y, x, z, onehot, prior_sd, dense, beta, n_resamples, seed, parametric, max_iter, tol, progress=None))]
#[allow(clippy::too_many_arguments)]
fn prompts_bootstrap<'py>(
    py: Python<'py>,
    y: PyReadonlyArray3<'py, f32>,
    x: Option<PyReadonlyArray2<'py, f64>>,
    z: Option<PyReadonlyArray2<'py, f64>>,
    onehot: bool,
    prior_sd: f64,
    dense: PyReadonlyArray2<'py, f64>,
    beta: PyReadonlyArray2<'py, f64>,
    n_resamples: usize,
    seed: u64,
    parametric: bool,
    max_iter: usize,
    tol: f64,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let (n_jobs, nf, nj) = shape3(&y);
    let ys = y.as_slice()?;
    let (xs, p) = covariates(&x)?;
    let (zs, q) = covariates(&z)?;
    let starts = states(py, &dense, &beta, n_jobs)?;
    let out = detach::run(py, progress, |monitor| {
        let design = Design::new(nf, nj, xs, p, zs, q, onehot, prior_sd)?;
        prompts::bootstrap_accuracy(
            ys,
            n_jobs,
            &design,
            &starts,
            n_resamples,
            seed,
            parametric,
            max_iter,
            tol,
            monitor,
        )
    })?;
    let width = if parametric { 2 * nf } else { nf };
    PyArray1::from_vec(py, out).reshape([n_jobs, n_resamples, width])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(prompts_fit, m)?)?;
    m.add_function(wrap_pyfunction!(prompts_bootstrap, m)?)?;
    m.add_function(wrap_pyfunction!(prompts_accuracy_se, m)?)?;
    Ok(())
}
