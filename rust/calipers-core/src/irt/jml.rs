//! Penalised joint maximum likelihood (JML/MAP) by alternating, guarded Newton steps:
//! one Newton step per model (in parallel over models), re-standardisation of the abilities,
//! then one Newton step per item (in parallel over chunks of items). Gaussian priors keep every
//! estimate finite (all-correct or all-wrong rows and columns included) and make each Newton
//! system positive definite; steps are capped to keep early iterations stable.

use rayon::prelude::*;

use super::data::{Cell, Responses, sigmoid};
use super::linalg;
use super::params::{
    Fit, FitOptions, Params, Slopes, dot, initial_params, loglik, max_change, orient, standardise,
};
use crate::error::{Error, Result};
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
    let mut params = par::install(|| initial_params(resp, opts))?;
    let mut converged = false;
    let mut n_iter = 0;
    while n_iter < opts.max_iter {
        n_iter += 1;
        let before = params.clone();
        par::install(|| theta_step(resp, &mut params, opts))?;
        standardise(&mut params, opts.slopes);
        par::install(|| item_step(resp, &mut params, opts))?;
        ensure_finite_params(&params)?;
        monitor.tick(n_iter, opts.max_iter)?;
        if max_change(&before, &params) < opts.tol {
            converged = true;
            break;
        }
    }
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

/// One Newton step on every model's abilities, items held fixed.
fn theta_step<C: Cell>(resp: &Responses<'_, C>, p: &mut Params, opts: &FitOptions) {
    let d = p.dims;
    let prec = opts.prior_sd_theta.powi(-2);
    let (a, b) = (&p.a, &p.b);
    p.theta
        .par_chunks_mut(d)
        .enumerate()
        .for_each(|(l, theta)| {
            let row = resp.row(l);
            if d == 1 {
                theta[0] = theta_newton_1d(row, a, b, theta[0], prec);
            } else {
                theta_newton(row, a, b, theta, prec);
            }
        });
}

fn theta_newton_1d<C: Cell>(row: &[C], a: &[f64], b: &[f64], theta: f64, prec: f64) -> f64 {
    let (mut g, mut h) = (0.0, 0.0);
    for ((c, &ai), &bi) in row.iter().zip(a).zip(b) {
        let (w, y) = c.split();
        let p = sigmoid(ai * theta - bi);
        g += w * (y - p) * ai;
        h += w * p * (1.0 - p) * ai * ai;
    }
    g -= prec * theta;
    h += prec;
    theta + (g / h).clamp(-MAX_STEP, MAX_STEP)
}

fn theta_newton<C: Cell>(row: &[C], a: &[f64], b: &[f64], theta: &mut [f64], prec: f64) {
    let d = theta.len();
    let mut g = vec![0.0; d];
    let mut h = vec![0.0; d * d];
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
            }
        }
    }
    for j in 0..d {
        g[j] -= prec * theta[j];
        h[j * d + j] += prec;
        for k in 0..j {
            h[k * d + j] = h[j * d + k];
        }
    }
    if linalg::solve_spd(d, &mut h, &mut g) {
        cap_step(&mut g, MAX_STEP);
        theta.iter_mut().zip(&g).for_each(|(t, s)| *t += s);
    }
}

/// Per-item sums of the Newton system in the item parameters x = (a_i, b_i), whose logit
/// derivative is (θ_l, −1): gradient Σ (y − p)(θ, −1) and information Σ p(1−p)(θ, −1)(θ, −1)ᵀ.
/// Layout per item: K gradient entries then K×K information entries (K = dims + 1).
fn item_sums<C: Cell>(
    resp: &Responses<'_, C>,
    p: &Params,
    items: std::ops::Range<usize>,
) -> Vec<f64> {
    let d = p.dims;
    let k = d + 1;
    let stride = k + k * k;
    let width = items.len();
    let mut acc = vec![0.0; width * stride];
    let a = &p.a[items.start * d..items.end * d];
    let b = &p.b[items.clone()];
    for l in 0..resp.n_models {
        let row = &resp.row(l)[items.clone()];
        let theta = &p.theta[l * d..(l + 1) * d];
        if d == 1 {
            accumulate_1d(row, a, b, theta[0], &mut acc);
        } else {
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
                let (g, h) = s.split_at_mut(k);
                for j in 0..k {
                    let xj = if j < d { theta[j] } else { -1.0 };
                    g[j] += r * xj;
                    for m in 0..=j {
                        let xm = if m < d { theta[m] } else { -1.0 };
                        h[j * k + m] += v * xj * xm;
                    }
                }
            }
        }
    }
    acc
}

