//! Small dense linear-algebra helpers over faer, always sequential inside (callers parallelise
//! over fixed chunks), so that results do not depend on the number of threads.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
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

/// `dst = lhs * rhs` (sequential faer kernel).
pub fn gemm(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
}

/// Gram matrix `GᵀG` of a row-major `n × r` matrix, computed over fixed row super-chunks in
/// parallel and summed in chunk order (thread-count independent).
pub fn gram(g: &[f64], n: usize, r: usize) -> Mat<f64> {
    if n == 0 || r == 0 {
        return Mat::zeros(r, r);
    }
    let rows_per_part = n.div_ceil(GRAM_PARTS).max(1);
    let partials: Vec<Mat<f64>> = g
        .par_chunks(rows_per_part * r)
        .map(|part| {
            let rows = part.len() / r;
            let view = MatRef::from_row_major_slice(part, rows, r);
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

/// Plain sequential dot product.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators let the compiler vectorise; the order is fixed, so it is deterministic.
    let mut acc = [0.0f64; 4];
    let (ca, ra) = a.split_at(a.len() / 4 * 4);
    let (cb, rb) = b.split_at(ca.len());
    for (x, y) in ca.chunks_exact(4).zip(cb.chunks_exact(4)) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `exp(x)` for `x ≤ 0` (kernel values), within 2 ulp of the correctly rounded result for
/// `x ≥ −708` and flushing smoothly through the subnormal range to ~0 below. Branch-free
/// (Cody–Waite reduction, degree-13 Taylor polynomial on `|r| ≤ ln2/2`, scaling by two powers of
/// two) so that loops over it vectorise: libm's `exp` was 70% of the Nyström run time.
#[inline]
pub fn exp_nonpos(x: f64) -> f64 {
    // fdlibm's split of ln 2: the high part's low 32 bits are zero, so k·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    const INV_FACT: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let x = x.clamp(-745.0, 0.0);
    let t = x * std::f64::consts::LOG2_E + SHIFTER;
    let kf = t - SHIFTER;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut p = INV_FACT[13];
    for c in INV_FACT[..13].iter().rev() {
        p = p * r + c;
    }
    // k = round(x·log2 e) ∈ [−1075, 0] sits in the low mantissa bits of t; 2^k is applied as
    // 2^(k/2)·2^(k − k/2) so that both factors are normal numbers.
    let k = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64);
    let k1 = k >> 1;
    let two_pow = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    p * two_pow(k1) * two_pow(k - k1)
}

/// Squared Euclidean distance between two rows (direct differences: exact, no cancellation).
#[inline]
pub fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, ra) = a.split_at(a.len() / 4 * 4);
    let (cb, rb) = b.split_at(ca.len());
    for (x, y) in ca.chunks_exact(4).zip(cb.chunks_exact(4)) {
        let d0 = x[0] - y[0];
        let d1 = x[1] - y[1];
        let d2 = x[2] - y[2];
        let d3 = x[3] - y[3];
        acc[0] += d0 * d0;
        acc[1] += d1 * d1;
        acc[2] += d2 * d2;
        acc[3] += d3 * d3;
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        tail += d * d;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

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
    fn exp_nonpos_matches_libm() {
        let mut worst = 0.0f64;
        for i in 0..200_001 {
            let x = -708.0 * i as f64 / 200_000.0;
            let (got, want) = (exp_nonpos(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst <= 2.5 * f64::EPSILON, "relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(-740.0) < 1e-320 && exp_nonpos(-1e9) < 1e-320);
        assert!(exp_nonpos(-745.0) >= 0.0);
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
