//! Leading eigenpairs of a symmetric sparse matrix by thick-restart Lanczos (Wu & Simon 2000)
//! with full reorthogonalisation, accelerated by a Chebyshev polynomial filter.
//!
//! The basis holds at most `m ≈ 2·nev + 24` vectors (contiguous columns), so each step's
//! reorthogonalisation reads a small block instead of a basis that grows with the iteration
//! count. When it is full, the projected matrix `T = Vᵀ A V` gives Ritz pairs; the best `keep`
//! Ritz vectors and the residual vector start the next cycle.
//!
//! On kNN diffusion operators the wanted eigenvalues crowd below 1 and a sparse product costs
//! far less than reorthogonalising one Lanczos vector, so after a first cycle on `A` (whose
//! `nev`-th Ritz value is a lower bound on `λ_nev`) the iteration runs on `T_d(ℓ(A))`: the
//! degree-`d` Chebyshev polynomial of the affine map of `[λ_min bound, that bound]` onto
//! `[−1, 1]`. It has the same eigenvectors, keeps the wanted eigenvalues on top and in order,
//! and widens their relative gaps about `d²`-fold, so far fewer (reorthogonalised) steps are
//! needed. The Ritz vectors it yields are checked on `A` itself: eigenvalues are the Rayleigh
//! quotients `yᵀ A y` and convergence means `‖A y − θ y‖ ≤ tol` (each value then within `tol` of
//! an eigenvalue), the same criterion as the plain iteration's `|β s_{m,i}| ≤ tol`. Every
//! reduction runs over a fixed partition of the rows and is summed in order, so the result is
//! bit-identical for any number of threads. Single-pass sketches are deliberately not used: on
//! kNN operators, whose leading eigenvalues cluster near 1, they are badly inaccurate.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::linalg;
use crate::error::{Error, Result};
use crate::par::Monitor;
use crate::rng::Rng;
use crate::sparse::SPMV_ROWS;

/// The kNN operators' matrix type: `u32` column indices (a third less memory traffic per
/// product than `usize`).
pub type Csr = crate::sparse::Csr<u32>;

impl Csr {
    /// `out = 2 ℓ(A) x − prev` (or `ℓ(A) x` without `prev`), `ℓ(A) = alpha A + shift I`.
    fn chebyshev_step(
        &self,
        x: &[f64],
        prev: Option<&[f64]>,
        alpha: f64,
        shift: f64,
        out: &mut [f64],
    ) {
        out.par_chunks_mut(SPMV_ROWS)
            .enumerate()
            .for_each(|(b, ob)| {
                for (k, o) in ob.iter_mut().enumerate() {
                    let i = b * SPMV_ROWS + k;
                    let l = alpha * self.row_dot(i, x) + shift * x[i];
                    *o = match prev {
                        Some(p) => 2.0 * l - p[i],
                        None => l,
                    };
                }
            });
    }
}

/// Leading eigenpairs: values in decreasing order, vectors as columns of an `n × nev` matrix.
pub struct Eigenpairs {
    pub values: Vec<f64>,
    pub vectors: Mat<f64>,
    pub converged: bool,
}

/// Rows per fixed part of the parallel reductions (a multiple of 8: parts stay aligned).
const PART_ROWS: usize = 2048;

