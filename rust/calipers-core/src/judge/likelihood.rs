//! The cumulative-logit log-likelihood, its analytic gradient and Hessian, and the
//! item-clustered score sums of the sandwich covariance.
//!
//! Row r with label y (0-based, K categories) and linear predictor η = wᵀb contributes
//! `log(σ(u) − σ(l))` with `u = τ_y − η` (absent, +∞, for the top category) and
//! `l = τ_{y−1} − η` (absent, −∞, for the bottom one). The interior case is evaluated as
//!
//! ```text
//! log(σ(u) − σ(l)) = −softplus(−u) − softplus(l) + log(−expm1(l − u)),
//! ```
//!
//! (from σ(u) − σ(l) = σ(u)·σ(−l)·(1 − e^{l−u})), which loses no digits in either tail, and the
//! derivatives as ratios of σ's taken without dividing tiny numbers (no 0/0 far in a tail); the
//! row loop itself is in `kernel` (one fused, vectorised pass for the log-likelihood, gradient
//! and Hessian).
//!
//! Sums over rows run over fixed chunks of [`ROW_CHUNK`] rows; chunk sums are added in chunk
//! order, so a parallel and a sequential evaluation give the same bits on any thread count.

use std::ops::Range;

use super::kernel::{Categories, RunScores, Sums, chunk_pass};
use crate::error::{Error, Result, ensure_finite};
use crate::linalg::{cholesky, dot};
use crate::mem;
use crate::par::{Monitor, chunk_ranges, map_chunks};

/// Relative pivot size below which the information matrix counts as singular.
const SINGULAR: f64 = 1e-12;

/// Rows per chunk of every sum over rows (fixed: the chunking must not depend on threads).
pub const ROW_CHUNK: usize = 8192;

/// A cumulative-logit regression problem: labels, regressors and the threshold map.
#[derive(Clone, Copy, Debug)]
pub struct Problem<'a> {
    y: &'a [u32],
    w: &'a [f64],
    q: usize,
    tmap: &'a [f64],
    n_t: usize,
    k: usize,
}

impl<'a> Problem<'a> {
    /// `y`: the label of each row in 0..k; `w`: the n × q regressors, row-major; `tmap`: the
    /// (k − 1) × n_t threshold map (τ = T t), row-major; `k`: the number of categories.
    pub fn new(
        y: &'a [u32],
        w: &'a [f64],
        q: usize,
        tmap: &'a [f64],
        n_t: usize,
        k: usize,
    ) -> Result<Self> {
        if k < 2 {
            return Err(Error::invalid(
                "n_categories",
                format!("is {k}; an ordinal regression needs at least 2 categories"),
            ));
        }
        if y.is_empty() {
            return Err(Error::shape("y", "is empty; pass at least one rating"));
        }
        if Some(w.len()) != y.len().checked_mul(q) {
            return Err(Error::shape(
                "w",
                format!(
                    "has {} values for {} rows of {q} regressors; pass an n x q matrix",
                    w.len(),
                    y.len()
                ),
            ));
        }
        if Some(tmap.len()) != (k - 1).checked_mul(n_t) {
            return Err(Error::shape(
                "tmap",
                format!("has {} values; pass a (K - 1) x n_t matrix", tmap.len()),
            ));
        }
        if let Some(i) = y.iter().position(|&c| c as usize >= k) {
            return Err(Error::invalid(
                "y",
                format!("row {i} has category {}, outside 0..{}", y[i], k - 1),
            ));
        }
        ensure_finite("w", w)?;
        ensure_finite("tmap", tmap)?;
        Ok(Problem {
            y,
            w,
            q,
            tmap,
            n_t,
            k,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.y.len()
    }

    /// Number of categories K.
    pub fn n_categories(&self) -> usize {
        self.k
    }

    /// Number of regressors q.
    pub fn n_regressors(&self) -> usize {
        self.q
    }

    /// Number of free threshold parameters n_t.
    pub fn n_thresholds(&self) -> usize {
        self.n_t
    }

    /// Number of parameters, n_t + q: θ = (t, b).
    pub fn n_params(&self) -> usize {
        self.n_t + self.q
    }

    pub(crate) fn labels(&self) -> &'a [u32] {
        self.y
    }

    pub(crate) fn regressors(&self) -> &'a [f64] {
        self.w
    }

