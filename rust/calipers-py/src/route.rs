//! Bindings of `calipers_core::route`: kNN regression with cross-validated k, the exact
//! μ-path, frontier hulls and the paired frontier bootstrap.

use calipers_core::Error;
use calipers_core::knn::Points;
use calipers_core::route::{self, BootstrapOptions, Path, Start};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;

type F64s<'py> = Bound<'py, PyArray1<f64>>;
type I64s<'py> = Bound<'py, PyArray1<i64>>;
type PathArrays<'py> = (I64s<'py>, F64s<'py>, I64s<'py>, I64s<'py>, I64s<'py>);
/// A path as Python holds it: (start, ev_mu, ev_query, ev_from, ev_to).
type PathIn<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
);

fn to_usize(arg: &'static str, xs: &[i64], below: usize) -> Result<Vec<usize>, Error> {
    xs.iter()
        .map(|&v| match usize::try_from(v) {
            Ok(u) if u < below => Ok(u),
            _ => Err(Error::invalid(
                arg,
                format!("has entry {v} outside 0..{below}"),
            )),
        })
        .collect()
}

fn to_u32(arg: &'static str, xs: &[i64], below: usize) -> Result<Vec<u32>, Error> {
    Ok(to_usize(arg, xs, below)?
        .into_iter()
        .map(|v| v as u32)
        .collect())
}

fn i64s<'py>(py: Python<'py>, xs: &[u32]) -> I64s<'py> {
    PyArray1::from_vec(py, xs.iter().map(|&v| i64::from(v)).collect())
}

/// Cross-validated sums of squared errors of uniform kNN regression, shape
/// (n_folds, len(ks), n_targets).
#[pyfunction]
#[pyo3(signature = (points, targets, folds, n_folds, ks, progress=None))]
fn route_knn_cv<'py>(
    py: Python<'py>,
    points: PyReadonlyArray2<'py, f64>,
    targets: PyReadonlyArray2<'py, f64>,
    folds: PyReadonlyArray1<'py, i64>,
    n_folds: usize,
    ks: Vec<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let (_, dim) = shape2(&points);
    let (_, t) = shape2(&targets);
    let (xs, ys, fs) = (points.as_slice()?, targets.as_slice()?, folds.as_slice()?);
    let n_k = ks.len();
    let sse = detach::run(py, progress, |monitor| {
        let folds = to_usize("folds", fs, n_folds)?;
        route::knn_cv_errors(Points::new(xs, dim)?, ys, t, &folds, n_folds, &ks, monitor)
    })?;
    PyArray1::from_vec(py, sse).reshape([n_folds, n_k, t])
}

/// Uniform kNN regression: column `t` of the result averages its `ks[t]` nearest rows.
#[pyfunction]
#[pyo3(signature = (reference, targets, queries, ks, progress=None))]
fn route_knn_predict<'py>(
    py: Python<'py>,
    reference: PyReadonlyArray2<'py, f64>,
    targets: PyReadonlyArray2<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    ks: Vec<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (_, dim) = shape2(&reference);
    let (_, qdim) = shape2(&queries);
    let (r, y, q) = (
        reference.as_slice()?,
        targets.as_slice()?,
        queries.as_slice()?,
    );
    let t = ks.len();
    let out = detach::run(py, progress, |monitor| {
        if qdim != dim {
            return Err(Error::shape(
                "features",
                format!(
                    "has {qdim} columns but the router was fitted on {dim}; pass the same features"
                ),
            ));
        }
        route::knn_predict(Points::new(r, dim)?, y, Points::new(q, qdim)?, &ks, monitor)
    })?;
    matrix(py, out, t)
}

/// The exact μ-path of predicted scores and costs: (start, ev_mu, ev_query, ev_from, ev_to).
#[pyfunction]
#[pyo3(signature = (predicted_scores, predicted_costs, from_minus_infinity, progress=None))]
fn route_mu_path<'py>(
    py: Python<'py>,
    predicted_scores: PyReadonlyArray2<'py, f64>,
    predicted_costs: PyReadonlyArray2<'py, f64>,
    from_minus_infinity: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<PathArrays<'py>> {
    let (n, m) = shape2(&predicted_scores);
    let (p, c) = (predicted_scores.as_slice()?, predicted_costs.as_slice()?);
    let start = if from_minus_infinity {
        Start::NegInfinity
    } else {
        Start::Zero
    };
    let path = detach::run(py, progress, |monitor| {
        route::mu_path_events(p, c, n, m, start, monitor)
    })?;
    Ok((
        i64s(py, &path.start),
        PyArray1::from_vec(py, path.ev_mu),
        i64s(py, &path.ev_query),
        i64s(py, &path.ev_from),
        i64s(py, &path.ev_to),
    ))
}

fn path_from(p: &PathIn<'_>, n: usize, m: usize, start_mu: f64) -> PyResult<Result<Path, Error>> {
    let (start, mu, q, from, to) = (
        p.0.as_slice()?,
        p.1.as_slice()?,
        p.2.as_slice()?,
        p.3.as_slice()?,
        p.4.as_slice()?,
    );
    let build = || -> Result<Path, Error> {
        let e = mu.len();
        if start.len() != n || q.len() != e || from.len() != e || to.len() != e {
            return Err(Error::shape(
                "path",
                "its arrays do not match the number of queries",
            ));
        }
        Ok(Path {
            n_queries: n,
            n_models: m,
            start_mu,
            start: to_u32("path", start, m)?,
            ev_mu: mu.to_vec(),
            ev_query: to_u32("path", q, n)?,
            ev_from: to_u32("path", from, m)?,
            ev_to: to_u32("path", to, m)?,
        })
    };
    Ok(build())
}

