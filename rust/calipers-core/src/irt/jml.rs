//! Penalised joint maximum likelihood (JML/MAP) by alternating, guarded Newton steps:
//! one Newton step per model (in parallel over models), projection of the abilities back to
//! mean 0 / identity covariance, then one Newton step per item (in parallel over chunks of
//! items); the final estimates are standardised with the items moved to compensate. Gaussian
//! priors keep every estimate finite (all-correct or all-wrong rows and columns included) and
//! make each Newton system positive definite; long steps fall back to a curvature bound that
//! cannot overshoot ([`guard`]) and reversing steps are shortened ([`Damping`]).

use rayon::prelude::*;

use super::data::{Cell, Responses, bernoulli_loglik};
use super::kernels::{ItemSums, RowLoglik, RowSums};
use super::linalg;
use super::params::{
    Fit, FitOptions, Params, Slopes, dot, ensure_jml_memory, ensure_observed, initial_params,
    loglik, max_change, orient, standardise,
};
use crate::error::{Error, Result};
use crate::fastmath::sigmoid;
use crate::par::{self, Monitor};

/// Largest move of any single parameter in one Newton step.
const MAX_STEP: f64 = 1.0;
/// Items per parallel work unit of the item step.
const ITEM_CHUNK: usize = 256;

/// Fits the model by penalised JML. Memory: the parameters plus O(items × (dims+1)²).
pub fn fit_jml<C: Cell>(
    resp: &Responses<'_, C>,
    opts: &FitOptions,
    monitor: &dyn Monitor,
) -> Result<Fit> {
    opts.validate()?;
    ensure_jml_memory(resp.n_models, resp.n_items, opts.dims)?;
    ensure_observed(resp)?;
    let mut params = par::install(|| initial_params(resp, opts))?;
    let d = opts.dims;
    let mut theta_damping = Damping::new(resp.n_models, d);
    let item_width = if opts.slopes == Slopes::Common {
        1
    } else {
        d + 1
    };
    let mut item_damping = Damping::new(resp.n_items, item_width);
    let mut slope_damping = Damping::new(1, 1);
    let mut converged = false;
    let mut n_iter = 0;
    let mut last_change = f64::INFINITY;
    let mut trust = TRUST;
    while n_iter < opts.max_iter {
        n_iter += 1;
        let before = params.clone();
        par::install(|| theta_step(resp, &mut params, opts, &mut theta_damping, trust))?;
        // Projecting the abilities back to mean 0 / identity covariance without moving the
        // items removes the flat scale direction (fast convergence) and, unlike moving the
        // items to compensate, cannot feed a runaway growth of the discriminations.
        standardise(&mut params, opts.slopes, false);
        par::install(|| {
            item_step(
                resp,
                &mut params,
                opts,
                &mut item_damping,
                &mut slope_damping,
                trust,
            )
        })?;
        ensure_finite_params(&params)?;
        monitor.tick(n_iter, opts.max_iter)?;
        let change = max_change(&before, &params);
        if change < opts.tol {
            converged = true;
            break;
        }
        if change >= last_change {
            trust = CAUTIOUS_TRUST;
        }
        last_change = change;
    }
    standardise(&mut params, opts.slopes, true);
    orient(&mut params);
    let ll = par::install(|| loglik(resp, &params))?;
    Ok(Fit {
        params,
        loglik: ll,
        n_iter,
        converged,
        trace: Vec::new(),
        theta_se: Vec::new(),
    })
}

pub(crate) fn ensure_finite_params(p: &Params) -> Result<()> {
    let ok = p
        .theta
        .iter()
        .chain(&p.a)
        .chain(&p.b)
        .all(|v| v.is_finite());
    if ok {
        Ok(())
    } else {
        Err(Error::Numerical(
            "IRT fit produced non-finite parameters; try smaller prior_sd_* values".into(),
        ))
    }
}

/// Scales `step` so that its largest entry is at most `cap` in absolute value.
fn cap_step(step: &mut [f64], cap: f64) {
    let big = step.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if big > cap {
        step.iter_mut().for_each(|v| *v *= cap / big);
    }
}

