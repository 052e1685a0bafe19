//! The fixed-effect (Sloth) objective: mean Huber loss of c_j + (1 − c_j)·σ(η_ij) against the
//! observed scores, with its analytic gradient, and seeded multi-start L-BFGS fits with a
//! Huber continuation (δ decreasing to the target: at δ = 0.01 the loss is nearly L1 and plain
//! L-BFGS stalls from a random start).
//!
//! Parameter layout (row-major blocks, the same as `calipers.scaling._objective.Layout`):
//! W (p × d) | A (F × d) | Λ (d × J, absent when `fix_loadings`) | b (J) | κ (J, only when
//! `learn_floor`: c_j = σ(κ_j)).

use crate::error::{Error, Result};
use crate::fastmath::sigmoid;
use crate::par::{self, Monitor};

use super::lbfgs::{self, Options};

/// One fixed-effect fitting problem (borrowed, validated by [`Problem::validate`]).
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    /// Features, n × p row-major.
    pub x: &'a [f64],
    pub p: usize,
    /// Family index of each row, < `n_families`.
    pub family: &'a [usize],
    pub n_families: usize,
    /// Scores, n × J row-major; NaN marks a missing cell.
    pub y: &'a [f64],
    pub n_bench: usize,
    /// Guessing floors c_j (fixed) — ignored when `learn_floor`.
    pub floor: &'a [f64],
    /// Number of skills d.
    pub d: usize,
    /// Λ fixed to ones (single-benchmark baselines).
    pub fix_loadings: bool,
    /// Floors learned as σ(κ_j).
    pub learn_floor: bool,
}

impl Problem<'_> {
    /// Rows.
    pub fn n(&self) -> usize {
        self.family.len()
    }

    /// Length of the parameter vector.
    pub fn n_params(&self) -> usize {
        let (d, j) = (self.d, self.n_bench);
        self.p * d
            + self.n_families * d
            + if self.fix_loadings { 0 } else { d * j }
            + j
            + if self.learn_floor { j } else { 0 }
    }

    /// Checks shapes and values; every error names the argument.
    pub fn validate(&self) -> Result<()> {
        let n = self.n();
        if n == 0 {
            return Err(Error::shape(
                "features",
                "has no rows; pass at least one model",
            ));
        }
        if self.d == 0 {
            return Err(Error::invalid("n_skills", "must be at least 1"));
        }
        if self.n_bench == 0 {
            return Err(Error::shape(
                "scores",
                "has no columns; pass at least one benchmark",
            ));
        }
        if self.fix_loadings && self.d != 1 {
            return Err(Error::invalid(
                "n_skills",
                "must be 1 when the loadings are fixed",
            ));
        }
        if self.x.len() != n * self.p {
            return Err(Error::shape(
                "features",
                format!(
                    "has {} values, expected {n} rows × {} columns",
                    self.x.len(),
                    self.p
                ),
            ));
        }
        if self.y.len() != n * self.n_bench {
            return Err(Error::shape(
                "scores",
                format!(
                    "has {} values, expected {n} × {}",
                    self.y.len(),
                    self.n_bench
                ),
            ));
        }
        if self.floor.len() != self.n_bench {
            return Err(Error::shape(
                "floor",
                format!(
                    "has {} values, expected one per benchmark ({})",
                    self.floor.len(),
                    self.n_bench
                ),
            ));
        }
        crate::error::ensure_finite("features", self.x)?;
        crate::error::ensure_finite("floor", self.floor)?;
        if let Some(i) = self.family.iter().position(|&f| f >= self.n_families) {
            return Err(Error::invalid(
                "families",
                format!(
                    "row {i} has family index {} ≥ {}",
                    self.family[i], self.n_families
                ),
            ));
        }
        if let Some(i) = self.y.iter().position(|v| v.is_infinite()) {
            return Err(Error::non_finite(
                "scores",
                format!("value at position {i} is infinite; use NaN for a missing score"),
            ));
        }
        if self.y.iter().all(|v| v.is_nan()) {
            return Err(Error::invalid("scores", "every score is missing (NaN)"));
        }
        Ok(())
    }
}

/// Observed-cell weights and NaN-free scores of a problem, computed once per fit.
#[derive(Debug, Clone)]
pub struct Cells {
    /// Scores with missing cells set to 0.
    y0: Vec<f64>,
    /// 1 for an observed cell, 0 for a missing one.
    w: Vec<f64>,
    inv_obs: f64,
}

