//! Random family effects for skill scaling laws (the latent-variable framework of Cai, Cui,
//! Maia Polo et al., 2025): the marginal Beta likelihood with each family's K-dimensional
//! Gaussian effect integrated out by adaptive Gauss–Hermite quadrature, its analytic gradient,
//! the per-family scores (for the outer-product covariance) and the per-family posterior modes.
//!
//! Model, for row (model) i of family f and benchmark j:
//!
//! ```text
//! α_f = L z_f,  z_f ~ N(0, I_K)                 (Σ = L Lᵀ, L lower triangular)
//! s_i = βᵀ x_i + L z_f                          (skills, β ∈ R^{P×K})
//! η_ij = λ_jᵀ s_i + b_j,  μ_ij = c_j + (1 − c_j) σ(η_ij)
//! y_ij | z_f ~ Beta(φ_j μ_ij, φ_j (1 − μ_ij))   (missing cells are skipped)
//! ```
//!
//! Parameters travel as one flat vector `theta` laid out as
//! `[β (P×K row-major), Λ (K×J row-major), b (J), log φ (J), L (K×K row-major)]`; only the
//! lower triangle of L is read, and the gradient of its upper triangle is zero. Constraints
//! (anchors, unit-diagonal Σ) are the caller's business: it maps its free parameters onto this
//! layout and the gradient back.
//!
//! Integration. Each family's integral ∫ exp(h_f(z)) φ_K(z) dz is evaluated on nodes
//! `z_m = ẑ_f + A_f u_m` with a rule (u_m, ω_m) for N(0, I) (tensor Gauss–Hermite, one node
//! for Laplace, or seeded normal draws with equal weights for Monte Carlo):
//!
//! ```text
//! log p(y_f) ≈ log Σ_m ω_m exp(h_f(z_m) − |z_m|²/2 + |u_m|²/2) + log|det A_f|
//! ```
//!
//! which is exact for any centre ẑ_f and scale A_f as the number of nodes grows and very
//! accurate with few nodes when ẑ_f is the mode of h_f(z) − |z|²/2 and A_f Aᵀ_f the inverse
//! of its negative Hessian ([`family_modes`]). The centres and scales are *inputs* of
//! [`marginal_loglik`], so that for fixed nodes the objective is a smooth function of `theta`
//! and the gradient returned is its exact derivative (the caller re-centres between
//! optimisation rounds, as GLMMadaptive does).
//!
//! Every family is computed independently (in parallel over families) and the totals are
//! summed in family order, so results are bit-identical for any number of threads.

use crate::error::{Error, Result};
use crate::linalg;
use crate::mem;
use crate::par::{self, Monitor};

/// Linear predictors are clamped to ±this before the link (σ(35) = 1 − 6e-16): beyond it the
/// likelihood is flat. Keeps φμ and φ(1 − μ) away from 0, where trigamma would overflow.
pub const ETA_CLAMP: f64 = 35.0;
/// Newton on the family posterior stops when the largest step entry is below this.
const MODE_TOL: f64 = 1e-10;
/// Iteration cap of the posterior-mode Newton.
const MODE_MAX_ITER: usize = 200;

/// Special functions on the positive axis (the Beta log-density and its derivatives).
pub mod special {
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    /// Below this the recurrences shift the argument up before the asymptotic series.
    const SHIFT: f64 = 10.0;

    /// ln Γ(x) for x > 0 (absolute error about 1e-14 for moderate x).
    pub fn ln_gamma(x: f64) -> f64 {
        if x < SHIFT {
            let mut prod = 1.0;
            let mut z = x;
            while z < SHIFT {
                prod *= z;
                z += 1.0;
            }
            stirling(z) - prod.ln()
        } else {
            stirling(x)
        }
    }

    fn stirling(x: f64) -> f64 {
        let r = 1.0 / x;
        let r2 = r * r;
        let series = r
            * (1.0 / 12.0
                - r2 * (1.0 / 360.0
                    - r2 * (1.0 / 1260.0
                        - r2 * (1.0 / 1680.0 - r2 * (1.0 / 1188.0 - r2 * (691.0 / 360_360.0))))));
        (x - 0.5) * x.ln() - x + HALF_LN_2PI + series
    }

    /// ψ(x) = d ln Γ(x)/dx for x > 0.
    pub fn digamma(x: f64) -> f64 {
        let mut acc = 0.0;
        let mut z = x;
        while z < SHIFT {
            acc -= 1.0 / z;
            z += 1.0;
        }
        let r = 1.0 / z;
        let r2 = r * r;
        let series = r2
            * (1.0 / 12.0
                - r2 * (1.0 / 120.0
                    - r2 * (1.0 / 252.0
                        - r2 * (1.0 / 240.0 - r2 * (1.0 / 132.0 - r2 * (691.0 / 32_760.0))))));
        acc + z.ln() - 0.5 * r - series
    }

