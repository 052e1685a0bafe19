//! Multi-prompt evaluation (PromptEval, Maia Polo et al. 2024): the distribution of a model's
//! accuracy over prompt templates from a few evaluated (template, example) cells.
//!
//! Model ("extended Rasch", LLTM-style covariates): P(Y_fj = 1) = σ(x_fᵀγ + z_jᵀψ + β_j) with
//! N(0, σ²) priors on every coefficient; the MAP fit is an L2-penalised logistic regression on
//! the design [template covariates | example covariates | example one-hot] restricted to the
//! evaluated cells, solved by Newton with the diagonal example block eliminated (Schur
//! complement, see [`model`]). Jobs (one per model or task: a leading axis of the response
//! array) are fitted in parallel; every job is sequential inside, so results are bit-identical
//! for any thread count. The accuracy of template f is the mean over examples of the observed
//! score where evaluated and the fitted probability elsewhere.

mod model;

pub use model::{Cells, Design, Posterior, Problem, State};

use crate::error::{Error, Result};
use crate::par::{self, Monitor, Silent};
use crate::rng::Rng;

/// The fit of one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobFit {
    /// [γ (p); ψ (q)].
    pub dense: Vec<f64>,
    /// β per example (empty without the one-hot example block).
    pub beta: Vec<f64>,
    /// Estimated accuracy of each template.
    pub accuracy: Vec<f64>,
    /// Its standard error.
    pub se: Vec<f64>,
    /// Penalised log-likelihood at the optimum.
    pub objective: f64,
    pub n_iter: usize,
    pub converged: bool,
}

fn check_y(y: &[f32], n_jobs: usize, design: &Design<'_>) -> Result<()> {
    let (nf, nj) = (design.n_formats, design.n_examples);
    if n_jobs == 0 || nf == 0 || nj == 0 {
        return Err(Error::shape(
            "Y",
            format!("has shape ({n_jobs}, {nf}, {nj}); pass at least one template and one example"),
        ));
    }
    let want = n_jobs
        .checked_mul(nf)
        .and_then(|v| v.checked_mul(nj))
        .ok_or_else(|| Error::shape("Y", "is too large"))?;
    if y.len() != want {
        return Err(Error::shape(
            "Y",
            format!("has {} cells, expected {n_jobs} × {nf} × {nj}", y.len()),
        ));
    }
    Ok(())
}

fn block<'y>(y: &'y [f32], job: usize, design: &Design<'_>) -> &'y [f32] {
    let size = design.n_formats * design.n_examples;
    &y[job * size..(job + 1) * size]
}

/// Work (about the operations of one Newton iteration: cells plus the cube of the dense
/// coefficients, summed over jobs) below which the caller should run the jobs one after
/// another on its own thread: a 100 × 200 fit takes well under a millisecond, less than
/// handing it to the pool and a watcher thread costs.
const SMALL_WORK: usize = 4_000_000;

/// Whether fitting `n_jobs` jobs of this design is small enough for [`fit_sequential`].
pub fn is_small(n_jobs: usize, design: &Design<'_>) -> bool {
    let np = design.dense();
    let per_job = (design.n_formats * design.n_examples).saturating_add(np.saturating_pow(3));
    n_jobs.saturating_mul(per_job) <= SMALL_WORK
}

/// Fits every job of `y` (row-major n_jobs × F × J, NaN = not evaluated) by penalised Newton,
/// in parallel over jobs. Without `with_se` the standard errors are left empty (see
/// [`accuracy_se`]).
pub fn fit_map(
    y: &[f32],
    n_jobs: usize,
    design: &Design<'_>,
    max_iter: usize,
    tol: f64,
    with_se: bool,
    monitor: &dyn Monitor,
) -> Result<Vec<JobFit>> {
    check_y(y, n_jobs, design)?;
    design.check_memory()?;
    par::map_chunks(n_jobs, monitor, |job| {
        fit_job(
            block(y, job, design),
            design,
            max_iter,
            tol,
            with_se,
            monitor,
        )
    })
}

/// [`fit_map`] on the calling thread, job after job (for small problems: the same bits).
pub fn fit_sequential(
    y: &[f32],
    n_jobs: usize,
    design: &Design<'_>,
    max_iter: usize,
    tol: f64,
    with_se: bool,
) -> Result<Vec<JobFit>> {
    check_y(y, n_jobs, design)?;
    design.check_memory()?;
    (0..n_jobs)
        .map(|job| {
            fit_job(
                block(y, job, design),
                design,
                max_iter,
                tol,
                with_se,
                &Silent,
            )
        })
        .collect()
}

