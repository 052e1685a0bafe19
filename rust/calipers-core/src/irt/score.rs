//! Scoring new models against fixed item parameters: maximum likelihood (MLE), maximum a
//! posteriori (MAP, N(0, prior_sd² I) prior) and expected a posteriori (EAP) abilities with
//! standard errors, plus predicted probabilities. Optional per-term clipping reproduces the
//! tinyBenchmarks convention logit = Σ_k clip(a_ik θ_k − b_i / D, −c, c).

use rayon::prelude::*;

use super::data::{bernoulli_loglik, sigmoid};
use super::linalg;
use super::params::dot;
use crate::error::{Error, Result};

/// Which ability estimate to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreMethod {
    Mle,
    Map,
    Eap,
}

/// Fixed item parameters: a (items × dims), b (items), optional per-term clip.
#[derive(Clone, Copy)]
pub struct ItemBank<'a> {
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub dims: usize,
    pub term_clip: Option<f64>,
}

/// Abilities beyond this bound mean the MLE does not exist (perfect or zero scores).
const DIVERGENCE_BOUND: f64 = 20.0;
const MAX_NEWTON: usize = 500;

impl<'a> ItemBank<'a> {
    pub fn new(a: &'a [f64], b: &'a [f64], dims: usize, term_clip: Option<f64>) -> Result<Self> {
        if dims == 0 {
            return Err(Error::invalid("dims", "must be at least 1"));
        }
        if a.len() != b.len() * dims {
            return Err(Error::shape(
                "a",
                format!(
                    "has {} entries, expected items ({}) × dims ({dims})",
                    a.len(),
                    b.len()
                ),
            ));
        }
        crate::error::ensure_finite("a", a)?;
        crate::error::ensure_finite("b", b)?;
        if let Some(c) = term_clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::invalid(
                "term_clip",
                "must be a positive finite number",
            ));
        }
        Ok(Self {
            a,
            b,
            dims,
            term_clip,
        })
    }

    pub fn n_items(&self) -> usize {
        self.b.len()
    }

    /// Logit of item i at θ; writes dz/dθ into `grad`.
    #[inline]
    pub fn logit(&self, i: usize, theta: &[f64], grad: &mut [f64]) -> f64 {
        let d = self.dims;
        let ai = &self.a[i * d..(i + 1) * d];
        match self.term_clip {
            None => {
                grad.copy_from_slice(ai);
                dot(ai, theta) - self.b[i]
            }
            Some(c) => {
                let shift = self.b[i] / d as f64;
                let mut z = 0.0;
                for k in 0..d {
                    let t = ai[k] * theta[k] - shift;
                    z += t.clamp(-c, c);
                    grad[k] = if t.abs() < c { ai[k] } else { 0.0 };
                }
                z
            }
        }
    }
}

/// Log-posterior (or log-likelihood when `prec` = 0) of one response row, its gradient and
/// information matrix (Σ p(1−p) g gᵀ + prec I).
fn objective(
    bank: &ItemBank<'_>,
    row: &[f64],
    theta: &[f64],
    prec: f64,
    want_derivatives: bool,
    g: &mut [f64],
    h: &mut [f64],
) -> f64 {
    let d = bank.dims;
    let mut dz = vec![0.0; d];
    g.iter_mut().for_each(|v| *v = 0.0);
    h.iter_mut().for_each(|v| *v = 0.0);
    let mut f = -0.5 * prec * dot(theta, theta);
    for (i, &y) in row.iter().enumerate() {
        if y.is_nan() {
            continue;
        }
        let z = bank.logit(i, theta, &mut dz);
        f += bernoulli_loglik(y, z);
        if want_derivatives {
            let p = sigmoid(z);
            let (r, v) = (y - p, p * (1.0 - p));
            for j in 0..d {
                g[j] += r * dz[j];
                for k in 0..d {
                    h[j * d + k] += v * dz[j] * dz[k];
                }
            }
        }
    }
    if want_derivatives {
        for j in 0..d {
            g[j] -= prec * theta[j];
            h[j * d + j] += prec;
        }
    }
    f
}

