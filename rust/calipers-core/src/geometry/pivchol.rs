//! Leading eigenvalues of a dense positive semi-definite matrix through a greedy pivoted
//! Cholesky factorisation `A ≈ L Lᵀ`, stopped when the trace of the remainder is below `tol`.
//!
//! The remainder `E = A − L Lᵀ` is a Schur complement, hence PSD, so by Weyl's inequality every
//! eigenvalue satisfies `λ_i(L Lᵀ) ≤ λ_i(A) ≤ λ_i(L Lᵀ) + tr(E)`: the returned eigenvalues are
//! exact to `tol` in absolute terms. The eigenvalues of `L Lᵀ` are those of the small `r × r`
//! Gram matrix `Lᵀ L`. The diffusion operator's spectrum decays fast, so `r ≪ n` and this is far
//! cheaper than a full eigendecomposition (`O(n r²)` instead of `O(n³)`).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::linalg::{self, ROW_BLOCK};
use crate::error::Result;
use crate::par::Monitor;

/// Multiply-adds per step below which the step runs on the calling thread.
const PARALLEL_WORK: usize = 1 << 16;

/// Outcome: the eigenvalues of `L Lᵀ` in decreasing order, the rank used and the trace of the
/// remainder (an upper bound on every eigenvalue's error).
pub struct PivotedSpectrum {
    pub eigenvalues: Vec<f64>,
    pub rank: usize,
    pub residual_trace: f64,
}

/// Pivoted Cholesky of a symmetric PSD `n × n` matrix given by its diagonal and a function that
/// writes row `i` into a buffer (only the pivot rows are ever read); `None` when the rank would
/// exceed `max_rank` before the remainder's trace falls to `tol`.
pub fn top_eigenvalues(
    diagonal: &[f64],
    row_of: impl Fn(usize, &mut [f64]),
    tol: f64,
    max_rank: usize,
    monitor: &dyn Monitor,
) -> Result<Option<PivotedSpectrum>> {
    let n = diagonal.len();
    let mut resid: Vec<f64> = diagonal.iter().map(|v| v.max(0.0)).collect();
    let max_diag = resid.iter().cloned().fold(0.0, f64::max);
    // Below this a pivot is rounding noise: stop rather than amplify it.
    let floor = 64.0 * f64::EPSILON * max_diag;
    // L is column-major, so each new column is one contiguous write and each step's update
    // `A[:, p] − L L[p, :]ᵀ` is a matrix-vector product over contiguous columns.
    let mut l = Mat::<f64>::zeros(n, n.min(256));
    let mut col = vec![0.0f64; n];
    let mut rank = 0;
    // The remainder's trace every CHECK_EVERY pivots, to give up early on slow decay.
    let mut traces = vec![resid.iter().sum::<f64>()];
    while rank < n {
        let trace: f64 = resid.iter().sum();
        let (piv, &dmax) = resid
            .iter()
            .enumerate()
            .fold((0, &f64::NEG_INFINITY), |best, cur| {
                if *cur.1 > *best.1 { cur } else { best }
            });
        if trace <= tol || dmax <= floor {
            break;
        }
        if rank >= max_rank {
            return Ok(None);
        }
        if rank == l.ncols() {
            let new_cap = (2 * rank).min(n);
            l.resize_with(n, new_cap, |_, _| 0.0);
        }
        row_of(piv, &mut col);
        let lp = Mat::<f64>::from_fn(rank, 1, |i, _| l[(piv, i)]);
        let scale = 1.0 / dmax.sqrt();
        next_column(l.as_ref().subcols(0, rank), lp.as_ref(), scale, &mut col);
        l.col_as_slice_mut(rank).copy_from_slice(&col);
        for (r, c) in resid.iter_mut().zip(&col) {
            *r = (*r - c * c).max(0.0);
        }
        resid[piv] = 0.0;
        rank += 1;
        if rank % CHECK_EVERY == 0 {
            monitor.tick(rank, n)?;
            traces.push(resid.iter().sum());
            if out_of_reach(&traces, tol, max_rank) {
                return Ok(None);
            }
        }
    }
    let residual_trace: f64 = resid.iter().sum();
    let g = linalg::gram_of(l.as_ref().subcols(0, rank));
    let (mut values, _) = linalg::sym_eig(g.as_ref(), false)?;
    values.reverse();
    for v in &mut values {
        *v = v.max(0.0);
    }
    Ok(Some(PivotedSpectrum {
        eigenvalues: values,
        rank,
        residual_trace,
    }))
}

