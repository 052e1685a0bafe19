//! Entropic dual of the upper Fréchet bound of E[g(X, Y)] given P(X, Z) (the rows) and q(z) =
//! P(Y | z).
//!
//! Conditioning on the pattern z, the upper bound is a transport problem between the empirical
//! distribution of the n_z rows of pattern z and q(z). Its dual, with max_y smoothed to
//! ε·LSE_y(·/ε), is
//!
//! ```text
//! U_z(ε) = min_a  mean_{i in z} ε·LSE_y((g_iy + a_y)/ε) − Σ_y q_y a_y ,
//! ```
//!
//! a smooth convex problem in a ∈ R^K. Because ε·LSE ≥ max, *every* a gives a value at least
//! the exact U_z (weak duality), and at the optimum U_z ≤ U_z(ε) ≤ U_z + ε·log K_z, with K_z
//! the number of labels with q_y > 0 (labels with q_y = 0 carry no mass and are dropped: their
//! dual variable would run to −∞). The bound is therefore conservative even before Newton has
//! fully converged.

use crate::error::{Error, Result};
use crate::linalg;
use crate::par::{self, Monitor};

/// Newton stops when the largest gradient entry is below this.
const GRAD_TOL: f64 = 1e-11;
/// Newton stops when the predicted decrease (the Newton decrement) is below this, relative.
const DECREMENT_TOL: f64 = 1e-15;
/// Below this gradient a failed line search means the rounding floor, not a stall.
const FLAT_TOL: f64 = 1e-7;
/// Iteration cap per pattern (Newton usually needs 10–40 steps; tiny ε needs more).
const MAX_ITER: usize = 500;
/// Armijo sufficient-decrease constant of the backtracking line search.
const ARMIJO: f64 = 1e-4;

/// The upper bound, the dual variables and the per-row summands.
#[derive(Debug, Clone, PartialEq)]
pub struct EntropicBound {
    /// Σ_z (n_z / n) U_z(ε): an upper bound of the sharp upper bound, within ε·log K of it.
    pub value: f64,
    /// Dual variables a(z, y), row-major n_patterns × k (0 for empty patterns and for labels
    /// with q_y = 0).
    pub dual: Vec<f64>,
    /// v_i = ε·LSE_y((g_iy + a(z_i, y))/ε) − Σ_y q_y(z_i) a(z_i, y); mean(v) = value.
    pub terms: Vec<f64>,
    /// Whether Newton met the gradient tolerance for every pattern.
    pub converged: bool,
    /// The largest number of Newton steps any pattern needed.
    pub max_iter: usize,
}

/// Rows grouped by pattern: `order[start[z]..start[z + 1]]` are the rows of pattern z, in
/// increasing row order (a counting sort, so the grouping is deterministic).
fn group_rows(z: &[usize], n_patterns: usize) -> (Vec<usize>, Vec<usize>) {
    let mut start = vec![0usize; n_patterns + 1];
    for &zi in z {
        start[zi + 1] += 1;
    }
    for p in 0..n_patterns {
        start[p + 1] += start[p];
    }
    let mut fill = start.clone();
    let mut order = vec![0usize; z.len()];
    for (i, &zi) in z.iter().enumerate() {
        order[fill[zi]] = i;
        fill[zi] += 1;
    }
    (order, start)
}

fn validate(g: &[f64], n: usize, k: usize, z: &[usize], q: &[f64], eps: f64) -> Result<usize> {
    if n == 0 {
        return Err(Error::shape("G", "is empty; pass at least one row"));
    }
    if k < 2 {
        return Err(Error::shape(
            "G",
            format!("has {k} column(s); pass one column per label (K >= 2)"),
        ));
    }
    if g.len() != n * k {
        return Err(Error::shape(
            "G",
            format!("has {} values, expected n * K = {}", g.len(), n * k),
        ));
    }
    if z.len() != n {
        return Err(Error::shape(
            "z",
            format!(
                "has length {} but G has {n} rows; pass one pattern per row",
                z.len()
            ),
        ));
    }
    if q.is_empty() || q.len() % k != 0 {
        return Err(Error::shape(
            "p_y_given_z",
            format!("has {} values, not a multiple of K = {k}", q.len()),
        ));
    }
    crate::error::ensure_finite("G", g)?;
    crate::error::ensure_finite("p_y_given_z", q)?;
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::invalid(
            "eps",
            format!("must be a positive finite number, got {eps}"),
        ));
    }
    // Each worker holds a K x K Hessian: refuse absurd label counts before allocating.
    let workers = par::num_threads().max(1) as u128;
    crate::mem::ensure_fits(
        "G",
        (k as u128) * (k as u128) * workers,
        8,
        "the entropic dual keeps a K x K Hessian per thread; use fewer labels (columns of G)",
    )?;
    let n_patterns = q.len() / k;
    if let Some(i) = z.iter().position(|&zi| zi >= n_patterns) {
        return Err(Error::invalid(
            "z",
            format!(
                "row {i} has pattern {} but p_y_given_z has {n_patterns} rows",
                z[i]
            ),
        ));
    }
    for (p, row) in q.chunks(k).enumerate() {
        let sum: f64 = row.iter().sum();
        if row.iter().any(|&v| v < 0.0) || (sum - 1.0).abs() > 1e-6 {
            return Err(Error::invalid(
                "p_y_given_z",
                format!(
                    "row {p} is not a probability vector (sum {sum}); rows must be >= 0 and sum to 1"
                ),
            ));
        }
    }
    Ok(n_patterns)
}