/// Mode of the log-posterior (MAP) or likelihood (MLE) by Newton with step halving.
/// Returns θ, the Cholesky factor of the information at θ (None when singular), and whether
/// the iteration diverged (MLE of a perfect/zero score).
fn newton_mode(bank: &ItemBank<'_>, row: &[f64], prec: f64) -> (Vec<f64>, Option<Vec<f64>>, bool) {
    let d = bank.dims;
    let mut theta = vec![0.0; d];
    let (mut g, mut h) = (vec![0.0; d], vec![0.0; d * d]);
    let (mut g2, mut h2) = (vec![0.0; d], vec![0.0; d * d]);
    let mut f = objective(bank, row, &theta, prec, true, &mut g, &mut h);
    for _ in 0..MAX_NEWTON {
        let mut step = g.clone();
        let mut m = h.clone();
        if !linalg::solve_spd(d, &mut m, &mut step) {
            break;
        }
        let big = step.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if big > 2.0 {
            step.iter_mut().for_each(|v| *v *= 2.0 / big);
        }
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let cand: Vec<f64> = theta.iter().zip(&step).map(|(x, s)| x + t * s).collect();
            let f_new = objective(bank, row, &cand, prec, true, &mut g2, &mut h2);
            if f_new >= f {
                accepted = Some((cand, f_new));
                break;
            }
            t *= 0.5;
        }
        let Some((cand, f_new)) = accepted else { break };
        let moved = big.min(2.0) * t;
        theta = cand;
        f = f_new;
        std::mem::swap(&mut g, &mut g2);
        std::mem::swap(&mut h, &mut h2);
        if theta.iter().any(|v| v.abs() > DIVERGENCE_BOUND) {
            return (theta, None, true);
        }
        if moved < 1e-10 {
            break;
        }
    }
    // Newton also stalls far out on a flat likelihood (improvements below rounding).
    if theta.iter().any(|v| v.abs() > DIVERGENCE_BOUND) {
        return (theta, None, true);
    }
    let mut factor = h;
    let ok = linalg::cholesky(d, &mut factor);
    (theta, ok.then_some(factor), false)
}

/// One row's estimate and standard errors.
fn score_row(
    bank: &ItemBank<'_>,
    row: &[f64],
    method: ScoreMethod,
    prec: f64,
) -> (Vec<f64>, Vec<f64>) {
    let d = bank.dims;
    let observed = row.iter().any(|y| !y.is_nan());
    if method == ScoreMethod::Mle {
        if !observed {
            return (vec![f64::NAN; d], vec![f64::NAN; d]);
        }
        let (theta, factor, diverged) = newton_mode(bank, row, 0.0);
        if diverged {
            let t = theta
                .iter()
                .map(|v| {
                    if v.abs() > DIVERGENCE_BOUND {
                        v.signum() * f64::INFINITY
                    } else {
                        *v
                    }
                })
                .collect();
            return (t, vec![f64::INFINITY; d]);
        }
        let se = factor.map_or(vec![f64::INFINITY; d], |l| {
            linalg::inverse_diagonal(d, &l)
                .iter()
                .map(|v| v.sqrt())
                .collect()
        });
        return (theta, se);
    }
    let (mode, factor, _) = newton_mode(bank, row, prec);
    let factor = factor.unwrap_or_else(|| {
        // Cannot happen with prec > 0; fall back to the prior's precision.
        (0..d * d)
            .map(|k| if k % (d + 1) == 0 { prec.sqrt() } else { 0.0 })
            .collect()
    });
    let se: Vec<f64> = linalg::inverse_diagonal(d, &factor)
        .iter()
        .map(|v| v.sqrt())
        .collect();
    if method == ScoreMethod::Map {
        return (mode, se);
    }
    if d == 1 && bank.term_clip.is_none() {
        return eap_1d(bank, row, prec, mode[0], factor[0]);
    }
    eap(bank, row, prec, &mode, &factor)
}

