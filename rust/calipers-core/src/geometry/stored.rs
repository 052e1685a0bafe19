//! The paper's operator stored as a dense `n × n` matrix, for data whose spectrum decays too
//! slowly for the matrix-free pivoted Cholesky (the block Krylov route needs `A` in memory).
//!
//! Squared distances come from one Gram product of the centred points,
//! `D²_ij = max(0, ‖x_i‖² + ‖x_j‖² − 2 x_iᵀx_j)`, by faer's GEMM over fixed row blocks (the upper
//! triangle only, then mirrored), which is several times cheaper than differences at large `d`.
//! Its rounding error grows with `‖x_i‖² + ‖x_j‖²` rather than with `D²_ij`, so the Gram product
//! is used only when a worst-case bound on that error, relative to the bandwidth, is below
//! [`GRAM_MAX_KERNEL_ERROR`]; otherwise (far outliers, coordinates of extreme magnitude) the
//! distances are direct differences, as in the matrix-free operator. The median, the kernel, `q`,
//! `p` and the scaling then take a few passes over the stored matrix.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::Points;
use super::kernel::{self, DenseOperator, PairDistances, stopped, sum4};
use super::linalg::{dot, exp_nonpos};
use crate::error::{Error, Result};
use crate::linalg::dot4;
use crate::par::Monitor;

/// Largest allowed worst-case relative error of any kernel entry caused by forming the squared
/// distances from a Gram product: far below the `1e-6 · λ` accuracy of the eigenvalues (an
/// entrywise relative error δ moves every eigenvalue of the normalised operator by ≲ 3δ).
pub const GRAM_MAX_KERNEL_ERROR: f64 = 1e-12;

/// Rows per GEMM block when the squared distances are filled (each block is one sequential
/// product, so the bits do not depend on the thread count).
const FILL_ROWS: usize = 128;
/// Side of the square tiles in which the upper triangle is mirrored.
const TILE: usize = 64;

/// `A` (row-major `n × n`, exactly symmetric) and the bandwidth used.
pub struct StoredOperator {
    pub a: Vec<f64>,
    pub n: usize,
    pub bandwidth: f64,
    /// Whether the squared distances came from the Gram product (else direct differences).
    pub gram: bool,
}

/// The paper's operator of `x` for bandwidth `sigma · median(D²)`, stored (`8 n²` bytes, checked
/// against the memory budget). Every pass stops early when `monitor` asks (Ctrl-C).
pub fn stored_operator(
    x: &Points<'_>,
    sigma: f64,
    monitor: &dyn Monitor,
) -> Result<StoredOperator> {
    build(x, sigma, true, monitor)
}

/// [`stored_operator`]; `allow_gram = false` forces direct differences (tests compare both).
fn build(
    x: &Points<'_>,
    sigma: f64,
    allow_gram: bool,
    monitor: &dyn Monitor,
) -> Result<StoredOperator> {
    let n = x.n;
    crate::mem::ensure_fits(
        "X",
        (n * n) as u128,
        8,
        "use method='nystrom' or fewer points",
    )?;
    // `vec!` of zeros takes lazily zeroed pages from the system: no multi-second zeroing pass
    // at n = 30,000 before the first stop check (the budget was checked above).
    let mut a = vec![0.0f64; n * n];
    let centred = centred(x);
    let norms: Vec<f64> = centred.chunks_exact(x.dim).map(|r| dot(r, r)).collect();
    let direct = DenseOperator::new(x, 1.0);
    let gram = allow_gram && gram_is_accurate(&norms, x.dim, sigma * rough_median(&direct));
    if gram {
        fill_gram(&mut a, &centred, &norms, x.dim, monitor);
    } else {
        fill_direct(&mut a, &direct, monitor);
    }
    stopped(monitor)?;
    monitor.tick(1, 5)?;
    let median = kernel::median_of_pairs(&Upper { a: &a, n }, monitor);
    stopped(monitor)?;
    let bandwidth = kernel::bandwidth(sigma, median)?;
    mirror_upper(&mut a, n, monitor);
    stopped(monitor)?;
    monitor.tick(2, 5)?;
    let q = kernel_and_row_sums(&mut a, n, 1.0 / bandwidth, monitor);
    stopped(monitor)?;
    let inv_q: Vec<f64> = q.iter().map(|v| 1.0 / v).collect();
    let p: Vec<f64> = a
        .par_chunks(n)
        .zip(&inv_q)
        .map(|(row, iq)| iq * dot4(row, &inv_q))
        .collect();
    stopped(monitor)?;
    if let Some(i) = p.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::Numerical(format!(
            "degree of point {i} is {} after density normalisation; the data's scale is \
             degenerate (rescale X)",
            p[i]
        )));
    }
    monitor.tick(4, 5)?;
    let scale: Vec<f64> = inv_q.iter().zip(&p).map(|(iq, p)| iq / p.sqrt()).collect();
    a.par_chunks_mut(n).zip(&scale).for_each(|(row, si)| {
        for (v, sj) in row.iter_mut().zip(&scale) {
            *v *= si * sj; // s_i s_j = s_j s_i: A stays exactly symmetric
        }
    });
    Ok(StoredOperator {
        a,
        n,
        bandwidth,
        gram,
    })
}