/// The upper entropic bound of E[g(X, Y)] (`g` row-major n × k, `z` the pattern of each row,
/// `q` row-major n_patterns × k). The lower bound is `−entropic_upper_bound(−g, ...)`.
pub fn entropic_upper_bound(
    g: &[f64],
    n: usize,
    k: usize,
    z: &[usize],
    q: &[f64],
    eps: f64,
    monitor: &dyn Monitor,
) -> Result<EntropicBound> {
    let n_patterns = validate(g, n, k, z, q, eps)?;
    let (order, start) = group_rows(z, n_patterns);
    let solved = par::map_chunks(n_patterns, monitor, |p| {
        let rows = &order[start[p]..start[p + 1]];
        Ok(solve_pattern(g, k, rows, &q[p * k..(p + 1) * k], eps))
    })?;
    let mut dual = vec![0.0; n_patterns * k];
    let mut terms = vec![0.0; n];
    let mut converged = true;
    let mut max_iter = 0;
    for (p, sol) in solved.into_iter().enumerate() {
        dual[p * k..(p + 1) * k].copy_from_slice(&sol.a);
        for (&i, &v) in order[start[p]..start[p + 1]].iter().zip(&sol.terms) {
            terms[i] = v;
        }
        converged &= sol.converged;
        max_iter = max_iter.max(sol.n_iter);
    }
    // Summed in row order, so the value does not depend on the thread count.
    let value = terms.iter().sum::<f64>() / n as f64;
    Ok(EntropicBound {
        value,
        dual,
        terms,
        converged,
        max_iter,
    })
}

struct PatternSolution {
    a: Vec<f64>,
    terms: Vec<f64>,
    converged: bool,
    n_iter: usize,
}

/// The per-pattern problem restricted to the labels with q_y > 0, with the last of them
/// pinned at a = 0 (the objective is invariant to adding a constant to a).
struct Pattern<'a> {
    g: &'a [f64],
    k: usize,
    rows: &'a [usize],
    support: Vec<usize>,
    q: Vec<f64>,
    eps: f64,
    /// Range of g over the pattern's rows (plus 1): a bound on useful Newton step lengths.
    span: f64,
}

impl Pattern<'_> {
    /// Per-row ε·LSE value and softmax weights over the support for dual `a` (support order).
    fn row(&self, i: usize, a: &[f64], soft: &mut [f64]) -> f64 {
        let gi = &self.g[i * self.k..(i + 1) * self.k];
        let mut top = f64::NEG_INFINITY;
        for (s, &y) in self.support.iter().enumerate() {
            soft[s] = (gi[y] + a[s]) / self.eps;
            top = top.max(soft[s]);
        }
        let mut total = 0.0;
        for w in soft.iter_mut() {
            *w = (*w - top).exp();
            total += *w;
        }
        for w in soft.iter_mut() {
            *w /= total;
        }
        self.eps * (top + total.ln())
    }

    fn objective(&self, a: &[f64], soft: &mut [f64]) -> f64 {
        let mean =
            self.rows.iter().map(|&i| self.row(i, a, soft)).sum::<f64>() / self.rows.len() as f64;
        mean - self.q.iter().zip(a).map(|(q, a)| q * a).sum::<f64>()
    }

    /// Objective, gradient and Hessian in the free coordinates (all but the last).
    fn derivatives(&self, a: &[f64], grad: &mut [f64], hess: &mut [f64], soft: &mut [f64]) -> f64 {
        let m = grad.len();
        grad.fill(0.0);
        hess.fill(0.0);
        let mut mean = 0.0;
        for &i in self.rows {
            mean += self.row(i, a, soft);
            for r in 0..m {
                grad[r] += soft[r];
                for c in 0..m {
                    let outer = soft[r] * soft[c];
                    hess[r * m + c] += if r == c { soft[r] - outer } else { -outer };
                }
            }
        }
        let inv = 1.0 / self.rows.len() as f64;
        for (g, q) in grad.iter_mut().zip(&self.q) {
            *g = *g * inv - q;
        }
        for h in hess.iter_mut() {
            *h *= inv / self.eps;
        }
        mean * inv - self.q.iter().zip(a).map(|(q, a)| q * a).sum::<f64>()
    }
}

