//! Bindings of `calipers_core::fairness` (GLIF post-processing; the neighbour graphs it
//! solves on come from the `knn_*` bindings in `knn.rs`).

use calipers_core::Error;
use calipers_core::fairness::{self as fair, CsrRef, SolveOptions, Variant};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{shape2, to_i64, to_usize};
use crate::detach;

/// Solves (I + λ L) F = F̂ for all columns; returns (F, iterations, residuals, λ').
#[pyfunction]
#[pyo3(signature = (indptr, indices, weights, scores, lam, variant, tol, max_iter, progress=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn fairness_glif_solve<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    weights: PyReadonlyArray1<'py, f64>,
    scores: PyReadonlyArray2<'py, f64>,
    lam: f64,
    variant: &str,
    tol: f64,
    max_iter: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<(
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
)> {
    let variant = match variant {
        "glif" => Variant::Glif,
        "nrw" => Variant::Nrw,
        _ => {
            return Err(crate::errors::to_pyerr(
                py,
                Error::invalid("variant", "must be 'glif' or 'nrw'"),
            ));
        }
    };
    let (n, k) = shape2(&scores);
    let (ip, ix, w, s) = (
        indptr.as_slice()?,
        indices.as_slice()?,
        weights.as_slice()?,
        scores.as_slice()?,
    );
    let sol = detach::run(py, progress, |monitor| {
        let (ip, ix) = (to_usize("graph", ip)?, to_usize("graph", ix)?);
        let graph = CsrRef {
            n,
            indptr: &ip,
            indices: &ix,
            values: w,
        };
        let opts = SolveOptions {
            lam,
            variant,
            tol,
            max_iter,
        };
        fair::glif_solve(graph, s, k, opts, monitor)
    })?;
    Ok((
        PyArray1::from_vec(py, sol.values).reshape([n, k])?,
        to_i64(sol.iterations).into_pyarray(py),
        sol.residuals.into_pyarray(py),
        sol.lam_effective,
    ))
}

/// Out-of-sample step for new points given their CSR rows over the fitted points.
#[pyfunction]
#[pyo3(signature = (indptr, indices, weights, fitted, new_scores, lam))]
#[allow(clippy::too_many_arguments)]
fn fairness_out_of_sample<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    weights: PyReadonlyArray1<'py, f64>,
    fitted: PyReadonlyArray2<'py, f64>,
    new_scores: PyReadonlyArray2<'py, f64>,
    lam: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (n_fit, k) = shape2(&fitted);
    let n_new = shape2(&new_scores).0;
    let (ip, ix, w) = (indptr.as_slice()?, indices.as_slice()?, weights.as_slice()?);
    let (f, s) = (fitted.as_slice()?, new_scores.as_slice()?);
    let out = detach::quick(py, || {
        let (ip, ix) = (to_usize("graph", ip)?, to_usize("graph", ix)?);
        let ok = ip.len() == n_new + 1
            && ip.windows(2).all(|p| p[0] <= p[1])
            && ip.last() == Some(&ix.len())
            && ix.len() == w.len()
            && ix.iter().all(|&j| j < n_fit);
        if !ok {
            return Err(Error::shape(
                "graph",
                "malformed out-of-sample neighbour rows",
            ));
        }
        let g = CsrRef {
            n: n_fit,
            indptr: &ip,
            indices: &ix,
            values: w,
        };
        fair::out_of_sample(g, f, s, k, lam)
    })?;
    PyArray1::from_vec(py, out).reshape([n_new, k])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fairness_glif_solve, m)?)?;
    m.add_function(wrap_pyfunction!(fairness_out_of_sample, m)?)?;
    Ok(())
}