/// [`eap`] for one dimension without clipping: the same grid and weights, with the observed
/// items gathered once so that each node's log-posterior is a plain (vectorisable) sum.
fn eap_1d(
    bank: &ItemBank<'_>,
    row: &[f64],
    prec: f64,
    mode: f64,
    chol: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (n_nodes, half_width) = (161usize, 8.0);
    let step = 2.0 * half_width / (n_nodes - 1) as f64;
    let observed: Vec<(f64, f64, f64)> = row
        .iter()
        .zip(bank.a.iter().zip(bank.b))
        .filter(|(y, _)| !y.is_nan())
        .map(|(&y, (&a, &b))| (y, a, b))
        .collect();
    let nodes: Vec<f64> = (0..n_nodes)
        .map(|q| mode + (-half_width + step * q as f64) / chol)
        .collect();
    let logs: Vec<f64> = nodes
        .iter()
        .map(|&t| {
            let data: f64 = observed
                .iter()
                .map(|&(y, a, b)| bernoulli_loglik(y, a * t - b))
                .sum();
            data - 0.5 * prec * t * t
        })
        .collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logs.iter().map(|v| (v - top).exp()).collect();
    let wsum: f64 = weights.iter().sum();
    let mean: f64 = weights.iter().zip(&nodes).map(|(w, t)| w * t / wsum).sum();
    let var: f64 = weights
        .iter()
        .zip(&nodes)
        .map(|(w, t)| w * (t - mean).powi(2) / wsum)
        .sum();
    (vec![mean], vec![var.sqrt()])
}

/// Posterior mean and standard deviations on a product grid centred at the mode and scaled by
/// the Laplace covariance (adaptive quadrature; the posterior of a logistic model with a
/// Gaussian prior is log-concave, so the grid covers its mass).
fn eap(
    bank: &ItemBank<'_>,
    row: &[f64],
    prec: f64,
    mode: &[f64],
    factor: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let d = bank.dims;
    let (n_per_dim, half_width) = match d {
        1 => (161usize, 8.0),
        2 => (81, 8.0),
        _ => (25, 6.0),
    };
    // Laplace covariance Σ = H⁻¹ = L⁻ᵀ L⁻¹; points θ = mode + L⁻ᵀ u for u on the grid.
    let step = 2.0 * half_width / (n_per_dim - 1) as f64;
    let total = n_per_dim.pow(d as u32);
    let (mut g, mut h) = (vec![0.0; d], vec![0.0; d * d]);
    let mut points = Vec::with_capacity(total);
    let mut logs = Vec::with_capacity(total);
    let mut u = vec![0.0; d];
    for idx in 0..total {
        let mut rest = idx;
        for uk in u.iter_mut() {
            *uk = -half_width + step * (rest % n_per_dim) as f64;
            rest /= n_per_dim;
        }
        let theta = back_substitute_transposed(d, factor, &u, mode);
        logs.push(objective(bank, row, &theta, prec, false, &mut g, &mut h));
        points.push(theta);
    }
    let m = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logs.iter().map(|v| (v - m).exp()).collect();
    let wsum: f64 = weights.iter().sum();
    let mut mean = vec![0.0; d];
    for (w, t) in weights.iter().zip(&points) {
        mean.iter_mut()
            .zip(t)
            .for_each(|(mm, x)| *mm += w * x / wsum);
    }
    let mut var = vec![0.0; d];
    for (w, t) in weights.iter().zip(&points) {
        var.iter_mut()
            .zip(t.iter().zip(&mean))
            .for_each(|(v, (x, mm))| *v += w * (x - mm).powi(2) / wsum);
    }
    (mean, var.iter().map(|v| v.sqrt()).collect())
}

/// θ = mode + L⁻ᵀ u (L lower triangular).
fn back_substitute_transposed(d: usize, l: &[f64], u: &[f64], mode: &[f64]) -> Vec<f64> {
    let mut x = u.to_vec();
    for i in (0..d).rev() {
        let mut s = x[i];
        for k in i + 1..d {
            s -= l[k * d + i] * x[k];
        }
        x[i] = s / l[i * d + i];
    }
    x.iter().zip(mode).map(|(v, m)| v + m).collect()
}

/// Cells (rows × items) scored between two ticks of the monitor: well under a second of EAP
/// work on one core (2^20 cells took ~10 s under load), so Ctrl-C stops a long call promptly.
const CELLS_PER_TICK: usize = 1 << 16;
/// Fewest rows per block, so that many-item banks still give every thread work.
const MIN_ROWS_PER_TICK: usize = 64;

