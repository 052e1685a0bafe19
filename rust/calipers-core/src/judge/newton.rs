//! Damped Newton for the cumulative-logit likelihood (log-concave in θ = (t, b)).

use super::kernel::RunScores;
use super::likelihood::{
    Derivatives, Problem, check_clusters, cluster_meat, derivatives_and_scores, meat_from_runs,
    newton_direction,
};
use crate::error::{Error, Result};
use crate::linalg::{cholesky, cholesky_solve, dot};
use crate::par::Monitor;

/// Newton steps at most.
pub const MAX_NEWTON: usize = 100;
/// Converged when the Newton decrement gᵀ(−H)⁻¹g (twice the log-likelihood still to gain, to
/// second order; invariant to the units of the regressors) is below this times max(1, rows):
/// the gain left is then below the rounding error of the log-likelihood sum itself (~1e-16
/// per row), and θ is within √(1e-17 · rows) standard errors of the maximum. (Newton's
/// quadratic convergence usually jumps from ~1e-4 to ~1e-14 in one step; a tighter bound
/// would only buy one more pass over the rows.)
const DECREMENT_TOL: f64 = 1e-17;
/// A fit that stops (no ascent step found) with a decrement below this times max(1, rows) is
/// accepted; above it, it failed (separation).
const DECREMENT_ACCEPT: f64 = 1e-9;
/// Once the decrement is below this times max(1, rows), the next iterate is almost surely the
/// last (Newton's decrement then falls to about decrement² / rows, below [`DECREMENT_TOL`]), so
/// its pass over the rows also collects the cluster scores of the sandwich's meat. When it is
/// not the last after all, the meat costs one pass of its own at the end, as it otherwise
/// would.
const SPECULATE: f64 = 1e-9;

/// A fitted cumulative-logit regression.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// θ = (t, b): threshold parameters, then regression coefficients.
    pub theta: Vec<f64>,
    pub loglik: f64,
    /// Newton steps taken.
    pub n_iter: usize,
    /// Gradient and Hessian (P × P, row-major) at θ.
    pub gradient: Vec<f64>,
    pub hessian: Vec<f64>,
}

/// Thresholds from the marginal cumulative proportions (with ½ added to each count),
/// t = least squares of T t = τ₀, regression coefficients 0.
fn start(p: &Problem<'_>) -> Result<Vec<f64>> {
    let (k, n_t) = (p.n_categories(), p.n_thresholds());
    let mut freq = vec![0.5; k];
    for &c in p.labels() {
        freq[c as usize] += 1.0;
    }
    let total: f64 = freq.iter().sum();
    let mut below = 0.0;
    let tau0: Vec<f64> = freq[..k - 1]
        .iter()
        .map(|f| {
            below += f;
            (below / (total - below)).ln()
        })
        .collect();
    let tm = p.tmap();
    let mut gram = vec![0.0; n_t * n_t];
    let mut t = vec![0.0; n_t];
    for (i, &tau) in tau0.iter().enumerate() {
        let row = &tm[i * n_t..(i + 1) * n_t];
        for a in 0..n_t {
            t[a] += row[a] * tau;
            for b in 0..n_t {
                gram[a * n_t + b] += row[a] * row[b];
            }
        }
    }
    if n_t > 0 {
        if !cholesky(n_t, &mut gram) {
            return Err(Error::invalid(
                "tmap",
                "does not have full column rank; pass one column per free threshold parameter",
            ));
        }
        cholesky_solve(n_t, &gram, &mut t);
        if !p.thresholds(&t).windows(2).all(|w| w[0] < w[1]) {
            t.iter_mut().for_each(|v| *v = v.abs() + 0.1);
        }
    }
    t.resize(p.n_params(), 0.0);
    Ok(t)
}

/// A coefficient times its regressor's standard deviation above this is a separation (the
/// likelihood has no maximum; Newton stops where the gradient underflows).
const SEPARATED: f64 = 30.0;

/// The first regressor whose coefficient diverged (see [`SEPARATED`]), if any.
fn diverged(p: &Problem<'_>, theta: &[f64]) -> Option<usize> {
    let (q, n) = (p.n_regressors(), p.n_rows() as f64);
    let b = &theta[p.n_thresholds()..];
    let w = p.regressors();
    // column means, then variances, each in one pass over the rows
    let mut mean = vec![0.0; q];
    for row in w.chunks_exact(q.max(1)) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; q];
    for row in w.chunks_exact(q.max(1)) {
        for ((v, x), m) in var.iter_mut().zip(row).zip(&mean) {
            *v += (x - m) * (x - m);
        }
    }
    (0..q).find(|&j| {
        let var = var[j] / n;
        // a constant column (the pairwise position constant) is judged by its value
        let spread = if var > 0.0 { var.sqrt() } else { mean[j].abs() };
        b[j].abs() * spread > SEPARATED
    })
}