/// Guards a Newton system so that the step never lowers the objective.
///
/// The negative Hessian of a (penalised) logistic log-likelihood is bounded above by
/// `hmax` = ¼ Σ x xᵀ + prior precision (p(1 − p) ≤ ¼). With `h` ⪰ ½·`hmax`, the step
/// h⁻¹g (and any shortening of it) gains at least gᵀh⁻¹g − ½ gᵀh⁻¹·hmax·h⁻¹g ≥ 0. Where the
/// data are saturated (p(1 − p) ≈ 0, the case where plain Newton overshoots and can
/// diverge) `h` is raised to `h + μ·hmax`, μ from a Gershgorin lower bound on the
/// eigenvalues of hmax^{-1/2} h hmax^{-1/2}. Both matrices: full symmetric k×k.
fn guard(k: usize, h: &mut [f64], hmax: &[f64]) {
    if k == 1 {
        h[0] = h[0].max(GUARD * hmax[0]);
        return;
    }
    let mut l = hmax.to_vec();
    if !linalg::cholesky(k, &mut l) {
        return;
    }
    // x = L⁻¹ h (column by column), then mmat = L⁻¹ xᵀ = L⁻¹ h L⁻ᵀ (h symmetric).
    let forward = |col: &mut [f64]| {
        for i in 0..k {
            let s: f64 = (0..i).map(|j| l[i * k + j] * col[j]).sum();
            col[i] = (col[i] - s) / l[i * k + i];
        }
    };
    let mut x = vec![0.0; k * k]; // column-major: x[c*k + r]
    for c in 0..k {
        let col = &mut x[c * k..(c + 1) * k];
        (0..k).for_each(|r| col[r] = h[r * k + c]);
        forward(col);
    }
    let mut m = vec![0.0; k * k]; // column-major of L⁻¹ xᵀ
    for c in 0..k {
        let col = &mut m[c * k..(c + 1) * k];
        (0..k).for_each(|r| col[r] = x[r * k + c]);
        forward(col);
    }
    let lower_bound = (0..k)
        .map(|i| {
            let off: f64 = (0..k).filter(|&j| j != i).map(|j| m[j * k + i].abs()).sum();
            m[i * k + i] - off
        })
        .fold(f64::INFINITY, f64::min);
    let mu = GUARD - lower_bound;
    if mu > 0.0 {
        h.iter_mut().zip(hmax).for_each(|(v, w)| *v += mu * w);
    }
}

/// The Newton step h⁻¹g, written into `g`. Short steps (every coordinate within `trust`)
/// are taken as they are: near the optimum plain Newton converges fast. A longer step is cut
/// to `trust` along the Newton direction and halved until the block's penalised objective
/// rises enough (Armijo); `objective(step)` evaluates it at the current values plus `step`
/// (None: no line search, as for the 1PL's shared slope, whose objective spans every cell).
/// Only when no such point is found does the step fall back to the guarded system (see
/// [`guard`]), which cannot overshoot but moves slowly where the data are saturated (a
/// near-Guttman item took ~60 such steps before this line search; issue 13).
fn guarded_newton(
    k: usize,
    h: &mut [f64],
    hmax: &[f64],
    g: &mut [f64],
    trust: f64,
    objective: Option<&Objective>,
) {
    let (h0, g0) = (h.to_vec(), g.to_vec());
    if linalg::solve_spd(k, h, g) {
        if g.iter().all(|v| v.abs() <= trust) {
            return;
        }
        if objective.is_some_and(|f| line_search(&g0, g, trust, f)) {
            return;
        }
    }
    h.copy_from_slice(&h0);
    g.copy_from_slice(&g0);
    guard(k, h, hmax);
    if !linalg::solve_spd(k, h, g) {
        g.iter_mut().for_each(|v| *v = 0.0);
    }
    cap_step(g, MAX_STEP);
}

/// A block's penalised objective at the current values plus the given step.
type Objective<'a> = dyn Fn(&[f64]) -> f64 + 'a;

/// Most halvings tried by [`line_search`] (the first trial is the step cut to `trust`).
const MAX_HALVINGS: usize = 12;
/// Armijo's sufficient-increase fraction.
const ARMIJO: f64 = 1e-4;

/// Shortens the ascent direction `step` (gradient `grad`) in place to a point along it, at
/// most `trust` in every coordinate, where the objective rises by at least the Armijo
/// fraction of its linear prediction. Returns false (step unspecified) when none is found.
fn line_search(grad: &[f64], step: &mut [f64], trust: f64, objective: &Objective) -> bool {
    cap_step(step, trust);
    let slope = dot(grad, step);
    if !(slope > 0.0 && slope.is_finite()) {
        return false;
    }
    let f0 = objective(&vec![0.0; step.len()]);
    let mut trial = step.to_vec();
    let mut t = 1.0;
    for _ in 0..=MAX_HALVINGS {
        trial.iter_mut().zip(&*step).for_each(|(u, s)| *u = t * s);
        let f = objective(&trial);
        if f.is_finite() && f >= f0 + ARMIJO * t * slope {
            step.copy_from_slice(&trial);
            return true;
        }
        t *= 0.5;
    }
    false
}

