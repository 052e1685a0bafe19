//! Parameter containers, fit options and the operations shared by the JML and EM fits:
//! initial values, the log-likelihood, and re-standardisation of the latent scale.

use rayon::prelude::*;

use super::data::{Cell, Responses, bernoulli_loglik, clipped_logit};
use super::kernels::RowLoglik;
use super::linalg;
use crate::error::{Error, Result};
pub use crate::linalg::dot;
use crate::rng::Rng;

/// How discriminations are parametrised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slopes {
    /// One discrimination shared by all items (1PL; Rasch after rescaling the abilities).
    Common,
    /// One discrimination vector per item (2PL, multidimensional 2PL).
    PerItem,
}

/// Options of a fit (JML or EM).
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub slopes: Slopes,
    pub dims: usize,
    pub max_iter: usize,
    /// Stop when no ability, discrimination norm or difficulty moves by more than this.
    pub tol: f64,
    /// Prior standard deviations (Gaussian, mean 0): abilities, discriminations, difficulties.
    pub prior_sd_theta: f64,
    pub prior_sd_a: f64,
    pub prior_sd_b: f64,
    /// Project discriminations onto a ≥ 0 after each update.
    pub positive: bool,
    /// Seeds the random start of the extra dimensions (dims > 1).
    pub seed: u64,
}

impl FitOptions {
    pub fn validate(&self) -> Result<()> {
        if self.dims == 0 {
            return Err(Error::invalid("dims", "must be at least 1"));
        }
        if self.slopes == Slopes::Common && self.dims != 1 {
            return Err(Error::invalid(
                "dims",
                "1PL/Rasch models are unidimensional; use dims=1 or model='2pl'",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", "must be at least 1"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::invalid("tol", "must be a positive finite number"));
        }
        for (name, v) in [
            ("prior_sd_theta", self.prior_sd_theta),
            ("prior_sd_a", self.prior_sd_a),
            ("prior_sd_b", self.prior_sd_b),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(name, "must be a positive finite number"));
            }
        }
        Ok(())
    }
}

/// Refuses, before anything is allocated, a JML fit whose working memory would exceed the
/// budget: about five copies of the parameters ((models + items) × dims: estimates, previous
/// values, damping state) and the Newton sums of every item ((dims + 1) + 2 (dims + 1)² each).
pub fn ensure_jml_memory(n_models: usize, n_items: usize, dims: usize) -> Result<()> {
    let (n, m, d) = (n_models as u128, n_items as u128, dims as u128);
    let k = d + 1;
    let params = (n + m).saturating_mul(d).saturating_mul(5);
    let sums = m.saturating_mul(k + 2 * k.saturating_mul(k));
    crate::mem::ensure_fits(
        "dims",
        params.saturating_add(sums),
        8,
        "use fewer latent dimensions (dims)",
    )
}

/// Refuses a response matrix with no observed cell: nothing could be estimated from it.
pub fn ensure_observed<C: Cell>(resp: &Responses<'_, C>) -> Result<()> {
    if resp.complete || resp.cells.iter().any(|c| c.split().0 > 0.0) {
        return Ok(());
    }
    Err(Error::invalid(
        "Y",
        "has no observed response (every cell is missing); pass at least one 0/1 response",
    ))
}

/// Abilities θ (models × dims), discriminations a (items × dims), difficulties b (items);
/// P(y_li = 1) = σ(a_i·θ_l − b_i).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub dims: usize,
    pub theta: Vec<f64>,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
}

/// Result of a fit.
#[derive(Clone, Debug)]
pub struct Fit {
    pub params: Params,
    /// Log-likelihood of the data at the estimates (JML: joint; EM: marginal), no priors.
    pub loglik: f64,
    pub n_iter: usize,
    pub converged: bool,
    /// Objective after each iteration (EM: penalised marginal log-likelihood; JML: empty).
    pub trace: Vec<f64>,
    /// Posterior standard deviations of the abilities (EM only; empty for JML).
    pub theta_se: Vec<f64>,
}

/// Observed mean of each row (0.5 where nothing is observed).
fn row_means<C: Cell>(resp: &Responses<'_, C>) -> Vec<f64> {
    (0..resp.n_models)
        .into_par_iter()
        .map(|l| {
            let (o, s) = resp.row(l).iter().fold((0.0, 0.0), |(o, s), c| {
                let (w, y) = c.split();
                (o + w, s + w * y)
            });
            if o > 0.0 { s / o } else { 0.5 }
        })
        .collect()
}

/// Observed mean of each column (0.5 where nothing is observed), accumulated over models in
/// a fixed order per chunk of items (the same bits at any thread count).
fn col_means<C: Cell>(resp: &Responses<'_, C>) -> Vec<f64> {
    let chunks: Vec<_> = crate::par::chunk_ranges(resp.n_items, 4096).collect();
    chunks
        .par_iter()
        .flat_map_iter(|items| {
            let (mut obs, mut sum) = (vec![0.0; items.len()], vec![0.0; items.len()]);
            for l in 0..resp.n_models {
                let cells = &resp.row(l)[items.clone()];
                for ((c, o), s) in cells.iter().zip(&mut obs).zip(&mut sum) {
                    let (w, y) = c.split();
                    *o += w;
                    *s += w * y;
                }
            }
            obs.into_iter()
                .zip(sum)
                .map(|(o, s)| if o > 0.0 { s / o } else { 0.5 })
        })
        .collect()
}