fn solve_pattern(g: &[f64], k: usize, rows: &[usize], q_row: &[f64], eps: f64) -> PatternSolution {
    let support: Vec<usize> = (0..k).filter(|&y| q_row[y] > 0.0).collect();
    if rows.is_empty() {
        return PatternSolution {
            a: vec![0.0; k],
            terms: Vec::new(),
            converged: true,
            n_iter: 0,
        };
    }
    let q: Vec<f64> = support.iter().map(|&y| q_row[y]).collect();
    let (lo, hi) = rows
        .iter()
        .flat_map(|&i| &g[i * k..(i + 1) * k])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let pattern = Pattern {
        g,
        k,
        rows,
        support,
        q,
        eps,
        span: (hi - lo) + 1.0,
    };
    let (a_support, converged, n_iter) = newton(&pattern);
    let mut soft = vec![0.0; pattern.support.len()];
    let inner: f64 = pattern.q.iter().zip(&a_support).map(|(q, a)| q * a).sum();
    let terms = rows
        .iter()
        .map(|&i| pattern.row(i, &a_support, &mut soft) - inner)
        .collect();
    let mut a = vec![0.0; k];
    for (s, &y) in pattern.support.iter().enumerate() {
        a[y] = a_support[s];
    }
    PatternSolution {
        a,
        terms,
        converged,
        n_iter,
    }
}