/// Top `nev` (largest algebraic) eigenpairs of the symmetric `a`.
pub fn top_eigenpairs(
    a: &Csr,
    nev: usize,
    tol: f64,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<Eigenpairs> {
    let n = a.n;
    if nev == 0 || nev > n {
        return Err(Error::invalid(
            "n_components",
            format!("needs 1 <= n_eigs <= n = {n} (got {nev})"),
        ));
    }
    let m = n.min((2 * nev + 24).max(nev + 32));
    let keep = (nev + (m - nev) / 2).min(m.saturating_sub(1)).max(1);
    // Budget in Lanczos steps (a filtered step, d sparse products, counts as one).
    let max_steps = (60 * m).max(3000);
    let mut rng = Rng::new(seed);
    let mut k = Krylov {
        v: Mat::<f64>::zeros(n, m + 1),
        t: Mat::<f64>::zeros(m, m),
        w: Mat::<f64>::zeros(n, 1),
        j: 0,
        beta: 0.0,
    };
    random_unit(k.v.as_mut(), 0, &mut rng)?;
    let mut steps = 0usize;
    // The first cycle runs on A itself; then, unless it converged, on a Chebyshev filter of A
    // (see `Filter`), checking for convergence every few steps since it converges fast.
    let mut filter: Option<Filter> = None;
    let mut filter_tol = tol;
    loop {
        k.step(a, filter.as_ref(), &mut rng)?;
        steps += 1;
        let size = k.j;
        let checkpoint = filter.is_some() && size > nev && (size - nev) % FILTER_CHECK_EVERY == 0;
        if size < m && !checkpoint {
            continue;
        }
        let (values, vecs) = linalg::sym_eig(k.t.as_ref().submatrix(0, 0, size, size), true)?;
        let s = vecs.ok_or_else(|| Error::Numerical("projected eigenvectors missing".into()))?;
        // Ritz pairs in decreasing order of value; residual norms |β s_{size,c}|.
        let order: Vec<usize> = (0..size).rev().collect();
        let residual = |c: usize| (k.beta * s[(size - 1, c)]).abs();
        let out_of_budget = steps >= max_steps || size == n;
        if filter.is_none() {
            let small = order[..nev].iter().all(|&c| residual(c) <= tol);
            if small || out_of_budget {
                let top = Mat::<f64>::from_fn(size, nev, |i, c| s[(i, order[c])]);
                return Ok(Eigenpairs {
                    values: order[..nev].iter().map(|&c| values[c]).collect(),
                    vectors: combine(k.v.as_ref().subcols(0, size), top.as_ref()),
                    converged: small || size == n,
                });
            }
            // Ritz values lie below the eigenvalues of the same rank (interlacing), so the
            // nev-th one bounds λ_nev from below: every wanted eigenvalue is amplified.
            filter = Filter::new(gershgorin_lower(a), values[order[nev - 1]]);
            if filter.is_some() {
                // The Lanczos relation of A does not carry over to the filter: start afresh
                // from the sum of the wanted Ritz vectors.
                let sum = Mat::<f64>::from_fn(size, 1, |i, _| {
                    order[..nev].iter().map(|&c| s[(i, c)]).sum()
                });
                let x = combine(k.v.as_ref().subcols(0, size), sum.as_ref());
                k.restart_from(x.col_as_slice(0), &mut rng)?;
            } else {
                k.thick_restart(&values, &s, &order, keep);
            }
            monitor.tick(steps, max_steps)?;
            continue;
        }
        // Residuals on the filter, relative to its value at λ_nev (its slope there is larger
        // still); the Ritz vectors are then checked on A itself before they are returned.
        let scale = values[order[nev - 1]].max(1.0);
        let small = order[..nev]
            .iter()
            .all(|&c| residual(c) <= filter_tol * scale);
        if small || out_of_budget {
            let top = Mat::<f64>::from_fn(size, nev, |i, c| s[(i, order[c])]);
            let y = combine(k.v.as_ref().subcols(0, size), top.as_ref());
            let (values, residuals) = rayleigh_ritz(a, y.as_ref());
            let converged = residuals.iter().all(|&r| r <= tol);
            if converged || out_of_budget {
                return Ok(sorted_pairs(values, y.as_ref(), converged));
            }
            filter_tol *= 1e-2;
        }
        if size == m {
            k.thick_restart(&values, &s, &order, keep);
            monitor.tick(steps, max_steps)?;
        }
    }
}

/// Steps between convergence checks on the filter (each check solves the small projected
/// eigenproblem; a filtered step already costs `FILTER_DEGREE` sparse products).
const FILTER_CHECK_EVERY: usize = 6;

/// A Lanczos basis: columns `0..=j` of `v` (column `j` the next direction), the projected
/// matrix `t` on columns `0..j` and the last coupling `beta`.
struct Krylov {
    v: Mat<f64>,
    t: Mat<f64>,
    w: Mat<f64>,
    j: usize,
    beta: f64,
}

impl Krylov {
    /// One Lanczos step with full reorthogonalisation.
    fn step(&mut self, a: &Csr, filter: Option<&Filter>, rng: &mut Rng) -> Result<()> {
        let (n, m, j) = (self.v.nrows(), self.t.nrows(), self.j);
        let (v, t) = (&mut self.v, &mut self.t);
        let w = self.w.col_as_slice_mut(0);
        apply(a, filter, v.col_as_slice(j), w);
        // The couplings already known from T (β_{j−1}, or the kept Ritz vectors' after a
        // restart) and the Rayleigh quotient α are removed first, so that the full pass
        // only corrects rounding-level components and one pass is nearly always enough.
        let mut h = vec![0.0; j + 1];
        for i in 0..j {
            if t[(i, j)] != 0.0 {
                h[i] = t[(i, j)];
                axpy(-h[i], v.col_as_slice(i), w);
            }
        }
        h[j] = linalg::dot(v.col_as_slice(j), w);
        axpy(-h[j], v.col_as_slice(j), w);
        let before = norm(w);
        let h1 = project_out(v.as_ref().subcols(0, j + 1), w);
        h.iter_mut().zip(&h1).for_each(|(x, y)| *x += y);
        let mut b = norm(w);
        // Second pass (DGKS) only when the first one cancelled much of w.
        if b < std::f64::consts::FRAC_1_SQRT_2 * before {
            let h2 = project_out(v.as_ref().subcols(0, j + 1), w);
            h.iter_mut().zip(&h2).for_each(|(x, y)| *x += y);
            b = norm(w);
        }
        for (i, &hi) in h.iter().enumerate() {
            t[(i, j)] = hi;
            t[(j, i)] = hi;
        }
        let scale = (0..=j).map(|i| t[(i, i)].abs()).fold(1e-300, f64::max);
        if b > 1e-12 * scale {
            self.beta = b;
            let dst = v.col_as_slice_mut(j + 1);
            dst.iter_mut().zip(w.iter()).for_each(|(d, s)| *d = s / b);
        } else {
            // Invariant subspace: go on with a fresh direction orthogonal to it (none is
            // needed once the basis spans the whole space).
            self.beta = 0.0;
            if j + 1 < n {
                random_unit(v.as_mut(), j + 1, rng)?;
            }
        }
        if j + 1 < m {
            t[(j + 1, j)] = self.beta;
            t[(j, j + 1)] = self.beta;
        }
        self.j += 1;
        Ok(())
    }

    /// Thick restart: the best `keep` Ritz vectors, then the residual direction.
    fn thick_restart(&mut self, values: &[f64], s: &Mat<f64>, order: &[usize], keep: usize) {
        let size = self.j;
        let kept = Mat::<f64>::from_fn(size, keep, |i, c| s[(i, order[c])]);
        let y = combine(self.v.as_ref().subcols(0, size), kept.as_ref());
        self.v.as_mut().subcols_mut(0, keep).copy_from(&y);
        let (head, tail) = self.v.as_mut().split_at_col_mut(size);
        head.col_mut(keep).copy_from(tail.col(0));
        self.t.fill(0.0);
        for c in 0..keep {
            self.t[(c, c)] = values[order[c]];
            let coupling = self.beta * s[(size - 1, order[c])];
            self.t[(c, keep)] = coupling;
            self.t[(keep, c)] = coupling;
        }
        self.j = keep;
    }

    /// A new basis from the single direction `x`.
    fn restart_from(&mut self, x: &[f64], rng: &mut Rng) -> Result<()> {
        self.t.fill(0.0);
        self.j = 0;
        let nrm = norm(x);
        if nrm > 0.0 && nrm.is_finite() {
            let dst = self.v.col_as_slice_mut(0);
            dst.iter_mut().zip(x).for_each(|(d, x)| *d = x / nrm);
            Ok(())
        } else {
            random_unit(self.v.as_mut(), 0, rng)
        }
    }
}

/// Degree of the Chebyshev filter: each filtered product costs this many sparse products, cheap
/// next to the reorthogonalisation of one Lanczos step against the whole basis.
const FILTER_DEGREE: usize = 8;

/// The filter `T_d(ℓ(A))`, with `ℓ` the affine map of `[lower, upper]` onto `[−1, 1]`: every
/// eigenvalue in that interval is mapped into `[−1, 1]` and those above `upper` to values above
/// 1, increasing with λ. With `lower` ≤ λ_min(A) and `upper` < λ_nev, the top `nev` eigenvectors
/// of the filter are those of A, with their gap to the rest magnified (about `d²`-fold), so
/// Lanczos needs far fewer steps (and reorthogonalisations) for them.
struct Filter {
    alpha: f64,
    shift: f64,
}

impl Filter {
    /// `None` when the interval is empty.
    fn new(lower: f64, below_wanted: f64) -> Option<Filter> {
        // A margin below the bound keeps the wanted eigenvalues strictly above 1 after the map.
        let upper = below_wanted - 0.01 * (below_wanted - lower);
        (upper > lower && upper.is_finite() && lower.is_finite()).then(|| Filter {
            alpha: 2.0 / (upper - lower),
            shift: -(upper + lower) / (upper - lower),
        })
    }
}

/// `w = op x` with `op` A or its filter.
fn apply(a: &Csr, filter: Option<&Filter>, x: &[f64], w: &mut [f64]) {
    let Some(f) = filter else {
        a.matvec(x, w);
        return;
    };
    // Three-term recurrence T_{k+1} = 2 ℓ(A) T_k − T_{k−1}, T_0 = x, T_1 = ℓ(A) x.
    let n = x.len();
    let mut prev = x.to_vec();
    let mut cur = vec![0.0; n];
    a.chebyshev_step(x, None, f.alpha, f.shift, &mut cur);
    for _ in 1..FILTER_DEGREE {
        a.chebyshev_step(&cur, Some(&prev), f.alpha, f.shift, w);
        std::mem::swap(&mut prev, &mut cur);
        cur.copy_from_slice(w);
    }
    w.copy_from_slice(&cur);
}

/// A lower bound on the eigenvalues of the symmetric `a` (Gershgorin discs).
fn gershgorin_lower(a: &Csr) -> f64 {
    (0..a.n)
        .map(|i| {
            let (s, e) = (a.indptr[i], a.indptr[i + 1]);
            let (mut diag, mut off) = (0.0, 0.0);
            for (&j, &v) in a.indices[s..e].iter().zip(&a.values[s..e]) {
                if j as usize == i {
                    diag += v;
                } else {
                    off += v.abs();
                }
            }
            diag - off
        })
        .fold(f64::INFINITY, f64::min)
}

/// Rayleigh quotients `yᵀ A y` and residual norms `‖A y − θ y‖` of orthonormal columns.
fn rayleigh_ritz(a: &Csr, y: MatRef<'_, f64>) -> (Vec<f64>, Vec<f64>) {
    let mut ay = vec![0.0; y.nrows()];
    (0..y.ncols())
        .map(|c| {
            let col = y
                .col(c)
                .try_as_col_major()
                .map(|c| c.as_slice())
                .unwrap_or(&[]);
            a.matvec(col, &mut ay);
            let theta = linalg::dot(col, &ay);
            ay.iter_mut().zip(col).for_each(|(r, v)| *r -= theta * v);
            (theta, norm(&ay))
        })
        .unzip()
}

/// Eigenpairs ordered by decreasing value.
fn sorted_pairs(values: Vec<f64>, y: MatRef<'_, f64>, converged: bool) -> Eigenpairs {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&p, &q| values[q].total_cmp(&values[p]).then(p.cmp(&q)));
    Eigenpairs {
        values: order.iter().map(|&c| values[c]).collect(),
        vectors: Mat::<f64>::from_fn(y.nrows(), order.len(), |i, c| y[(i, order[c])]),
        converged,
    }
}

/// `y += a x` (sequential: too little work per call to pay for waking the pool).
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

fn norm(x: &[f64]) -> f64 {
    linalg::dot(x, x).sqrt()
}

/// Writes a random unit vector orthogonal to columns `0..col` of `v` into column `col`.
fn random_unit(mut v: MatMut<'_, f64>, col: usize, rng: &mut Rng) -> Result<()> {
    let n = v.nrows();
    let mut x = Mat::<f64>::zeros(n, 1);
    for _ in 0..8 {
        x.col_as_slice_mut(0)
            .iter_mut()
            .for_each(|e| *e = rng.normal());
        for _ in 0..2 {
            project_out(v.as_ref().subcols(0, col), x.col_as_slice_mut(0));
        }
        let nrm = norm(x.col_as_slice(0));
        if nrm > 1e-8 {
            let dst = v.as_mut().col_mut(col);
            dst.try_as_col_major_mut()
                .map(|d| d.as_slice_mut())
                .ok_or_else(|| Error::Numerical("basis column not contiguous".into()))?
                .iter_mut()
                .zip(x.col_as_slice(0))
                .for_each(|(d, s)| *d = s / nrm);
            return Ok(());
        }
    }
    Err(Error::Numerical(
        "could not extend the Krylov basis (the space is exhausted)".into(),
    ))
}

/// `w -= V (Vᵀ w)` for the orthonormal columns `V`; returns `Vᵀ w`. Partial products over fixed
/// row parts are summed in part order (thread-count independent).
fn project_out(v: MatRef<'_, f64>, w: &mut [f64]) -> Vec<f64> {
    let c = v.ncols();
    if c == 0 {
        return Vec::new();
    }
    let partials: Vec<Mat<f64>> = w
        .par_chunks(PART_ROWS)
        .enumerate()
        .map(|(p, wp)| {
            let vp = v.subrows(p * PART_ROWS, wp.len());
            let mut hp = Mat::<f64>::zeros(c, 1);
            let wv = MatRef::from_column_major_slice(wp, wp.len(), 1);
            matmul(
                hp.as_mut(),
                Accum::Replace,
                vp.transpose(),
                wv,
                1.0,
                Par::Seq,
            );
            hp
        })
        .collect();
    let mut h = Mat::<f64>::zeros(c, 1);
    for part in &partials {
        h += part;
    }
    w.par_chunks_mut(PART_ROWS).enumerate().for_each(|(p, wp)| {
        let vp = v.subrows(p * PART_ROWS, wp.len());
        let len = wp.len();
        let wv = MatMut::from_column_major_slice_mut(wp, len, 1);
        matmul(wv, Accum::Add, vp, h.as_ref(), -1.0, Par::Seq);
    });
    h.col_as_slice(0).to_vec()
}

/// `V S` (`n × k`), computed over fixed row parts in parallel.
fn combine(v: MatRef<'_, f64>, s: MatRef<'_, f64>) -> Mat<f64> {
    let (n, k) = (v.nrows(), s.ncols());
    let mut out = Mat::<f64>::zeros(n, k);
    let parts: Vec<(usize, Mat<f64>)> = (0..n.div_ceil(PART_ROWS))
        .into_par_iter()
        .map(|p| {
            let (start, len) = (p * PART_ROWS, PART_ROWS.min(n - p * PART_ROWS));
            let mut block = Mat::<f64>::zeros(len, k);
            matmul(
                block.as_mut(),
                Accum::Replace,
                v.subrows(start, len),
                s,
                1.0,
                Par::Seq,
            );
            (start, block)
        })
        .collect();
    for (start, block) in parts {
        out.as_mut()
            .subrows_mut(start, block.nrows())
            .copy_from(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    /// Path-graph Laplacian-like tridiagonal matrix with known spectrum 2 − 2cos(πj/(n+1)).
    fn tridiag(n: usize) -> Csr {
        let mut indptr = vec![0];
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for i in 0..n {
            if i > 0 {
                indices.push(i as u32 - 1);
                values.push(-1.0);
            }
            indices.push(i as u32);
            values.push(2.0);
            if i + 1 < n {
                indices.push(i as u32 + 1);
                values.push(-1.0);
            }
            indptr.push(indices.len());
        }
        Csr {
            n,
            indptr,
            indices,
            values,
        }
    }

    #[test]
    fn finds_top_eigenvalues_of_path_matrix() {
        let n = 200;
        let e = top_eigenpairs(&tridiag(n), 5, 1e-10, 1, &Silent).unwrap();
        for (k, got) in e.values.iter().enumerate() {
            let j = (n - k) as f64;
            let want = 2.0 - 2.0 * (std::f64::consts::PI * j / (n as f64 + 1.0)).cos();
            assert!((got - want).abs() < 1e-8, "{k}: {got} vs {want}");
        }
    }

    /// n = 3000, 20 clustered top eigenvalues: the first cycle cannot converge, so the
    /// filtered iteration runs; its pairs must be eigenpairs of A to the tolerance.
    #[test]
    fn filtered_iteration_matches_path_spectrum() {
        let (n, nev) = (3000, 20);
        let a = tridiag(n);
        let e = top_eigenpairs(&a, nev, 1e-10, 7, &Silent).unwrap();
        assert!(e.converged);
        let mut av = vec![0.0; n];
        for (k, got) in e.values.iter().enumerate() {
            let j = (n - k) as f64;
            let want = 2.0 - 2.0 * (std::f64::consts::PI * j / (n as f64 + 1.0)).cos();
            assert!((got - want).abs() < 1e-9, "{k}: {got} vs {want}");
            let y = e.vectors.col_as_slice(k);
            a.matvec(y, &mut av);
            let r: f64 = av.iter().zip(y).map(|(p, q)| (p - got * q).powi(2)).sum();
            assert!(r.sqrt() <= 1e-10, "{k}: residual {}", r.sqrt());
        }
        assert!(gershgorin_lower(&a) <= 0.0);
    }
}
