//! Bindings of `calipers_core::knn`, the shared neighbour search: all-points kNN (exact,
//! approximate or auto), kNN of new queries, radius search, and the symmetrised Gaussian kNN
//! graph built from neighbour lists (used by `calipers.fairness`).

use calipers_core::knn::{self, ApproxOptions, Neighbors, Points};
use calipers_core::{Error, fairness};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{shape2, to_i64, to_usize};
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

fn neighbors_out<'py>(py: Python<'py>, nb: Neighbors, n: usize) -> PyResult<Pair<'py>> {
    let k = nb.k;
    let idx = PyArray1::from_vec(py, to_i64(nb.indices)).reshape([n, k])?;
    let d2 = PyArray1::from_vec(py, nb.sqdist).reshape([n, k])?;
    Ok((idx, d2))
}

/// kNN lists of the rows of `z` (self excluded) and whether they are exact. `algorithm` is
/// "exact" (also what "auto" means) or "approximate" (deprecated in the Python API).
#[pyfunction]
#[pyo3(signature = (z, k, algorithm, n_trees, leaf_size, max_rounds, delta, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
fn knn_search<'py>(
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
            "exact" | "auto" => Ok((knn::exact_knn(p, k, monitor)?, true)),
            "approximate" => Ok((knn::approximate_knn(p, k, opts, monitor)?, false)),
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
fn knn_query<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    k: usize,
) -> PyResult<Pair<'py>> {
    let (rd, rdim) = points(&reference)?;
    let (qd, qdim) = points(&queries)?;
    let nq = shape2(&queries).0;
    let nb = detach::run(py, None, |monitor| {
        knn::exact_query(Points::new(rd, rdim)?, Points::new(qd, qdim)?, k, monitor)
    })?;
    neighbors_out(py, nb, nq)
}

/// Rows of `reference` within squared distance `tau` of each query (CSR arrays).
#[pyfunction]
#[pyo3(signature = (reference, queries, tau, same_set))]
fn knn_radius<'py>(
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
        knn::radius_neighbors(r, q, tau, same_set, monitor)
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
fn knn_graph<'py>(
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
        fairness::knn_graph(&nb, n, theta)
    })?;
    Ok((
        to_i64(g.indptr).into_pyarray(py),
        to_i64(g.indices).into_pyarray(py),
        g.values.into_pyarray(py),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(knn_search, m)?)?;
    m.add_function(wrap_pyfunction!(knn_query, m)?)?;
    m.add_function(wrap_pyfunction!(knn_radius, m)?)?;
    m.add_function(wrap_pyfunction!(knn_graph, m)?)?;
    Ok(())
}
