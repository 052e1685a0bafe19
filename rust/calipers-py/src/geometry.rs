//! Bindings of `calipers_core::geometry`.

use calipers_core::Error;
use calipers_core::fairness::CsrRef;
use calipers_core::geometry::{self, Csr, DiffusionMapParams, Method, Points, Spectrum};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{shape2, to_usize};
use crate::detach;

type SpectrumTuple<'py> = (Bound<'py, PyArray1<f64>>, f64, usize, f64);
type DiffusionMapTuple<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    f64,
    bool,
);

fn points<'a>(x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<(&'a [f64], usize, usize)> {
    let (n, d) = shape2(x);
    Ok((x.as_slice()?, n, d))
}

fn method(
    name: &str,
    tol: f64,
    n_landmarks: usize,
    median_pairs: usize,
    seed: u64,
) -> Result<Method, Error> {
    match name {
        "exact" => Ok(Method::Exact { tol }),
        "nystrom" => Ok(Method::Nystrom {
            n_landmarks,
            median_pairs,
            seed,
        }),
        other => Err(Error::invalid(
            "method",
            format!("got {other:?}; use 'exact' or 'nystrom'"),
        )),
    }
}

fn to_tuple<'py>(py: Python<'py>, s: Spectrum) -> SpectrumTuple<'py> {
    (
        PyArray1::from_vec(py, s.eigenvalues),
        s.bandwidth,
        s.rank,
        s.error_bound,
    )
}

/// Leading eigenvalues of the paper's dense diffusion operator:
/// (eigenvalues, bandwidth, rank, error_bound).
#[pyfunction]
#[pyo3(signature = (x, n_eigs, sigma, method_name, tol, n_landmarks, median_pairs, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
fn diffusion_spectrum<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_eigs: usize,
    sigma: f64,
    method_name: &str,
    tol: f64,
    n_landmarks: usize,
    median_pairs: usize,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<SpectrumTuple<'py>> {
    let (data, n, d) = points(&x)?;
    let s = detach::run(py, progress, |monitor| {
        let pts = Points::with_shape(data, n, d)?;
        let m = method(method_name, tol, n_landmarks, median_pairs, seed)?;
        geometry::diffusion_spectrum(&pts, n_eigs, sigma, m, monitor)
    })?;
    Ok(to_tuple(py, s))
}

/// `diffusion_spectrum` of several datasets in parallel.
#[pyfunction]
#[pyo3(signature = (xs, n_eigs, sigma, method_name, tol, n_landmarks, median_pairs, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
fn diffusion_spectra<'py>(
    py: Python<'py>,
    xs: Vec<PyReadonlyArray2<'py, f64>>,
    n_eigs: usize,
    sigma: f64,
    method_name: &str,
    tol: f64,
    n_landmarks: usize,
    median_pairs: usize,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<Vec<SpectrumTuple<'py>>> {
    let views: Vec<(&[f64], usize, usize)> = xs.iter().map(points).collect::<PyResult<_>>()?;
    let out = detach::run(py, progress, |monitor| {
        let pts: Vec<Points<'_>> = views
            .iter()
            .map(|&(data, n, d)| Points::with_shape(data, n, d))
            .collect::<Result<_, _>>()?;
        let m = method(method_name, tol, n_landmarks, median_pairs, seed)?;
        geometry::diffusion_spectra(&pts, n_eigs, sigma, m, monitor)
    })?;
    Ok(out.into_iter().map(|s| to_tuple(py, s)).collect())
}

/// kNN diffusion map: (eigenvalues, eigenvectors n × (n_components + 1), epsilon, converged).
#[pyfunction]
#[pyo3(signature = (x, n_components, k, alpha, epsilon, tol, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
fn diffusion_map<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_components: usize,
    k: usize,
    alpha: f64,
    epsilon: Option<f64>,
    tol: f64,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<DiffusionMapTuple<'py>> {
    let (data, n, d) = points(&x)?;
    let params = DiffusionMapParams {
        n_components,
        k,
        alpha,
        epsilon,
        tol,
        seed,
    };
    let fit = detach::run(py, progress, |monitor| {
        let pts = Points::with_shape(data, n, d)?;
        geometry::diffusion_map(&pts, params, monitor)
    })?;
    let cols = fit.eigenvalues.len();
    let vectors = numpy::ndarray::Array2::from_shape_vec((n, cols), fit.eigenvectors)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok((
        PyArray1::from_vec(py, fit.eigenvalues),
        PyArray2::from_owned_array(py, vectors),
        fit.epsilon,
        fit.converged,
    ))
}

/// The `nev` largest eigenvalues of a symmetric, non-negative CSR matrix by the Lanczos solver
/// of the kNN diffusion map (for the benchmark and the test against scipy `eigsh` on the same
/// operator): (eigenvalues in decreasing order, converged).
#[pyfunction]
#[pyo3(signature = (indptr, indices, values, nev, tol, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
fn lanczos_eigenvalues<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    values: PyReadonlyArray1<'py, f64>,
    nev: usize,
    tol: f64,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyArray1<f64>>, bool)> {
    let (ip, ix, v) = (indptr.as_slice()?, indices.as_slice()?, values.as_slice()?);
    let (eigenvalues, converged) = detach::run(py, progress, |monitor| {
        let (ip, ix) = (to_usize("graph", ip)?, to_usize("graph", ix)?);
        let n = ip.len().saturating_sub(1);
        if u32::try_from(n).is_err() {
            return Err(Error::invalid("graph", "has more than 2^32 rows"));
        }
        // Structure, finite non-negative values, symmetry: the checks of a fairness graph.
        let view = CsrRef {
            n,
            indptr: &ip,
            indices: &ix,
            values: v,
        };
        view.validate()?;
        let a = Csr {
            n,
            indptr: ip.clone(),
            indices: ix.iter().map(|&j| j as u32).collect(),
            values: v.to_vec(),
        };
        let pairs = geometry::lanczos::top_eigenpairs(&a, nev, tol, seed, monitor)?;
        Ok((pairs.values, pairs.converged))
    })?;
    Ok((PyArray1::from_vec(py, eigenvalues), converged))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(diffusion_spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion_spectra, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion_map, m)?)?;
    m.add_function(wrap_pyfunction!(lanczos_eigenvalues, m)?)?;
    Ok(())
}