impl Cells {
    pub fn new(pb: &Problem<'_>) -> Self {
        let w: Vec<f64> =
            pb.y.iter()
                .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
                .collect();
        let y0 =
            pb.y.iter()
                .map(|v| if v.is_nan() { 0.0 } else { *v })
                .collect();
        let n_obs = w.iter().sum::<f64>().max(1.0);
        Cells {
            y0,
            w,
            inv_obs: 1.0 / n_obs,
        }
    }
}

/// Per-call buffers (n × d skills and their gradient, n × J cells).
#[derive(Debug, Clone, Default)]
pub struct Work {
    z: Vec<f64>,
    gz: Vec<f64>,
    h: Vec<f64>,
    c: Vec<f64>,
    loss: Vec<f64>,
    gk: Vec<f64>,
}

/// Mean Huber loss over the observed cells and its gradient (written into `grad`).
pub fn objective(pb: &Problem<'_>, theta: &[f64], delta: f64, grad: &mut [f64]) -> f64 {
    objective_with(
        pb,
        &Cells::new(pb),
        &mut Work::default(),
        theta,
        delta,
        grad,
    )
}

/// [`objective`] with the cells prepared once and reusable buffers. The passes are laid out
/// so that the cell loops vectorise; every sum runs in a fixed order, so the value is the
/// same bits on every call and every machine.
pub fn objective_with(
    pb: &Problem<'_>,
    cells: &Cells,
    work: &mut Work,
    theta: &[f64],
    delta: f64,
    grad: &mut [f64],
) -> f64 {
    let (p, d, nb) = (pb.p, pb.d, pb.n_bench);
    let n = pb.n();
    let nf = pb.n_families;
    let (w, rest) = theta.split_at(p * d);
    let (a, rest) = rest.split_at(nf * d);
    let (lam, rest) = if pb.fix_loadings {
        (&rest[..0], rest)
    } else {
        rest.split_at(d * nb)
    };
    let (b, rest) = rest.split_at(nb);
    let kappa = if pb.learn_floor {
        &rest[..nb]
    } else {
        &rest[..0]
    };
    grad.iter_mut().for_each(|v| *v = 0.0);
    let (gw, grest) = grad.split_at_mut(p * d);
    let (ga, grest) = grest.split_at_mut(nf * d);
    let (glam, grest) = if pb.fix_loadings {
        grest.split_at_mut(0)
    } else {
        grest.split_at_mut(d * nb)
    };
    let (gb, gkappa) = grest.split_at_mut(nb);
    let cells_n = n * nb;
    work.z.resize(n * d, 0.0);
    work.gz.resize(n * d, 0.0);
    work.h.resize(cells_n, 0.0);
    work.c.resize(cells_n, 0.0);
    work.loss.resize(cells_n, 0.0);
    work.gk.resize(cells_n, 0.0);
    // Floors, repeated per row so that the cell loops need no index arithmetic.
    for row in work.c.chunks_exact_mut(nb) {
        for (jj, cv) in row.iter_mut().enumerate() {
            *cv = if pb.learn_floor {
                sigmoid(kappa[jj])
            } else {
                pb.floor[jj]
            };
        }
    }
    // Skills Z = X W + A[family].
    for i in 0..n {
        let xi = &pb.x[i * p..(i + 1) * p];
        let ai = &a[pb.family[i] * d..(pb.family[i] + 1) * d];
        let zi = &mut work.z[i * d..(i + 1) * d];
        zi.copy_from_slice(ai);
        for q in 0..p {
            let wq = &w[q * d..(q + 1) * d];
            for k in 0..d {
                zi[k] += xi[q] * wq[k];
            }
        }
    }
    // Index H = Z Λ + b.
    for i in 0..n {
        let zi = &work.z[i * d..(i + 1) * d];
        let hi = &mut work.h[i * nb..(i + 1) * nb];
        hi.copy_from_slice(b);
        for k in 0..d {
            let zk = zi[k];
            if pb.fix_loadings {
                hi.iter_mut().for_each(|h| *h += zk);
            } else {
                let lk = &lam[k * nb..(k + 1) * nb];
                for jj in 0..nb {
                    hi[jj] += zk * lk[jj];
                }
            }
        }
    }
    // Cells: loss and dL/dH (in place of H), dL/dκ terms; branch-free so it vectorises.
    let inv = cells.inv_obs;
    let inv_delta = 1.0 / delta;
    for t in 0..cells_n {
        let s = sigmoid(work.h[t]);
        let c = work.c[t];
        let r = c + (1.0 - c) * s - cells.y0[t];
        let ar = r.abs();
        let small = ar < delta;
        let l = if small {
            0.5 * r * r * inv_delta
        } else {
            ar - 0.5 * delta
        };
        let dl = if small { r * inv_delta } else { r.signum() };
        let gy = cells.w[t] * dl * inv;
        work.loss[t] = cells.w[t] * l;
        work.gk[t] = gy * (1.0 - s);
        work.h[t] = gy * (1.0 - c) * s * (1.0 - s);
    }
    let loss: f64 = work.loss.iter().sum();
    // Back to the parameters.
    for i in 0..n {
        let gh = &work.h[i * nb..(i + 1) * nb];
        let zi = &work.z[i * d..(i + 1) * d];
        let gzi = &mut work.gz[i * d..(i + 1) * d];
        for jj in 0..nb {
            gb[jj] += gh[jj];
        }
        for k in 0..d {
            if pb.fix_loadings {
                gzi[k] = gh.iter().sum();
            } else {
                let lk = &lam[k * nb..(k + 1) * nb];
                let gl = &mut glam[k * nb..(k + 1) * nb];
                let mut acc = 0.0;
                for jj in 0..nb {
                    gl[jj] += zi[k] * gh[jj];
                    acc += gh[jj] * lk[jj];
                }
                gzi[k] = acc;
            }
        }
        let fam = pb.family[i];
        let xi = &pb.x[i * p..(i + 1) * p];
        for k in 0..d {
            ga[fam * d + k] += gzi[k];
        }
        for q in 0..p {
            for k in 0..d {
                gw[q * d + k] += xi[q] * gzi[k];
            }
        }
    }
    if pb.learn_floor {
        for row in work.gk.chunks_exact(nb) {
            for (g, v) in gkappa.iter_mut().zip(row) {
                *g += v;
            }
        }
        for (g, k) in gkappa.iter_mut().zip(kappa) {
            let c = sigmoid(*k);
            *g *= c * (1.0 - c);
        }
    }
    loss * inv
}

