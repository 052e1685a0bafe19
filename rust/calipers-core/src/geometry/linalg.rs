//! Small dense linear-algebra helpers over faer, always sequential inside (callers parallelise
//! over fixed chunks), so that results do not depend on the number of threads.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Rows per block in blocked, parallel loops. Fixed (not derived from the thread count) so
/// that every partial sum is formed over the same rows whatever the pool size.
pub const ROW_BLOCK: usize = 256;

/// Number of fixed super-chunks whose partial Gram matrices are summed in order.
const GRAM_PARTS: usize = 16;

/// Eigen-decomposition of a symmetric matrix (lower triangle read): eigenvalues in
/// nondecreasing order and, when asked, the eigenvectors as columns.
pub fn sym_eig(a: MatRef<'_, f64>, vectors: bool) -> Result<(Vec<f64>, Option<Mat<f64>>)> {
    let n = a.nrows();
    let mut s = Diag::<f64>::zeros(n);
    let mut u = vectors.then(|| Mat::<f64>::zeros(n, n));
    let compute = if vectors {
        ComputeEigenvectors::Yes
    } else {
        ComputeEigenvectors::No
    };
    let mut mem = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(
        n,
        compute,
        Par::Seq,
        Default::default(),
    ));
    evd::self_adjoint_evd(
        a,
        s.as_mut(),
        u.as_mut().map(|m| m.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| Error::Numerical(format!("symmetric eigendecomposition failed: {e:?}")))?;
    let values = s.column_vector().iter().copied().collect();
    Ok((values, u))
}

/// Gram matrix `GᵀG` of a row-major `n × r` matrix, computed over fixed row super-chunks in
/// parallel and summed in chunk order (thread-count independent).
pub fn gram(g: &[f64], n: usize, r: usize) -> Mat<f64> {
    gram_of(MatRef::from_row_major_slice(g, n, r))
}

/// Gram matrix `GᵀG` of any `n × r` view, as [`gram`].
pub fn gram_of(g: MatRef<'_, f64>) -> Mat<f64> {
    let (n, r) = (g.nrows(), g.ncols());
    if n == 0 || r == 0 {
        return Mat::zeros(r, r);
    }
    let rows_per_part = n.div_ceil(GRAM_PARTS).max(1);
    let partials: Vec<Mat<f64>> = (0..n.div_ceil(rows_per_part))
        .into_par_iter()
        .map(|p| {
            let start = p * rows_per_part;
            let view = g.subrows(start, rows_per_part.min(n - start));
            let mut acc = Mat::<f64>::zeros(r, r);
            matmul(
                acc.as_mut(),
                Accum::Replace,
                view.transpose(),
                view,
                1.0,
                Par::Seq,
            );
            acc
        })
        .collect();
    let mut total = Mat::<f64>::zeros(r, r);
    for p in &partials {
        total += p;
    }
    total
}

/// Column sums of a row-major `n × r` matrix, deterministic (fixed blocks, ordered fold).
pub fn column_sums(g: &[f64], r: usize) -> Vec<f64> {
    if r == 0 {
        return Vec::new();
    }
    let partials: Vec<Vec<f64>> = g
        .par_chunks(ROW_BLOCK * r)
        .map(|block| {
            let mut acc = vec![0.0; r];
            for row in block.chunks_exact(r) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0; r];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// The shared small kernels (`crate::linalg`); geometry sums dot products in four lanes.
pub use crate::linalg::{dot4 as dot, gemm};

/// Squared Euclidean distance between two rows: the shared kernel of `knn`.
pub use crate::fastmath::exp_nonpos;
pub use crate::knn::sqdist as sq_dist;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sym_eig_of_diagonal() {
        let a = Mat::<f64>::from_fn(3, 3, |i, j| if i == j { [3.0, 1.0, 2.0][i] } else { 0.0 });
        let (v, _) = sym_eig(a.as_ref(), false).unwrap();
        assert_eq!(v, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn gram_matches_naive() {
        let (n, r) = (1000, 3);
        let g: Vec<f64> = (0..n * r)
            .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let m = gram(&g, n, r);
        for a in 0..r {
            for b in 0..r {
                let naive: f64 = (0..n).map(|i| g[i * r + a] * g[i * r + b]).sum();
                assert!((m[(a, b)] - naive).abs() < 1e-9);
            }
        }
        let cs = column_sums(&g, r);
        let naive: f64 = (0..n).map(|i| g[i * r + 1]).sum();
        assert!((cs[1] - naive).abs() < 1e-9);
    }
}