/// Starting values (logits of proportions): first ability from the logit of each row's mean,
/// difficulty from the column's mean, discriminations 1; extra dimensions start random
/// (seeded, per row/item streams). These lie on the unsaturated side of the optimum, where
/// full Newton steps are reliable.
pub fn initial_params<C: Cell>(resp: &Responses<'_, C>, opts: &FitOptions) -> Params {
    let (d, n, m) = (opts.dims, resp.n_models, resp.n_items);
    let row_means = row_means(resp);
    let mut theta = vec![0.0; n * d];
    for (l, row) in theta.chunks_mut(d).enumerate() {
        row[0] = clipped_logit(row_means[l]);
        let mut rng = Rng::stream(opts.seed, l as u64);
        row.iter_mut().skip(1).for_each(|t| *t = rng.normal());
    }
    let mut a = vec![0.0; m * d];
    for (i, ai) in a.chunks_mut(d).enumerate() {
        ai[0] = 1.0;
        let mut rng = Rng::stream(opts.seed, (n + i) as u64);
        ai.iter_mut().skip(1).for_each(|v| *v = 0.1 * rng.normal());
    }
    let b = col_means(resp).iter().map(|&p| -clipped_logit(p)).collect();
    let mut params = Params {
        dims: d,
        theta,
        a,
        b,
    };
    standardise(&mut params, opts.slopes, true);
    params
}

/// Re-standardises the abilities to mean 0 and identity covariance, moving the items so that
/// every logit a_i·θ_l − b_i is unchanged: θ' = L⁻¹(θ − μ), a' = Lᵀa, b' = b − a·μ.
/// A degenerate spread (all abilities equal) is only centred. With `compensate` false the
/// items are left as they are (a projection of the abilities onto the standardised set).
pub fn standardise(p: &mut Params, slopes: Slopes, compensate: bool) {
    let d = p.dims;
    let n = p.theta.len() / d;
    if n == 0 {
        return;
    }
    let mut mu = vec![0.0; d];
    for row in p.theta.chunks(d) {
        mu.iter_mut().zip(row).for_each(|(m, t)| *m += t);
    }
    mu.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; d * d];
    for row in p.theta.chunks(d) {
        for j in 0..d {
            for k in 0..=j {
                cov[j * d + k] += (row[j] - mu[j]) * (row[k] - mu[k]);
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= n as f64);
    let max_var = (0..d).map(|j| cov[j * d + j]).fold(0.0, f64::max);
    let scaled = max_var > 1e-12 && linalg::cholesky(d, &mut cov) && {
        let min_pivot = (0..d).map(|j| cov[j * d + j]).fold(f64::INFINITY, f64::min);
        min_pivot > 1e-6 * max_var.sqrt()
    };
    if compensate {
        for (ai, bi) in p.a.chunks_mut(d).zip(&mut p.b) {
            *bi -= dot(ai, &mu);
            if scaled {
                // a' = Lᵀ a (L lower triangular).
                for j in 0..d {
                    ai[j] = (j..d).map(|k| cov[k * d + j] * ai[k]).sum();
                }
            }
        }
    }
    for row in p.theta.chunks_mut(d) {
        row.iter_mut().zip(&mu).for_each(|(t, m)| *t -= m);
        if scaled {
            for j in 0..d {
                let s: f64 = (0..j).map(|k| cov[j * d + k] * row[k]).sum();
                row[j] = (row[j] - s) / cov[j * d + j];
            }
        }
    }
    if slopes == Slopes::Common {
        // Lᵀa multiplies every item's slope by the same factor, so slopes stay common; guard
        // against rounding by copying the first.
        let first = p.a.first().copied().unwrap_or(1.0);
        p.a.iter_mut().for_each(|v| *v = first);
    }
}

/// Orients a unidimensional scale so that the mean discrimination is non-negative.
pub fn orient(p: &mut Params) {
    if p.dims == 1 && p.a.iter().sum::<f64>() < 0.0 {
        p.a.iter_mut().for_each(|v| *v = -*v);
        p.theta.iter_mut().for_each(|v| *v = -*v);
    }
}

/// Joint log-likelihood Σ_observed [y z − log(1 + e^z)] (ordered sum: thread-independent).
pub fn loglik<C: Cell>(resp: &Responses<'_, C>, p: &Params) -> f64 {
    let d = p.dims;
    let per_row: Vec<f64> = (0..resp.n_models)
        .into_par_iter()
        .map(|l| {
            let theta = &p.theta[l * d..(l + 1) * d];
            if d == 1 {
                return pulp::Arch::new().dispatch(RowLoglik {
                    row: resp.row(l),
                    a: &p.a,
                    b: &p.b,
                    theta: theta[0],
                });
            }
            resp.row(l)
                .iter()
                .zip(p.a.chunks(d))
                .zip(&p.b)
                .map(|((c, ai), bi)| {
                    let (w, y) = c.split();
                    if w > 0.0 {
                        bernoulli_loglik(y, dot(ai, theta) - bi)
                    } else {
                        0.0
                    }
                })
                .sum()
        })
        .collect();
    per_row.iter().sum()
}

/// Largest change between two parameter sets in rotation-invariant terms: abilities' and
/// discriminations' norms, and difficulties.
pub fn max_change(old: &Params, new: &Params) -> f64 {
    let d = new.dims;
    // Signs matter in one dimension; beyond, only norms are free of the rotation.
    let norm = |v: &[f64]| if d == 1 { v[0] } else { dot(v, v).sqrt() };
    let rows = |x: &[f64], y: &[f64]| {
        x.chunks(d)
            .zip(y.chunks(d))
            .map(|(u, v)| (norm(u) - norm(v)).abs())
            .fold(0.0, f64::max)
    };
    let db = old
        .b
        .iter()
        .zip(&new.b)
        .map(|(u, v)| (u - v).abs())
        .fold(0.0, f64::max);
    rows(&old.theta, &new.theta)
        .max(rows(&old.a, &new.a))
        .max(db)
}