/// The points minus their mean (row-major): distances are unchanged, and the Gram product's
/// rounding, which scales with `‖x‖²`, no longer sees a common offset.
fn centred(x: &Points<'_>) -> Vec<f64> {
    let d = x.dim;
    let mut mean = vec![0.0f64; d];
    for row in x.data.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= x.n as f64);
    let mut out = x.data.to_vec();
    for row in out.chunks_exact_mut(d) {
        row.iter_mut().zip(&mean).for_each(|(v, m)| *v -= m);
    }
    out
}

/// Median squared distance over a fixed strided sample of about 4,096 pairs (direct
/// differences): the scale of the bandwidth, for the accuracy test only.
fn rough_median(op: &DenseOperator) -> f64 {
    const SAMPLE: usize = 4096;
    let n = op.n;
    if n < 2 {
        return 0.0;
    }
    let mut sample: Vec<f64> = (0..SAMPLE)
        .map(|s| {
            let i = s * n / SAMPLE;
            // A fixed pseudo-random offset in 1..n: j ≠ i.
            let j = (i + 1 + (s.wrapping_mul(2_654_435_761)) % (n - 1)) % n;
            op.pair(i.min(j), i.max(j))
        })
        .collect();
    sample.sort_unstable_by(f64::total_cmp);
    sample[SAMPLE / 2]
}

/// Whether the Gram product's worst-case rounding keeps every kernel entry within
/// [`GRAM_MAX_KERNEL_ERROR`] (relative). With unit roundoff `u`, dot products and norms are each
/// within `(d + 2) u ‖x_i‖ ‖x_j‖` of their exact values (Higham's bound), so
/// `|fl(D²) − D²| ≤ 2 (d + 2) u (‖x_i‖² + ‖x_j‖²)`, and a change `e` of `D²` changes
/// `exp(−D²/ε)` by the factor `exp(e/ε)`. `bandwidth` is an estimate of `ε` (from a sample).
pub fn gram_is_accurate(norms: &[f64], dim: usize, bandwidth: f64) -> bool {
    let unit_roundoff = 0.5 * f64::EPSILON;
    let largest = norms.iter().cloned().fold(0.0f64, f64::max);
    let bound = 4.0 * (dim as f64 + 2.0) * unit_roundoff * largest / bandwidth;
    bound <= GRAM_MAX_KERNEL_ERROR
}

/// Upper triangle of `D²` from the Gram product, over fixed row blocks in parallel.
fn fill_gram(a: &mut [f64], centred: &[f64], norms: &[f64], dim: usize, monitor: &dyn Monitor) {
    let n = norms.len();
    let xc = MatRef::from_row_major_slice(centred, n, dim);
    a.par_chunks_mut(FILL_ROWS * n)
        .enumerate()
        .for_each(|(block, rows)| {
            if monitor.stop_requested() {
                return;
            }
            let (r0, m) = (block * FILL_ROWS, rows.len() / n);
            let dst = MatMut::from_row_major_slice_mut(rows, m, n).subcols_mut(r0, n - r0);
            let rhs = xc.subrows(r0, n - r0).transpose();
            matmul(dst, Accum::Replace, xc.subrows(r0, m), rhs, -2.0, Par::Seq);
            for (li, row) in rows.chunks_exact_mut(n).enumerate() {
                let i = r0 + li;
                row[i] = 0.0;
                for (v, cj) in row[i + 1..].iter_mut().zip(&norms[i + 1..]) {
                    *v = (*v + (norms[i] + cj)).max(0.0);
                }
            }
        });
}

/// Upper triangle of `D²` by direct differences (the matrix-free operator's rows).
fn fill_direct(a: &mut [f64], op: &DenseOperator, monitor: &dyn Monitor) {
    let n = op.n;
    a.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        if !monitor.stop_requested() {
            op.distance_row(i, i + 1, &mut row[i + 1..]);
        }
    });
}

/// The stored upper triangle as pair distances, for the exact median.
struct Upper<'a> {
    a: &'a [f64],
    n: usize,
}

impl PairDistances for Upper<'_> {
    fn n(&self) -> usize {
        self.n
    }

    fn pair(&self, i: usize, j: usize) -> f64 {
        self.a[i * self.n + j]
    }

    fn upper_row<'s>(&'s self, i: usize, _: &'s mut [f64]) -> &'s [f64] {
        &self.a[i * self.n + i + 1..(i + 1) * self.n]
    }
}

/// Copies the strict upper triangle onto the lower one, in square tiles: for each block of
/// rows, the tiles below it are written in parallel from the (read-only) rows above the split.
fn mirror_upper(a: &mut [f64], n: usize, monitor: &dyn Monitor) {
    for r0 in (0..n).step_by(TILE) {
        if monitor.stop_requested() {
            return;
        }
        let r1 = (r0 + TILE).min(n);
        // Diagonal tile, in place.
        for i in r0..r1 {
            for j in i + 1..r1 {
                a[j * n + i] = a[i * n + j];
            }
        }
        let (upper, lower) = a.split_at_mut(r1 * n);
        let upper = &upper[r0 * n..];
        lower
            .par_chunks_mut(TILE * n)
            .enumerate()
            .for_each(|(c, rows)| {
                let j0 = r1 + c * TILE;
                for (lj, row) in rows.chunks_exact_mut(n).enumerate() {
                    let j = j0 + lj;
                    for (i, v) in row[r0..r1].iter_mut().enumerate() {
                        *v = upper[i * n + j];
                    }
                }
            });
    }
}