/// Options of [`fit_batch`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Huber thresholds, run in order (continuation); the last is the target.
    pub deltas: Vec<f64>,
    /// L-BFGS settings of each stage.
    pub lbfgs: Options,
}

/// The end of one start.
#[derive(Debug, Clone, PartialEq)]
pub struct StartFit {
    pub theta: Vec<f64>,
    /// Loss at the last δ.
    pub loss: f64,
    pub iterations: usize,
    pub evaluations: usize,
    /// The last stage met a tolerance.
    pub converged: bool,
}

/// Runs every start of every problem (start `s` of problem `q` is row `s` of `starts[q]`,
/// `n_params` columns) and returns the fits in the same order. Each (problem, start) pair is
/// one task on the pool and runs single-threaded, so the results are the same bits for any
/// thread count.
pub fn fit_batch(
    problems: &[Problem<'_>],
    starts: &[&[f64]],
    opts: &FitOptions,
    monitor: &dyn Monitor,
) -> Result<Vec<Vec<StartFit>>> {
    if starts.len() != problems.len() {
        return Err(Error::shape(
            "starts",
            format!(
                "has {} entries for {} problems",
                starts.len(),
                problems.len()
            ),
        ));
    }
    if opts.deltas.is_empty() || opts.deltas.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
        return Err(Error::invalid(
            "deltas",
            "must be positive and finite, at least one",
        ));
    }
    let mut tasks = Vec::new();
    for (q, (pb, st)) in problems.iter().zip(starts).enumerate() {
        pb.validate()?;
        let np = pb.n_params();
        if st.is_empty() || st.len() % np != 0 {
            return Err(Error::shape(
                "starts",
                format!(
                    "problem {q}: {} values is not a positive multiple of {np} parameters",
                    st.len()
                ),
            ));
        }
        crate::error::ensure_finite("starts", st)?;
        for s in 0..st.len() / np {
            tasks.push((q, s));
        }
    }
    let stop = || monitor.stop_requested();
    let fits = par::map_chunks(tasks.len(), monitor, |t| {
        let (q, s) = tasks[t];
        let pb = &problems[q];
        let np = pb.n_params();
        let mut theta = starts[q][s * np..(s + 1) * np].to_vec();
        let mut fit = StartFit {
            theta: Vec::new(),
            loss: f64::INFINITY,
            iterations: 0,
            evaluations: 0,
            converged: false,
        };
        let cells = Cells::new(pb);
        let mut work = Work::default();
        for &delta in &opts.deltas {
            let out = lbfgs::minimize(&mut theta, &opts.lbfgs, &stop, |th, g| {
                objective_with(pb, &cells, &mut work, th, delta, g)
            });
            if out.interrupted {
                return Err(Error::Interrupted);
            }
            fit.loss = out.f;
            fit.iterations += out.iterations;
            fit.evaluations += out.evaluations;
            fit.converged = out.converged;
        }
        fit.theta = theta;
        Ok(fit)
    })?;
    let mut out: Vec<Vec<StartFit>> = problems.iter().map(|_| Vec::new()).collect();
    for ((q, _), fit) in tasks.into_iter().zip(fits) {
        out[q].push(fit);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn toy(n: usize, nf: usize, j: usize, d: usize, seed: u64) -> (Vec<f64>, Vec<usize>, Vec<f64>) {
        let mut r = Rng::new(seed);
        let x: Vec<f64> = (0..n * 3).map(|_| r.normal()).collect();
        let fam: Vec<usize> = (0..n).map(|i| i % nf).collect();
        let mut y: Vec<f64> = (0..n * j).map(|_| 0.2 + 0.6 * r.next_f64()).collect();
        y[1] = f64::NAN;
        let _ = d;
        (x, fam, y)
    }

    fn check_gradient(fix_loadings: bool, learn_floor: bool, d: usize, j: usize) {
        let (x, fam, y) = toy(17, 4, j, d, 3);
        let floor: Vec<f64> = (0..j).map(|k| 0.05 * k as f64).collect();
        let pb = Problem {
            x: &x,
            p: 3,
            family: &fam,
            n_families: 4,
            y: &y,
            n_bench: j,
            floor: &floor,
            d,
            fix_loadings,
            learn_floor,
        };
        pb.validate().unwrap();
        let mut r = Rng::new(9);
        let theta: Vec<f64> = (0..pb.n_params()).map(|_| 0.5 * r.normal()).collect();
        let mut g = vec![0.0; theta.len()];
        let mut g2 = vec![0.0; theta.len()];
        // δ large enough that the loss is smooth around theta for the finite differences.
        let delta = 10.0;
        objective(&pb, &theta, delta, &mut g);
        for k in 0..theta.len() {
            let h = 1e-6;
            let mut tp = theta.clone();
            tp[k] += h;
            let mut tm = theta.clone();
            tm[k] -= h;
            let fd = (objective(&pb, &tp, delta, &mut g2) - objective(&pb, &tm, delta, &mut g2))
                / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-7 * (1.0 + fd.abs()),
                "param {k}: {fd} vs {}",
                g[k]
            );
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        check_gradient(false, false, 2, 5);
        check_gradient(false, true, 3, 4);
        check_gradient(true, true, 1, 1);
        check_gradient(true, false, 1, 1);
    }

    #[test]
    fn batch_results_do_not_depend_on_the_batch_and_decrease_the_loss() {
        let (x, fam, y) = toy(40, 5, 4, 2, 11);
        let floor = vec![0.1; 4];
        let pb = Problem {
            x: &x,
            p: 3,
            family: &fam,
            n_families: 5,
            y: &y,
            n_bench: 4,
            floor: &floor,
            d: 2,
            fix_loadings: false,
            learn_floor: false,
        };
        let np = pb.n_params();
        let mut r = Rng::new(1);
        let st: Vec<f64> = (0..3 * np).map(|_| r.normal()).collect();
        let opts = FitOptions {
            deltas: vec![0.1, 0.01],
            lbfgs: Options::default(),
        };
        let mut g = vec![0.0; np];
        let before = objective(&pb, &st[..np], 0.01, &mut g);
        let a = fit_batch(&[pb, pb], &[&st, &st[..np]], &opts, &par::Silent).unwrap();
        assert_eq!(a[0].len(), 3);
        assert_eq!(a[1].len(), 1);
        assert_eq!(a[0][0], a[1][0]);
        assert!(a[0][0].loss < before);
        let stationary = objective(&pb, &a[0][0].theta, 0.01, &mut g);
        assert_eq!(stationary, a[0][0].loss);
    }

    #[test]
    fn rejects_bad_input() {
        let (x, fam, y) = toy(5, 2, 2, 1, 1);
        let floor = vec![0.0; 2];
        let mut pb = Problem {
            x: &x,
            p: 3,
            family: &fam,
            n_families: 1,
            y: &y,
            n_bench: 2,
            floor: &floor,
            d: 1,
            fix_loadings: false,
            learn_floor: false,
        };
        assert!(matches!(
            pb.validate(),
            Err(Error::InvalidArgument {
                arg: "families",
                ..
            })
        ));
        pb.n_families = 2;
        pb.d = 0;
        assert!(matches!(
            pb.validate(),
            Err(Error::InvalidArgument {
                arg: "n_skills",
                ..
            })
        ));
    }
}
