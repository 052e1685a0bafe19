//! Bindings of `calipers_core::scaling`: skill scaling laws across LLM families.

use calipers_core::Error;
use calipers_core::scaling::fixed::{self, FitOptions, Problem};
use calipers_core::scaling::lbfgs::Options;
use calipers_core::scaling::random;
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::arrays::{matrix, shape2};
use crate::detach;

// --- fixed effects ---

fn families(arr: &[i64]) -> Result<Vec<usize>, Error> {
    arr.iter()
        .enumerate()
        .map(|(i, &v)| {
            usize::try_from(v).map_err(|_| {
                Error::invalid("families", format!("row {i} has negative family index {v}"))
            })
        })
        .collect()
}

/// Mean Huber loss of the fixed-effect model and its gradient at `theta`.
#[pyfunction]
#[pyo3(signature = (*, x, family, n_families, y, floor, d, fix_loadings, learn_floor, theta, delta))]
#[allow(clippy::too_many_arguments)]
fn scaling_fixed_objective<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    family: PyReadonlyArray1<'py, i64>,
    n_families: usize,
    y: PyReadonlyArray2<'py, f64>,
    floor: PyReadonlyArray1<'py, f64>,
    d: usize,
    fix_loadings: bool,
    learn_floor: bool,
    theta: PyReadonlyArray1<'py, f64>,
    delta: f64,
) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
    let (_, p) = shape2(&x);
    let (_, nb) = shape2(&y);
    let (xs, ys, fs, th) = (
        x.as_slice()?,
        y.as_slice()?,
        floor.as_slice()?,
        theta.as_slice()?,
    );
    let fam = families(family.as_slice()?).map_err(|e| crate::errors::to_pyerr(py, e))?;
    let (value, grad) = detach::quick(py, || {
        let pb = Problem {
            x: xs,
            p,
            family: &fam,
            n_families,
            y: ys,
            n_bench: nb,
            floor: fs,
            d,
            fix_loadings,
            learn_floor,
        };
        pb.validate()?;
        if th.len() != pb.n_params() {
            return Err(Error::shape(
                "theta",
                format!("has {} values, the model has {}", th.len(), pb.n_params()),
            ));
        }
        if !(delta > 0.0 && delta.is_finite()) {
            return Err(Error::invalid("delta", "must be positive and finite"));
        }
        let mut g = vec![0.0; th.len()];
        let v = fixed::objective(&pb, th, delta, &mut g);
        Ok((v, g))
    })?;
    Ok((value, PyArray1::from_vec(py, grad)))
}

type BatchOut<'py> = Vec<(
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<bool>>,
)>;

/// Seeded multi-start L-BFGS fits of several fixed-effect problems (one per list entry, same
/// d, J and flags), parallel over (problem, start). Returns per problem (thetas of every start
/// (n_starts × n_params), final losses, iterations, converged flags).
#[pyfunction]
#[pyo3(signature = (*, xs, families_list, n_families, ys, floors, starts, d, fix_loadings, learn_floor, deltas, max_iter, history, gtol, ftol, progress=None))]
#[allow(clippy::too_many_arguments)]
fn scaling_fixed_fit<'py>(
    py: Python<'py>,
    xs: Vec<PyReadonlyArray2<'py, f64>>,
    families_list: Vec<PyReadonlyArray1<'py, i64>>,
    n_families: Vec<usize>,
    ys: Vec<PyReadonlyArray2<'py, f64>>,
    floors: Vec<PyReadonlyArray1<'py, f64>>,
    starts: Vec<PyReadonlyArray2<'py, f64>>,
    d: usize,
    fix_loadings: bool,
    learn_floor: bool,
    deltas: Vec<f64>,
    max_iter: usize,
    history: usize,
    gtol: f64,
    ftol: f64,
    progress: Option<Py<PyAny>>,
) -> PyResult<BatchOut<'py>> {
    let q = xs.len();
    if families_list.len() != q
        || ys.len() != q
        || floors.len() != q
        || starts.len() != q
        || n_families.len() != q
    {
        return Err(crate::errors::to_pyerr(
            py,
            Error::shape("xs", "every per-problem list must have the same length"),
        ));
    }
    let fams = families_list
        .iter()
        .map(|f| families(f.as_slice()?).map_err(|e| crate::errors::to_pyerr(py, e)))
        .collect::<PyResult<Vec<_>>>()?;
    let xsl = xs
        .iter()
        .map(|a| a.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    let ysl = ys
        .iter()
        .map(|a| a.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    let fsl = floors
        .iter()
        .map(|a| a.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    let ssl = starts
        .iter()
        .map(|a| a.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    let problems: Vec<Problem<'_>> = (0..q)
        .map(|k| Problem {
            x: xsl[k],
            p: shape2(&xs[k]).1,
            family: &fams[k],
            n_families: n_families[k],
            y: ysl[k],
            n_bench: shape2(&ys[k]).1,
            floor: fsl[k],
            d,
            fix_loadings,
            learn_floor,
        })
        .collect();
    let opts = FitOptions {
        deltas,
        lbfgs: Options {
            max_iter,
            history,
            gtol,
            ftol,
        },
    };
    let fits = detach::run(py, progress, |monitor| {
        fixed::fit_batch(&problems, &ssl, &opts, monitor)
    })?;
    let mut out = Vec::with_capacity(q);
    for (k, per) in fits.into_iter().enumerate() {
        let np = problems[k].n_params();
        let mut thetas = Vec::with_capacity(per.len() * np);
        let mut losses = Vec::with_capacity(per.len());
        let mut iters = Vec::with_capacity(per.len());
        let mut conv = Vec::with_capacity(per.len());
        for f in per {
            thetas.extend_from_slice(&f.theta);
            losses.push(f.loss);
            iters.push(f.iterations as u64);
            conv.push(f.converged);
        }
        out.push((
            matrix(py, thetas, np)?,
            PyArray1::from_vec(py, losses),
            PyArray1::from_vec(py, iters),
            PyArray1::from_vec(py, conv),
        ));
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // --- fixed effects ---
    m.add_function(wrap_pyfunction!(scaling_fixed_objective, m)?)?;
    m.add_function(wrap_pyfunction!(scaling_fixed_fit, m)?)?;
    Ok(())
}

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