    pub(crate) fn tmap(&self) -> &'a [f64] {
        self.tmap
    }

    /// The thresholds τ = T t.
    pub fn thresholds(&self, t: &[f64]) -> Vec<f64> {
        (0..self.k - 1)
            .map(|i| dot(&self.tmap[i * self.n_t..(i + 1) * self.n_t], t))
            .collect()
    }
}

/// Log-likelihood, gradient (length P) and Hessian (P × P, row-major) at θ = (t, b).
#[derive(Clone, Debug, PartialEq)]
pub struct Derivatives {
    pub loglik: f64,
    pub gradient: Vec<f64>,
    pub hessian: Vec<f64>,
}

/// Splits θ into the thresholds τ = T t and the coefficients b; None when τ is not strictly
/// increasing (outside the parameter space).
fn split<'t>(p: &Problem<'_>, theta: &'t [f64]) -> Option<(Vec<f64>, &'t [f64])> {
    let (t, b) = theta.split_at(p.n_t);
    let tau = p.thresholds(t);
    if tau.windows(2).all(|w| w[0] < w[1]) && tau.iter().all(|x| x.is_finite()) {
        Some((tau, b))
    } else {
        None
    }
}

/// Runs `f` over the row chunks, in parallel through `map_chunks` when asked and there is
/// more than one chunk, and returns the chunk results in chunk order. Either way a stop
/// request is noticed between chunks.
fn over_chunks<T: Send>(
    n: usize,
    parallel: bool,
    monitor: &dyn Monitor,
    f: impl Fn(Range<usize>) -> T + Sync + Send,
) -> Result<Vec<T>> {
    let ranges: Vec<Range<usize>> = chunk_ranges(n, ROW_CHUNK).collect();
    if parallel && ranges.len() > 1 {
        map_chunks(ranges.len(), monitor, |c| Ok(f(ranges[c].clone())))
    } else {
        ranges
            .into_iter()
            .map(|r| {
                if monitor.stop_requested() {
                    Err(Error::Interrupted)
                } else {
                    Ok(f(r))
                }
            })
            .collect()
    }
}

