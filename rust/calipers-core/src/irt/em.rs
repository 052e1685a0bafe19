//! Marginal maximum likelihood for unidimensional models by EM (Bock–Aitkin) on a fixed grid.
//!
//! The latent distribution is N(0, 1) discretised on `n_quad` equally spaced nodes over
//! [−6, 6]. E-step: each model's posterior over the nodes (parallel over models). M-step: for
//! each item, Newton iterations with step halving on its expected complete-data
//! log-likelihood plus the log-prior (parallel over items), which never decreases it (a
//! generalised EM step never decreases the penalised marginal log-likelihood). After each
//! M-step the latent scale is re-standardised as classical MML programs do: the mean μ and
//! standard deviation σ of the abilities pooled over the E-step posteriors define N(μ, σ²),
//! and the items are rescaled (a ← σ a, b ← b − a μ) so that it becomes N(0, 1) again (the
//! M-step of the latent mean and variance followed by the reduction of parameter-expanded EM;
//! exact for a continuous latent distribution). On the grid the rescaled point can be
//! slightly worse, so it is kept only when the next E-step confirms that the penalised
//! marginal log-likelihood did not decrease; otherwise the plain EM update is kept. Hence
//! `trace` never decreases.

use rayon::prelude::*;

use super::data::{Cell, Responses, softplus};
use super::jml::ensure_finite_params;
use super::params::{Fit, FitOptions, Params, Slopes, initial_params, orient};
use crate::error::{Error, Result};
use crate::par::{self, Monitor};

/// Half-width of the quadrature grid (in standard deviations of the latent N(0, 1)).
const GRID_HALF_WIDTH: f64 = 6.0;
const ITEM_CHUNK: usize = 256;
const NEWTON_ITERS: usize = 20;