    /// ψ₁(x) = d² ln Γ(x)/dx² for x > 0.
    pub fn trigamma(x: f64) -> f64 {
        let mut acc = 0.0;
        let mut z = x;
        while z < SHIFT {
            acc += 1.0 / (z * z);
            z += 1.0;
        }
        let r = 1.0 / z;
        let r2 = r * r;
        let series = r
            + r2 * 0.5
            + r2 * r
                * (1.0 / 6.0
                    - r2 * (1.0 / 30.0
                        - r2 * (1.0 / 42.0
                            - r2 * (1.0 / 30.0 - r2 * (5.0 / 66.0 - r2 * (691.0 / 2730.0))))));
        acc + series
    }
}

use special::{digamma, ln_gamma, trigamma};

/// Length of the flat parameter vector for `p` features, `k` skills and `j` benchmarks.
pub fn n_params(p: usize, k: usize, j: usize) -> usize {
    p * k + k * j + 2 * j + k * k
}

/// The data of a fit: scores, features and the family grouping of the rows.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    /// Scores, row-major n × J, in (0, 1); NaN marks a missing cell.
    pub y: &'a [f64],
    /// Features, row-major n × P.
    pub x: &'a [f64],
    /// Rows grouped by family: family f owns rows `family_ptr[f]..family_ptr[f + 1]`.
    pub family_ptr: &'a [usize],
    /// Guessing floors c_j in [0, 1), length J.
    pub floor: &'a [f64],
    /// Number of benchmarks J.
    pub n_benchmarks: usize,
    /// Number of skills K.
    pub n_skills: usize,
}

/// Per-family posterior modes and quadrature scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Modes {
    /// ẑ_f, row-major F × K (standardised effect: α_f = L z_f).
    pub centre: Vec<f64>,
    /// A_f with A_f Aᵀ_f = H_f⁻¹ (H_f the negative Hessian at the mode), F × K × K row-major,
    /// upper triangular.
    pub scale: Vec<f64>,
    /// log |det A_f| = −½ log det H_f, length F.
    pub log_det: Vec<f64>,
    /// Whether Newton met its tolerance for every family.
    pub converged: bool,
    /// The most Newton steps any family needed.
    pub max_iter: usize,
}

/// The integration rule: nodes u_m for N(0, I_K) and their log weights.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'a> {
    /// Nodes, row-major M × K.
    pub nodes: &'a [f64],
    /// log ω_m, length M (Σ ω_m = 1 for a rule that integrates constants exactly).
    pub log_weights: &'a [f64],
}

/// Marginal log-likelihood, its gradient and the per-family pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct Marginal {
    /// Σ_f log p(y_f).
    pub loglik: f64,
    /// log p(y_f) per family.
    pub family_loglik: Vec<f64>,
    /// d loglik / d theta (empty unless asked for).
    pub grad: Vec<f64>,
    /// Per-family scores d log p(y_f) / d theta, row-major F × len(theta) (empty unless asked).
    pub scores: Vec<f64>,
}

/// Observed cells of the problem with their log y, log(1 − y), and the row of each cell.
struct Cells {
    /// Cells of row i: `row_ptr[i]..row_ptr[i + 1]`.
    row_ptr: Vec<usize>,
    col: Vec<usize>,
    ly: Vec<f64>,
    l1y: Vec<f64>,
}

/// Parameters split out of `theta`, with the per-benchmark constants precomputed.
struct Model<'a> {
    p: usize,
    k: usize,
    j: usize,
    beta: &'a [f64],
    lambda: &'a [f64],
    bias: &'a [f64],
    chol: &'a [f64],
    phi: Vec<f64>,
    lg_phi: Vec<f64>,
    dg_phi: Vec<f64>,
    floor: &'a [f64],
    /// v_j = Lᵀ λ_j, row-major J × K: η_ij = o_ij + v_jᵀ z.
    v: Vec<f64>,
}