/// Pivots between checks of the remainder's trace.
const CHECK_EVERY: usize = 64;

/// Whether the trace, extrapolated at its recent geometric rate of decay, would reach `tol`
/// only well past `max_rank` (twice it: Gaussian-kernel spectra decay ever faster). Saves the
/// pivots a slowly decaying spectrum would spend before the hard cap; the answer is exact
/// either way (the caller then solves the stored matrix).
fn out_of_reach(traces: &[f64], tol: f64, max_rank: usize) -> bool {
    let last = traces.len() - 1;
    if last < 2 {
        return false;
    }
    let back = (last / 2).max(1);
    let (now, before) = (traces[last], traces[last - back]);
    if now <= tol {
        return false;
    }
    let per_pivot = (now / before).ln() / (back * CHECK_EVERY) as f64;
    if per_pivot.is_nan() || per_pivot >= 0.0 {
        return true;
    }
    let predicted = (last * CHECK_EVERY) as f64 + (tol / now).ln() / per_pivot;
    predicted > 2.0 * max_rank as f64
}

/// `col ← (col − L lp) · scale` over fixed row blocks (parallel when the step is large; the
/// blocks are the same either way, so the bits do not depend on the thread count).
fn next_column(l: MatRef<'_, f64>, lp: MatRef<'_, f64>, scale: f64, col: &mut [f64]) {
    let update = |(b, cb): (usize, &mut [f64])| {
        let rows = cb.len();
        let lb = l.subrows(b * ROW_BLOCK, rows);
        let mut dst = MatMut::from_column_major_slice_mut(cb, rows, 1);
        if lb.ncols() > 0 {
            matmul(dst.as_mut(), Accum::Add, lb, lp, -1.0, Par::Seq);
        }
        cb.iter_mut().for_each(|c| *c *= scale);
    };
    if l.nrows() * l.ncols() < PARALLEL_WORK {
        col.chunks_mut(ROW_BLOCK).enumerate().for_each(update);
    } else {
        col.par_chunks_mut(ROW_BLOCK).enumerate().for_each(update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    #[test]
    fn recovers_low_rank_spectrum() {
        // A = V diag(4, 1, 0.25) Vᵀ with orthonormal columns V of length 50.
        let n = 50;
        let mut v = vec![[0.0f64; 3]; n];
        for (i, row) in v.iter_mut().enumerate() {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            *row = [
                1.0 / (n as f64).sqrt(),
                (2.0 / n as f64).sqrt() * t.cos(),
                (2.0 / n as f64).sqrt() * t.sin(),
            ];
        }
        let lam = [4.0, 1.0, 0.25];
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..3).map(|k| lam[k] * v[i][k] * v[j][k]).sum();
            }
        }
        let diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
        let row = |i: usize, out: &mut [f64]| out.copy_from_slice(&a[i * n..(i + 1) * n]);
        let s = top_eigenvalues(&diag, row, 1e-14, n, &Silent)
            .unwrap()
            .unwrap();
        assert!(
            top_eigenvalues(&diag, row, 1e-14, 2, &Silent)
                .unwrap()
                .is_none()
        );
        assert_eq!(s.rank, 3);
        for (got, want) in s.eigenvalues.iter().zip(lam) {
            assert!((got - want).abs() < 1e-12, "{got} {want}");
        }
    }
}