/// The one-dimensional case of [`item_sums`] for one model's row (layout g_a, g_b, h).
#[inline]
fn accumulate_1d<C: Cell>(row: &[C], a: &[f64], b: &[f64], theta: f64, acc: &mut [f64]) {
    for (((c, &ai), &bi), s) in row.iter().zip(a).zip(b).zip(acc.chunks_exact_mut(6)) {
        let (w, y) = c.split();
        let pr = sigmoid(ai * theta - bi);
        let r = w * (y - pr);
        let v = w * pr * (1.0 - pr);
        s[0] += r * theta;
        s[1] -= r;
        s[2] += v * theta * theta;
        s[4] -= v * theta;
        s[5] += v;
    }
}

/// One Newton step on every item's parameters, abilities held fixed.
fn item_step<C: Cell>(resp: &Responses<'_, C>, p: &mut Params, opts: &FitOptions) {
    let (d, m) = (p.dims, resp.n_items);
    let k = d + 1;
    let stride = k + k * k;
    let chunks: Vec<_> = par::chunk_ranges(m, ITEM_CHUNK).collect();
    let sums: Vec<f64> = chunks
        .par_iter()
        .flat_map_iter(|r| item_sums(resp, p, r.clone()))
        .collect();
    let (prec_a, prec_b) = (opts.prior_sd_a.powi(-2), opts.prior_sd_b.powi(-2));
    match opts.slopes {
        Slopes::PerItem => {
            let updates: Vec<(usize, Vec<f64>)> = (0..m)
                .into_par_iter()
                .map(|i| {
                    let s = &sums[i * stride..(i + 1) * stride];
                    let (mut g, mut h) = (s[..k].to_vec(), s[k..].to_vec());
                    let x: Vec<f64> = p.a[i * d..(i + 1) * d]
                        .iter()
                        .copied()
                        .chain([p.b[i]])
                        .collect();
                    for j in 0..k {
                        let prec = if j < d { prec_a } else { prec_b };
                        g[j] -= prec * x[j];
                        h[j * k + j] += prec;
                        for q in 0..j {
                            h[q * k + j] = h[j * k + q];
                        }
                    }
                    if !linalg::solve_spd(k, &mut h, &mut g) {
                        g.iter_mut().for_each(|v| *v = 0.0);
                    }
                    cap_step(&mut g, MAX_STEP);
                    (i, x.iter().zip(&g).map(|(u, s)| u + s).collect())
                })
                .collect();
            for (i, x) in updates {
                for (slot, &v) in p.a[i * d..(i + 1) * d].iter_mut().zip(&x) {
                    *slot = if opts.positive { v.max(0.0) } else { v };
                }
                p.b[i] = x[d];
            }
        }
        Slopes::Common => {
            // Difficulties: one Newton step each; the shared slope: one Newton step on the
            // sum over items (both from the same sums, evaluated at the current values).
            let a0 = p.a.first().copied().unwrap_or(1.0);
            let (mut ga, mut ha) = (-prec_a * a0, prec_a);
            for (i, bi) in p.b.iter_mut().enumerate() {
                let s = &sums[i * stride..(i + 1) * stride];
                ga += s[0];
                ha += s[2];
                let (g, h) = (s[1] - prec_b * *bi, s[5] + prec_b);
                *bi += (g / h).clamp(-MAX_STEP, MAX_STEP);
            }
            let mut a_new = a0 + (ga / ha).clamp(-MAX_STEP, MAX_STEP);
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
}