fn validate(problem: &Problem<'_>, theta: &[f64]) -> Result<(usize, usize, usize, usize)> {
    let j = problem.n_benchmarks;
    let k = problem.n_skills;
    if j == 0 {
        return Err(Error::invalid("n_benchmarks", "must be at least 1"));
    }
    if k == 0 || k > j {
        return Err(Error::invalid(
            "n_skills",
            format!("is {k}; pass between 1 and the number of benchmarks ({j})"),
        ));
    }
    if problem.y.len() % j != 0 {
        return Err(Error::shape(
            "scores",
            format!(
                "has {} values, not a multiple of {j} benchmarks",
                problem.y.len()
            ),
        ));
    }
    let n = problem.y.len() / j;
    if n == 0 {
        return Err(Error::shape(
            "scores",
            "has no rows; pass at least one model",
        ));
    }
    if problem.x.len() % n != 0 || problem.x.is_empty() {
        return Err(Error::shape(
            "features",
            format!(
                "has {} values for {n} rows; pass an n × P array",
                problem.x.len()
            ),
        ));
    }
    let p = problem.x.len() / n;
    crate::error::ensure_finite("features", problem.x)?;
    if let Some(pos) = problem
        .y
        .iter()
        .position(|&v| !(v.is_nan() || (v > 0.0 && v < 1.0)))
    {
        return Err(Error::invalid(
            "scores",
            format!(
                "value {} at position {pos} is outside (0, 1); clip scores into the open unit \
                 interval (NaN marks a missing score)",
                problem.y[pos]
            ),
        ));
    }
    if problem.floor.len() != j {
        return Err(Error::shape(
            "floor",
            format!("has {} values for {j} benchmarks", problem.floor.len()),
        ));
    }
    if let Some(&c) = problem.floor.iter().find(|c| !(**c >= 0.0 && **c < 1.0)) {
        return Err(Error::invalid(
            "floor",
            format!("value {c} is outside [0, 1); pass guessing floors in [0, 1)"),
        ));
    }
    let ptr = problem.family_ptr;
    if ptr.len() < 2
        || ptr[0] != 0
        || ptr[ptr.len() - 1] != n
        || ptr.windows(2).any(|w| w[1] < w[0])
    {
        return Err(Error::invalid(
            "families",
            format!(
                "family offsets must rise from 0 to the number of rows ({n}); sort the rows by \
                 family"
            ),
        ));
    }
    let want = n_params(p, k, j);
    if theta.len() != want {
        return Err(Error::shape(
            "theta",
            format!(
                "has {} values; {p} features, {k} skills and {j} benchmarks need {want}",
                theta.len()
            ),
        ));
    }
    crate::error::ensure_finite("theta", theta)?;
    Ok((n, p, k, j))
}

impl<'a> Model<'a> {
    fn new(theta: &'a [f64], floor: &'a [f64], p: usize, k: usize, j: usize) -> Result<Self> {
        let (beta, rest) = theta.split_at(p * k);
        let (lambda, rest) = rest.split_at(k * j);
        let (bias, rest) = rest.split_at(j);
        let (log_phi, chol) = rest.split_at(j);
        if let Some(pos) = log_phi.iter().position(|v| v.abs() > 30.0) {
            return Err(Error::invalid(
                "theta",
                format!(
                    "log precision of benchmark {pos} is {}; it must lie in [-30, 30]",
                    log_phi[pos]
                ),
            ));
        }
        let phi: Vec<f64> = log_phi.iter().map(|v| v.exp()).collect();
        let lg_phi = phi.iter().map(|&f| ln_gamma(f)).collect();
        let dg_phi = phi.iter().map(|&f| digamma(f)).collect();
        let mut v = vec![0.0; j * k];
        for jj in 0..j {
            for a in 0..k {
                // (Lᵀ λ_j)_a = Σ_{b ≥ a} L[b, a] λ[b, j]
                let mut s = 0.0;
                for b in a..k {
                    s += chol[b * k + a] * lambda[b * j + jj];
                }
                v[jj * k + a] = s;
            }
        }
        Ok(Model {
            p,
            k,
            j,
            beta,
            lambda,
            bias,
            chol,
            phi,
            lg_phi,
            dg_phi,
            floor,
            v,
        })
    }

    /// m_i = βᵀ x_i (length K).
    fn fixed_skills(&self, xi: &[f64], out: &mut [f64]) {
        for (a, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for (q, xv) in xi.iter().enumerate() {
                s += xv * self.beta[q * self.k + a];
            }
            *o = s;
        }
    }

    /// L z (length K).
    fn chol_times(&self, z: &[f64], out: &mut [f64]) {
        for (a, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for (b, zb) in z.iter().enumerate().take(a + 1) {
                s += self.chol[a * self.k + b] * zb;
            }
            *o = s;
        }
    }
}

/// μ, 1 − μ and dμ/dη at a (clamped) linear predictor.
#[inline]
fn link(eta: f64, c: f64) -> (f64, f64, f64, f64) {
    let e = eta.clamp(-ETA_CLAMP, ETA_CLAMP);
    let s = 1.0 / (1.0 + (-e).exp());
    let sm = 1.0 / (1.0 + e.exp());
    let mu = c + (1.0 - c) * s;
    let one_minus = (1.0 - c) * sm;
    let inside = eta.abs() <= ETA_CLAMP;
    let d1 = if inside { (1.0 - c) * s * sm } else { 0.0 };
    let d2 = if inside { d1 * (sm - s) } else { 0.0 };
    (mu, one_minus, d1, d2)
}

/// Beta log-density of a cell.
#[inline]
fn cell_ll(m: &Model<'_>, jj: usize, eta: f64, ly: f64, l1y: f64) -> f64 {
    let (mu, om, _, _) = link(eta, m.floor[jj]);
    let phi = m.phi[jj];
    let a = phi * mu;
    let b = phi * om;
    m.lg_phi[jj] - ln_gamma(a) - ln_gamma(b) + (a - 1.0) * ly + (b - 1.0) * l1y
}

