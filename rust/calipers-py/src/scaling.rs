//! Bindings of `calipers_core::scaling`.

use calipers_core::scaling::random;
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;

// --- random effects ---

/// Family offsets from a numpy int64 array (non-negative).
fn family_ptr(ptr: &[i64]) -> Result<Vec<usize>, calipers_core::Error> {
    ptr.iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| {
                calipers_core::Error::invalid("families", format!("offset {v} is negative"))
            })
        })
        .collect()
}

type ModesOut<'py> = (
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    bool,
    usize,
);

/// Posterior mode of each family's standardised effect and its quadrature scale. Rows of `y`
/// and `x` are grouped by family (`family_ptr`, F + 1 offsets). Returns (centre F × K, scale
/// F × K², log|det scale| (F), converged, most Newton steps).
#[pyfunction]
#[pyo3(signature = (*, y, x, family_ptr, floor, theta, n_skills, init=None))]
#[allow(clippy::too_many_arguments)]
fn scaling_random_modes<'py>(
    py: Python<'py>,
    y: PyReadonlyArray2<'py, f64>,
    x: PyReadonlyArray2<'py, f64>,
    family_ptr: PyReadonlyArray1<'py, i64>,
    floor: PyReadonlyArray1<'py, f64>,
    theta: PyReadonlyArray1<'py, f64>,
    n_skills: usize,
    init: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<ModesOut<'py>> {
    let (_, j) = shape2(&y);
    let (ys, xs, ps, fs, ts) = (
        y.as_slice()?,
        x.as_slice()?,
        family_ptr.as_slice()?,
        floor.as_slice()?,
        theta.as_slice()?,
    );
    let init_s: &[f64] = match &init {
        Some(a) => a.as_slice()?,
        None => &[],
    };
    let out = detach::run(py, None, |monitor| {
        let ptr = self::family_ptr(ps)?;
        let problem = random::Problem {
            y: ys,
            x: xs,
            family_ptr: &ptr,
            floor: fs,
            n_benchmarks: j,
            n_skills,
        };
        random::family_modes(&problem, ts, init_s, monitor)
    })?;
    let k = n_skills;
    Ok((
        matrix(py, out.centre, k)?,
        matrix(py, out.scale, k * k)?,
        PyArray1::from_vec(py, out.log_det),
        out.converged,
        out.max_iter,
    ))
}

type MarginalOut<'py> = (
    f64,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
);

/// Marginal log-likelihood on the rule (nodes M × K, log weights M) placed at each family's
/// centre/scale. Returns (loglik, per-family loglik, gradient (empty unless `grad`), per-family
/// scores F × len(theta) (empty unless `scores`)).
#[pyfunction]
#[pyo3(signature = (*, y, x, family_ptr, floor, theta, n_skills, nodes, log_weights, centre,
                    scale, log_det, grad=true, scores=false))]
#[allow(clippy::too_many_arguments)]
fn scaling_random_loglik<'py>(
    py: Python<'py>,
    y: PyReadonlyArray2<'py, f64>,
    x: PyReadonlyArray2<'py, f64>,
    family_ptr: PyReadonlyArray1<'py, i64>,
    floor: PyReadonlyArray1<'py, f64>,
    theta: PyReadonlyArray1<'py, f64>,
    n_skills: usize,
    nodes: PyReadonlyArray2<'py, f64>,
    log_weights: PyReadonlyArray1<'py, f64>,
    centre: PyReadonlyArray2<'py, f64>,
    scale: PyReadonlyArray2<'py, f64>,
    log_det: PyReadonlyArray1<'py, f64>,
    grad: bool,
    scores: bool,
) -> PyResult<MarginalOut<'py>> {
    let (_, j) = shape2(&y);
    let (ys, xs, ps, fs, ts) = (
        y.as_slice()?,
        x.as_slice()?,
        family_ptr.as_slice()?,
        floor.as_slice()?,
        theta.as_slice()?,
    );
    let (ns, lw, cs, ss, ld) = (
        nodes.as_slice()?,
        log_weights.as_slice()?,
        centre.as_slice()?,
        scale.as_slice()?,
        log_det.as_slice()?,
    );
    let n_theta = ts.len();
    let out = detach::run(py, None, |monitor| {
        let ptr = self::family_ptr(ps)?;
        let problem = random::Problem {
            y: ys,
            x: xs,
            family_ptr: &ptr,
            floor: fs,
            n_benchmarks: j,
            n_skills,
        };
        let rule = random::Rule {
            nodes: ns,
            log_weights: lw,
        };
        random::marginal_loglik(&problem, ts, &rule, cs, ss, ld, grad, scores, monitor)
    })?;
    Ok((
        out.loglik,
        PyArray1::from_vec(py, out.family_loglik),
        PyArray1::from_vec(py, out.grad),
        matrix(py, out.scores, n_theta.max(1))?,
    ))
}

pub fn register_random(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scaling_random_modes, m)?)?;
    m.add_function(wrap_pyfunction!(scaling_random_loglik, m)?)?;
    Ok(())
}
