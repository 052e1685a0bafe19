//! Bindings of `calipers_core::ot`.

use calipers_core::ot::{self, Sample};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::rows;
use crate::detach;

/// W_p^p of two weighted 1-D samples.
#[pyfunction]
#[pyo3(signature = (u, v, p, u_weights=None, v_weights=None))]
fn wasserstein_pp<'py>(
    py: Python<'py>,
    u: PyReadonlyArray1<'py, f64>,
    v: PyReadonlyArray1<'py, f64>,
    p: f64,
    u_weights: Option<PyReadonlyArray1<'py, f64>>,
    v_weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<f64> {
    let u = Sample {
        values: u.as_slice()?,
        weights: u_weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    let v = Sample {
        values: v.as_slice()?,
        weights: v_weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    detach::quick(py, || ot::wasserstein_pp(u, v, p))
}

fn samples<'a>(values: &[&'a [f64]], weights: &Option<Vec<&'a [f64]>>) -> Vec<Sample<'a>> {
    values
        .iter()
        .enumerate()
        .map(|(r, &vals)| Sample {
            values: vals,
            weights: weights.as_ref().map(|w| w[r]),
        })
        .collect()
}

/// W_p^p row by row for two 2-D arrays with the same number of rows.
#[pyfunction]
#[pyo3(signature = (u, v, p, u_weights=None, v_weights=None))]
fn wasserstein_pp_rows<'py>(
    py: Python<'py>,
    u: PyReadonlyArray2<'py, f64>,
    v: PyReadonlyArray2<'py, f64>,
    p: f64,
    u_weights: Option<PyReadonlyArray2<'py, f64>>,
    v_weights: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (ur, vr) = (rows(&u)?, rows(&v)?);
    let uw = u_weights.as_ref().map(rows).transpose()?;
    let vw = v_weights.as_ref().map(rows).transpose()?;
    let (us, vs) = (samples(&ur, &uw), samples(&vr, &vw));
    let out = detach::quick(py, || ot::wasserstein_pp_rows(&us, &vs, p))?;
    Ok(PyArray1::from_vec(py, out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(wasserstein_pp, m)?)?;
    m.add_function(wrap_pyfunction!(wasserstein_pp_rows, m)?)?;
    Ok(())
}
