//! Leading eigenpairs of a symmetric sparse matrix by thick-restart Lanczos (Wu & Simon 2000)
//! with full reorthogonalisation.
//!
//! The basis holds at most `m ≈ 2·nev + 24` vectors (contiguous columns), so each step's
//! reorthogonalisation reads a small, cache-friendly block instead of a basis that grows with
//! the iteration count. When it is full, the projected matrix `T = Vᵀ A V` gives Ritz pairs; the
//! top ones whose residual norms `|β s_{m,i}|` are all ≤ `tol` are returned (each Ritz value is
//! then within `tol` of an eigenvalue); otherwise the best `keep` Ritz vectors and the residual
//! vector become the start of the next cycle. Every reduction runs over a fixed partition of the
//! rows and is summed in order, so the result is bit-identical for any number of threads.
//! Single-pass sketches are deliberately not used: on kNN operators, whose leading eigenvalues
//! cluster near 1, they are badly inaccurate.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::linalg::{self, ROW_BLOCK};
use crate::error::{Error, Result};
use crate::par::Monitor;
use crate::rng::Rng;

/// A square sparse matrix in compressed sparse row form.
pub struct Csr {
    pub n: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<usize>,
    pub values: Vec<f64>,
}

impl Csr {
    /// `y = A x`, row blocks in parallel.
    pub fn matvec(&self, x: &[f64], y: &mut [f64]) {
        y.par_chunks_mut(ROW_BLOCK).enumerate().for_each(|(b, yb)| {
            for (k, yi) in yb.iter_mut().enumerate() {
                let i = b * ROW_BLOCK + k;
                let (s, e) = (self.indptr[i], self.indptr[i + 1]);
                *yi = self.indices[s..e]
                    .iter()
                    .zip(&self.values[s..e])
                    .map(|(&j, &v)| v * x[j])
                    .sum();
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
    let max_matvecs = (60 * m).max(3000);
    let mut rng = Rng::new(seed);
    // Columns 0..m are the basis, column m the next (residual) direction.
    let mut v = Mat::<f64>::zeros(n, m + 1);
    let mut t = Mat::<f64>::zeros(m, m);
    let mut w = Mat::<f64>::zeros(n, 1);
    random_unit(v.as_mut(), 0, &mut rng)?;
    let (mut j, mut beta, mut matvecs) = (0usize, 0.0f64, 0usize);
    loop {
        while j < m {
            a.matvec(v.col_as_slice(j), w.col_as_slice_mut(0));
            matvecs += 1;
            // The couplings already known from T (β_{j−1}, or the kept Ritz vectors' after a
            // restart) and the Rayleigh quotient α are removed first, so that the full pass
            // only corrects rounding-level components and one pass is nearly always enough.
            let mut h = vec![0.0; j + 1];
            for i in 0..j {
                if t[(i, j)] != 0.0 {
                    h[i] = t[(i, j)];
                    axpy(-h[i], v.col_as_slice(i), w.col_as_slice_mut(0));
                }
            }
            h[j] = linalg::dot(v.col_as_slice(j), w.col_as_slice(0));
            axpy(-h[j], v.col_as_slice(j), w.col_as_slice_mut(0));
            let before = norm(w.col_as_slice(0));
            let h1 = project_out(v.as_ref().subcols(0, j + 1), w.col_as_slice_mut(0));
            h.iter_mut().zip(&h1).for_each(|(x, y)| *x += y);
            let mut b = norm(w.col_as_slice(0));
            // Second pass (DGKS) only when the first one cancelled much of w.
            if b < std::f64::consts::FRAC_1_SQRT_2 * before {
                let h2 = project_out(v.as_ref().subcols(0, j + 1), w.col_as_slice_mut(0));
                h.iter_mut().zip(&h2).for_each(|(x, y)| *x += y);
                b = norm(w.col_as_slice(0));
            }
            for (i, &hi) in h.iter().enumerate() {
                t[(i, j)] = hi;
                t[(j, i)] = hi;
            }
            let scale = (0..=j).map(|i| t[(i, i)].abs()).fold(1e-300, f64::max);
            if b > 1e-12 * scale {
                beta = b;
                let (src, dst) = (w.col_as_slice(0), v.col_as_slice_mut(j + 1));
                dst.iter_mut().zip(src).for_each(|(d, s)| *d = s / b);
            } else {
                // Invariant subspace: go on with a fresh direction orthogonal to it (none is
                // needed once the basis spans the whole space).
                beta = 0.0;
                if j + 1 < n {
                    random_unit(v.as_mut(), j + 1, &mut rng)?;
                }
            }
            if j + 1 < m {
                t[(j + 1, j)] = beta;
                t[(j, j + 1)] = beta;
            }
            j += 1;
        }
        let (values, vecs) = linalg::sym_eig(t.as_ref(), true)?;
        let s = vecs.ok_or_else(|| Error::Numerical("projected eigenvectors missing".into()))?;
        // Ritz pairs in decreasing order of value.
        let order: Vec<usize> = (0..m).rev().collect();
        let residual = |c: usize| (beta * s[(m - 1, c)]).abs();
        let converged = order[..nev].iter().all(|&c| residual(c) <= tol);
        if converged || matvecs >= max_matvecs || m == n {
            let top = Mat::<f64>::from_fn(m, nev, |i, c| s[(i, order[c])]);
            return Ok(Eigenpairs {
                values: order[..nev].iter().map(|&c| values[c]).collect(),
                vectors: combine(v.as_ref().subcols(0, m), top.as_ref()),
                converged: converged || m == n,
            });
        }
        // Thick restart: the best `keep` Ritz vectors, then the residual direction.
        let kept = Mat::<f64>::from_fn(m, keep, |i, c| s[(i, order[c])]);
        let y = combine(v.as_ref().subcols(0, m), kept.as_ref());
        v.as_mut().subcols_mut(0, keep).copy_from(&y);
        let (head, tail) = v.as_mut().split_at_col_mut(m);
        head.col_mut(keep).copy_from(tail.col(0));
        t.fill(0.0);
        for c in 0..keep {
            t[(c, c)] = values[order[c]];
            let coupling = beta * s[(m - 1, order[c])];
            t[(c, keep)] = coupling;
            t[(keep, c)] = coupling;
        }
        j = keep;
        monitor.tick(matvecs, max_matvecs)?;
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
    let partials: Vec<Vec<f64>> = w
        .par_chunks(PART_ROWS)
        .enumerate()
        .map(|(p, wp)| {
            let vp = v.subrows(p * PART_ROWS, wp.len());
            (0..c).map(|k| linalg::dot(column(vp, k), wp)).collect()
        })
        .collect();
    let mut h = vec![0.0; c];
    for part in &partials {
        h.iter_mut().zip(part).for_each(|(x, y)| *x += y);
    }
    w.par_chunks_mut(PART_ROWS).enumerate().for_each(|(p, wp)| {
        let vp = v.subrows(p * PART_ROWS, wp.len());
        for (k, &hk) in h.iter().enumerate() {
            wp.iter_mut()
                .zip(column(vp, k))
                .for_each(|(x, vi)| *x -= hk * vi);
        }
    });
    h
}

/// Column `k` of a column-major view as a slice.
fn column(v: MatRef<'_, f64>, k: usize) -> &[f64] {
    v.col(k)
        .try_as_col_major()
        .map(|c| c.as_slice())
        .unwrap_or(&[])
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
                indices.push(i - 1);
                values.push(-1.0);
            }
            indices.push(i);
            values.push(2.0);
            if i + 1 < n {
                indices.push(i + 1);
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
}
