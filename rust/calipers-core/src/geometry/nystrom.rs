//! Landmark Nyström factorisation of the diffusion operator for large n: never forms `n × n`.
//!
//! With landmarks S, `C = K(X, S)` and `W = K(S, S) = U diag(w) Uᵀ`, the kernel is approximated by
//! `K ≈ F Fᵀ` where `F = C U diag(w)^{-1/2}` (components with `w ≤ 1e-12 · max w` dropped). Both
//! normalisations act on rows, so `q = F (Fᵀ 1)`, `F_a = Q⁻¹ F`, `p = F_a (F_aᵀ 1)` and
//! `A ≈ G Gᵀ` with `G = P^{-1/2} F_a`; the nonzero eigenvalues of `G Gᵀ` are those of the small
//! Gram matrix `Gᵀ G`. Cost `O(n m d + n m r)` time and `O(n r)` memory (r ≤ m).

use faer::{Mat, MatMut, MatRef};
use rayon::prelude::*;

use super::Points;
use super::linalg::{self, ROW_BLOCK, exp_nonpos, sq_dist};
use crate::error::{Error, Result};
use crate::par::Monitor;

/// Relative cut-off below which landmark-kernel eigenvalues are treated as zero.
const PINV_RTOL: f64 = 1e-12;

/// Eigenvalues (decreasing) of the Nyström-approximated operator and its rank.
pub fn top_eigenvalues(
    x: &Points<'_>,
    landmarks: &[usize],
    eps: f64,
    monitor: &dyn Monitor,
) -> Result<(Vec<f64>, usize)> {
    let m = landmarks.len();
    let inv = 1.0 / eps;
    let w = Mat::<f64>::from_fn(m, m, |a, b| {
        exp_nonpos(-sq_dist(x.row(landmarks[a]), x.row(landmarks[b])) * inv)
    });
    let (wvals, u) = linalg::sym_eig(w.as_ref(), true)?;
    let u = u.ok_or_else(|| Error::Numerical("landmark eigenvectors missing".into()))?;
    let wmax = wvals.iter().cloned().fold(0.0, f64::max);
    let keep: Vec<usize> = (0..m).filter(|&k| wvals[k] > PINV_RTOL * wmax).collect();
    let r = keep.len();
    // R = U_keep diag(w_keep)^{-1/2}  (m × r)
    let rmat = Mat::<f64>::from_fn(m, r, |a, c| u[(a, keep[c])] / wvals[keep[c]].sqrt());
    monitor.tick(1, 4)?;
    let mut f = factor_rows(x, landmarks, inv, rmat.as_ref());
    monitor.tick(2, 4)?;
    normalise_rows(&mut f, r, "kernel row sums", |s| 1.0 / s)?;
    normalise_rows(&mut f, r, "degrees", |s| 1.0 / s.sqrt())?;
    monitor.tick(3, 4)?;
    let g = linalg::gram(&f, x.n, r);
    let (mut values, _) = linalg::sym_eig(g.as_ref(), false)?;
    values.reverse();
    for v in &mut values {
        *v = v.max(0.0);
    }
    Ok((values, r))
}

/// `F = K(X, S) R`, row-major `n × r`, computed block by block (the `n × m` kernel is never
/// stored whole).
fn factor_rows(x: &Points<'_>, landmarks: &[usize], inv: f64, rmat: MatRef<'_, f64>) -> Vec<f64> {
    let (m, r) = (landmarks.len(), rmat.ncols());
    let mut f = vec![0.0f64; x.n * r];
    if r == 0 {
        return f;
    }
    // Landmark coordinates gathered once, contiguous, for cache-friendly distance sweeps.
    let lm: Vec<f64> = landmarks.iter().flat_map(|&a| x.row(a)).copied().collect();
    f.par_chunks_mut(ROW_BLOCK * r)
        .enumerate()
        .for_each(|(b, fb)| {
            let rows = fb.len() / r;
            let mut c = vec![0.0f64; rows * m];
            for (k, ck) in c.chunks_exact_mut(m).enumerate() {
                let xi = x.row(b * ROW_BLOCK + k);
                for (v, la) in ck.iter_mut().zip(lm.chunks_exact(x.dim)) {
                    *v = sq_dist(xi, la);
                }
                ck.iter_mut().for_each(|v| *v = exp_nonpos(-*v * inv));
            }
            linalg::gemm(
                MatMut::from_row_major_slice_mut(fb, rows, r),
                MatRef::from_row_major_slice(&c, rows, m),
                rmat,
            );
        });
    f
}

/// Scales row i of `f` by `scale(s_i)` where `s = f (fᵀ 1)` are the row sums of `f fᵀ`.
fn normalise_rows(
    f: &mut [f64],
    r: usize,
    what: &str,
    scale: impl Fn(f64) -> f64 + Sync,
) -> Result<()> {
    if r == 0 {
        return Err(Error::Numerical(
            "the landmark kernel is numerically zero; rescale X or use more landmarks".into(),
        ));
    }
    let colsum = linalg::column_sums(f, r);
    let sums: Vec<f64> = f
        .par_chunks(r)
        .map(|row| linalg::dot(row, &colsum))
        .collect();
    if let Some(i) = sums.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::Numerical(format!(
            "Nyström {what} are not positive (point {i}: {}); use more landmarks \
             (n_landmarks) or method='exact'",
            sums[i]
        )));
    }
    f.par_chunks_mut(r).zip(sums).for_each(|(row, s)| {
        let k = scale(s);
        row.iter_mut().for_each(|v| *v *= k);
    });
    Ok(())
}
