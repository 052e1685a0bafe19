//! Leading eigenvalues of a dense symmetric matrix by thick-restart block Krylov (block Lanczos
//! with full reorthogonalisation, restarted on Ritz vectors), for the slowly decaying spectra
//! that defeat the low-rank pivoted Cholesky.
//!
//! Every product is a matrix–matrix product (`A · X` on a block of `BLOCK` vectors), so `A` is
//! read once per block instead of once per vector. The basis `V` and its image `AV = A V` are
//! both kept, so the projected matrix `T = Vᵀ A V` is formed explicitly and a restart (`V ← V S`,
//! `AV ← AV S` on the kept Ritz vectors `S`) needs no extra product with `A`.
//!
//! Stopping rule (certified from residuals): for the top `nev` Ritz pairs `(Θ, Y = V S)` with
//! orthonormal `Y`, the residual `R = A Y − Y Θ` bounds the eigenvalue errors: there are `nev`
//! eigenvalues of `A` with `|θ_i − λ_π(i)| ≤ ‖R‖₂` (Kahan's theorem for Rayleigh–Ritz); if they are
//! the top `nev` (a block Krylov space from a random block does not miss a leading eigenvalue
//! in practice), the sorted values match to the same bound. The iteration stops when
//! `‖R‖₂ ≤ abs_tol + rel_tol · θ_nev`, estimated cheaply from the block Lanczos relation and then
//! confirmed on explicit products. Reductions run over fixed row parts summed in order, so the
//! result is bit-identical for any number of threads.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::linalg;
use crate::error::{Error, Result};
use crate::par::Monitor;
use crate::rng::Rng;

/// Vectors per block: large enough that `A · X` is compute-bound (each pass over the 8 n² bytes
/// of `A` serves this many vectors), small enough that the Krylov space grows in fine steps
/// (on the clustered spectra of Gaussian clouds, blocks of 32 reach the tolerance with about
/// two thirds of the products that blocks of 64 need).
pub const BLOCK: usize = 32;
/// Blocks the basis may grow by past the kept Ritz vectors before a restart.
const GROWTH_BLOCKS: usize = 8;
/// Rows per fixed part of the parallel products and reductions.
const PART_ROWS: usize = 256;
/// Fixed seed of the start block: the exact mode is deterministic.
const START_SEED: u64 = 0x4c45_535f_6b72_796c;
/// Blocks added between convergence checks (each check solves the projected eigenproblem).
const CHECK_EVERY: usize = 8;

/// Outcome: the top `nev` eigenvalues (decreasing) and a bound on each one's absolute error.
pub struct KrylovSpectrum {
    pub eigenvalues: Vec<f64>,
    pub error_bound: f64,
}

/// What "converged" means: every eigenvalue within `abs + rel · λ_nev`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

/// Top `nev` eigenvalues of the symmetric `n × n` matrix `a` (row-major, equal to its
/// transpose). `None` when the iteration budget runs out before the tolerance is met.
pub fn top_eigenvalues(
    a: &[f64],
    n: usize,
    nev: usize,
    tol: Tolerance,
    monitor: &dyn Monitor,
) -> Result<Option<KrylovSpectrum>> {
    let b = BLOCK.min(n);
    let keep = kept_columns(nev).min(n);
    let cap = keep + GROWTH_BLOCKS * b;
    if cap >= n {
        return Ok(None);
    }
    let a = MatRef::from_row_major_slice(a, n, n);
    // Budget in blocks: far above what converging runs use (a few dozen).
    let max_blocks = 40 + 4 * n.div_ceil(b);
    let mut k = Basis {
        v: Mat::zeros(n, cap),
        av: Mat::zeros(n, cap),
        t: Mat::zeros(cap, cap),
        size: 0,
    };
    let mut rng = Rng::new(START_SEED);
    let mut next = Mat::<f64>::from_fn(n, b, |_, _| 0.0);
    for c in 0..b {
        next.col_as_slice_mut(c)
            .iter_mut()
            .for_each(|x| *x = rng.normal());
    }
    orthonormalise(&mut next, k.v.as_ref().subcols(0, 0), 0, &mut rng)?;
    for block in 1..=max_blocks {
        let (following, coupling) = k.append(a, next.as_ref(), &mut rng)?;
        next = following;
        monitor.tick(block, max_blocks)?;
        let full = k.size + b > cap;
        if k.size < nev + b || !(full || block % CHECK_EVERY == 0) {
            continue;
        }
        let (values, s) = eig_desc(k.t.as_ref().submatrix(0, 0, k.size, k.size))?;
        // Residual of the top Ritz pairs from the block Lanczos relation: (I − VVᵀ) A V = Q B Eᵀ
        // with Q = `next`, so R = Q (B S_last) and ‖R‖₂ = ‖B S_last‖₂.
        let s_last = s.as_ref().subrows(k.size - b, b).subcols(0, nev);
        let estimate = spectral_norm(mat_mul(coupling.as_ref(), s_last).as_ref())?;
        let target = tol.abs + tol.rel * values[nev - 1].max(0.0);
        if estimate <= target {
            let bound = k.explicit_residual(&values[..nev], s.as_ref().subcols(0, nev))?;
            if bound <= target {
                let eigenvalues = values[..nev].iter().map(|v| v.max(0.0)).collect();
                return Ok(Some(KrylovSpectrum {
                    eigenvalues,
                    error_bound: bound,
                }));
            }
        }
        if full {
            k.restart(&values, s.as_ref(), keep);
        }
    }
    Ok(None)
}