/// Maximises the log-likelihood by Newton's method with step halving, from `warm` when it
/// is given and inside the parameter space (the bootstrap starts each replicate from the full
/// fit), else from the marginal start. `parallel`: spread each evaluation over the row chunks (large problems); the result
/// is the same bits either way. `monitor` is polled between Newton steps.
///
/// Errors: `Numerical` when the information matrix is singular (a constant or collinear
/// regressor, an empty category) or Newton does not converge (separation).
pub fn fit(
    p: &Problem<'_>,
    warm: Option<&[f64]>,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<Fit> {
    Ok(newton(p, warm, None, parallel, monitor)?.0)
}

/// [`fit`] from the marginal start, and the meat of the item-clustered sandwich at the fit
/// ([`cluster_meat`]), usually from the last Newton pass over the rows rather than a pass of
/// its own.
pub fn fit_clustered(
    p: &Problem<'_>,
    clusters: &[u32],
    n_clusters: usize,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<(Fit, Vec<f64>)> {
    check_clusters(p, clusters, n_clusters)?;
    let (fit, runs) = newton(p, None, Some(clusters), parallel, monitor)?;
    let meat = match runs {
        Some(runs) => meat_from_runs(&runs, n_clusters, p.n_params())?,
        None => cluster_meat(p, &fit.theta, clusters, n_clusters, parallel, monitor)?,
    };
    Ok((fit, meat))
}

/// The Newton iteration of [`fit`]; with `clusters`, also the cluster score sums at the fit
/// when the last pass collected them.
fn newton(
    p: &Problem<'_>,
    warm: Option<&[f64]>,
    clusters: Option<&[u32]>,
    parallel: bool,
    monitor: &dyn Monitor,
) -> Result<(Fit, Option<Vec<RunScores>>)> {
    let eval = |th: &[f64], scores: bool| {
        let clusters = if scores { clusters } else { None };
        derivatives_and_scores(p, th, true, clusters, parallel, monitor)
    };
    let warm = match warm {
        Some(w) if w.len() == p.n_params() => eval(w, false)?.map(|(d, _)| (w.to_vec(), d)),
        _ => None,
    };
    let (mut theta, mut d) = match warm {
        Some(found) => found,
        None => {
            let theta = start(p)?;
            let Some((d, _)) = eval(&theta, false)? else {
                return Err(Error::Numerical(
                    "judge fit: the starting point has likelihood 0".into(),
                ));
            };
            (theta, d)
        }
    };
    let scale = (p.n_rows() as f64).max(1.0);
    let mut steps = 0;
    let mut runs = None;
    let decrement = loop {
        if monitor.stop_requested() {
            return Err(Error::Interrupted);
        }
        let Some(direction) = newton_direction(&d.hessian, &d.gradient) else {
            return Err(Error::Numerical(
                "judge fit: the information matrix is singular; a covariate is constant or \
                 collinear with the judge latent (drop it), or a label category is empty"
                    .into(),
            ));
        };
        // the Newton decrement gᵀ(−H)⁻¹g ≈ 2 (max loglik − loglik): the same in any units
        let decrement = dot(&d.gradient, &direction);
        if decrement <= DECREMENT_TOL * scale || steps == MAX_NEWTON {
            break decrement;
        }
        steps += 1;
        let speculate = clusters.is_some() && decrement <= SPECULATE * scale;
        let mut step = 1.0;
        let mut accepted: Option<(Vec<f64>, Derivatives, Option<Vec<RunScores>>)> = None;
        while step > 1e-12 {
            let candidate: Vec<f64> = theta
                .iter()
                .zip(&direction)
                .map(|(t, dx)| t + step * dx)
                .collect();
            if let Some((dc, rc)) = eval(&candidate, speculate)? {
                if dc.loglik >= d.loglik - 1e-12 * d.loglik.abs() {
                    accepted = Some((candidate, dc, rc));
                    break;
                }
            }
            step /= 2.0;
        }
        let Some((candidate, dc, rc)) = accepted else {
            break decrement;
        };
        theta = candidate;
        d = dc;
        runs = rc;
    };
    if decrement.is_nan() || decrement > DECREMENT_ACCEPT * scale {
        return Err(Error::Numerical(format!(
            "judge fit: Newton did not converge (Newton decrement {decrement:.3e}); the labels \
             may be perfectly separated by the judge latent or a covariate"
        )));
    }
    if let Some(j) = diverged(p, &theta) {
        return Err(Error::Numerical(format!(
            "judge fit: regressor {j} separates the labels (its coefficient moves the log-odds \
             by more than {SEPARATED} per standard deviation); drop it or collect ratings on \
             both sides"
        )));
    }
    let fit = Fit {
        theta,
        loglik: d.loglik,
        n_iter: steps,
        gradient: d.gradient,
        hessian: d.hessian,
    };
    Ok((fit, runs))
}

#[cfg(test)]
mod tests {
    use super::super::likelihood::derivatives;
    use super::*;
    use crate::par::Silent;

    fn free_map(k: usize) -> Vec<f64> {
        let mut t = vec![0.0; (k - 1) * (k - 1)];
        for i in 0..k - 1 {
            t[i * (k - 1) + i] = 1.0;
        }
        t
    }

    fn simulate(n: usize, k: usize, b: &[f64], seed: u64) -> (Vec<u32>, Vec<f64>) {
        let mut rng = crate::rng::Rng::new(seed);
        let tau: Vec<f64> = (0..k - 1)
            .map(|i| -1.5 + 3.0 * i as f64 / (k - 1).max(2) as f64)
            .collect();
        let mut y = Vec::new();
        let mut w = Vec::new();
        for _ in 0..n {
            let row: Vec<f64> = (0..b.len()).map(|_| rng.normal()).collect();
            let u = rng.next_f64().clamp(1e-12, 1.0 - 1e-12);
            let latent = crate::linalg::dot(&row, b) + (u / (1.0 - u)).ln();
            y.push(tau.iter().filter(|&&t| latent > t).count() as u32);
            w.extend(row);
        }
        (y, w)
    }

    #[test]
    fn fit_reaches_a_stationary_point_near_the_truth() {
        let (y, w) = simulate(20_000, 5, &[0.8, -0.4], 7);
        let t = free_map(5);
        let p = Problem::new(&y, &w, 2, &t, 4, 5).unwrap();
        let f = fit(&p, None, true, &Silent).unwrap();
        assert!(f.n_iter < 15, "{}", f.n_iter);
        assert!(f.gradient.iter().all(|g| g.abs() < 1e-10 * 20_000.0));
        assert!((f.theta[4] - 0.8).abs() < 0.05 && (f.theta[5] + 0.4).abs() < 0.05);
        // a concave maximum: moving any coordinate lowers the likelihood
        for j in 0..f.theta.len() {
            for h in [-1e-3, 1e-3] {
                let mut th = f.theta.clone();
                th[j] += h;
                let d = derivatives(&p, &th, false, false, &Silent)
                    .unwrap()
                    .unwrap();
                assert!(d.loglik < f.loglik);
            }
        }
        let seq = fit(&p, None, false, &Silent).unwrap();
        assert_eq!(seq, f);
        // the meat collected in the last Newton pass is the meat of a pass of its own
        let clusters: Vec<u32> = (0..20_000u32).map(|r| r / 4).collect();
        for parallel in [true, false] {
            let (fc, meat) = fit_clustered(&p, &clusters, 5_000, parallel, &Silent).unwrap();
            assert_eq!(fc, f);
            let want = cluster_meat(&p, &f.theta, &clusters, 5_000, parallel, &Silent).unwrap();
            assert_eq!(meat, want);
        }
        assert!(fit_clustered(&p, &clusters[1..], 5_000, true, &Silent).is_err());
        assert!(fit_clustered(&p, &clusters, 4_000, true, &Silent).is_err());
    }

    #[test]
    fn symmetric_and_fixed_thresholds() {
        let (y, w) = simulate(2_000, 3, &[1.0], 8);
        let sym = [-1.0, 1.0];
        let p = Problem::new(&y, &w, 1, &sym, 1, 3).unwrap();
        let f = fit(&p, None, false, &Silent).unwrap();
        assert!(f.theta[0] > 0.0);
        let (y2, w2) = simulate(2_000, 2, &[1.0], 9);
        let p = Problem::new(&y2, &w2, 1, &[], 0, 2).unwrap();
        let f = fit(&p, None, false, &Silent).unwrap();
        assert_eq!(f.theta.len(), 1);
        assert!(f.gradient[0].abs() < 1e-10 * 2_000.0);
    }

    #[test]
    fn singular_and_separated_designs_are_clear_errors() {
        let (y, w) = simulate(300, 3, &[0.5], 10);
        let t = free_map(3);
        // a constant regressor is absorbed by the free thresholds
        let ones = vec![1.0; 300];
        let p = Problem::new(&y, &ones, 1, &t, 2, 3).unwrap();
        assert!(matches!(
            fit(&p, None, false, &Silent),
            Err(Error::Numerical(_))
        ));
        // perfectly separated: the label is the sign of the regressor
        let ys: Vec<u32> = w.iter().map(|&x| u32::from(x > 0.0)).collect();
        let p = Problem::new(&ys, &w, 1, &[], 0, 2).unwrap();
        assert!(matches!(
            fit(&p, None, false, &Silent),
            Err(Error::Numerical(_))
        ));
        let _ = y;
    }
}