/// Abilities and standard errors (both n_new × dims) of new models from responses `y`
/// (n_new × items, NaN = not answered; values in [0, 1]). Rows are scored in parallel, in
/// blocks between which `monitor` is ticked (progress = rows done).
pub fn score(
    bank: &ItemBank<'_>,
    y: &[f64],
    n_new: usize,
    method: ScoreMethod,
    prior_sd: f64,
    monitor: &dyn crate::par::Monitor,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (m, d) = (bank.n_items(), bank.dims);
    if y.len() != n_new * m {
        return Err(Error::shape(
            "Y_new",
            format!(
                "has {} cells, expected {n_new} × {m} (one column per item)",
                y.len()
            ),
        ));
    }
    if let Some(k) = y
        .iter()
        .position(|v| !(v.is_nan() || (0.0..=1.0).contains(v)))
    {
        return Err(Error::invalid(
            "Y_new",
            format!("value at flat index {k} is outside [0, 1]; responses must be 0/1 or NaN"),
        ));
    }
    if !(prior_sd.is_finite() && prior_sd > 0.0) {
        return Err(Error::invalid(
            "prior_sd",
            "must be a positive finite number",
        ));
    }
    if method == ScoreMethod::Eap && d > 3 {
        return Err(Error::invalid(
            "method",
            "EAP uses a product grid and supports dims <= 3; use method='map'",
        ));
    }
    let prec = prior_sd.powi(-2);
    let mut theta =
        crate::mem::try_with_capacity("Y_new", n_new * d, "score fewer models per call")?;
    let mut se = crate::mem::try_with_capacity("Y_new", n_new * d, "score fewer models per call")?;
    let block = (CELLS_PER_TICK / m.max(1)).max(MIN_ROWS_PER_TICK);
    for rows in crate::par::chunk_ranges(n_new, block) {
        let end = rows.end;
        let scored: Vec<(Vec<f64>, Vec<f64>)> = crate::par::install(|| {
            rows.into_par_iter()
                .map(|r| score_row(bank, &y[r * m..(r + 1) * m], method, prec))
                .collect()
        })?;
        for (t, s) in scored {
            theta.extend(t);
            se.extend(s);
        }
        monitor.tick(end, n_new)?;
    }
    Ok((theta, se))
}

/// P(y = 1) for every (model, item): n_models × n_items.
pub fn predict(bank: &ItemBank<'_>, theta: &[f64]) -> Result<Vec<f64>> {
    let d = bank.dims;
    if theta.len() % d != 0 {
        return Err(Error::shape(
            "theta",
            format!("length is not a multiple of dims ({d})"),
        ));
    }
    crate::error::ensure_finite("theta", theta)?;
    let m = bank.n_items();
    let mut out = vec![0.0; theta.len() / d * m];
    if m == 0 {
        return Ok(out);
    }
    crate::par::install(|| {
        out.par_chunks_mut(m)
            .zip(theta.par_chunks(d))
            .for_each(|(row, t)| {
                let mut dz = vec![0.0; d];
                for (i, o) in row.iter_mut().enumerate() {
                    *o = sigmoid(bank.logit(i, t, &mut dz));
                }
            });
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    #[test]
    fn mle_of_a_single_item_type_row_matches_closed_form() {
        // Rasch items with equal difficulty 0: MLE θ = logit(mean score).
        let a = vec![1.0; 4];
        let b = vec![0.0; 4];
        let bank = ItemBank::new(&a, &b, 1, None).unwrap();
        let (t, se) = score(
            &bank,
            &[1.0, 1.0, 1.0, 0.0],
            1,
            ScoreMethod::Mle,
            1.0,
            &Silent,
        )
        .unwrap();
        assert!((t[0] - 3f64.ln()).abs() < 1e-9);
        assert!((se[0] - (1.0f64 / (4.0 * 0.75 * 0.25)).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn perfect_score_mle_is_infinite_map_is_finite() {
        let a = vec![1.0, 1.5];
        let b = vec![0.0, 0.5];
        let bank = ItemBank::new(&a, &b, 1, None).unwrap();
        let (t, _) = score(&bank, &[1.0, 1.0], 1, ScoreMethod::Mle, 1.0, &Silent).unwrap();
        assert_eq!(t[0], f64::INFINITY);
        let (t, _) = score(&bank, &[1.0, 1.0], 1, ScoreMethod::Map, 1.0, &Silent).unwrap();
        assert!(t[0].is_finite() && t[0] > 0.0);
    }

    #[test]
    fn no_responses_give_the_prior() {
        let a = vec![1.0];
        let b = vec![0.0];
        let bank = ItemBank::new(&a, &b, 1, None).unwrap();
        let (t, se) = score(&bank, &[f64::NAN], 1, ScoreMethod::Eap, 2.0, &Silent).unwrap();
        assert!(t[0].abs() < 1e-9 && (se[0] - 2.0).abs() < 1e-6);
    }
}
