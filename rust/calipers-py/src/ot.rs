//! Bindings of `calipers_core::ot`.

use calipers_core::Error;
use calipers_core::ot::{self, AotParams, Logps, Relaxation, Sample};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{rows, shape2};
use crate::detach;

/// (W_p, W_p^p) of two weighted 1-D samples.
#[pyfunction]
#[pyo3(signature = (u, v, p, u_weights=None, v_weights=None))]
fn wasserstein_pp<'py>(
    py: Python<'py>,
    u: PyReadonlyArray1<'py, f64>,
    v: PyReadonlyArray1<'py, f64>,
    p: f64,
    u_weights: Option<PyReadonlyArray1<'py, f64>>,
    v_weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<(f64, f64)> {
    let u = Sample {
        values: u.as_slice()?,
        weights: u_weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    let v = Sample {
        values: v.as_slice()?,
        weights: v_weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    let w = detach::quick(py, || ot::wasserstein(u, v, p))?;
    Ok((w.distance, w.power))
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

type Array1<'py> = Bound<'py, PyArray1<f64>>;

/// (W_p, W_p^p) row by row for two 2-D arrays with the same number of rows.
#[pyfunction]
#[pyo3(signature = (u, v, p, u_weights=None, v_weights=None))]
fn wasserstein_pp_rows<'py>(
    py: Python<'py>,
    u: PyReadonlyArray2<'py, f64>,
    v: PyReadonlyArray2<'py, f64>,
    p: f64,
    u_weights: Option<PyReadonlyArray2<'py, f64>>,
    v_weights: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<(Array1<'py>, Array1<'py>)> {
    let (ur, vr) = (rows(&u)?, rows(&v)?);
    let uw = u_weights.as_ref().map(rows).transpose()?;
    let vw = v_weights.as_ref().map(rows).transpose()?;
    let (us, vs) = (samples(&ur, &uw), samples(&vr, &vw));
    let out = detach::quick(py, || ot::wasserstein_rows(&us, &vs, p))?;
    let distance = out.iter().map(|w| w.distance).collect();
    let power = out.iter().map(|w| w.power).collect();
    Ok((
        PyArray1::from_vec(py, distance),
        PyArray1::from_vec(py, power),
    ))
}

/// Quantile function Q(q) of one weighted sample.
#[pyfunction]
#[pyo3(signature = (x, q, weights=None))]
fn quantile_function<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    q: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let x = Sample {
        values: x.as_slice()?,
        weights: weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    let q = q.as_slice()?;
    let out = detach::quick(py, || ot::quantiles(x, q))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Quantile function of every row of a 2-D array: shape (rows, len(q)).
#[pyfunction]
#[pyo3(signature = (x, q, weights=None))]
fn quantile_function_rows<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    q: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let n_rows = shape2(&x).0;
    let xr = rows(&x)?;
    let wr = weights.as_ref().map(rows).transpose()?;
    let xs = samples(&xr, &wr);
    let q = q.as_slice()?;
    let out = detach::quick(py, || ot::quantiles_rows(&xs, q))?;
    let flat = PyArray1::from_vec(py, out);
    flat.reshape([n_rows, q.len()])
}

/// The monotone coupling as (i, j, mass) arrays.
#[pyfunction]
#[pyo3(signature = (u, v, u_weights=None, v_weights=None))]
#[allow(clippy::type_complexity)]
fn monotone_coupling<'py>(
    py: Python<'py>,
    u: PyReadonlyArray1<'py, f64>,
    v: PyReadonlyArray1<'py, f64>,
    u_weights: Option<PyReadonlyArray1<'py, f64>>,
    v_weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    let u = Sample {
        values: u.as_slice()?,
        weights: u_weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    let v = Sample {
        values: v.as_slice()?,
        weights: v_weights.as_ref().map(|w| w.as_slice()).transpose()?,
    };
    let plan = detach::quick(py, || ot::monotone_coupling(u, v))?;
    Ok((
        PyArray1::from_vec(py, to_i64(plan.i)),
        PyArray1::from_vec(py, to_i64(plan.j)),
        PyArray1::from_vec(py, plan.mass),
    ))
}

fn to_i64(xs: Vec<usize>) -> Vec<i64> {
    xs.into_iter().map(|x| x as i64).collect()
}

type AotArrays<'py> = (
    f64,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

/// AOT loss: (loss, grad_chosen, grad_rejected, grad_ref_chosen, grad_ref_rejected, delta, mass).
#[pyfunction]
#[pyo3(signature = (chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, label_smoothing, relaxation, paired))]
#[allow(clippy::too_many_arguments)]
fn aot_loss<'py>(
    py: Python<'py>,
    chosen_logps: PyReadonlyArray1<'py, f64>,
    rejected_logps: PyReadonlyArray1<'py, f64>,
    ref_chosen_logps: PyReadonlyArray1<'py, f64>,
    ref_rejected_logps: PyReadonlyArray1<'py, f64>,
    beta: f64,
    label_smoothing: f64,
    relaxation: &str,
    paired: bool,
) -> PyResult<AotArrays<'py>> {
    let relaxation = match relaxation {
        "logistic" => Relaxation::Logistic,
        "squared_hinge" => Relaxation::SquaredHinge,
        other => {
            let e = Error::invalid(
                "relaxation",
                format!("is {other:?}; use 'logistic' or 'squared_hinge'"),
            );
            return Err(crate::errors::to_pyerr(py, e));
        }
    };
    let params = AotParams {
        beta,
        label_smoothing,
        relaxation,
    };
    let logps = Logps {
        chosen: chosen_logps.as_slice()?,
        rejected: rejected_logps.as_slice()?,
        ref_chosen: ref_chosen_logps.as_slice()?,
        ref_rejected: ref_rejected_logps.as_slice()?,
    };
    let out = detach::quick(py, || {
        if paired {
            ot::aot_paired(&logps, &params)
        } else {
            ot::aot_unpaired(&logps, &params)
        }
    })?;
    Ok((
        out.loss,
        PyArray1::from_vec(py, out.grad_chosen),
        PyArray1::from_vec(py, out.grad_rejected),
        PyArray1::from_vec(py, out.grad_ref_chosen),
        PyArray1::from_vec(py, out.grad_ref_rejected),
        PyArray1::from_vec(py, out.delta),
        PyArray1::from_vec(py, out.mass),
    ))
}

/// k-mixup block matching: the permutation of y's rows matched to x's rows.
#[pyfunction]
fn kmixup_match<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    k: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (n, d) = shape2(&x);
    let (xs, ys) = (x.as_slice()?, y.as_slice()?);
    let perm = detach::run(py, None, |monitor| {
        ot::kmixup_match(xs, ys, n, d, k, monitor)
    })?;
    Ok(PyArray1::from_vec(py, to_i64(perm)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(wasserstein_pp, m)?)?;
    m.add_function(wrap_pyfunction!(wasserstein_pp_rows, m)?)?;
    m.add_function(wrap_pyfunction!(quantile_function, m)?)?;
    m.add_function(wrap_pyfunction!(quantile_function_rows, m)?)?;
    m.add_function(wrap_pyfunction!(monotone_coupling, m)?)?;
    m.add_function(wrap_pyfunction!(aot_loss, m)?)?;
    m.add_function(wrap_pyfunction!(kmixup_match, m)?)?;
    Ok(())
}