fn fit_job(
    block: &[f32],
    design: &Design<'_>,
    max_iter: usize,
    tol: f64,
    with_se: bool,
    monitor: &dyn Monitor,
) -> Result<JobFit> {
    let cells = Cells::from_block(block, design.n_formats, design.n_examples)?;
    let problem = Problem {
        design,
        cells: &cells,
    };
    let solved = problem.solve(
        State::zeros(design, cells.n_columns()),
        max_iter,
        tol,
        monitor,
    )?;
    let accuracy = problem.accuracy(&solved.state);
    let se = if with_se {
        problem.accuracy_se(&solved.state, monitor)?
    } else {
        Vec::new()
    };
    Ok(JobFit {
        dense: solved.state.dense,
        beta: solved.state.beta,
        accuracy,
        se,
        objective: solved.objective,
        n_iter: solved.n_iter,
        converged: solved.converged,
    })
}

/// Standard errors of the template accuracies of every job at the fitted `states` (the output
/// of [`fit_map`]); the same numbers `fit_map` gives with `with_se`.
pub fn accuracy_se(
    y: &[f32],
    n_jobs: usize,
    design: &Design<'_>,
    states: &[State],
    monitor: &dyn Monitor,
) -> Result<Vec<Vec<f64>>> {
    check_y(y, n_jobs, design)?;
    design.check_memory()?;
    check_states(states, n_jobs, design)?;
    par::map_chunks(n_jobs, monitor, |job| {
        let cells = Cells::from_block(block(y, job, design), design.n_formats, design.n_examples)?;
        Problem {
            design,
            cells: &cells,
        }
        .accuracy_se(&states[job], monitor)
    })
}

fn check_states(states: &[State], n_jobs: usize, design: &Design<'_>) -> Result<()> {
    if states.len() != n_jobs {
        return Err(Error::shape(
            "starts",
            format!("has {} states for {n_jobs} jobs", states.len()),
        ));
    }
    let nb = if design.onehot { design.n_examples } else { 0 };
    if states
        .iter()
        .any(|s| s.dense.len() != design.dense() || s.beta.len() != nb)
    {
        return Err(Error::shape(
            "starts",
            "do not match the design; pass the parameters of a fit with the same design",
        ));
    }
    Ok(())
}

/// Replicates per chunk of bootstrap work.
const CHUNK: usize = 16;