/// dℓ/dη and dℓ/d log φ of a cell.
#[inline]
fn cell_grad(m: &Model<'_>, jj: usize, eta: f64, ly: f64, l1y: f64) -> (f64, f64) {
    let (mu, om, d1, _) = link(eta, m.floor[jj]);
    let phi = m.phi[jj];
    let (da, db) = (digamma(phi * mu), digamma(phi * om));
    let dmu = phi * (db - da + ly - l1y);
    let dphi = m.dg_phi[jj] - mu * da - om * db + mu * ly + om * l1y;
    (dmu * d1, dphi * phi)
}

/// dℓ/dη, the observed −d²ℓ/dη² and the expected (Fisher) −d²ℓ/dη² of a cell.
#[inline]
fn cell_curv(m: &Model<'_>, jj: usize, eta: f64, ly: f64, l1y: f64) -> (f64, f64, f64) {
    let (mu, om, d1, d2) = link(eta, m.floor[jj]);
    let phi = m.phi[jj];
    let (a, b) = (phi * mu, phi * om);
    let dmu = phi * (digamma(b) - digamma(a) + ly - l1y);
    let info_mu = phi * phi * (trigamma(a) + trigamma(b));
    let fisher = info_mu * d1 * d1;
    (dmu * d1, fisher - dmu * d2, fisher)
}

fn prepare_cells(problem: &Problem<'_>, n: usize, j: usize) -> Result<Cells> {
    let observed = problem.y.iter().filter(|v| !v.is_nan()).count();
    let fix = "pass fewer rows or benchmarks";
    let mut col = mem::try_with_capacity("scores", observed, fix)?;
    let mut ly = mem::try_with_capacity("scores", observed, fix)?;
    let mut l1y = mem::try_with_capacity("scores", observed, fix)?;
    let mut row_ptr = mem::try_with_capacity("scores", n + 1, fix)?;
    row_ptr.push(0);
    for i in 0..n {
        for jj in 0..j {
            let v = problem.y[i * j + jj];
            if !v.is_nan() {
                col.push(jj);
                ly.push(v.ln());
                l1y.push((-v).ln_1p());
            }
        }
        row_ptr.push(col.len());
    }
    Ok(Cells {
        row_ptr,
        col,
        ly,
        l1y,
    })
}

/// The fixed part o_ij = λ_jᵀ βᵀ x_i + b_j of each observed cell of rows `r0..r1`.
fn offsets(m: &Model<'_>, x: &[f64], cells: &Cells, r0: usize, r1: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(cells.row_ptr[r1] - cells.row_ptr[r0]);
    let mut mi = vec![0.0; m.k];
    for i in r0..r1 {
        m.fixed_skills(&x[i * m.p..(i + 1) * m.p], &mut mi);
        for c in cells.row_ptr[i]..cells.row_ptr[i + 1] {
            let jj = cells.col[c];
            let mut s = m.bias[jj];
            for (a, ma) in mi.iter().enumerate() {
                s += m.lambda[a * m.j + jj] * ma;
            }
            out.push(s);
        }
    }
    out
}

/// The log integrand h_f(z) − |z|²/2 of one family, its gradient and (optionally) the
/// observed and Fisher negative Hessians (K × K row-major, prior identity included).
struct FamilyEval {
    value: f64,
    grad: Vec<f64>,
    observed: Vec<f64>,
    fisher: Vec<f64>,
}

fn family_eval(
    m: &Model<'_>,
    cells: &Cells,
    off: &[f64],
    c0: usize,
    c1: usize,
    z: &[f64],
    curvature: bool,
) -> FamilyEval {
    let k = m.k;
    let mut value = -0.5 * linalg::dot(z, z);
    let mut grad: Vec<f64> = z.iter().map(|v| -v).collect();
    let mut observed = vec![0.0; k * k];
    let mut fisher = vec![0.0; k * k];
    for a in 0..k {
        observed[a * k + a] = 1.0;
        fisher[a * k + a] = 1.0;
    }
    for c in c0..c1 {
        let jj = cells.col[c];
        let vj = &m.v[jj * k..(jj + 1) * k];
        let eta = off[c - c0] + linalg::dot(vj, z);
        value += cell_ll(m, jj, eta, cells.ly[c], cells.l1y[c]);
        if curvature {
            let (d, w_obs, w_fis) = cell_curv(m, jj, eta, cells.ly[c], cells.l1y[c]);
            for a in 0..k {
                grad[a] += d * vj[a];
                for b in 0..k {
                    observed[a * k + b] += w_obs * vj[a] * vj[b];
                    fisher[a * k + b] += w_fis * vj[a] * vj[b];
                }
            }
        }
    }
    FamilyEval {
        value,
        grad,
        observed,
        fisher,
    }
}

