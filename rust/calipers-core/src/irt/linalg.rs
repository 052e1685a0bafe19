//! Tiny dense linear algebra for the (D+1)×(D+1) Newton systems of IRT (D is small); the
//! Cholesky kernels are the crate's shared ones (`crate::linalg`).
//! Matrices are row-major `n*n` slices.

pub use crate::linalg::{cholesky, cholesky_solve};

/// Diagonal of the inverse of L Lᵀ (variances from a precision matrix's Cholesky factor).
pub fn inverse_diagonal(n: usize, l: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; n];
    let mut e = vec![0.0; n];
    for (j, slot) in out.iter_mut().enumerate() {
        e.iter_mut().for_each(|v| *v = 0.0);
        e[j] = 1.0;
        cholesky_solve(n, l, &mut e);
        *slot = e[j];
    }
    out
}

/// Solves the SPD system `m x = rhs` (both overwritten: `m` by its factor, `rhs` by x).
/// When `m` is not positive definite a growing ridge is added until it is; returns false
/// only when even that fails (non-finite entries).
pub fn solve_spd(n: usize, m: &mut [f64], rhs: &mut [f64]) -> bool {
    let original: Vec<f64> = m.to_vec();
    let scale = (0..n)
        .map(|i| original[i * n + i].abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    let mut ridge = 0.0;
    for _ in 0..40 {
        m.copy_from_slice(&original);
        for i in 0..n {
            m[i * n + i] += ridge;
        }
        if cholesky(n, m) {
            cholesky_solve(n, m, rhs);
            return rhs.iter().all(|v| v.is_finite());
        }
        ridge = if ridge == 0.0 {
            1e-10 * scale
        } else {
            ridge * 10.0
        };
        if !ridge.is_finite() {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_system() {
        let mut m = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let a = m.clone();
        let mut x = vec![1.0, -2.0, 0.5];
        let rhs = x.clone();
        assert!(solve_spd(3, &mut m, &mut x));
        for i in 0..3 {
            let r: f64 = (0..3).map(|k| a[i * 3 + k] * x[k]).sum();
            assert!((r - rhs[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn inverse_diagonal_of_diagonal_matrix() {
        let mut m = vec![4.0, 0.0, 0.0, 0.25];
        assert!(cholesky(2, &mut m));
        let d = inverse_diagonal(2, &m);
        assert!((d[0] - 0.25).abs() < 1e-15 && (d[1] - 4.0).abs() < 1e-15);
    }
}