/// Largest plain-Newton move accepted without the guard at first (the step cap: the starting
/// values lie on the unsaturated side of the optimum, where full Newton steps are reliable).
const TRUST: f64 = MAX_STEP;
/// The bound used once the largest parameter change stops shrinking (weakly identified data,
/// e.g. few models: LiveXiv's 19 models oscillate under full steps and converge under this).
const CAUTIOUS_TRUST: f64 = 0.5;

/// Fraction of the curvature bound below which Newton systems are raised (see [`guard`]).
const GUARD: f64 = 0.5;

/// Per-block step damping against the period-2 oscillations that alternating Newton steps
/// can fall into (weakly identified items, few models): a block whose step reverses direction
/// halves its step bound; one that keeps its direction doubles it again (up to MAX_STEP).
struct Damping {
    width: usize,
    prev: Vec<f64>,
    radius: Vec<f64>,
}

impl Damping {
    fn new(n: usize, width: usize) -> Self {
        Self {
            width,
            prev: vec![0.0; n * width],
            radius: vec![MAX_STEP; n],
        }
    }

    fn apply(prev: &mut [f64], radius: &mut f64, step: &mut [f64]) {
        *radius = if dot(prev, step) < 0.0 {
            (*radius * 0.5).max(1e-8)
        } else {
            (*radius * 2.0).min(MAX_STEP)
        };
        cap_step(step, *radius);
        prev.copy_from_slice(step);
    }

    fn apply_at(&mut self, i: usize, step: &mut [f64]) {
        let w = self.width;
        Self::apply(
            &mut self.prev[i * w..(i + 1) * w],
            &mut self.radius[i],
            step,
        );
    }
}

/// One guarded, damped Newton step on every model's abilities, items held fixed.
fn theta_step<C: Cell>(
    resp: &Responses<'_, C>,
    p: &mut Params,
    opts: &FitOptions,
    damping: &mut Damping,
    trust: f64,
) {
    let d = p.dims;
    let prec = opts.prior_sd_theta.powi(-2);
    let (a, b) = (&p.a, &p.b);
    p.theta
        .par_chunks_mut(d)
        .zip(damping.prev.par_chunks_mut(d))
        .zip(damping.radius.par_iter_mut())
        .enumerate()
        .for_each(|(l, ((theta, prev), radius))| {
            let row = resp.row(l);
            let mut step = if d == 1 {
                vec![theta_newton_1d(row, a, b, theta[0], prec, trust)]
            } else {
                theta_newton(row, a, b, theta, prec, trust)
            };
            Damping::apply(prev, radius, &mut step);
            theta.iter_mut().zip(&step).for_each(|(t, s)| *t += s);
        });
}

fn theta_newton_1d<C: Cell>(
    row: &[C],
    a: &[f64],
    b: &[f64],
    theta: f64,
    prec: f64,
    trust: f64,
) -> f64 {
    let [g, h, hm] = pulp::Arch::new().dispatch(RowSums { row, a, b, theta });
    let mut g = [g - prec * theta];
    let mut h = [h + prec];
    let objective = |s: &[f64]| {
        let t = theta + s[0];
        pulp::Arch::new().dispatch(RowLoglik {
            row,
            a,
            b,
            theta: t,
        }) - 0.5 * prec * t * t
    };
    guarded_newton(
        1,
        &mut h,
        &[0.25 * hm + prec],
        &mut g,
        trust,
        Some(&objective),
    );
    g[0]
}