/// The curve of a path on realised scores and costs: (mu, cost, performance).
#[pyfunction]
fn route_path_curve<'py>(
    py: Python<'py>,
    path: PathIn<'py>,
    start_mu: f64,
    scores: PyReadonlyArray2<'py, f64>,
    costs: PyReadonlyArray2<'py, f64>,
) -> PyResult<(F64s<'py>, F64s<'py>, F64s<'py>)> {
    let (n, m) = shape2(&scores);
    let built = path_from(&path, n, m, start_mu)?;
    let (y, c) = (scores.as_slice()?, costs.as_slice()?);
    let (mu, cost, perf) = detach::quick(py, || route::mu_path(&built?, y, c))?;
    Ok((
        PyArray1::from_vec(py, mu),
        PyArray1::from_vec(py, cost),
        PyArray1::from_vec(py, perf),
    ))
}

/// Vertices of the non-decreasing concave hull: (costs, performances).
#[pyfunction]
fn route_hull<'py>(
    py: Python<'py>,
    cost: PyReadonlyArray1<'py, f64>,
    performance: PyReadonlyArray1<'py, f64>,
) -> PyResult<(F64s<'py>, F64s<'py>)> {
    let (c, p) = (cost.as_slice()?, performance.as_slice()?);
    let (hc, hp) = detach::quick(py, || route::hull(c, p))?;
    Ok((PyArray1::from_vec(py, hc), PyArray1::from_vec(py, hp)))
}

/// Mean height of the hull (or, with `hull=False`, of the curve in its order) on [lo, hi].
#[pyfunction]
fn route_auc(
    py: Python<'_>,
    cost: PyReadonlyArray1<'_, f64>,
    performance: PyReadonlyArray1<'_, f64>,
    lo: f64,
    hi: f64,
    hull: bool,
) -> PyResult<f64> {
    let (c, p) = (cost.as_slice()?, performance.as_slice()?);
    detach::quick(py, || {
        if hull {
            route::hull_auc(c, p, lo, hi)
        } else {
            route::curve_auc(c, p, lo, hi)
        }
    })
}

/// Height of the hull at each cost in `at`.
#[pyfunction]
fn route_hull_at<'py>(
    py: Python<'py>,
    cost: PyReadonlyArray1<'py, f64>,
    performance: PyReadonlyArray1<'py, f64>,
    at: PyReadonlyArray1<'py, f64>,
) -> PyResult<F64s<'py>> {
    let (c, p, a) = (cost.as_slice()?, performance.as_slice()?, at.as_slice()?);
    let out = detach::quick(py, || route::hull_at(c, p, a))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Paired bootstrap of frontier statistics, shape (replicates, routers, FIXED_STATS + grid).
#[pyfunction]
#[pyo3(signature = (paths, start_mus, scores, costs, lo, hi, grid, zero_router, n_resamples, seed, chunk_start, chunk_end, progress=None))]
#[allow(clippy::too_many_arguments)]
fn route_bootstrap<'py>(
    py: Python<'py>,
    paths: Vec<PathIn<'py>>,
    start_mus: Vec<f64>,
    scores: PyReadonlyArray2<'py, f64>,
    costs: PyReadonlyArray2<'py, f64>,
    lo: f64,
    hi: f64,
    grid: PyReadonlyArray1<'py, f64>,
    zero_router: bool,
    n_resamples: usize,
    seed: u64,
    chunk_start: usize,
    chunk_end: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let (n, m) = shape2(&scores);
    if start_mus.len() != paths.len() {
        return Err(crate::errors::to_pyerr(
            py,
            Error::shape("start_mus", "needs one start per path"),
        ));
    }
    let mut built = Vec::with_capacity(paths.len());
    for (p, &s) in paths.iter().zip(&start_mus) {
        built.push(path_from(p, n, m, s)?);
    }
    let (y, c) = (scores.as_slice()?, costs.as_slice()?);
    let opts = BootstrapOptions {
        seed,
        n_resamples,
        chunks: chunk_start..chunk_end,
        lo,
        hi,
        grid: grid.as_slice()?.to_vec(),
        zero_router,
    };
    let per_router = route::FIXED_STATS + opts.grid.len();
    let n_routers = paths.len() + usize::from(zero_router);
    let out = detach::run(py, progress, |monitor| {
        let built: Vec<Path> = built.into_iter().collect::<Result<_, _>>()?;
        let refs: Vec<&Path> = built.iter().collect();
        route::bootstrap_frontiers(&refs, y, c, n, m, &opts, monitor)
    })?;
    let reps = out.len() / (n_routers * per_router).max(1);
    PyArray1::from_vec(py, out).reshape([reps, n_routers, per_router])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(route_knn_cv, m)?)?;
    m.add_function(wrap_pyfunction!(route_knn_predict, m)?)?;
    m.add_function(wrap_pyfunction!(route_mu_path, m)?)?;
    m.add_function(wrap_pyfunction!(route_path_curve, m)?)?;
    m.add_function(wrap_pyfunction!(route_hull, m)?)?;
    m.add_function(wrap_pyfunction!(route_auc, m)?)?;
    m.add_function(wrap_pyfunction!(route_hull_at, m)?)?;
    m.add_function(wrap_pyfunction!(route_bootstrap, m)?)?;
    Ok(())
}