/// Damped Newton: a ridge only where the Hessian is numerically singular (the softmax is almost
/// one-hot for small ε), steps capped at the span of g, and Armijo backtracking. Returns
/// (a, converged, steps).
fn newton(pattern: &Pattern<'_>) -> (Vec<f64>, bool, usize) {
    let ks = pattern.support.len();
    let mut a = vec![0.0; ks];
    if ks == 1 {
        return (a, true, 0);
    }
    let m = ks - 1;
    let mut grad = vec![0.0; m];
    let mut hess = vec![0.0; m * m];
    let mut soft = vec![0.0; ks];
    let mut trial = vec![0.0; ks];
    for iter in 0..MAX_ITER {
        // The ridge grows only while the Hessian is numerically singular.
        let mut ridge = 0.0_f64;
        let f = pattern.derivatives(&a, &mut grad, &mut hess, &mut soft);
        if grad.iter().all(|g| g.abs() < GRAD_TOL) {
            return (a, true, iter);
        }
        let mut step = loop {
            let mut h = hess.clone();
            let scale = (0..m)
                .map(|r| hess[r * m + r])
                .fold(0.0_f64, f64::max)
                .max(1e-300);
            for r in 0..m {
                h[r * m + r] += ridge * scale + 1e-14 * scale;
            }
            if linalg::cholesky(m, &mut h) {
                let mut d = grad.clone();
                linalg::cholesky_solve(m, &h, &mut d);
                break d;
            }
            ridge = (ridge * 10.0).max(1e-10);
        };
        // When the softmax saturates the Hessian vanishes and the Newton step explodes; the
        // optimal duals lie within the range of g, so longer steps are never needed.
        // Newton decrement: the predicted decrease is below rounding, so further steps would
        // only chase noise in the sums.
        let decrement: f64 = step.iter().zip(&grad).map(|(s, g)| s * g).sum();
        if decrement.is_finite() && decrement <= DECREMENT_TOL * f.abs().max(1.0) {
            return (a, true, iter);
        }
        if step.iter().any(|s| !s.is_finite()) {
            // A Hessian that underflowed to zero: fall back to the gradient direction.
            step.copy_from_slice(&grad);
        }
        let longest = step.iter().fold(0.0_f64, |m, s| m.max(s.abs()));
        if longest > pattern.span {
            let shrink = pattern.span / longest;
            step.iter_mut().for_each(|s| *s *= shrink);
        }
        let slope: f64 = -step.iter().zip(&grad).map(|(s, g)| s * g).sum::<f64>();
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            for r in 0..m {
                trial[r] = a[r] - t * step[r];
            }
            trial[m] = 0.0;
            let value = pattern.objective(&trial, &mut soft);
            if value < f && value <= f + ARMIJO * t * slope {
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            // No decrease along the Newton direction: the objective is flat to rounding.
            let flat = grad.iter().all(|g| g.abs() < FLAT_TOL);
            return (a, flat, iter);
        }
        a.copy_from_slice(&trial);
    }
    (a, false, MAX_ITER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;
    use proptest::prelude::*;

    /// Exact upper bound for K = 2 by the greedy (sorting) coupling, written plainly.
    fn exact_k2(g: &[f64], z: &[usize], q: &[f64]) -> f64 {
        let n = z.len();
        let n_patterns = q.len() / 2;
        let mut total = 0.0;
        for p in 0..n_patterns {
            let mut d: Vec<(f64, f64)> = (0..n)
                .filter(|&i| z[i] == p)
                .map(|i| (g[2 * i + 1] - g[2 * i], g[2 * i]))
                .collect();
            d.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut mass = d.len() as f64 * q[2 * p + 1];
            for (di, g0) in d {
                let w = mass.clamp(0.0, 1.0);
                total += g0 + w * di;
                mass -= w;
            }
        }
        total / n as f64
    }

    #[test]
    fn within_smoothing_gap_of_exact_k2() {
        let n = 200;
        let g: Vec<f64> = (0..2 * n)
            .map(|i| ((i * 7919) % 101) as f64 / 101.0)
            .collect();
        let z: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let q = vec![0.3, 0.7, 0.5, 0.5, 0.9, 0.1];
        let exact = exact_k2(&g, &z, &q);
        for eps in [0.05, 0.01, 0.002] {
            let b = entropic_upper_bound(&g, n, 2, &z, &q, eps, &Silent).unwrap();
            assert!(b.value >= exact - 1e-12, "{} < {exact}", b.value);
            assert!(
                b.value <= exact + eps * 2f64.ln() + 1e-9,
                "{} {exact} {eps} {} {}",
                b.value,
                b.converged,
                b.max_iter
            );
            let mean = b.terms.iter().sum::<f64>() / n as f64;
            assert!((mean - b.value).abs() < 1e-12);
        }
    }

    #[test]
    fn zero_probability_labels_are_dropped() {
        let g = vec![1.0, 5.0, 0.0, 2.0, 9.0, 1.0];
        let z = vec![0, 0];
        let q = vec![1.0, 0.0, 0.0];
        let b = entropic_upper_bound(&g, 2, 3, &z, &q, 0.01, &Silent).unwrap();
        assert!((b.value - 1.5).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        let g = vec![0.0; 4];
        assert!(entropic_upper_bound(&g, 2, 2, &[0, 1], &[0.5, 0.5], 0.01, &Silent).is_err());
        assert!(entropic_upper_bound(&g, 2, 2, &[0, 0], &[0.5, 0.6], 0.01, &Silent).is_err());
        assert!(entropic_upper_bound(&g, 2, 2, &[0, 0], &[0.5, 0.5], 0.0, &Silent).is_err());
        assert!(
            entropic_upper_bound(&[f64::NAN; 4], 2, 2, &[0, 0], &[0.5, 0.5], 0.01, &Silent)
                .is_err()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// For K = 2 the dual sits above the exact (sorting) bound, by at most eps * log 2.
        #[test]
        fn dual_brackets_the_exact_bound(
            g in prop::collection::vec(-3.0f64..3.0, 2..120),
            q1 in prop::collection::vec(0.0f64..=1.0, 1..4),
            eps in 0.002f64..0.2,
        ) {
            let n = g.len() / 2;
            let g = &g[..2 * n];
            let n_patterns = q1.len();
            let z: Vec<usize> = (0..n).map(|i| i % n_patterns).collect();
            let q: Vec<f64> = q1.iter().flat_map(|&p| [1.0 - p, p]).collect();
            let exact = exact_k2(g, &z, &q);
            let b = entropic_upper_bound(g, n, 2, &z, &q, eps, &Silent).unwrap();
            prop_assert!(b.value >= exact - 1e-9);
            prop_assert!(b.value <= exact + eps * 2f64.ln() + 1e-7);
        }
    }
}