fn theta_newton<C: Cell>(
    row: &[C],
    a: &[f64],
    b: &[f64],
    theta: &[f64],
    prec: f64,
    trust: f64,
) -> Vec<f64> {
    let d = theta.len();
    let mut g = vec![0.0; d];
    let mut h = vec![0.0; d * d];
    let mut hm = vec![0.0; d * d];
    for ((c, ai), &bi) in row.iter().zip(a.chunks(d)).zip(b) {
        let (w, y) = c.split();
        if w == 0.0 {
            continue;
        }
        let p = sigmoid(dot(ai, theta) - bi);
        let (r, v) = (y - p, p * (1.0 - p));
        for j in 0..d {
            g[j] += r * ai[j];
            for k in 0..=j {
                h[j * d + k] += v * ai[j] * ai[k];
                hm[j * d + k] += 0.25 * ai[j] * ai[k];
            }
        }
    }
    for j in 0..d {
        g[j] -= prec * theta[j];
        h[j * d + j] += prec;
        hm[j * d + j] += prec;
        for k in 0..j {
            h[k * d + j] = h[j * d + k];
            hm[k * d + j] = hm[j * d + k];
        }
    }
    let objective = |s: &[f64]| {
        let t: Vec<f64> = theta.iter().zip(s).map(|(u, v)| u + v).collect();
        let ll: f64 = row
            .iter()
            .zip(a.chunks(d))
            .zip(b)
            .map(|((c, ai), &bi)| observed_loglik(*c, dot(ai, &t) - bi))
            .sum();
        ll - 0.5 * prec * dot(&t, &t)
    };
    guarded_newton(d, &mut h, &hm, &mut g, trust, Some(&objective));
    g
}

/// Log-likelihood of one cell at logit `z` (0 when the cell is missing).
#[inline]
fn observed_loglik<C: Cell>(c: C, z: f64) -> f64 {
    let (w, y) = c.split();
    if w > 0.0 {
        w * bernoulli_loglik(y, z)
    } else {
        0.0
    }
}

/// Penalised log-likelihood of item `i` at parameters `x` = (a_i, b_i), abilities fixed:
/// the objective that each item's Newton step increases. One pass down the item's column.
fn item_objective<C: Cell>(
    resp: &Responses<'_, C>,
    theta: &[f64],
    i: usize,
    x: &[f64],
    (prec_a, prec_b): (f64, f64),
) -> f64 {
    let d = x.len() - 1;
    let (ai, bi) = (&x[..d], x[d]);
    let ll: f64 = (0..resp.n_models)
        .map(|l| observed_loglik(resp.row(l)[i], dot(ai, &theta[l * d..(l + 1) * d]) - bi))
        .sum();
    ll - 0.5 * (prec_a * dot(ai, ai) + prec_b * bi * bi)
}

/// Per-item sums of the Newton system in the item parameters x = (a_i, b_i), whose logit
/// derivative is (θ_l, −1): gradient Σ (y − p)(θ, −1), information Σ p(1−p)(θ, −1)(θ, −1)ᵀ
/// and its bound ¼ Σ (θ, −1)(θ, −1)ᵀ over observed cells. Per item (K = dims + 1): K
/// gradient entries, then the K×K information, then the K×K bound (lower triangles filled).
fn item_sums<C: Cell>(
    resp: &Responses<'_, C>,
    p: &Params,
    items: std::ops::Range<usize>,
) -> Vec<f64> {
    let d = p.dims;
    let k = d + 1;
    let stride = k + 2 * k * k;
    let width = items.len();
    let a = &p.a[items.start * d..items.end * d];
    let b = &p.b[items.clone()];
    if d == 1 {
        return item_sums_1d(resp, p, items, a, b);
    }
    let mut acc = vec![0.0; width * stride];
    let mut x = vec![0.0; k];
    for l in 0..resp.n_models {
        let row = &resp.row(l)[items.clone()];
        let theta = &p.theta[l * d..(l + 1) * d];
        x[..d].copy_from_slice(theta);
        x[d] = -1.0;
        for (((c, ai), &bi), s) in row
            .iter()
            .zip(a.chunks(d))
            .zip(b)
            .zip(acc.chunks_mut(stride))
        {
            let (w, y) = c.split();
            if w == 0.0 {
                continue;
            }
            let pr = sigmoid(dot(ai, theta) - bi);
            let (r, v) = (y - pr, pr * (1.0 - pr));
            let (g, rest) = s.split_at_mut(k);
            let (h, hm) = rest.split_at_mut(k * k);
            for j in 0..k {
                g[j] += r * x[j];
                for m in 0..=j {
                    h[j * k + m] += v * x[j] * x[m];
                    hm[j * k + m] += 0.25 * x[j] * x[m];
                }
            }
        }
    }
    acc
}

