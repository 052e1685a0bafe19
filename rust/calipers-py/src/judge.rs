//! Bindings of `calipers_core::judge`: the cumulative-logit Newton fit of Bridge, its
//! derivatives and the item-cluster bootstrap.

use calipers_core::judge::{self, Problem, Samples};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;

type FitTuple<'py> = (
    Bound<'py, PyArray1<f64>>,
    f64,
    usize,
    Bound<'py, PyArray2<f64>>,
    Option<Bound<'py, PyArray2<f64>>>,
);

type BootTuple<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<bool>>);

type DerivTuple<'py> = (f64, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>);

fn problem<'a>(
    y: &'a [u32],
    w: &'a [f64],
    q: usize,
    tmap: &'a [f64],
    n_t: usize,
    n_categories: usize,
) -> Result<Problem<'a>, calipers_core::Error> {
    Problem::new(y, w, q, tmap, n_t, n_categories)
}

/// Fits the cumulative-logit regression of labels `y` (0..n_categories-1) on the regressors
/// `w` (n × q) with thresholds `tmap @ t`. Returns (theta, loglik, n_iter, hessian, meat): the
/// meat of the item-clustered sandwich when `items` (cluster of each row, 0..n_items-1) is
/// given, else None.
#[pyfunction]
#[pyo3(signature = (y, w, tmap, n_categories, items=None, n_items=0))]
fn judge_fit<'py>(
    py: Python<'py>,
    y: PyReadonlyArray1<'py, u32>,
    w: PyReadonlyArray2<'py, f64>,
    tmap: PyReadonlyArray2<'py, f64>,
    n_categories: usize,
    items: Option<PyReadonlyArray1<'py, u32>>,
    n_items: usize,
) -> PyResult<FitTuple<'py>> {
    let (_, q) = shape2(&w);
    let (_, n_t) = shape2(&tmap);
    let (ys, ws, ts) = (y.as_slice()?, w.as_slice()?, tmap.as_slice()?);
    let clusters = items.as_ref().map(|a| a.as_slice()).transpose()?;
    let (fit, meat) = detach::run(py, None, |monitor| {
        let p = problem(ys, ws, q, ts, n_t, n_categories)?;
        match clusters {
            // the meat mostly from the last Newton pass over the rows
            Some(c) => {
                judge::fit_clustered(&p, c, n_items, true, monitor).map(|(f, m)| (f, Some(m)))
            }
            None => judge::fit(&p, None, true, monitor).map(|f| (f, None)),
        }
    })?;
    let np = fit.theta.len();
    Ok((
        PyArray1::from_vec(py, fit.theta),
        fit.loglik,
        fit.n_iter,
        matrix(py, fit.hessian, np)?,
        meat.map(|m| matrix(py, m, np)).transpose()?,
    ))
}

/// The log-likelihood, gradient and Hessian at `theta`; None when theta is outside the
/// parameter space (thresholds not increasing) or has likelihood 0.
#[pyfunction]
#[pyo3(signature = (y, w, tmap, n_categories, theta))]
fn judge_derivatives<'py>(
    py: Python<'py>,
    y: PyReadonlyArray1<'py, u32>,
    w: PyReadonlyArray2<'py, f64>,
    tmap: PyReadonlyArray2<'py, f64>,
    n_categories: usize,
    theta: PyReadonlyArray1<'py, f64>,
) -> PyResult<Option<DerivTuple<'py>>> {
    let (_, q) = shape2(&w);
    let (_, n_t) = shape2(&tmap);
    let (ys, ws, ts, th) = (
        y.as_slice()?,
        w.as_slice()?,
        tmap.as_slice()?,
        theta.as_slice()?,
    );
    let d = detach::run(py, None, |monitor| {
        let p = problem(ys, ws, q, ts, n_t, n_categories)?;
        judge::derivatives(&p, th, true, true, monitor)
    })?;
    d.map(|d| {
        let np = d.gradient.len();
        Ok((
            d.loglik,
            PyArray1::from_vec(py, d.gradient),
            matrix(py, d.hessian, np)?,
        ))
    })
    .transpose()
}

/// Item-cluster bootstrap refits: (draws, ok), draws n_resamples × P (NaN rows where ok is
/// False). With `counts` (n_items × levels, the judge's sampled ratings per item), each drawn
/// item's judgments are re-drawn and regressor column 0 recomputed by the logit trick. Each
/// refit starts from `start` (the full fit's theta) when given.
#[pyfunction]
#[pyo3(signature = (y, w, tmap, n_categories, items, n_items, n_resamples, seed, counts=None, smoothing=0.5, start=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn judge_bootstrap<'py>(
    py: Python<'py>,
    y: PyReadonlyArray1<'py, u32>,
    w: PyReadonlyArray2<'py, f64>,
    tmap: PyReadonlyArray2<'py, f64>,
    n_categories: usize,
    items: PyReadonlyArray1<'py, u32>,
    n_items: usize,
    n_resamples: usize,
    seed: u64,
    counts: Option<PyReadonlyArray2<'py, u32>>,
    smoothing: f64,
    start: Option<PyReadonlyArray1<'py, f64>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<BootTuple<'py>> {
    let (_, q) = shape2(&w);
    let (_, n_t) = shape2(&tmap);
    let (ys, ws, ts, its) = (
        y.as_slice()?,
        w.as_slice()?,
        tmap.as_slice()?,
        items.as_slice()?,
    );
    let levels = counts.as_ref().map_or(0, |c| shape2(c).1);
    let cs = counts.as_ref().map(|c| c.as_slice()).transpose()?;
    let warm = start.as_ref().map(|s| s.as_slice()).transpose()?;
    let (draws, ok) = detach::run(py, progress, |monitor| {
        let p = problem(ys, ws, q, ts, n_t, n_categories)?;
        let samples = cs.map(|counts| Samples {
            counts,
            n_levels: levels,
            smoothing,
            column: 0,
        });
        judge::bootstrap(
            &p,
            its,
            n_items,
            samples.as_ref(),
            warm,
            n_resamples,
            seed,
            monitor,
        )
    })?;
    let np = q + n_t;
    Ok((matrix(py, draws, np)?, PyArray1::from_vec(py, ok)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(judge_fit, m)?)?;
    m.add_function(wrap_pyfunction!(judge_derivatives, m)?)?;
    m.add_function(wrap_pyfunction!(judge_bootstrap, m)?)?;
    Ok(())
}