/// `K = exp(−D²/ε)` in place (the zero diagonal gives exactly 1) and its row sums `q = K 1`.
fn kernel_and_row_sums(
    a: &mut [f64],
    n: usize,
    inv_bandwidth: f64,
    monitor: &dyn Monitor,
) -> Vec<f64> {
    a.par_chunks_mut(n)
        .map(|row| {
            if monitor.stop_requested() {
                return 1.0;
            }
            pulp::Arch::new().dispatch(KernelRow { row, inv_bandwidth })
        })
        .collect()
}

/// One row of `exp(−D²/ε)` in place and its sum (vectorised by `pulp` dispatch; plain
/// arithmetic, so every instruction set gives the same bits).
struct KernelRow<'a> {
    row: &'a mut [f64],
    inv_bandwidth: f64,
}

impl pulp::WithSimd for KernelRow<'_> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> f64 {
        for v in self.row.iter_mut() {
            *v = exp_nonpos(-*v * self.inv_bandwidth);
        }
        sum4(self.row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    /// Deterministic pseudo-random points (a fixed integer hash; no RNG state).
    fn points(n: usize, d: usize, offset: f64) -> Vec<f64> {
        (0..n * d)
            .map(|i| ((i * 7919 + 13) % 1013) as f64 / 101.0 - 5.0 + offset)
            .collect()
    }

    fn assert_close(got: &[f64], want: &[f64], rel: f64) {
        for (e, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= rel * w.abs().max(1e-300),
                "entry {e}: {g} vs {w}"
            );
        }
    }

    /// The stored operator (Gram product; n = 301 is not a multiple of the fill blocks or the
    /// mirror tiles) equals the matrix-free one, whose rows are the paper's formulas, and is
    /// exactly symmetric with the same bandwidth.
    #[test]
    fn stored_operator_matches_matrix_free_rows() {
        let (n, d) = (301, 9);
        let data = points(n, d, 0.0);
        let x = Points::with_shape(&data, n, d).unwrap();
        let op = stored_operator(&x, 2.0, &Silent).unwrap();
        assert!(op.gram);
        let free = kernel::dense_operator(&x, 2.0, &Silent).unwrap();
        assert!((op.bandwidth - free.bandwidth).abs() <= 1e-14 * free.bandwidth);
        let want = free.into_matrix().unwrap();
        assert_close(&op.a, &want, 1e-12);
        for i in 0..n {
            for j in 0..i {
                assert_eq!(op.a[i * n + j].to_bits(), op.a[j * n + i].to_bits());
            }
        }
    }

    /// A large common offset (X + 1e3): the centred Gram product stays accurate, agreeing with
    /// direct differences of the same points far below the 1e-6 accuracy of the eigenvalues.
    #[test]
    fn gram_path_survives_a_large_offset() {
        let (n, d) = (200, 16);
        let data = points(n, d, 1e3);
        let x = Points::with_shape(&data, n, d).unwrap();
        let gram = stored_operator(&x, 2.0, &Silent).unwrap();
        let direct = build(&x, 2.0, false, &Silent).unwrap();
        assert!(gram.gram && !direct.gram);
        assert_close(&gram.a, &direct.a, 1e-11);
        let shifted = points(n, d, 0.0);
        let y = Points::with_shape(&shifted, n, d).unwrap();
        assert_close(
            &stored_operator(&y, 2.0, &Silent).unwrap().a,
            &direct.a,
            1e-11,
        );
    }

    /// A point far from the others makes the Gram product's rounding bound too large: the
    /// operator falls back to direct differences and still matches the matrix-free one.
    #[test]
    fn far_outlier_falls_back_to_direct_differences() {
        let (n, d) = (120, 8);
        let mut data = points(n, d, 0.0);
        data[..d].iter_mut().for_each(|v| *v = 1e8);
        let x = Points::with_shape(&data, n, d).unwrap();
        let op = stored_operator(&x, 2.0, &Silent).unwrap();
        assert!(!op.gram);
        let want = kernel::dense_operator(&x, 2.0, &Silent)
            .unwrap()
            .into_matrix()
            .unwrap();
        assert_close(&op.a, &want, 1e-12);
    }

    #[test]
    fn accuracy_test_scales_with_norms_and_dimension() {
        assert!(gram_is_accurate(&[1.0, 2.0], 384, 1.0));
        assert!(!gram_is_accurate(&[1e4, 2.0], 384, 1.0));
        assert!(!gram_is_accurate(&[f64::INFINITY], 3, 1.0));
        assert!(!gram_is_accurate(&[1.0], 3, 0.0));
    }
}
