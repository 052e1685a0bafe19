//! Bindings of `calipers_core::tiny`: weighted k-means with seeded restarts and anchors.

use calipers_core::tiny::{self, KMeansOptions};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::shape2;
use crate::detach;

type KMeansOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
    f64,
    usize,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
);

/// Weighted k-means of the rows of `x` (best of `n_restarts` seeded restarts) and the anchor of
/// each cluster: returns (centers, labels, inertia, n_iter, anchor_index, anchor_weight).
#[pyfunction]
#[pyo3(signature = (x, k, sample_weight=None, n_restarts=5, max_iter=300, tol=1e-4, seed=0, n_local_trials=0, progress=None))]
#[allow(clippy::too_many_arguments)]
fn kmeans_anchors<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    k: usize,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    n_restarts: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
    n_local_trials: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<KMeansOut<'py>> {
    let (n, d) = shape2(&x);
    let xs = x.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let opts = KMeansOptions {
        k,
        n_restarts,
        max_iter,
        tol,
        seed,
        n_local_trials,
    };
    let (fit, anchors) = detach::run(py, progress, |monitor| {
        let fit = tiny::kmeans(xs, n, d, w, &opts, monitor)?;
        let anchors = tiny::anchors(xs, n, d, w, &fit)?;
        Ok((fit, anchors))
    })?;
    let centers = numpy::ndarray::Array2::from_shape_vec((k, d), fit.centers)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let labels: Vec<i64> = fit.labels.iter().map(|&l| l as i64).collect();
    let index: Vec<i64> = anchors.index.iter().map(|&i| i as i64).collect();
    Ok((
        PyArray2::from_owned_array(py, centers),
        PyArray1::from_vec(py, labels),
        fit.inertia,
        fit.n_iter,
        PyArray1::from_vec(py, index),
        PyArray1::from_vec(py, anchors.weight),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kmeans_anchors, m)?)?;
    Ok(())
}
