//! Small dense kernels shared by every capability: dot products in a fixed summation order
//! (so results are bit-reproducible) and the sequential faer matrix product that callers
//! parallelise over blocks themselves.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// `Σ x_i y_i` summed left to right, one accumulator: the order every distance that must
/// match a plain loop is computed in.
#[inline(always)]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0;
    for (a, b) in x.iter().zip(y) {
        s += a * b;
    }
    s
}

/// `Σ x_i y_i` with four interleaved accumulators combined as `(a0 + a1) + (a2 + a3)`, then
/// the tail: vectorisable, and still one fixed order (deterministic).
#[inline(always)]
pub fn dot4(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (cx, cy) = (x.chunks_exact(4), y.chunks_exact(4));
    let (rx, ry) = (cx.remainder(), cy.remainder());
    for (a, b) in cx.zip(cy) {
        for ((s, u), v) in acc.iter_mut().zip(a).zip(b) {
            *s += u * v;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (u, v) in rx.iter().zip(ry) {
        s += u * v;
    }
    s
}

/// `dst = lhs · rhs` with faer's sequential kernel.
pub fn gemm(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
}

/// In-place Cholesky factorisation (lower triangle) of a symmetric positive-definite
/// row-major `n × n` matrix. Returns false when the matrix is not (numerically) positive
/// definite. For the small Newton systems of IRT and the entropic dual.
pub fn cholesky(n: usize, m: &mut [f64]) -> bool {
    for j in 0..n {
        let mut d = m[j * n + j];
        for k in 0..j {
            d -= m[j * n + k] * m[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        m[j * n + j] = d;
        for i in j + 1..n {
            let mut s = m[i * n + j];
            for k in 0..j {
                s -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = s / d;
        }
    }
    true
}

/// Solves (L Lᵀ) x = rhs in place, given the Cholesky factor `l` from [`cholesky`].
pub fn cholesky_solve(n: usize, l: &[f64], x: &mut [f64]) {
    for i in 0..n {
        let mut s = x[i];
        for k in 0..i {
            s -= l[i * n + k] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_agree_with_a_plain_sum() {
        for n in [0usize, 1, 3, 4, 5, 17, 64] {
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let y: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos()).collect();
            let plain: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!((dot(&x, &y) - plain).abs() <= 1e-12);
            assert!((dot4(&x, &y) - plain).abs() <= 1e-12);
        }
    }

    #[test]
    fn dot4_sums_in_its_documented_order() {
        let x = [1e16, 1.0, -1e16, 1.0, 3.0];
        let y = [1.0; 5];
        // (1e16 + 1) + (-1e16 + 1) + 3 in that grouping: the lanes first, then the tail.
        assert_eq!(dot4(&x, &y), ((1e16 + 1.0) + (-1e16 + 1.0)) + 3.0);
    }

    #[test]
    fn gemm_multiplies() {
        let a = faer::mat![[1.0, 2.0], [3.0, 4.0]];
        let b = faer::mat![[5.0, 6.0], [7.0, 8.0]];
        let mut c = faer::Mat::<f64>::zeros(2, 2);
        gemm(c.as_mut(), a.as_ref(), b.as_ref());
        assert_eq!(c, faer::mat![[19.0, 22.0], [43.0, 50.0]]);
    }
}