/// [`item_sums`] for one dimension (see [`ItemSums`]), laid out as [`item_sums`] does.
fn item_sums_1d<C: Cell>(
    resp: &Responses<'_, C>,
    p: &Params,
    items: std::ops::Range<usize>,
    a: &[f64],
    b: &[f64],
) -> Vec<f64> {
    let [ga, gb, haa, hab, hbb, oaa, oab, obb] = pulp::Arch::new().dispatch(ItemSums {
        cells: resp.cells,
        n_items: resp.n_items,
        start: items.start,
        theta: &p.theta,
        a,
        b,
        observed: !resp.complete,
    });
    let mut out = vec![0.0; items.len() * 10];
    for (i, o) in out.chunks_exact_mut(10).enumerate() {
        o.copy_from_slice(&[
            ga[i],
            gb[i],
            haa[i],
            0.0,
            hab[i],
            hbb[i],
            0.25 * oaa[i],
            0.0,
            0.25 * oab[i],
            0.25 * obb[i],
        ]);
    }
    out
}

/// One guarded, damped Newton step on every item's parameters, abilities held fixed.
fn item_step<C: Cell>(
    resp: &Responses<'_, C>,
    p: &mut Params,
    opts: &FitOptions,
    damping: &mut Damping,
    slope_damping: &mut Damping,
    trust: f64,
) {
    let (d, m) = (p.dims, resp.n_items);
    let k = d + 1;
    let stride = k + 2 * k * k;
    let chunks: Vec<_> = par::chunk_ranges(m, ITEM_CHUNK).collect();
    let sums: Vec<f64> = chunks
        .par_iter()
        .flat_map_iter(|r| item_sums(resp, p, r.clone()))
        .collect();
    let (prec_a, prec_b) = (opts.prior_sd_a.powi(-2), opts.prior_sd_b.powi(-2));
    match opts.slopes {
        Slopes::PerItem => {
            let updates: Vec<Vec<f64>> = (0..m)
                .into_par_iter()
                .map(|i| {
                    let s = &sums[i * stride..(i + 1) * stride];
                    let mut g = s[..k].to_vec();
                    let mut h = s[k..k + k * k].to_vec();
                    let mut hm = s[k + k * k..].to_vec();
                    let x: Vec<f64> = p.a[i * d..(i + 1) * d]
                        .iter()
                        .copied()
                        .chain([p.b[i]])
                        .collect();
                    for j in 0..k {
                        let prec = if j < d { prec_a } else { prec_b };
                        g[j] -= prec * x[j];
                        h[j * k + j] += prec;
                        hm[j * k + j] += prec;
                        for q in 0..j {
                            h[q * k + j] = h[j * k + q];
                            hm[q * k + j] = hm[j * k + q];
                        }
                    }
                    let objective = |s: &[f64]| {
                        let moved: Vec<f64> = x.iter().zip(s).map(|(u, v)| u + v).collect();
                        item_objective(resp, &p.theta, i, &moved, (prec_a, prec_b))
                    };
                    guarded_newton(k, &mut h, &hm, &mut g, trust, Some(&objective));
                    g
                })
                .collect();
            for (i, mut step) in updates.into_iter().enumerate() {
                damping.apply_at(i, &mut step);
                let x: Vec<f64> = p.a[i * d..(i + 1) * d]
                    .iter()
                    .chain([&p.b[i]])
                    .zip(&step)
                    .map(|(u, s)| u + s)
                    .collect();
                for (slot, &v) in p.a[i * d..(i + 1) * d].iter_mut().zip(&x) {
                    *slot = if opts.positive { v.max(0.0) } else { v };
                }
                p.b[i] = x[d];
            }
        }
        Slopes::Common => {
            // Difficulties: one guarded Newton step each; the shared slope: one guarded
            // Newton step on the sum over items (both from sums at the current values).
            let a0 = p.a.first().copied().unwrap_or(1.0);
            let (mut ga, mut ha, mut hma) = (-prec_a * a0, prec_a, prec_a);
            for (i, bi) in p.b.iter_mut().enumerate() {
                let s = &sums[i * stride..(i + 1) * stride];
                ga += s[0];
                ha += s[k];
                hma += s[k + k * k];
                let mut g = [s[1] - prec_b * *bi];
                let mut h = [s[k + 3] + prec_b];
                let b0 = *bi;
                let objective = |step: &[f64]| {
                    item_objective(resp, &p.theta, i, &[a0, b0 + step[0]], (prec_a, prec_b))
                };
                let hm = [s[k + k * k + 3] + prec_b];
                guarded_newton(1, &mut h, &hm, &mut g, trust, Some(&objective));
                damping.apply_at(i, &mut g);
                *bi += g[0];
            }
            let mut g = [ga];
            guarded_newton(1, &mut [ha], &[hma], &mut g, trust, None);
            slope_damping.apply_at(0, &mut g);
            let mut a_new = a0 + g[0];
            if opts.positive {
                a_new = a_new.max(0.0);
            }
            p.a.iter_mut().for_each(|v| *v = a_new);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::irt::data::sigmoid;
    use crate::par::Silent;
    use crate::rng::Rng;

    fn simulate(n: usize, m: usize, seed: u64) -> (Vec<u8>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let theta: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let a: Vec<f64> = (0..m).map(|_| (0.3 * rng.normal()).exp()).collect();
        let b: Vec<f64> = (0..m).map(|_| rng.normal()).collect();
        let mut y = vec![0u8; n * m];
        for l in 0..n {
            for i in 0..m {
                let p = sigmoid(a[i] * theta[l] - b[i]);
                y[l * m + i] = u8::from(rng.next_f64() < p);
            }
        }
        (y, theta, a, b)
    }

    fn corr(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let sxy: f64 = x.iter().zip(y).map(|(u, v)| (u - mx) * (v - my)).sum();
        let sxx: f64 = x.iter().map(|u| (u - mx).powi(2)).sum();
        let syy: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
        sxy / (sxx * syy).sqrt()
    }

    pub(crate) fn options(slopes: Slopes) -> FitOptions {
        FitOptions {
            slopes,
            dims: 1,
            max_iter: 200,
            tol: 1e-4,
            prior_sd_theta: 1.0,
            prior_sd_a: 2.0,
            prior_sd_b: 3.0,
            positive: false,
            seed: 0,
        }
    }

    #[test]
    fn recovers_a_simulated_2pl() {
        let (y, theta, a, b) = simulate(200, 400, 1);
        let resp = Responses::new(&y, 200, 400).unwrap();
        let fit = fit_jml(&resp, &options(Slopes::PerItem), &Silent).unwrap();
        assert!(fit.converged);
        assert!(corr(&fit.params.theta, &theta) > 0.97);
        assert!(corr(&fit.params.b, &b) > 0.95);
        assert!(corr(&fit.params.a, &a) > 0.6);
    }

    #[test]
    fn all_correct_rows_and_columns_stay_finite() {
        let mut y = vec![1u8; 6 * 5];
        y[7] = 0;
        y[13] = 0;
        let resp = Responses::new(&y, 6, 5).unwrap();
        for slopes in [Slopes::PerItem, Slopes::Common] {
            let fit = fit_jml(&resp, &options(slopes), &Silent).unwrap();
            assert!(
                fit.params
                    .b
                    .iter()
                    .chain(&fit.params.theta)
                    .all(|v| v.is_finite())
            );
        }
    }

    #[test]
    fn line_search_cuts_and_halves_a_long_step_until_the_objective_rises() {
        let f = |s: &[f64]| -(s[0] - 3.0).powi(2);
        let mut step = [10.0];
        assert!(line_search(&[6.0], &mut step, 1.0, &f));
        assert_eq!(step, [1.0]);
        // Cut to 8 (f = -25 < f(0) = -9), then halved to 4 (f = -1): accepted.
        let mut step = [10.0];
        assert!(line_search(&[6.0], &mut step, 8.0, &f));
        assert_eq!(step, [4.0]);
        // A descent direction is refused.
        let mut step = [-1.0];
        assert!(!line_search(&[6.0], &mut step, 8.0, &f));
    }

    #[test]
    fn empty_data_and_absurd_dims_are_refused_before_allocating() {
        use crate::irt::data::MISSING;
        let y = vec![MISSING; 6];
        let resp = Responses::new(&y, 2, 3).unwrap();
        let err = fit_jml(&resp, &options(Slopes::PerItem), &Silent).unwrap_err();
        assert!(err.to_string().contains("no observed response"), "{err}");
        let y = vec![1u8, 0, 1, 0, 1, 0];
        let resp = Responses::new(&y, 2, 3).unwrap();
        let mut opts = options(Slopes::PerItem);
        opts.dims = 1 << 40;
        let err = fit_jml(&resp, &opts, &Silent).unwrap_err();
        assert!(matches!(err, Error::Memory { arg: "dims", .. }), "{err}");
    }
}