/// Ritz vectors kept at a restart.
fn kept_columns(nev: usize) -> usize {
    nev + nev / 2 + BLOCK
}

/// Most columns the basis holds (each stored twice: the basis and its image).
pub fn basis_columns(nev: usize) -> usize {
    kept_columns(nev) + GROWTH_BLOCKS * BLOCK
}

/// An orthonormal basis `v[:, ..size]`, its image `av = A v` and `t = vᵀ A v`.
struct Basis {
    v: Mat<f64>,
    av: Mat<f64>,
    t: Mat<f64>,
    size: usize,
}

impl Basis {
    /// Appends the orthonormal block `x` (orthogonal to the basis) and its image; returns the
    /// next block (the new directions of `A x`, orthonormalised) and the coupling `B` with
    /// `(I − VVᵀ) A x = next · B`.
    fn append(
        &mut self,
        a: MatRef<'_, f64>,
        x: MatRef<'_, f64>,
        rng: &mut Rng,
    ) -> Result<(Mat<f64>, Mat<f64>)> {
        let (s, b) = (self.size, x.ncols());
        self.v.as_mut().subcols_mut(s, b).copy_from(x);
        let ax = product(a, x);
        self.av.as_mut().subcols_mut(s, b).copy_from(&ax);
        self.size = s + b;
        let v = self.v.as_ref().subcols(0, s + b);
        let mut w = ax;
        // Block Lanczos: A x is mainly in the span of the last two blocks.
        let (h, coupling) = orthonormalise(&mut w, v, 2 * b, rng)?;
        // T's new columns are the projection coefficients Vᵀ A x (mirrored: T stays symmetric).
        for j in 0..b {
            for i in 0..s + b {
                let value = if i >= s {
                    0.5 * (h[(i, j)] + h[(s + j, i - s)])
                } else {
                    h[(i, j)]
                };
                self.t[(i, s + j)] = value;
                self.t[(s + j, i)] = value;
            }
        }
        Ok((w, coupling))
    }

    /// Keeps the best `keep` Ritz vectors (their images follow without a product with `A`).
    fn restart(&mut self, values: &[f64], s: MatRef<'_, f64>, keep: usize) {
        let size = self.size;
        let sk = s.subcols(0, keep);
        let v = combine(self.v.as_ref().subcols(0, size), sk);
        let av = combine(self.av.as_ref().subcols(0, size), sk);
        self.v.as_mut().subcols_mut(0, keep).copy_from(&v);
        self.av.as_mut().subcols_mut(0, keep).copy_from(&av);
        self.t.fill(0.0);
        for (c, &value) in values[..keep].iter().enumerate() {
            self.t[(c, c)] = value;
        }
        self.size = keep;
    }

    /// `‖A Y − Y Θ‖₂` for the Ritz vectors `Y = V s` from the stored products.
    fn explicit_residual(&self, values: &[f64], s: MatRef<'_, f64>) -> Result<f64> {
        let size = self.size;
        let y = combine(self.v.as_ref().subcols(0, size), s);
        let mut r = combine(self.av.as_ref().subcols(0, size), s);
        for (c, &theta) in values.iter().enumerate() {
            let yc = y.col_as_slice(c);
            r.col_as_slice_mut(c)
                .iter_mut()
                .zip(yc)
                .for_each(|(r, y)| *r -= theta * y);
        }
        let gram = linalg::gram_of(r.as_ref());
        let (g, _) = linalg::sym_eig(gram.as_ref(), false)?;
        Ok(g.last().copied().unwrap_or(0.0).max(0.0).sqrt())
    }
}

