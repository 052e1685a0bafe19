//! Bindings of `calipers_core::fairness` (graphs and GLIF post-processing).

use calipers_core::Error;
use calipers_core::fairness::{
    self as fair, ApproxOptions, CsrRef, Neighbors, Points, SolveOptions, Variant,
};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::shape2;
use crate::detach;

type PyArray2Idx<'py> = Bound<'py, PyArray2<i64>>;
type Pair<'py> = (PyArray2Idx<'py>, Bound<'py, PyArray2<f64>>);
type CsrArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
);

fn points<'a>(a: &'a PyReadonlyArray2<'_, f64>) -> PyResult<(&'a [f64], usize)> {
    Ok((a.as_slice()?, shape2(a).1))
}

fn to_usize(arg: &'static str, xs: &[i64]) -> Result<Vec<usize>, Error> {
    xs.iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| Error::invalid(arg, format!("has negative entry {v}")))
        })
        .collect()
}

fn to_i64(xs: Vec<usize>) -> Vec<i64> {
    xs.into_iter().map(|v| v as i64).collect()
}

fn neighbors_out<'py>(py: Python<'py>, nb: Neighbors, n: usize) -> PyResult<Pair<'py>> {
    let k = nb.k;
    let idx = PyArray1::from_vec(py, to_i64(nb.indices)).reshape([n, k])?;
    let d2 = PyArray1::from_vec(py, nb.sqdist).reshape([n, k])?;
    Ok((idx, d2))
}

/// kNN lists of the rows of `z` (self excluded) and whether they are exact. `algorithm` is
/// "exact", "approximate" or "auto" (exact when affordable, see `knn::auto_knn`).
#[pyfunction]
#[pyo3(signature = (z, k, algorithm, n_trees, leaf_size, max_rounds, delta, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
fn fairness_knn<'py>(
    py: Python<'py>,
    z: PyReadonlyArray2<'py, f64>,
    k: usize,
    algorithm: &str,
    n_trees: usize,
    leaf_size: usize,
    max_rounds: usize,
    delta: f64,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<(PyArray2Idx<'py>, Bound<'py, PyArray2<f64>>, bool)> {
    let (data, dim) = points(&z)?;
    let n = shape2(&z).0;
    let opts = ApproxOptions {
        n_trees,
        leaf_size,
        max_rounds,
        delta,
        seed,
    };
    let algorithm = algorithm.to_owned();
    let (nb, exact) = detach::run(py, progress, |monitor| {
        let p = Points::new(data, dim)?;
        match algorithm.as_str() {
            "exact" => Ok((fair::exact_knn(p, k, monitor)?, true)),
            "approximate" => Ok((fair::approximate_knn(p, k, opts, monitor)?, false)),
            "auto" => fair::auto_knn(p, k, opts, monitor),
            _ => Err(Error::invalid(
                "algorithm",
                "must be 'auto', 'exact' or 'approximate'",
            )),
        }
    })?;
    let (idx, d2) = neighbors_out(py, nb, n)?;
    Ok((idx, d2, exact))
}

/// Exact `k` nearest rows of `reference` for each row of `queries`.
#[pyfunction]
#[pyo3(signature = (reference, queries, k))]
fn fairness_knn_query<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    k: usize,
) -> PyResult<Pair<'py>> {
    let (rd, rdim) = points(&reference)?;
    let (qd, qdim) = points(&queries)?;
    let nq = shape2(&queries).0;
    let nb = detach::run(py, None, |monitor| {
        fair::exact_query(Points::new(rd, rdim)?, Points::new(qd, qdim)?, k, monitor)
    })?;
    neighbors_out(py, nb, nq)
}

/// Rows of `reference` within squared distance `tau` of each query (CSR arrays).
#[pyfunction]
#[pyo3(signature = (reference, queries, tau, same_set))]
fn fairness_radius<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    tau: f64,
    same_set: bool,
) -> PyResult<CsrArrays<'py>> {
    let (rd, rdim) = points(&reference)?;
    let (qd, qdim) = points(&queries)?;
    let (indptr, indices, d2) = detach::run(py, None, |monitor| {
        let (r, q) = (Points::new(rd, rdim)?, Points::new(qd, qdim)?);
        fair::radius_neighbors(r, q, tau, same_set, monitor)
    })?;
    Ok((
        to_i64(indptr).into_pyarray(py),
        to_i64(indices).into_pyarray(py),
        d2.into_pyarray(py),
    ))
}

/// Symmetrised kNN graph with weights exp(−θ d²) from neighbour lists.
#[pyfunction]
#[pyo3(signature = (indices, sqdist, theta))]
fn fairness_knn_graph<'py>(
    py: Python<'py>,
    indices: PyReadonlyArray2<'py, i64>,
    sqdist: PyReadonlyArray2<'py, f64>,
    theta: f64,
) -> PyResult<CsrArrays<'py>> {
    let (n, k) = shape2(&indices);
    let (idx, d2) = (indices.as_slice()?, sqdist.as_slice()?);
    let g = detach::quick(py, || {
        let idx = to_usize("indices", idx)?;
        if idx.iter().any(|&j| j >= n) || d2.len() != idx.len() {
            return Err(Error::shape("indices", "neighbour indices out of range"));
        }
        let nb = Neighbors {
            k,
            indices: idx,
            sqdist: d2.to_vec(),
        };
        fair::knn_graph(&nb, n, theta)
    })?;
    Ok((
        to_i64(g.indptr).into_pyarray(py),
        to_i64(g.indices).into_pyarray(py),
        g.weights.into_pyarray(py),
    ))
}

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
            weights: w,
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
            weights: w,
        };
        fair::out_of_sample(g, f, s, k, lam)
    })?;
    PyArray1::from_vec(py, out).reshape([n_new, k])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fairness_knn, m)?)?;
    m.add_function(wrap_pyfunction!(fairness_knn_query, m)?)?;
    m.add_function(wrap_pyfunction!(fairness_radius, m)?)?;
    m.add_function(wrap_pyfunction!(fairness_knn_graph, m)?)?;
    m.add_function(wrap_pyfunction!(fairness_glif_solve, m)?)?;
    m.add_function(wrap_pyfunction!(fairness_out_of_sample, m)?)?;
    Ok(())
}
