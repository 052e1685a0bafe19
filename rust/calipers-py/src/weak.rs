//! Bindings of `calipers_core::weak`: the entropic dual of the Fréchet upper bound.

use calipers_core::weak;
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;

type BoundOut<'py> = (
    f64,
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    bool,
    usize,
);

/// Upper entropic Fréchet bound of E[g(X, Y)]: `g` is n × K, `z` the pattern of each row,
/// `q` the n_patterns × K matrix P(Y | z). Returns (value, dual, per-row terms, converged,
/// largest Newton step count).
#[pyfunction]
#[pyo3(signature = (g, z, q, eps, progress=None))]
fn weak_entropic_upper<'py>(
    py: Python<'py>,
    g: PyReadonlyArray2<'py, f64>,
    z: PyReadonlyArray1<'py, i64>,
    q: PyReadonlyArray2<'py, f64>,
    eps: f64,
    progress: Option<Py<PyAny>>,
) -> PyResult<BoundOut<'py>> {
    let (n, k) = shape2(&g);
    let (_, kq) = shape2(&q);
    if kq != k {
        return Err(calipers_core::Error::shape(
            "p_y_given_z",
            format!("has {kq} columns but G has {k}; pass one column per label"),
        ))
        .map_err(|e| crate::errors::to_pyerr(py, e));
    }
    let gs = g.as_slice()?;
    let qs = q.as_slice()?;
    let zs = z.as_slice()?;
    let out = detach::run(py, progress, |monitor| {
        let patterns = zs
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                usize::try_from(v).map_err(|_| {
                    calipers_core::Error::invalid("z", format!("row {i} has negative pattern {v}"))
                })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        weak::entropic_upper_bound(gs, n, k, &patterns, qs, eps, monitor)
    })?;
    Ok((
        out.value,
        matrix(py, out.dual, k)?,
        PyArray1::from_vec(py, out.terms),
        out.converged,
        out.max_iter,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(weak_entropic_upper, m)?)?;
    Ok(())
}