/// (mode, scale, log|det scale|, converged, iterations) of one family.
type OneMode = (Vec<f64>, Vec<f64>, f64, bool, usize);

/// One family's mode by Fisher-scoring Newton with step halving; returns
/// (mode, scale A (upper triangular, row-major), log|det A|, converged, iterations).
#[allow(clippy::too_many_arguments)]
fn one_mode(
    m: &Model<'_>,
    cells: &Cells,
    off: &[f64],
    c0: usize,
    c1: usize,
    init: &[f64],
) -> Result<OneMode> {
    let k = m.k;
    let mut z = init.to_vec();
    let mut cur = family_eval(m, cells, off, c0, c1, &z, true);
    if !cur.value.is_finite() {
        z.iter_mut().for_each(|v| *v = 0.0);
        cur = family_eval(m, cells, off, c0, c1, &z, true);
    }
    let mut converged = false;
    let mut iters = 0;
    while iters < MODE_MAX_ITER {
        iters += 1;
        let mut h = cur.fisher.clone();
        if !linalg::cholesky(k, &mut h) {
            return Err(Error::Numerical(
                "the family posterior has a singular curvature; check the loadings".into(),
            ));
        }
        let mut step = cur.grad.clone();
        linalg::cholesky_solve(k, &h, &mut step);
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let trial: Vec<f64> = z.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            let ev = family_eval(m, cells, off, c0, c1, &trial, true);
            if ev.value.is_finite() && ev.value >= cur.value - 1e-12 * cur.value.abs() {
                accepted = Some((trial, ev));
                break;
            }
            t *= 0.5;
        }
        let largest = step.iter().fold(0.0f64, |acc, s| acc.max((t * s).abs()));
        match accepted {
            Some((trial, ev)) => {
                z = trial;
                cur = ev;
            }
            None => break,
        }
        if largest < MODE_TOL {
            converged = true;
            break;
        }
    }
    // Scale from the observed curvature when positive definite, else the Fisher one.
    let mut h = cur.observed.clone();
    if !linalg::cholesky(k, &mut h) {
        h = cur.fisher.clone();
        if !linalg::cholesky(k, &mut h) {
            return Err(Error::Numerical(
                "the family posterior has a singular curvature; check the loadings".into(),
            ));
        }
    }
    // H = C Cᵀ (C lower); A = C⁻ᵀ (upper) so that Aᵀ H A = I.
    let mut cinv = vec![0.0; k * k];
    for col in 0..k {
        let mut e = vec![0.0; k];
        e[col] = 1.0;
        for i in 0..k {
            let mut s = e[i];
            for q in 0..i {
                s -= h[i * k + q] * e[q];
            }
            e[i] = s / h[i * k + i];
        }
        for i in 0..k {
            cinv[i * k + col] = e[i];
        }
    }
    let mut a = vec![0.0; k * k];
    for i in 0..k {
        for jj in 0..k {
            a[i * k + jj] = cinv[jj * k + i];
        }
    }
    let log_det = -(0..k).map(|i| h[i * k + i].ln()).sum::<f64>();
    Ok((z, a, log_det, converged, iters))
}

/// Posterior mode ẑ_f of each family's standardised effect and the quadrature scale A_f.
/// `init` (F × K, or empty for zeros) warm-starts Newton.
pub fn family_modes(
    problem: &Problem<'_>,
    theta: &[f64],
    init: &[f64],
    monitor: &dyn Monitor,
) -> Result<Modes> {
    let (n, p, k, j) = validate(problem, theta)?;
    let n_fam = problem.family_ptr.len() - 1;
    if !init.is_empty() && init.len() != n_fam * k {
        return Err(Error::shape(
            "init",
            format!(
                "has {} values; pass n_families × n_skills = {}",
                init.len(),
                n_fam * k
            ),
        ));
    }
    crate::error::ensure_finite("init", init)?;
    let model = Model::new(theta, problem.floor, p, k, j)?;
    let cells = prepare_cells(problem, n, j)?;
    let zero = vec![0.0; k];
    let per = par::map_chunks(n_fam, monitor, |f| {
        let (r0, r1) = (problem.family_ptr[f], problem.family_ptr[f + 1]);
        let off = offsets(&model, problem.x, &cells, r0, r1);
        let start = if init.is_empty() {
            &zero[..]
        } else {
            &init[f * k..(f + 1) * k]
        };
        one_mode(
            &model,
            &cells,
            &off,
            cells.row_ptr[r0],
            cells.row_ptr[r1],
            start,
        )
    })?;
    let mut out = Modes {
        centre: Vec::with_capacity(n_fam * k),
        scale: Vec::with_capacity(n_fam * k * k),
        log_det: Vec::with_capacity(n_fam),
        converged: true,
        max_iter: 0,
    };
    for (z, a, ld, conv, it) in per {
        out.centre.extend(z);
        out.scale.extend(a);
        out.log_det.push(ld);
        out.converged &= conv;
        out.max_iter = out.max_iter.max(it);
    }
    Ok(out)
}