/// The log-likelihood and its derivatives at θ (the Hessian only when `hessian`; else it is
/// empty). `Ok(None)` when θ lies outside the parameter space (thresholds not increasing) or
/// has likelihood 0. The sums run over fixed row chunks folded in order: the same bits with
/// `parallel` on or off and on any number of threads.
pub fn derivatives(
    p: &Problem<'_>,
    theta: &[f64],
    hessian: bool,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<Option<Derivatives>> {
    Ok(derivatives_and_scores(p, theta, hessian, None, parallel, monitor)?.map(|(d, _)| d))
}

/// [`derivatives`], and with `clusters` (checked by [`check_clusters`]) the cluster score sums
/// of the meat of the sandwich from the same pass over the rows (one entry per row chunk).
pub(crate) fn derivatives_and_scores(
    p: &Problem<'_>,
    theta: &[f64],
    hessian: bool,
    clusters: Option<&[u32]>,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<Option<(Derivatives, Option<Vec<RunScores>>)>> {
    if theta.len() != p.n_params() {
        return Err(Error::shape(
            "theta",
            format!("has {} values for {} parameters", theta.len(), p.n_params()),
        ));
    }
    let Some((tau, b)) = split(p, theta) else {
        return Ok(None);
    };
    let cats = Categories::new(&tau);
    let parts = over_chunks(p.n_rows(), parallel, monitor, |rows| {
        chunk_pass(p, &cats, b, rows, hessian, clusters)
    })?;
    let mut s = Sums::zeros(p.k - 1, p.q, hessian);
    for (part, _) in &parts {
        s.add(part);
    }
    if !s.ll.is_finite() {
        return Ok(None);
    }
    let runs = clusters.map(|_| parts.into_iter().filter_map(|(_, r)| r).collect());
    Ok(Some((to_theta_space(p, &s, hessian), runs)))
}

/// Chain rule from (τ, b) to θ = (t, b): g_t = Tᵀ g_τ, H_tt = Tᵀ H_ττ T, H_tb = Tᵀ H_τb.
fn to_theta_space(p: &Problem<'_>, s: &Sums, hessian: bool) -> Derivatives {
    let (k1, q, n_t) = (p.k - 1, p.q, p.n_t);
    let np = n_t + q;
    let tm = |i: usize, j: usize| p.tmap[i * n_t + j];
    let mut gradient = vec![0.0; np];
    for (j, g) in gradient[..n_t].iter_mut().enumerate() {
        *g = (0..k1).map(|i| tm(i, j) * s.g_tau[i]).sum();
    }
    gradient[n_t..].copy_from_slice(&s.g_b);
    let mut h = Vec::new();
    if hessian {
        h = vec![0.0; np * np];
        for j in 0..n_t {
            for l in 0..n_t {
                let mut acc = 0.0;
                for i in 0..k1 {
                    for m in 0..k1 {
                        acc += tm(i, j) * s.h_tt[i * k1 + m] * tm(m, l);
                    }
                }
                h[j * np + l] = acc;
            }
            for c in 0..q {
                let v: f64 = (0..k1).map(|i| tm(i, j) * s.h_tb[i * q + c]).sum();
                h[j * np + n_t + c] = v;
                h[(n_t + c) * np + j] = v;
            }
        }
        for i in 0..q {
            for j in i..q {
                let v = s.h_bb[i * q + j];
                h[(n_t + i) * np + n_t + j] = v;
                h[(n_t + j) * np + n_t + i] = v;
            }
        }
    }
    Derivatives {
        loglik: s.ll,
        gradient,
        hessian: h,
    }
}

/// Checks the cluster of every row: one per row, each in 0..n_clusters.
pub(crate) fn check_clusters(p: &Problem<'_>, clusters: &[u32], n_clusters: usize) -> Result<()> {
    if clusters.len() != p.n_rows() {
        return Err(Error::shape(
            "items",
            format!(
                "has length {} but there are {} ratings; pass one item id per rating",
                clusters.len(),
                p.n_rows()
            ),
        ));
    }
    if let Some(i) = clusters.iter().position(|&c| c as usize >= n_clusters) {
        return Err(Error::invalid(
            "items",
            format!(
                "row {i} has cluster {} >= n_clusters {n_clusters}",
                clusters[i]
            ),
        ));
    }
    Ok(())
}

/// The "meat" of the cluster-robust sandwich, Σ_g s_g s_gᵀ with s_g the score of θ summed
/// over the rows of cluster g (P × P, row-major). `clusters[r]` in 0..n_clusters.
pub fn cluster_meat(
    p: &Problem<'_>,
    theta: &[f64],
    clusters: &[u32],
    n_clusters: usize,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    check_clusters(p, clusters, n_clusters)?;
    if split(p, theta).is_none() {
        return Err(Error::invalid(
            "theta",
            "its thresholds are not increasing; pass a fitted theta",
        ));
    }
    let found = derivatives_and_scores(p, theta, false, Some(clusters), parallel, monitor)?;
    let Some((_, Some(runs))) = found else {
        return Err(Error::Numerical(
            "judge: the likelihood is 0 at theta; pass a fitted theta".into(),
        ));
    };
    meat_from_runs(&runs, n_clusters, p.n_params())
}

/// The meat from the run score sums of every chunk (in chunk order).
pub(crate) fn meat_from_runs(runs: &[RunScores], n_clusters: usize, np: usize) -> Result<Vec<f64>> {
    if np == 0 {
        return Ok(Vec::new());
    }
    let fix = "fit on fewer items";
    let mut meat = match meat_of_adjacent_runs(runs, n_clusters, np) {
        Some(meat) => meat,
        None => {
            let mut per_cluster = mem::try_filled("items", n_clusters * np, 0.0, fix)?;
            for (ids, sums) in runs {
                for (g, s) in ids.iter().zip(sums.chunks_exact(np)) {
                    let dst = &mut per_cluster[*g as usize * np..(*g as usize + 1) * np];
                    for (d, v) in dst.iter_mut().zip(s) {
                        *d += v;
                    }
                }
            }
            let mut meat = vec![0.0; np * np];
            for s in per_cluster.chunks_exact(np) {
                add_outer_product(&mut meat, s);
            }
            meat
        }
    };
    for i in 0..np {
        for j in 0..i {
            meat[i * np + j] = meat[j * np + i];
        }
    }
    Ok(meat)
}

/// Σ_g s_g s_gᵀ (upper triangle) from the run sums of the chunks, in row order, when the rows
/// of each cluster are adjacent (the usual layout: one run per cluster, split at most by chunk
/// boundaries), so that no n_clusters × P table is needed; None when some cluster's rows are
/// not adjacent.
fn meat_of_adjacent_runs(parts: &[RunScores], n_clusters: usize, np: usize) -> Option<Vec<f64>> {
    let mut seen = vec![false; n_clusters];
    let mut meat = vec![0.0; np * np];
    let mut current: Option<u32> = None;
    let mut score = vec![0.0; np];
    for (ids, sums) in parts {
        for (&g, s) in ids.iter().zip(sums.chunks_exact(np)) {
            if current != Some(g) {
                if current.is_some() {
                    add_outer_product(&mut meat, &score);
                    score.fill(0.0);
                }
                if std::mem::replace(&mut seen[g as usize], true) {
                    return None;
                }
                current = Some(g);
            }
            score.iter_mut().zip(s).for_each(|(a, v)| *a += v);
        }
    }
    if current.is_some() {
        add_outer_product(&mut meat, &score);
    }
    Some(meat)
}

/// Adds s sᵀ to the upper triangle of `meat`.
fn add_outer_product(meat: &mut [f64], s: &[f64]) {
    let np = s.len();
    for i in 0..np {
        let row = &mut meat[i * np..(i + 1) * np];
        for j in i..np {
            row[j] += s[i] * s[j];
        }
    }
}

/// Solves (−H) x = g for the Newton direction (−H positive definite for a log-likelihood that
/// is strictly concave at θ); None when −H is not positive definite (a singular design).
pub(crate) fn newton_direction(hessian: &[f64], gradient: &[f64]) -> Option<Vec<f64>> {
    let n = gradient.len();
    let mut neg: Vec<f64> = hessian.iter().map(|h| -h).collect();
    if !cholesky(n, &mut neg) {
        return None;
    }
    // A squared pivot that is a tiny fraction of its diagonal entry means a parameter that the
    // others explain to 1 − 1e-12 (a constant or collinear regressor): singular in all but
    // rounding.
    if (0..n).any(|j| neg[j * n + j].powi(2) <= SINGULAR * -hessian[j * n + j]) {
        return None;
    }
    let mut x = gradient.to_vec();
    crate::linalg::cholesky_solve(n, &neg, &mut x);
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::super::kernel::row_terms;
    use super::*;
    use crate::par::Silent;
    use crate::rng::Rng;

    /// Simulated ordinal data: K categories, q regressors, thresholds spread over ±1.5.
    pub(crate) fn simulate(n: usize, k: usize, b: &[f64], seed: u64) -> (Vec<u32>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let q = b.len();
        let tau: Vec<f64> = (0..k - 1)
            .map(|i| -1.5 + 3.0 * i as f64 / (k - 1).max(2) as f64)
            .collect();
        let mut y = Vec::with_capacity(n);
        let mut w = Vec::with_capacity(n * q);
        for _ in 0..n {
            let row: Vec<f64> = (0..q).map(|_| rng.normal()).collect();
            let u = rng.next_f64().clamp(1e-12, 1.0 - 1e-12);
            let latent = dot(&row, b) + (u / (1.0 - u)).ln();
            y.push(tau.iter().filter(|&&t| latent > t).count() as u32);
            w.extend(row);
        }
        (y, w)
    }

    fn naive_loglik(p: &Problem<'_>, theta: &[f64]) -> f64 {
        let (t, b) = theta.split_at(p.n_thresholds());
        let tau = p.thresholds(t);
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        (0..p.n_rows())
            .map(|r| {
                let y = p.y[r] as usize;
                let eta = dot(&p.w[r * p.q..(r + 1) * p.q], b);
                let hi = if y < tau.len() { s(tau[y] - eta) } else { 1.0 };
                let lo = if y > 0 { s(tau[y - 1] - eta) } else { 0.0 };
                (hi - lo).ln()
            })
            .sum()
    }

    fn free_map(k: usize) -> Vec<f64> {
        let mut t = vec![0.0; (k - 1) * (k - 1)];
        for i in 0..k - 1 {
            t[i * (k - 1) + i] = 1.0;
        }
        t
    }

    #[test]
    fn loglik_matches_the_plain_formula() {
        let (y, w) = simulate(500, 4, &[0.8, -0.4], 1);
        let t = free_map(4);
        let p = Problem::new(&y, &w, 2, &t, 3, 4).unwrap();
        let theta = [-1.0, 0.2, 1.1, 0.7, -0.3];
        let d = derivatives(&p, &theta, true, false, &Silent)
            .unwrap()
            .unwrap();
        assert!((d.loglik - naive_loglik(&p, &theta)).abs() < 1e-9 * d.loglik.abs());
    }

    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        for (k, sym) in [(5usize, false), (3, true), (2, false)] {
            let (y, w) = simulate(300, k, &[0.6, 0.3, -0.5], 2);
            let (t, n_t) = if sym {
                (vec![-1.0, 1.0], 1)
            } else {
                (free_map(k), k - 1)
            };
            let p = Problem::new(&y, &w, 3, &t, n_t, k).unwrap();
            let mut theta: Vec<f64> = if sym {
                vec![0.4]
            } else {
                (0..k - 1).map(|i| -1.0 + i as f64 * 0.8).collect()
            };
            theta.extend([0.5, 0.2, -0.3]);
            let d = derivatives(&p, &theta, true, false, &Silent)
                .unwrap()
                .unwrap();
            let np = theta.len();
            let h = 1e-6;
            for j in 0..np {
                let mut up = theta.clone();
                let mut dn = theta.clone();
                up[j] += h;
                dn[j] -= h;
                let du = derivatives(&p, &up, false, false, &Silent)
                    .unwrap()
                    .unwrap();
                let dd = derivatives(&p, &dn, false, false, &Silent)
                    .unwrap()
                    .unwrap();
                let fd = (du.loglik - dd.loglik) / (2.0 * h);
                assert!(
                    (fd - d.gradient[j]).abs() < 1e-5 * (1.0 + fd.abs()),
                    "k={k} j={j}"
                );
                for i in 0..np {
                    let fd = (du.gradient[i] - dd.gradient[i]) / (2.0 * h);
                    let an = d.hessian[i * np + j];
                    assert!(
                        (fd - an).abs() < 1e-4 * (1.0 + fd.abs()),
                        "k={k} H[{i},{j}]"
                    );
                }
            }
        }
    }

    #[test]
    fn row_terms_are_accurate_in_both_tails() {
        let tau = [-1.0, 1.0];
        for eta in [-800.0, -60.0, -30.0, 0.0, 30.0, 60.0, 800.0] {
            for y in 0..3 {
                let t = row_terms(y, &tau, eta);
                assert!(t.ll.is_finite() && t.ll <= 0.0, "y={y} eta={eta}: {t:?}");
                for v in [t.du, t.dl, t.duu, t.dll, t.dul] {
                    assert!(v.is_finite(), "y={y} eta={eta}: {t:?}");
                }
            }
        }
        // an interior cell far in either tail: σ(u) − σ(l) ≈ e^{−39}(1 − e^{−2}) for
        // (u, l) = (−39, −41) and for (41, 39)
        let want = -39.0 + (-(-2.0f64).exp()).ln_1p();
        for eta in [40.0, -40.0] {
            let t = row_terms(1, &tau, eta);
            assert!((t.ll - want).abs() < 1e-12, "{} {want}", t.ll);
        }
        assert_eq!(row_terms(1, &[0.5, 0.5], 0.0).ll, f64::NEG_INFINITY);
    }

    #[test]
    fn chunked_sums_do_not_depend_on_parallelism() {
        let (y, w) = simulate(3 * ROW_CHUNK + 17, 5, &[0.5, -0.2], 3);
        let t = free_map(5);
        let p = Problem::new(&y, &w, 2, &t, 4, 5).unwrap();
        let theta = [-1.2, -0.3, 0.4, 1.3, 0.4, -0.1];
        let a = derivatives(&p, &theta, true, false, &Silent)
            .unwrap()
            .unwrap();
        let b = derivatives(&p, &theta, true, true, &Silent)
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        let clusters: Vec<u32> = (0..y.len() as u32).map(|r| r / 3).collect();
        let g = y.len().div_ceil(3);
        let m1 = cluster_meat(&p, &theta, &clusters, g, false, &Silent).unwrap();
        let m2 = cluster_meat(&p, &theta, &clusters, g, true, &Silent).unwrap();
        assert_eq!(m1, m2);
    }

    #[test]
    fn meat_does_not_depend_on_the_order_of_rows() {
        // clusters interleaved (each cluster split over many runs) against the same rows
        // sorted by cluster (one run each)
        let (y, w) = simulate(2 * ROW_CHUNK + 5, 4, &[0.5, -0.3], 5);
        let t = free_map(4);
        let theta = [-1.0, 0.1, 1.2, 0.4, -0.2];
        let g = 97;
        let scattered: Vec<u32> = (0..y.len() as u32).map(|r| r % g as u32).collect();
        let p = Problem::new(&y, &w, 2, &t, 3, 4).unwrap();
        let m1 = cluster_meat(&p, &theta, &scattered, g, true, &Silent).unwrap();
        let mut order: Vec<usize> = (0..y.len()).collect();
        order.sort_by_key(|&r| scattered[r]);
        let ys: Vec<u32> = order.iter().map(|&r| y[r]).collect();
        let ws: Vec<f64> = order
            .iter()
            .flat_map(|&r| [w[2 * r], w[2 * r + 1]])
            .collect();
        let cs: Vec<u32> = order.iter().map(|&r| scattered[r]).collect();
        let p = Problem::new(&ys, &ws, 2, &t, 3, 4).unwrap();
        let m2 = cluster_meat(&p, &theta, &cs, g, true, &Silent).unwrap();
        for (a, b) in m1.iter().zip(&m2) {
            assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn meat_with_singleton_clusters_is_the_outer_product_sum() {
        let (y, w) = simulate(60, 3, &[0.5], 4);
        let t = free_map(3);
        let p = Problem::new(&y, &w, 1, &t, 2, 3).unwrap();
        let theta = [-0.5, 0.6, 0.3];
        let ids: Vec<u32> = (0..60).collect();
        let meat = cluster_meat(&p, &theta, &ids, 60, false, &Silent).unwrap();
        // each row alone: its gradient is the derivative of its own log-likelihood
        let mut want = [0.0; 9];
        for r in 0..60 {
            let one = Problem::new(&y[r..r + 1], &w[r..r + 1], 1, &t, 2, 3).unwrap();
            let g = derivatives(&one, &theta, false, false, &Silent)
                .unwrap()
                .unwrap()
                .gradient;
            for i in 0..3 {
                for j in 0..3 {
                    want[i * 3 + j] += g[i] * g[j];
                }
            }
        }
        for (a, b) in meat.iter().zip(want) {
            assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()));
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let t = free_map(3);
        assert!(Problem::new(&[0, 3], &[0.0, 0.0], 1, &t, 2, 3).is_err());
        assert!(Problem::new(&[0, 1], &[0.0], 1, &t, 2, 3).is_err());
        assert!(Problem::new(&[0, 1], &[0.0, f64::NAN], 1, &t, 2, 3).is_err());
        assert!(Problem::new(&[0, 1], &[0.0, 0.0], 1, &t, 2, 1).is_err());
        let p = Problem::new(&[0, 1], &[0.0, 1.0], 1, &t, 2, 3).unwrap();
        // decreasing thresholds: outside the parameter space
        assert_eq!(
            derivatives(&p, &[1.0, -1.0, 0.0], true, false, &Silent).unwrap(),
            None
        );
    }
}