/// Eigenvalues of the symmetric `t` in decreasing order and their eigenvectors as columns.
fn eig_desc(t: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    let (mut values, vectors) = linalg::sym_eig(t, true)?;
    let u = vectors.ok_or_else(|| Error::Numerical("projected eigenvectors missing".into()))?;
    let m = values.len();
    values.reverse();
    Ok((values, Mat::from_fn(m, m, |i, c| u[(i, m - 1 - c)])))
}

/// `‖m‖₂` of a small matrix (from the top eigenvalue of `m mᵀ`).
fn spectral_norm(m: MatRef<'_, f64>) -> Result<f64> {
    let mut g = Mat::<f64>::zeros(m.nrows(), m.nrows());
    matmul(g.as_mut(), Accum::Replace, m, m.transpose(), 1.0, Par::Seq);
    let (values, _) = linalg::sym_eig(g.as_ref(), false)?;
    Ok(values.last().copied().unwrap_or(0.0).max(0.0).sqrt())
}

fn mat_mul(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(lhs.nrows(), rhs.ncols());
    linalg::gemm(out.as_mut(), lhs, rhs);
    out
}

/// `A X` over fixed row parts in parallel (each part one sequential product: same bits at any
/// thread count).
fn product(a: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Mat<f64> {
    let (n, b) = (a.nrows(), x.ncols());
    let parts: Vec<Mat<f64>> = (0..n.div_ceil(PART_ROWS))
        .into_par_iter()
        .map(|p| {
            let (start, len) = (p * PART_ROWS, PART_ROWS.min(n - p * PART_ROWS));
            mat_mul(a.subrows(start, len), x)
        })
        .collect();
    stack_rows(n, b, parts)
}

/// `V S` (`n × k`) over fixed row parts in parallel.
fn combine(v: MatRef<'_, f64>, s: MatRef<'_, f64>) -> Mat<f64> {
    let (n, k) = (v.nrows(), s.ncols());
    let parts: Vec<Mat<f64>> = (0..n.div_ceil(PART_ROWS))
        .into_par_iter()
        .map(|p| {
            let (start, len) = (p * PART_ROWS, PART_ROWS.min(n - p * PART_ROWS));
            mat_mul(v.subrows(start, len), s)
        })
        .collect();
    stack_rows(n, k, parts)
}

fn stack_rows(n: usize, k: usize, parts: Vec<Mat<f64>>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(n, k);
    let mut start = 0;
    for part in parts {
        out.as_mut()
            .subrows_mut(start, part.nrows())
            .copy_from(&part);
        start += part.nrows();
    }
    out
}

/// `Vᵀ W` summed over fixed row parts in part order.
fn transpose_times(v: MatRef<'_, f64>, w: MatRef<'_, f64>) -> Mat<f64> {
    let n = v.nrows();
    let partials: Vec<Mat<f64>> = (0..n.div_ceil(PART_ROWS))
        .into_par_iter()
        .map(|p| {
            let (start, len) = (p * PART_ROWS, PART_ROWS.min(n - p * PART_ROWS));
            mat_mul(v.subrows(start, len).transpose(), w.subrows(start, len))
        })
        .collect();
    let mut total = Mat::<f64>::zeros(v.ncols(), w.ncols());
    for part in &partials {
        total += part;
    }
    total
}

/// `W ← W − V (Vᵀ W)` over fixed row parts; returns `Vᵀ W`.
fn project_out(v: MatRef<'_, f64>, mut w: MatMut<'_, f64>) -> Mat<f64> {
    if v.ncols() == 0 {
        return Mat::zeros(0, w.ncols());
    }
    let h = transpose_times(v, w.as_ref());
    let n = v.nrows();
    let wr = w.as_ref();
    let parts: Vec<Mat<f64>> = (0..n.div_ceil(PART_ROWS))
        .into_par_iter()
        .map(|p| {
            let (start, len) = (p * PART_ROWS, PART_ROWS.min(n - p * PART_ROWS));
            let mut part = wr.subrows(start, len).to_owned();
            matmul(
                part.as_mut(),
                Accum::Add,
                v.subrows(start, len),
                h.as_ref(),
                -1.0,
                Par::Seq,
            );
            part
        })
        .collect();
    let mut start = 0;
    for part in parts {
        w.as_mut().subrows_mut(start, part.nrows()).copy_from(&part);
        start += part.nrows();
    }
    h
}

/// Orthonormalises the block `w` against the orthonormal `v` and within itself, then
/// Gram–Schmidt twice inside the block; a column that vanishes (an invariant subspace was
/// reached) is replaced by a random direction. Against `v`: first the last `local` columns
/// (where the large components are), then one block Gram–Schmidt pass over all of `v`, and a
/// second full pass only when that one still removed most of a column (the rounding left by a
/// large cancellation must be projected out again: Daniel–Gragg–Kaufman–Stewart). Returns the
/// upper triangular `B` with `w_before − V Vᵀ w_before = w_after · B`, and `Vᵀ w_before`.
fn orthonormalise(
    w: &mut Mat<f64>,
    v: MatRef<'_, f64>,
    local: usize,
    rng: &mut Rng,
) -> Result<(Mat<f64>, Mat<f64>)> {
    let (b, nv) = (w.ncols(), v.ncols());
    let mut h = Mat::<f64>::zeros(nv, b);
    let tail = local.min(nv);
    if tail > 0 {
        let near = project_out(v.subcols(nv - tail, tail), w.as_mut());
        h.as_mut().subrows_mut(nv - tail, tail).copy_from(&near);
    }
    let before = column_norms(w.as_ref());
    h += project_out(v, w.as_mut());
    let after = column_norms(w.as_ref());
    if before.iter().zip(&after).any(|(b, a)| *a < 0.5 * b) {
        h += project_out(v, w.as_mut());
    }
    let mut coupling = Mat::<f64>::zeros(b, b);
    for j in 0..b {
        let before = norm(w.col_as_slice(j));
        let (head, mut tail) = w.as_mut().split_at_col_mut(j);
        let wj = tail
            .as_mut()
            .col_mut(0)
            .try_as_col_major_mut()
            .ok_or_else(|| Error::Numerical("block column not contiguous".into()))?
            .as_slice_mut();
        for _ in 0..2 {
            for i in 0..j {
                let qi = column_slice(head.as_ref(), i);
                let r = linalg::dot(qi, wj);
                coupling[(i, j)] += r;
                wj.iter_mut().zip(qi).for_each(|(x, q)| *x -= r * q);
            }
        }
        let nrm = norm(wj);
        if nrm > 1e-10 * before && nrm > 0.0 {
            coupling[(j, j)] = nrm;
            wj.iter_mut().for_each(|x| *x /= nrm);
        } else {
            random_direction(w, v, j, rng)?;
        }
    }
    Ok((h, coupling))
}

/// Column `j` of `w` ← a random unit vector orthogonal to `v` and to columns `..j` of `w`.
fn random_direction(w: &mut Mat<f64>, v: MatRef<'_, f64>, j: usize, rng: &mut Rng) -> Result<()> {
    let n = w.nrows();
    for _ in 0..8 {
        let mut x = Mat::<f64>::from_fn(n, 1, |_, _| rng.normal());
        for _ in 0..2 {
            project_out(v, x.as_mut());
            project_out(w.as_ref().subcols(0, j), x.as_mut());
        }
        let nrm = norm(x.col_as_slice(0));
        if nrm > 1e-8 {
            w.col_as_slice_mut(j)
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

fn column_slice<'a>(w: MatRef<'a, f64>, j: usize) -> &'a [f64] {
    w.col(j)
        .try_as_col_major()
        .map(|c| c.as_slice())
        .unwrap_or(&[])
}

fn column_norms(w: MatRef<'_, f64>) -> Vec<f64> {
    (0..w.ncols()).map(|j| norm(column_slice(w, j))).collect()
}

fn norm(x: &[f64]) -> f64 {
    linalg::dot(x, x).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    /// A = Q diag(λ) Qᵀ with a slowly decaying, clustered spectrum; Q from a fixed QR.
    fn test_matrix(n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(3);
        let g = Mat::<f64>::from_fn(n, n, |_, _| rng.normal());
        let q = g.qr().compute_Q();
        let lam: Vec<f64> = (0..n)
            .map(|i| 1.0 / (1.0 + (i / 7) as f64) + 1e-3 * ((i * 37) % 11) as f64 / 11.0)
            .collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q[(i, k)] * lam[k] * q[(j, k)]).sum();
            }
        }
        for i in 0..n {
            for j in 0..i {
                let m = 0.5 * (a[i * n + j] + a[j * n + i]);
                a[i * n + j] = m;
                a[j * n + i] = m;
            }
        }
        let mut sorted = lam;
        sorted.sort_by(|x, y| y.total_cmp(x));
        (a, sorted)
    }

    #[test]
    fn matches_known_spectrum() {
        let n = 600;
        let (a, lam) = test_matrix(n);
        let nev = 40;
        let tol = Tolerance {
            abs: 1e-13,
            rel: 1e-9,
        };
        let s = top_eigenvalues(&a, n, nev, tol, &Silent).unwrap().unwrap();
        assert!(s.error_bound <= 1e-13 + 1e-9 * lam[nev - 1]);
        for (got, want) in s.eigenvalues.iter().zip(&lam) {
            assert!((got - want).abs() <= 1e-11, "{got} vs {want}");
        }
    }
}