/// Marginal log-likelihood on the rule `rule` placed at `centre`/`scale`/`log_det` per family
/// (from [`family_modes`], or zeros / identity / 0 for plain Monte Carlo); with `grad`, its
/// exact gradient for these fixed nodes, and with `scores` the per-family gradients.
#[allow(clippy::too_many_arguments)]
pub fn marginal_loglik(
    problem: &Problem<'_>,
    theta: &[f64],
    rule: &Rule<'_>,
    centre: &[f64],
    scale: &[f64],
    log_det: &[f64],
    grad: bool,
    scores: bool,
    monitor: &dyn Monitor,
) -> Result<Marginal> {
    let (n, p, k, j) = validate(problem, theta)?;
    let n_fam = problem.family_ptr.len() - 1;
    let n_nodes = rule.log_weights.len();
    if n_nodes == 0 || rule.nodes.len() != n_nodes * k {
        return Err(Error::shape(
            "nodes",
            format!(
                "has {} values for {n_nodes} weights and {k} skills; pass an M × K array with M \
                 ≥ 1",
                rule.nodes.len()
            ),
        ));
    }
    crate::error::ensure_finite("nodes", rule.nodes)?;
    if rule
        .log_weights
        .iter()
        .any(|v| v.is_nan() || *v == f64::INFINITY)
    {
        return Err(Error::non_finite("log_weights", "must be finite or -inf"));
    }
    if centre.len() != n_fam * k || scale.len() != n_fam * k * k || log_det.len() != n_fam {
        return Err(Error::shape(
            "centre",
            format!(
                "centres, scales and log-determinants must have F×K, F×K×K and F values for F = \
                 {n_fam} families and K = {k} skills"
            ),
        ));
    }
    crate::error::ensure_finite("centre", centre)?;
    crate::error::ensure_finite("scale", scale)?;
    crate::error::ensure_finite("log_det", log_det)?;
    let n_theta = theta.len();
    if scores {
        mem::ensure_fits(
            "families",
            (n_fam as u128) * (n_theta as u128),
            8,
            "pass fewer families or skills",
        )?;
    }
    let model = Model::new(theta, problem.floor, p, k, j)?;
    let cells = prepare_cells(problem, n, j)?;
    let want_grad = grad || scores;
    let per = par::map_chunks(n_fam, monitor, |f| {
        Ok(family_marginal(
            &model,
            problem.x,
            &cells,
            problem.family_ptr[f],
            problem.family_ptr[f + 1],
            rule,
            &centre[f * k..(f + 1) * k],
            &scale[f * k * k..(f + 1) * k * k],
            log_det[f],
            want_grad,
        ))
    })?;
    let mut out = Marginal {
        loglik: 0.0,
        family_loglik: Vec::with_capacity(n_fam),
        grad: if grad { vec![0.0; n_theta] } else { Vec::new() },
        scores: Vec::new(),
    };
    if scores {
        out.scores = Vec::with_capacity(n_fam * n_theta);
    }
    for (ll, g) in per {
        out.loglik += ll;
        out.family_loglik.push(ll);
        if grad {
            for (o, v) in out.grad.iter_mut().zip(&g) {
                *o += v;
            }
        }
        if scores {
            out.scores.extend_from_slice(&g);
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn family_marginal(
    m: &Model<'_>,
    x: &[f64],
    cells: &Cells,
    r0: usize,
    r1: usize,
    rule: &Rule<'_>,
    centre: &[f64],
    scale: &[f64],
    log_det: f64,
    want_grad: bool,
) -> (f64, Vec<f64>) {
    let k = m.k;
    let (c0, c1) = (cells.row_ptr[r0], cells.row_ptr[r1]);
    let off = offsets(m, x, cells, r0, r1);
    let n_nodes = rule.log_weights.len();
    let mut g = vec![f64::NEG_INFINITY; n_nodes];
    let mut zs = vec![0.0; n_nodes * k];
    for (node, gm) in g.iter_mut().enumerate() {
        let lw = rule.log_weights[node];
        if lw == f64::NEG_INFINITY {
            continue;
        }
        let u = &rule.nodes[node * k..(node + 1) * k];
        let z = &mut zs[node * k..(node + 1) * k];
        for a in 0..k {
            let mut s = centre[a];
            for b in 0..k {
                s += scale[a * k + b] * u[b];
            }
            z[a] = s;
        }
        let mut v = lw + log_det + 0.5 * (linalg::dot(u, u) - linalg::dot(z, z));
        for c in c0..c1 {
            let jj = cells.col[c];
            let eta = off[c - c0] + linalg::dot(&m.v[jj * k..(jj + 1) * k], z);
            v += cell_ll(m, jj, eta, cells.ly[c], cells.l1y[c]);
        }
        *gm = v;
    }
    let top = g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return (
            top,
            vec![f64::NAN; if want_grad { n_params(m.p, k, m.j) } else { 0 }],
        );
    }
    let total: f64 = g.iter().map(|v| (v - top).exp()).sum();
    let ll = top + total.ln();
    if !want_grad {
        return (ll, Vec::new());
    }
    let (p, j) = (m.p, m.j);
    let mut out = vec![0.0; n_params(p, k, j)];
    let (o_beta, o_lam, o_b, o_phi, o_chol) = (
        0,
        p * k,
        p * k + k * j,
        p * k + k * j + j,
        p * k + k * j + 2 * j,
    );
    let mut lz = vec![0.0; k];
    let mut mi = vec![0.0; k];
    let mut si = vec![0.0; k];
    let mut ri = vec![0.0; k];
    let mut rsum = vec![0.0; k];
    for node in 0..n_nodes {
        let w = (g[node] - ll).exp();
        if w == 0.0 {
            continue;
        }
        let z = &zs[node * k..(node + 1) * k];
        m.chol_times(z, &mut lz);
        rsum.iter_mut().for_each(|v| *v = 0.0);
        for i in r0..r1 {
            let xi = &x[i * p..(i + 1) * p];
            m.fixed_skills(xi, &mut mi);
            for a in 0..k {
                si[a] = mi[a] + lz[a];
            }
            ri.iter_mut().for_each(|v| *v = 0.0);
            for c in cells.row_ptr[i]..cells.row_ptr[i + 1] {
                let jj = cells.col[c];
                let eta = off[c - c0] + linalg::dot(&m.v[jj * k..(jj + 1) * k], z);
                let (d, dphi) = cell_grad(m, jj, eta, cells.ly[c], cells.l1y[c]);
                let wd = w * d;
                out[o_b + jj] += wd;
                out[o_phi + jj] += w * dphi;
                for a in 0..k {
                    out[o_lam + a * j + jj] += wd * si[a];
                    ri[a] += wd * m.lambda[a * j + jj];
                }
            }
            for (q, xv) in xi.iter().enumerate() {
                for a in 0..k {
                    out[o_beta + q * k + a] += xv * ri[a];
                }
            }
            for a in 0..k {
                rsum[a] += ri[a];
            }
        }
        for a in 0..k {
            for b in 0..=a {
                out[o_chol + a * k + b] += rsum[a] * z[b];
            }
        }
    }
    (ll, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    #[test]
    fn special_functions_match_known_values() {
        // ln Γ(0.5) = ln √π, ln Γ(1) = ln Γ(2) = 0, ln Γ(10.5), ψ(1) = −γ, ψ₁(1) = π²/6.
        let ln_sqrt_pi = 0.5 * std::f64::consts::PI.ln();
        assert!((ln_gamma(0.5) - ln_sqrt_pi).abs() < 1e-14);
        assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
        assert!((ln_gamma(10.5) - 13.940_625_219_403_763).abs() < 1e-12);
        assert!((ln_gamma(1e-3) - 6.907_178_885_383_853).abs() < 1e-12);
        assert!((ln_gamma(250.0) - 1_128.523_770_872_990_8).abs() < 1e-10);
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-14);
        assert!((digamma(0.25) + 4.227_453_533_376_265_4).abs() < 1e-13);
        let pi2_6 = std::f64::consts::PI.powi(2) / 6.0;
        assert!((trigamma(1.0) - pi2_6).abs() < 1e-13);
        assert!((trigamma(0.5) - std::f64::consts::PI.powi(2) / 2.0).abs() < 1e-12);
        // digamma is the derivative of ln_gamma, trigamma of digamma.
        for &x in &[0.01, 0.7, 3.3, 9.99, 10.01, 57.0] {
            let h = 1e-6 * x;
            let d = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!((d - digamma(x)).abs() < 1e-6 * (1.0 + d.abs()), "{x}");
            let t = (digamma(x + h) - digamma(x - h)) / (2.0 * h);
            assert!((t - trigamma(x)).abs() < 1e-5 * (1.0 + t.abs()), "{x}");
        }
    }

    struct Toy {
        y: Vec<f64>,
        x: Vec<f64>,
        ptr: Vec<usize>,
        floor: Vec<f64>,
        theta: Vec<f64>,
        j: usize,
        k: usize,
    }

    fn toy(k: usize) -> Toy {
        let (n, p, j) = (9, 2, 3);
        let mut y = Vec::new();
        let mut x = Vec::new();
        for i in 0..n {
            let t = i as f64;
            x.push((0.3 * t).sin());
            x.push(0.2 * t - 0.8);
            for jj in 0..j {
                y.push(0.2 + 0.6 * ((0.37 * t + 0.71 * jj as f64).sin() * 0.5 + 0.5));
            }
        }
        y[4] = f64::NAN;
        y[13] = f64::NAN;
        let mut theta = Vec::new();
        for q in 0..p * k {
            theta.push(0.3 - 0.1 * q as f64);
        }
        for q in 0..k * j {
            theta.push(0.5 + 0.1 * (q as f64).cos());
        }
        theta.extend([0.1, -0.2, 0.05]);
        theta.extend([2.0, 2.5, 1.7]);
        for a in 0..k {
            for b in 0..k {
                theta.push(if a == b {
                    0.8
                } else if b < a {
                    0.3
                } else {
                    0.0
                });
            }
        }
        Toy {
            y,
            x,
            ptr: vec![0, 2, 6, 9],
            floor: vec![0.0, 0.25, 0.1],
            theta,
            j,
            k,
        }
    }

    fn gh_rule(k: usize) -> (Vec<f64>, Vec<f64>) {
        // 3-point probabilists' Gauss–Hermite, tensor product.
        let pts = [-(3.0f64).sqrt(), 0.0, 3.0f64.sqrt()];
        let wts = [1.0 / 6.0, 2.0 / 3.0, 1.0 / 6.0f64];
        let m = 3usize.pow(k as u32);
        let mut nodes = Vec::new();
        let mut lw = Vec::new();
        for idx in 0..m {
            let mut rest = idx;
            let mut w = 0.0;
            for _ in 0..k {
                nodes.push(pts[rest % 3]);
                w += wts[rest % 3].ln();
                rest /= 3;
            }
            lw.push(w);
        }
        (nodes, lw)
    }

    #[test]
    fn gradient_matches_finite_differences_for_fixed_nodes() {
        for k in [1, 2] {
            let t = toy(k);
            let prob = Problem {
                y: &t.y,
                x: &t.x,
                family_ptr: &t.ptr,
                floor: &t.floor,
                n_benchmarks: t.j,
                n_skills: k,
            };
            let modes = family_modes(&prob, &t.theta, &[], &Silent).unwrap();
            assert!(modes.converged);
            let (nodes, lw) = gh_rule(k);
            let rule = Rule {
                nodes: &nodes,
                log_weights: &lw,
            };
            let eval = |th: &[f64]| {
                marginal_loglik(
                    &prob,
                    th,
                    &rule,
                    &modes.centre,
                    &modes.scale,
                    &modes.log_det,
                    true,
                    true,
                    &Silent,
                )
                .unwrap()
            };
            let base = eval(&t.theta);
            // Scores sum to the gradient.
            let np = t.theta.len();
            for q in 0..np {
                let s: f64 = (0..3).map(|f| base.scores[f * np + q]).sum();
                assert!((s - base.grad[q]).abs() < 1e-10 * (1.0 + s.abs()));
            }
            for q in 0..np {
                let h = 1e-5;
                let mut tp = t.theta.clone();
                tp[q] += h;
                let mut tm = t.theta.clone();
                tm[q] -= h;
                let fd = (eval(&tp).loglik - eval(&tm).loglik) / (2.0 * h);
                assert!(
                    (fd - base.grad[q]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "k={k} q={q} fd={fd} an={}",
                    base.grad[q]
                );
            }
        }
    }

    #[test]
    fn one_node_at_the_mode_is_laplace_and_mode_has_zero_gradient() {
        let t = toy(2);
        let prob = Problem {
            y: &t.y,
            x: &t.x,
            family_ptr: &t.ptr,
            floor: &t.floor,
            n_benchmarks: t.j,
            n_skills: t.k,
        };
        let modes = family_modes(&prob, &t.theta, &[], &Silent).unwrap();
        let model = Model::new(&t.theta, &t.floor, 2, 2, 3).unwrap();
        let cells = prepare_cells(&prob, 9, 3).unwrap();
        for f in 0..3 {
            let (r0, r1) = (t.ptr[f], t.ptr[f + 1]);
            let off = offsets(&model, &t.x, &cells, r0, r1);
            let ev = family_eval(
                &model,
                &cells,
                &off,
                cells.row_ptr[r0],
                cells.row_ptr[r1],
                &modes.centre[f * 2..f * 2 + 2],
                true,
            );
            assert!(ev.grad.iter().all(|g| g.abs() < 1e-8), "{:?}", ev.grad);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let t = toy(1);
        let mut prob = Problem {
            y: &t.y,
            x: &t.x,
            family_ptr: &t.ptr,
            floor: &t.floor,
            n_benchmarks: t.j,
            n_skills: 1,
        };
        let bad_ptr = [0, 5, 3, 9];
        prob.family_ptr = &bad_ptr;
        assert!(family_modes(&prob, &t.theta, &[], &Silent).is_err());
        prob.family_ptr = &t.ptr;
        assert!(family_modes(&prob, &t.theta[1..], &[], &Silent).is_err());
        let mut y = t.y.clone();
        y[0] = 1.0;
        prob.y = &y;
        assert!(family_modes(&prob, &t.theta, &[], &Silent).is_err());
    }
}
