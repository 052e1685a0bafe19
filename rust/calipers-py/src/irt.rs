//! Bindings of `calipers_core::irt`.

use calipers_core::Error;
use calipers_core::irt::{self, Cell, Fit, FitOptions, ItemBank, Responses, ScoreMethod, Slopes};
use calipers_core::par::Monitor;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;

type FitTuple<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
    usize,
    bool,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

/// Abilities and their standard errors.
type Pair<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>);

fn parse_slopes(model: &str) -> Result<Slopes, Error> {
    match model {
        "2pl" => Ok(Slopes::PerItem),
        "1pl" => Ok(Slopes::Common),
        _ => Err(Error::invalid("model", "use '1pl' or '2pl'")),
    }
}

fn run_fit<C: Cell>(
    cells: &[C],
    shape: (usize, usize),
    method: &str,
    opts: &FitOptions,
    n_quad: usize,
    monitor: &dyn Monitor,
) -> Result<Fit, Error> {
    let resp = Responses::new(cells, shape.0, shape.1)?;
    match method {
        "jml" => irt::fit_jml(&resp, opts, monitor),
        "em" => irt::fit_em(&resp, opts, n_quad, monitor),
        _ => Err(Error::invalid("method", "use 'jml' or 'em'")),
    }
}

/// Fits an IRT model. `y` is a C-contiguous models × items array of uint8 codes
/// (0, 1, 255 = missing) or float32 scores in [0, 1] with NaN = missing.
/// Returns (theta, a, b, loglik, n_iter, converged, trace, theta_se).
#[pyfunction]
#[pyo3(signature = (y, method, model, dims, max_iter, tol, prior_sd_theta, prior_sd_a, prior_sd_b, positive, seed, n_quad, progress=None))]
#[allow(clippy::too_many_arguments)]
fn irt_fit<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    method: &str,
    model: &str,
    dims: usize,
    max_iter: usize,
    tol: f64,
    prior_sd_theta: f64,
    prior_sd_a: f64,
    prior_sd_b: f64,
    positive: bool,
    seed: u64,
    n_quad: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<FitTuple<'py>> {
    let slopes = parse_slopes(model).map_err(|e| crate::errors::to_pyerr(py, e))?;
    let opts = FitOptions {
        slopes,
        dims,
        max_iter,
        tol,
        prior_sd_theta,
        prior_sd_a,
        prior_sd_b,
        positive,
        seed,
    };
    let fit = if let Ok(arr) = y.extract::<PyReadonlyArray2<'py, u8>>() {
        let shape = shape2(&arr);
        let cells = arr.as_slice()?;
        detach::run(py, progress, |m| {
            run_fit(cells, shape, method, &opts, n_quad, m)
        })?
    } else if let Ok(arr) = y.extract::<PyReadonlyArray2<'py, f32>>() {
        let shape = shape2(&arr);
        let cells = arr.as_slice()?;
        detach::run(py, progress, |m| {
            run_fit(cells, shape, method, &opts, n_quad, m)
        })?
    } else {
        return Err(PyTypeError::new_err(
            "y must be a 2-D C-contiguous uint8 or float32 array",
        ));
    };
    let d = fit.params.dims;
    Ok((
        matrix(py, fit.params.theta, d)?,
        matrix(py, fit.params.a, d)?,
        PyArray1::from_vec(py, fit.params.b),
        fit.loglik,
        fit.n_iter,
        fit.converged,
        PyArray1::from_vec(py, fit.trace),
        PyArray1::from_vec(py, fit.theta_se),
    ))
}

fn parse_method(method: &str) -> Result<ScoreMethod, Error> {
    match method {
        "mle" => Ok(ScoreMethod::Mle),
        "map" => Ok(ScoreMethod::Map),
        "eap" => Ok(ScoreMethod::Eap),
        _ => Err(Error::invalid("method", "use 'mle', 'map' or 'eap'")),
    }
}

/// Abilities and standard errors of new models (`y`: n_new × items, NaN = missing).
#[pyfunction]
#[pyo3(signature = (y, a, b, method, prior_sd, term_clip=None))]
fn irt_score<'py>(
    py: Python<'py>,
    y: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray2<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    method: &str,
    prior_sd: f64,
    term_clip: Option<f64>,
) -> PyResult<Pair<'py>> {
    let (n_new, _) = shape2(&y);
    let (_, dims) = shape2(&a);
    let (ys, a_s, bs) = (y.as_slice()?, a.as_slice()?, b.as_slice()?);
    let (theta, se) = detach::run(py, None, |monitor| {
        let bank = ItemBank::new(a_s, bs, dims, term_clip)?;
        irt::score(&bank, ys, n_new, parse_method(method)?, prior_sd, monitor)
    })?;
    Ok((matrix(py, theta, dims)?, matrix(py, se, dims)?))
}

/// P(y = 1) for abilities `theta` (n × dims) and items (a, b): n × items.
#[pyfunction]
#[pyo3(signature = (theta, a, b, term_clip=None))]
fn irt_predict<'py>(
    py: Python<'py>,
    theta: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray2<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    term_clip: Option<f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (_, dims) = shape2(&a);
    let (ts, a_s, bs) = (theta.as_slice()?, a.as_slice()?, b.as_slice()?);
    let n_items = bs.len();
    let out = detach::quick(py, || {
        let bank = ItemBank::new(a_s, bs, dims, term_clip)?;
        irt::predict(&bank, ts)
    })?;
    let rows = out.len().checked_div(n_items).unwrap_or(shape2(&theta).0);
    PyArray1::from_vec(py, out).reshape([rows, n_items])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(irt_fit, m)?)?;
    m.add_function(wrap_pyfunction!(irt_score, m)?)?;
    m.add_function(wrap_pyfunction!(irt_predict, m)?)?;
    Ok(())
}