/// Bootstrap over examples: each replicate redraws the J examples with replacement (with their
/// evaluated pattern), refits from `starts[job]` and returns the template accuracies.
///
/// Nonparametric (`parametric = false`): the replicate keeps the observed scores; output
/// row-major n_jobs × n_resamples × F. Parametric: the replicate's true parameters are a draw
/// from the Laplace approximation of the posterior (so their spread is not the shrunken one of
/// the MAP), every cell is drawn from them, and each replicate returns the refitted accuracies
/// followed by the realised ones (n_jobs × n_resamples × 2F), so the estimator's error (bias
/// from shrinkage and the Bernoulli noise of the cells not evaluated included) can be read off.
/// Replicate r of job m uses random stream m · n_resamples + r of `seed`, so the result does
/// not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn bootstrap_accuracy(
    y: &[f32],
    n_jobs: usize,
    design: &Design<'_>,
    starts: &[State],
    n_resamples: usize,
    seed: u64,
    parametric: bool,
    max_iter: usize,
    tol: f64,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    check_y(y, n_jobs, design)?;
    design.check_memory()?;
    check_states(starts, n_jobs, design)?;
    let nf = design.n_formats;
    crate::mem::ensure_fits(
        "n_resamples",
        (n_jobs as u128) * (n_resamples as u128) * (nf as u128),
        if parametric { 16 } else { 8 },
        "pass fewer resamples",
    )?;
    let all_cells = par::map_chunks(n_jobs, monitor, |job| {
        Cells::from_block(block(y, job, design), nf, design.n_examples)
    })?;
    let per_job = n_resamples.div_ceil(CHUNK);
    let parts = par::map_chunks(n_jobs * per_job, monitor, |chunk| {
        let job = chunk / per_job;
        let first = (chunk % per_job) * CHUNK;
        let last = (first + CHUNK).min(n_resamples);
        let cells = &all_cells[job];
        let nj = design.n_examples;
        let width = if parametric { 2 * nf } else { nf };
        let mut out = Vec::with_capacity((last - first) * width);
        let full = Problem { design, cells };
        let post = if parametric {
            Some(full.posterior(&starts[job], monitor)?)
        } else {
            None
        };
        let mut idx = vec![0usize; nj];
        for r in first..last {
            if monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            let mut rng = Rng::stream(seed, (job * n_resamples + r) as u64);
            for v in idx.iter_mut() {
                *v = rng.below(nj as u64) as usize;
            }
            let (rep, realised) = match &post {
                Some(post) => {
                    let (eta, col) = full.draw(post, &mut rng);
                    cells.simulated(&idx, &eta, &col, &mut rng)
                }
                None => (cells.resampled(&idx), Vec::new()),
            };
            let start = State {
                dense: starts[job].dense.clone(),
                beta: if design.onehot {
                    idx.iter().map(|&j| starts[job].beta[j]).collect()
                } else {
                    Vec::new()
                },
            };
            let problem = Problem {
                design,
                cells: &rep,
            };
            let solved = problem.solve(start, max_iter, tol, monitor)?;
            out.extend(problem.accuracy(&solved.state));
            out.extend(realised);
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small F × J problem with some cells missing.
    fn toy(nf: usize, nj: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let theta: Vec<f64> = (0..nf).map(|_| rng.normal()).collect();
        let beta: Vec<f64> = (0..nj).map(|_| 1.5 * rng.normal()).collect();
        let mut y = Vec::new();
        for t in &theta {
            for b in &beta {
                if rng.next_f64() < 0.4 {
                    y.push(f32::NAN);
                } else {
                    let p = crate::fastmath::sigmoid(t + b);
                    y.push(f32::from(u8::from(rng.next_f64() < p)));
                }
            }
        }
        y
    }

    /// Gradient of the penalised log-likelihood, by a plain loop over the dense design.
    fn plain_gradient(y: &[f32], nf: usize, nj: usize, fit: &JobFit, inv_var: f64) -> f64 {
        let mut g_theta = vec![0.0; nf];
        let mut g_beta = vec![0.0; nj];
        for f in 0..nf {
            for j in 0..nj {
                let v = y[f * nj + j];
                if v.is_nan() {
                    continue;
                }
                let p = crate::fastmath::sigmoid(fit.dense[f] + fit.beta[j]);
                g_theta[f] += f64::from(v) - p;
                g_beta[j] += f64::from(v) - p;
            }
        }
        let dense = g_theta.iter().zip(&fit.dense);
        let free = g_beta.iter().zip(&fit.beta);
        dense
            .chain(free)
            .map(|(g, v)| (g - inv_var * v).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn map_fit_zeroes_the_gradient() {
        let (nf, nj) = (7, 30);
        let y = toy(nf, nj, 3);
        let design = Design::new(nf, nj, None, 0, None, 0, true, 1.0).unwrap();
        let fits = fit_map(&y, 1, &design, 100, 1e-10, true, &Silent).unwrap();
        assert!(fits[0].converged);
        assert!(plain_gradient(&y, nf, nj, &fits[0], 1.0) < 1e-8);
        for (a, s) in fits[0].accuracy.iter().zip(&fits[0].se) {
            assert!((0.0..=1.0).contains(a) && s.is_finite() && *s > 0.0);
        }
    }

    #[test]
    fn covariate_design_matches_identity_when_x_is_identity() {
        let (nf, nj) = (5, 20);
        let y = toy(nf, nj, 9);
        let eye: Vec<f64> = (0..nf * nf)
            .map(|k| f64::from(u8::from(k / nf == k % nf)))
            .collect();
        let d1 = Design::new(nf, nj, None, 0, None, 0, true, 2.0).unwrap();
        let d2 = Design::new(nf, nj, Some(&eye), nf, None, 0, true, 2.0).unwrap();
        let a = fit_map(&y, 1, &d1, 100, 1e-12, true, &Silent).unwrap();
        let b = fit_map(&y, 1, &d2, 100, 1e-12, true, &Silent).unwrap();
        for (u, v) in a[0].accuracy.iter().zip(&b[0].accuracy) {
            assert!((u - v).abs() < 1e-10);
        }
        for (u, v) in a[0].se.iter().zip(&b[0].se) {
            assert!((u - v).abs() < 1e-10);
        }
    }

    #[test]
    fn bootstrap_is_deterministic_and_thread_independent() {
        let (nf, nj) = (4, 25);
        let y = toy(nf, nj, 5);
        let design = Design::new(nf, nj, None, 0, None, 0, true, 1.0).unwrap();
        let fits = fit_map(&y, 1, &design, 100, 1e-10, true, &Silent).unwrap();
        let starts = vec![State {
            dense: fits[0].dense.clone(),
            beta: fits[0].beta.clone(),
        }];
        let a =
            bootstrap_accuracy(&y, 1, &design, &starts, 37, 11, false, 50, 1e-8, &Silent).unwrap();
        let b =
            bootstrap_accuracy(&y, 1, &design, &starts, 37, 11, false, 50, 1e-8, &Silent).unwrap();
        assert_eq!(a.len(), 37 * nf);
        assert_eq!(a, b);
        let c =
            bootstrap_accuracy(&y, 1, &design, &starts, 37, 11, true, 50, 1e-8, &Silent).unwrap();
        assert_eq!(c.len(), 37 * 2 * nf);
        assert!(c.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Any small problem, any missing pattern and prior: the MAP zeroes the penalised
        /// gradient and the accuracies are proper proportions.
        #[test]
        fn map_is_a_stationary_point(
            nf in 1usize..6,
            nj in 1usize..12,
            seed in 0u64..1000,
            prior_sd in 0.1f64..20.0,
        ) {
            let y = toy(nf, nj, seed);
            let design = Design::new(nf, nj, None, 0, None, 0, true, prior_sd).unwrap();
            let fits = fit_map(&y, 1, &design, 200, 1e-11, true, &Silent).unwrap();
            let inv_var = 1.0 / (prior_sd * prior_sd);
            proptest::prop_assert!(plain_gradient(&y, nf, nj, &fits[0], inv_var) < 1e-7);
            for (a, s) in fits[0].accuracy.iter().zip(&fits[0].se) {
                proptest::prop_assert!((0.0..=1.0).contains(a) && s.is_finite() && *s >= 0.0, "{a} {s}");
            }
        }
    }

    #[test]
    fn sequential_fits_and_later_standard_errors_are_the_same_bits() {
        let (nf, nj) = (9, 40);
        let y: Vec<f32> = (0..3).flat_map(|s| toy(nf, nj, 20 + s)).collect();
        let x: Vec<f64> = (0..nf * 2).map(|k| ((k * 7) % 5) as f64 / 4.0).collect();
        for xs in [None, Some(&x[..])] {
            let design = Design::new(nf, nj, xs, 2, None, 0, true, 1.5).unwrap();
            assert!(is_small(3, &design));
            let par = fit_map(&y, 3, &design, 100, 1e-10, true, &Silent).unwrap();
            let seq = fit_sequential(&y, 3, &design, 100, 1e-10, false).unwrap();
            let states: Vec<State> = seq
                .iter()
                .map(|f| State {
                    dense: f.dense.clone(),
                    beta: f.beta.clone(),
                })
                .collect();
            let se = accuracy_se(&y, 3, &design, &states, &Silent).unwrap();
            for ((p, s), e) in par.iter().zip(&seq).zip(&se) {
                assert!(s.se.is_empty());
                assert_eq!(
                    (&p.dense, &p.beta, &p.accuracy),
                    (&s.dense, &s.beta, &s.accuracy)
                );
                assert_eq!(&p.se, e);
            }
        }
        let big = Design::new(2000, 10, None, 0, None, 0, true, 1.0).unwrap();
        assert!(!is_small(1, &big));
    }

    /// The factor and its solves give the bits of the plain dense Cholesky in `linalg`, on
    /// sparse systems (many exact zeros, as without covariates) and dense ones.
    #[test]
    fn factor_matches_the_dense_cholesky_bit_for_bit() {
        let mut rng = Rng::new(4);
        for (n, density) in [(1usize, 1.0), (7, 0.2), (40, 0.05), (40, 0.5), (33, 1.0)] {
            let mut a = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..i {
                    if rng.next_f64() < density {
                        let v = rng.normal();
                        a[i * n + j] = v;
                        a[j * n + i] = v;
                    }
                }
            }
            for i in 0..n {
                let row: f64 = (0..n).map(|j| a[i * n + j].abs()).sum();
                a[i * n + i] = row + 0.5 + rng.next_f64();
            }
            let mut dense = a.clone();
            assert!(crate::linalg::cholesky(n, &mut dense));
            let factor = model::Factor::new(n, &a, &Silent).unwrap().unwrap();
            let rhs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let mut want = rhs.clone();
            crate::linalg::cholesky_solve(n, &dense, &mut want);
            let mut got = rhs.clone();
            factor.solve(&mut got);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "n = {n}, density = {density}");
            for i in 0..n {
                for j in 0..=i {
                    assert_eq!(factor.entry(i, j).to_bits(), dense[i * n + j].to_bits());
                }
            }
        }
        let not_pd = [1.0, 2.0, 2.0, 1.0];
        assert!(model::Factor::new(2, &not_pd, &Silent).unwrap().is_none());
    }

    #[test]
    fn bad_input_is_an_error() {
        let design = Design::new(2, 2, None, 0, None, 0, true, 1.0).unwrap();
        assert!(
            fit_map(
                &[0.0, 1.0, 2.0, f32::NAN],
                1,
                &design,
                10,
                1e-8,
                true,
                &Silent
            )
            .is_err()
        );
        assert!(fit_map(&[0.0, 1.0, 1.0], 1, &design, 10, 1e-8, true, &Silent).is_err());
        assert!(Design::new(2, 2, None, 0, None, 0, true, 0.0).is_err());
        assert!(Design::new(2, 2, Some(&[1.0, f64::NAN]), 1, None, 0, true, 1.0).is_err());
    }
}