/// The quadrature grid: nodes and log-weights of N(0, 1) (normalised to sum 1).
pub fn grid(n_quad: usize) -> (Vec<f64>, Vec<f64>) {
    let step = 2.0 * GRID_HALF_WIDTH / (n_quad - 1) as f64;
    let nodes: Vec<f64> = (0..n_quad)
        .map(|q| -GRID_HALF_WIDTH + step * q as f64)
        .collect();
    let log_w: Vec<f64> = nodes.iter().map(|x| -0.5 * x * x).collect();
    let lse = log_sum_exp(&log_w);
    (nodes, log_w.iter().map(|v| v - lse).collect())
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Posterior weights of every model over the nodes (models × nodes) and the marginal
/// log-likelihood of each model.
fn e_step<C: Cell>(
    resp: &Responses<'_, C>,
    p: &Params,
    nodes: &[f64],
    log_w: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let nq = nodes.len();
    // Per item and node: logit z and log(1 − σ(z)); log σ(z) = z + log(1 − σ(z)).
    let mut z = vec![0.0; resp.n_items * nq];
    let mut l0 = vec![0.0; resp.n_items * nq];
    for i in 0..resp.n_items {
        for (q, x) in nodes.iter().enumerate() {
            let zz = p.a[i] * x - p.b[i];
            z[i * nq + q] = zz;
            l0[i * nq + q] = -softplus(zz);
        }
    }
    let rows: Vec<(Vec<f64>, f64)> = (0..resp.n_models)
        .into_par_iter()
        .map(|l| {
            let mut acc = log_w.to_vec();
            for (i, c) in resp.row(l).iter().enumerate() {
                let (w, y) = c.split();
                if w == 0.0 {
                    continue;
                }
                let (zi, li) = (&z[i * nq..(i + 1) * nq], &l0[i * nq..(i + 1) * nq]);
                for ((s, zq), lq) in acc.iter_mut().zip(zi).zip(li) {
                    *s += lq + y * zq;
                }
            }
            let lse = log_sum_exp(&acc);
            acc.iter_mut().for_each(|v| *v = (*v - lse).exp());
            (acc, lse)
        })
        .collect();
    let mut post = Vec::with_capacity(resp.n_models * nq);
    let mut ll = Vec::with_capacity(resp.n_models);
    for (r, v) in rows {
        post.extend(r);
        ll.push(v);
    }
    (post, ll)
}

/// Expected counts per item and node: (n_iq, r_iq) = Σ_l post_lq (obs_li, obs_li y_li).
fn expected_counts<C: Cell>(resp: &Responses<'_, C>, post: &[f64], nq: usize) -> Vec<f64> {
    let chunks: Vec<_> = par::chunk_ranges(resp.n_items, ITEM_CHUNK).collect();
    chunks
        .par_iter()
        .flat_map_iter(|items| {
            let mut acc = vec![0.0; items.len() * 2 * nq];
            for l in 0..resp.n_models {
                let pl = &post[l * nq..(l + 1) * nq];
                for (c, s) in resp.row(l)[items.clone()]
                    .iter()
                    .zip(acc.chunks_exact_mut(2 * nq))
                {
                    let (w, y) = c.split();
                    if w == 0.0 {
                        continue;
                    }
                    let (n, r) = s.split_at_mut(nq);
                    for ((nn, rr), pq) in n.iter_mut().zip(r.iter_mut()).zip(pl) {
                        *nn += pq;
                        *rr += y * pq;
                    }
                }
            }
            acc
        })
        .collect()
}

/// Expected complete-data log-likelihood of one item plus its log-prior.
fn item_objective(a: f64, b: f64, counts: &[f64], nodes: &[f64], pa: f64, pb: f64) -> f64 {
    let nq = nodes.len();
    let (n, r) = counts.split_at(nq);
    let data: f64 = nodes
        .iter()
        .zip(n)
        .zip(r)
        .map(|((x, nn), rr)| {
            let z = a * x - b;
            rr * z - nn * softplus(z)
        })
        .sum();
    data - 0.5 * (pa * a * a + pb * b * b)
}

/// Gradient and information of [`item_objective`] in (a, b).
fn item_derivatives(
    a: f64,
    b: f64,
    counts: &[f64],
    nodes: &[f64],
    pa: f64,
    pb: f64,
) -> ([f64; 2], [f64; 3]) {
    let nq = nodes.len();
    let (n, r) = counts.split_at(nq);
    let (mut g, mut h) = ([-pa * a, -pb * b], [pa, 0.0, pb]);
    for ((x, nn), rr) in nodes.iter().zip(n).zip(r) {
        let p = super::data::sigmoid(a * x - b);
        let res = rr - nn * p;
        let v = nn * p * (1.0 - p);
        g[0] += res * x;
        g[1] -= res;
        h[0] += v * x * x;
        h[1] -= v * x;
        h[2] += v;
    }
    (g, h)
}

/// Maximises one item's objective from (a, b) by Newton with step halving; with `fixed_a`
/// only b moves. Never returns a worse point than the start.
fn m_step_item(
    start: (f64, f64),
    counts: &[f64],
    nodes: &[f64],
    prec: (f64, f64),
    fixed_a: bool,
    positive: bool,
) -> (f64, f64) {
    let (pa, pb) = prec;
    let (mut a, mut b) = start;
    let mut f = item_objective(a, b, counts, nodes, pa, pb);
    for _ in 0..NEWTON_ITERS {
        let (g, h) = item_derivatives(a, b, counts, nodes, pa, pb);
        let (da, db) = if fixed_a {
            (0.0, g[1] / h[2])
        } else {
            let det = h[0] * h[2] - h[1] * h[1];
            (
                (h[2] * g[0] - h[1] * g[1]) / det,
                (h[0] * g[1] - h[1] * g[0]) / det,
            )
        };
        if !(da.is_finite() && db.is_finite()) {
            break;
        }
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..30 {
            let mut a_new = a + t * da;
            if positive {
                a_new = a_new.max(0.0);
            }
            let b_new = b + t * db;
            let f_new = item_objective(a_new, b_new, counts, nodes, pa, pb);
            if f_new >= f {
                moved = f_new > f;
                (a, b, f) = (a_new, b_new, f_new);
                break;
            }
            t *= 0.5;
        }
        if !moved || (da.abs().max(db.abs()) * t) < 1e-10 {
            break;
        }
    }
    (a, b)
}

/// Newton with halving on the common slope, difficulties fixed (1PL).
fn m_step_common_slope(
    a0: f64,
    p: &Params,
    counts: &[f64],
    nodes: &[f64],
    opts: &FitOptions,
) -> f64 {
    let nq = nodes.len();
    let (pa, pb) = (opts.prior_sd_a.powi(-2), opts.prior_sd_b.powi(-2));
    let total = |a: f64| -> f64 {
        let per: Vec<f64> = (0..p.b.len())
            .into_par_iter()
            .map(|i| {
                item_objective(
                    a,
                    p.b[i],
                    &counts[i * 2 * nq..(i + 1) * 2 * nq],
                    nodes,
                    0.0,
                    pb,
                )
            })
            .collect();
        per.iter().sum::<f64>() - 0.5 * pa * a * a
    };
    let mut a = a0;
    let mut f = total(a);
    for _ in 0..NEWTON_ITERS {
        let parts: Vec<([f64; 2], [f64; 3])> = (0..p.b.len())
            .into_par_iter()
            .map(|i| {
                item_derivatives(
                    a,
                    p.b[i],
                    &counts[i * 2 * nq..(i + 1) * 2 * nq],
                    nodes,
                    0.0,
                    0.0,
                )
            })
            .collect();
        let g = parts.iter().map(|(g, _)| g[0]).sum::<f64>() - pa * a;
        let h = parts.iter().map(|(_, h)| h[0]).sum::<f64>() + pa;
        let step = g / h;
        if !step.is_finite() {
            break;
        }
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..30 {
            let mut a_new = a + t * step;
            if opts.positive {
                a_new = a_new.max(0.0);
            }
            let f_new = total(a_new);
            if f_new >= f {
                moved = f_new > f;
                (a, f) = (a_new, f_new);
                break;
            }
            t *= 0.5;
        }
        if !moved || (step * t).abs() < 1e-10 {
            break;
        }
    }
    a
}

fn log_prior(p: &Params, opts: &FitOptions) -> f64 {
    let (pa, pb) = (opts.prior_sd_a.powi(-2), opts.prior_sd_b.powi(-2));
    let sa = if opts.slopes == Slopes::Common {
        p.a.first().map_or(0.0, |a| a * a)
    } else {
        p.a.iter().map(|a| a * a).sum()
    };
    -0.5 * (pa * sa + pb * p.b.iter().map(|b| b * b).sum::<f64>())
}

/// Mean and standard deviation of the abilities pooled over models' posteriors on the grid.
fn latent_moments(post: &[f64], nodes: &[f64]) -> (f64, f64) {
    let nq = nodes.len();
    let n = (post.len() / nq).max(1) as f64;
    let (mut m1, mut m2) = (0.0, 0.0);
    for row in post.chunks_exact(nq) {
        for (w, x) in row.iter().zip(nodes) {
            m1 += w * x;
            m2 += w * x * x;
        }
    }
    let mean = m1 / n;
    (mean, (m2 / n - mean * mean).max(0.0).sqrt())
}

/// The items under θ = μ + σ z with z ~ N(0, 1): a z' − b' = a (μ + σ z) − b, so a' = σ a and
/// b' = b − a μ (a degenerate spread is only centred).
fn rescale(p: &Params, (mu, sd): (f64, f64)) -> Params {
    let sd = if sd > 1e-6 { sd } else { 1.0 };
    let mut out = p.clone();
    for (a, b) in out.a.iter_mut().zip(&mut out.b) {
        *b -= *a * mu;
        *a *= sd;
    }
    out
}

/// One M-step: every item's parameters (and the common slope for the 1PL) maximise the
/// expected complete-data log-likelihood plus log-prior, starting from the current values.
fn m_step(params: &Params, counts: &[f64], nodes: &[f64], opts: &FitOptions) -> Params {
    let n_quad = nodes.len();
    let (pa, pb) = (opts.prior_sd_a.powi(-2), opts.prior_sd_b.powi(-2));
    let fixed_a = opts.slopes == Slopes::Common;
    let updated: Vec<(f64, f64)> = (0..params.b.len())
        .into_par_iter()
        .map(|i| {
            let c = &counts[i * 2 * n_quad..(i + 1) * 2 * n_quad];
            let start = (params.a[i], params.b[i]);
            m_step_item(start, c, nodes, (pa, pb), fixed_a, opts.positive)
        })
        .collect();
    let mut out = params.clone();
    for (i, (a, b)) in updated.into_iter().enumerate() {
        out.a[i] = a;
        out.b[i] = b;
    }
    if fixed_a {
        let a0 = out.a.first().copied().unwrap_or(1.0);
        let a = m_step_common_slope(a0, &out, counts, nodes, opts);
        out.a.iter_mut().for_each(|v| *v = a);
    }
    out
}

/// Fits a unidimensional model by EM. Memory: models × n_quad posterior weights plus
/// items × 2 n_quad expected counts (f64).
pub fn fit_em<C: Cell>(
    resp: &Responses<'_, C>,
    opts: &FitOptions,
    n_quad: usize,
    monitor: &dyn Monitor,
) -> Result<Fit> {
    opts.validate()?;
    if opts.dims != 1 {
        return Err(Error::invalid(
            "method",
            "EM is implemented for unidimensional models only; use method='jml' for dims > 1",
        ));
    }
    if !(5..=1001).contains(&n_quad) {
        return Err(Error::invalid("n_quad", "must be between 5 and 1001"));
    }
    super::params::ensure_observed(resp)?;
    let (nodes, log_w) = grid(n_quad);
    let mut params = par::install(|| initial_params(resp, opts))?;
    let objective = |p: &Params, ll: &[f64]| ll.iter().sum::<f64>() + log_prior(p, opts);
    let (mut post, mut ll) = par::install(|| e_step(resp, &params, &nodes, &log_w))?;
    let mut trace = vec![objective(&params, &ll)];
    let mut converged = false;
    let mut n_iter = 0;
    while n_iter < opts.max_iter {
        n_iter += 1;
        let current = trace[trace.len() - 1];
        let scale = latent_moments(&post, &nodes);
        let counts = par::install(|| expected_counts(resp, &post, n_quad))?;
        drop(post);
        let updated = par::install(|| m_step(&params, &counts, &nodes, opts))?;
        ensure_finite_params(&updated)?;
        // Re-standardise: rescale the items so that the latent N(μ, σ²) estimated from the
        // E-step becomes N(0, 1) again. Kept only when the next E-step confirms that the
        // penalised marginal log-likelihood did not decrease; otherwise the plain EM update
        // (which never decreases it) is used.
        let rescaled = rescale(&updated, scale);
        let (p2, l2) = par::install(|| e_step(resp, &rescaled, &nodes, &log_w))?;
        let accepted = if objective(&rescaled, &l2) >= current {
            (rescaled, p2, l2)
        } else {
            let (p1, l1) = par::install(|| e_step(resp, &updated, &nodes, &log_w))?;
            (updated, p1, l1)
        };
        let before = std::mem::replace(&mut params, accepted.0);
        (post, ll) = (accepted.1, accepted.2);
        trace.push(objective(&params, &ll));
        monitor.tick(n_iter, opts.max_iter)?;
        let change = before
            .a
            .iter()
            .zip(&params.a)
            .chain(before.b.iter().zip(&params.b))
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f64::max);
        if change < opts.tol {
            converged = true;
            break;
        }
    }
    let loglik: f64 = ll.iter().sum();
    // Abilities: posterior means (EAP) and standard deviations on the grid.
    let mut theta_se = Vec::with_capacity(resp.n_models);
    for (l, t) in params.theta.iter_mut().enumerate() {
        let pl = &post[l * n_quad..(l + 1) * n_quad];
        let mean: f64 = pl.iter().zip(&nodes).map(|(w, x)| w * x).sum();
        let var: f64 = pl
            .iter()
            .zip(&nodes)
            .map(|(w, x)| w * (x - mean).powi(2))
            .sum();
        *t = mean;
        theta_se.push(var.max(0.0).sqrt());
    }
    let mut flipped = params.clone();
    orient(&mut flipped);
    Ok(Fit {
        params: flipped,
        loglik,
        n_iter,
        converged,
        trace,
        theta_se,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irt::data::sigmoid;
    use crate::par::Silent;
    use crate::rng::Rng;

    #[test]
    fn grid_weights_sum_to_one() {
        let (nodes, lw) = grid(61);
        assert_eq!(nodes.len(), 61);
        let s: f64 = lw.iter().map(|v| v.exp()).sum();
        assert!((s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn em_objective_never_decreases() {
        let mut rng = Rng::new(3);
        let (n, m) = (150, 40);
        let theta: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mut y = vec![0u8; n * m];
        for l in 0..n {
            for i in 0..m {
                let p = sigmoid(1.2 * theta[l] - 0.05 * i as f64 + 1.0);
                y[l * m + i] = u8::from(rng.next_f64() < p);
            }
        }
        let resp = Responses::new(&y, n, m).unwrap();
        let mut opts = crate::irt::jml::tests::options(Slopes::PerItem);
        opts.max_iter = 50;
        let fit = fit_em(&resp, &opts, 41, &Silent).unwrap();
        for w in fit.trace.windows(2) {
            assert!(w[1] >= w[0] - 1e-9 * w[0].abs(), "{} -> {}", w[0], w[1]);
        }
    }
}
