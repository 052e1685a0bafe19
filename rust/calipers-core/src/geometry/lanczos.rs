//! Leading eigenpairs of a symmetric sparse matrix by Lanczos with full reorthogonalisation.
//!
//! The Krylov basis grows until the largest `nev` Ritz pairs have residual norms
//! `|β_m s_{m,i}| ≤ tol` (each Ritz value is then within `tol` of an eigenvalue). Every reduction
//! is a sequential loop over a fixed partition, so the result is bit-identical for any number of
//! threads. Single-pass sketches are deliberately not used: on kNN operators, whose leading
//! eigenvalues cluster near 1, they are badly inaccurate.

use faer::Mat;
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
    let max_dim = n.min((12 * nev).max(400));
    let mut next_check = n.min((2 * nev + 20).max(nev + 10));
    let mut rng = Rng::new(seed);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let mut alpha: Vec<f64> = Vec::new();
    let mut beta: Vec<f64> = Vec::new();
    let mut v = random_unit(n, &mut rng, &basis)?;
    let mut w = vec![0.0; n];
    loop {
        a.matvec(&v, &mut w);
        basis.push(v);
        let h1 = project_out(&basis, &mut w);
        let h2 = project_out(&basis, &mut w);
        let j = basis.len() - 1;
        alpha.push(h1[j] + h2[j]);
        let b = linalg::dot(&w, &w).sqrt();
        let m = basis.len();
        if m == next_check || m == max_dim {
            let ritz = ritz_pairs(&alpha, &beta, nev.min(m))?;
            let worst = ritz
                .1
                .iter()
                .map(|&s_last| (b * s_last).abs())
                .fold(0.0, f64::max);
            let converged = worst <= tol;
            if converged || m == max_dim || nev > m {
                if nev > m {
                    return Err(Error::Numerical(format!(
                        "the Krylov space has dimension {m} < {nev}; the operator is reducible"
                    )));
                }
                let vectors = ritz_vectors(&basis, &ritz.2);
                return Ok(Eigenpairs {
                    values: ritz.0,
                    vectors,
                    converged,
                });
            }
            next_check = max_dim.min(m + m / 2);
            monitor.tick(m, max_dim)?;
        }
        if b > 1e-10 * alpha.iter().map(|a| a.abs()).fold(1e-300, f64::max) {
            beta.push(b);
            w.iter_mut().for_each(|x| *x /= b);
            v = std::mem::replace(&mut w, vec![0.0; n]);
        } else {
            // Invariant subspace found: continue with a fresh direction orthogonal to it.
            beta.push(0.0);
            v = random_unit(n, &mut rng, &basis)?;
        }
    }
}

fn random_unit(n: usize, rng: &mut Rng, basis: &[Vec<f64>]) -> Result<Vec<f64>> {
    for _ in 0..8 {
        let mut v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        project_out(basis, &mut v);
        project_out(basis, &mut v);
        let norm = linalg::dot(&v, &v).sqrt();
        if norm > 1e-8 {
            v.iter_mut().for_each(|x| *x /= norm);
            return Ok(v);
        }
    }
    Err(Error::Numerical(
        "could not extend the Krylov basis (the space is exhausted)".into(),
    ))
}

/// `w -= V (Vᵀ w)`; returns `Vᵀ w`.
fn project_out(basis: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    if basis.is_empty() {
        return Vec::new();
    }
    let h: Vec<f64> = basis.par_iter().map(|v| linalg::dot(v, w)).collect();
    w.par_chunks_mut(ROW_BLOCK).enumerate().for_each(|(b, wb)| {
        let (off, len) = (b * ROW_BLOCK, wb.len());
        for (v, &hj) in basis.iter().zip(&h) {
            for (x, vi) in wb.iter_mut().zip(&v[off..off + len]) {
                *x -= hj * vi;
            }
        }
    });
    h
}

/// Top `k` Ritz values (decreasing), the last components of their eigenvectors, and those
/// eigenvectors (`m × k`) of the tridiagonal `T`.
fn ritz_pairs(alpha: &[f64], beta: &[f64], k: usize) -> Result<(Vec<f64>, Vec<f64>, Mat<f64>)> {
    let m = alpha.len();
    let t = Mat::<f64>::from_fn(m, m, |i, j| {
        if i == j {
            alpha[i]
        } else if i == j + 1 {
            beta[j]
        } else if j == i + 1 {
            beta[i]
        } else {
            0.0
        }
    });
    let (vals, vecs) = linalg::sym_eig(t.as_ref(), true)?;
    let vecs = vecs.ok_or_else(|| Error::Numerical("tridiagonal eigenvectors missing".into()))?;
    let order: Vec<usize> = (0..m).rev().take(k).collect();
    let values = order.iter().map(|&c| vals[c]).collect();
    let last = order.iter().map(|&c| vecs[(m - 1, c)]).collect();
    let s = Mat::<f64>::from_fn(m, k, |i, c| vecs[(i, order[c])]);
    Ok((values, last, s))
}

/// `Y = V S` for the basis columns `V` (`n × m`) and `S` (`m × k`).
fn ritz_vectors(basis: &[Vec<f64>], s: &Mat<f64>) -> Mat<f64> {
    let n = basis.first().map_or(0, |v| v.len());
    let k = s.ncols().max(1);
    let s_rows: Vec<Vec<f64>> = (0..s.nrows())
        .map(|j| (0..s.ncols()).map(|c| s[(j, c)]).collect())
        .collect();
    let mut rows = vec![0.0f64; n * k];
    rows.par_chunks_mut(ROW_BLOCK * k)
        .enumerate()
        .for_each(|(b, yb)| {
            let off = b * ROW_BLOCK;
            for (v, sj) in basis.iter().zip(&s_rows) {
                for (r, yr) in yb.chunks_mut(k).enumerate() {
                    let vij = v[off + r];
                    for (y, sjc) in yr.iter_mut().zip(sj) {
                        *y += vij * sjc;
                    }
                }
            }
        });
    Mat::<f64>::from_fn(n, s.ncols(), |i, c| rows[i * k + c])
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
