//! The paper's dense diffusion operator: Gaussian kernel with a median bandwidth, α = 1
//! density normalisation and the symmetric conjugate of the Markov matrix.

use rayon::prelude::*;

use super::Points;
use super::linalg::sq_dist;
use crate::error::{Error, Result};

/// Median of the full `n × n` matrix of squared distances among `rows` (diagonal zeros and both
/// triangles included, as `np.median(squareform(pdist(X)) ** 2)` computes it).
pub fn median_sq_dist(x: &Points<'_>, rows: &[usize]) -> f64 {
    let n = rows.len();
    let upper: Vec<f64> = rows
        .par_iter()
        .enumerate()
        .flat_map_iter(|(a, &i)| {
            rows[a + 1..]
                .iter()
                .map(move |&j| sq_dist(x.row(i), x.row(j)))
        })
        .collect();
    median_from_upper(upper, n)
}

/// The full-matrix median from the strict upper triangle's values: the full matrix holds `n`
/// zeros (its diagonal) plus every upper value twice, so order statistics map directly.
fn median_from_upper(mut upper: Vec<f64>, n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let total = n * n;
    let (lo, hi) = ((total - 1) / 2, total / 2);
    let mut value_at = |pos: usize| -> f64 {
        if pos < n {
            0.0
        } else {
            *upper
                .select_nth_unstable_by((pos - n) / 2, f64::total_cmp)
                .1
        }
    };
    let a = value_at(lo);
    let b = if hi == lo { a } else { value_at(hi) };
    0.5 * (a + b)
}

/// Kernel width `sigma · median(D²)`; fails when the median is zero (mostly duplicate points).
pub fn bandwidth(sigma: f64, median: f64) -> Result<f64> {
    let eps = sigma * median;
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::invalid(
            "X",
            format!(
                "the median squared distance between points is {median}, so the kernel \
                 bandwidth is zero: more than half of the point pairs coincide; remove \
                 duplicate points or add jitter"
            ),
        ));
    }
    Ok(eps)
}

/// The dense symmetric operator `A = P^{-1/2} Q^{-1} K Q^{-1} P^{-1/2}` (row-major `n × n`) for
/// bandwidth `sigma · median(D²)`, and that bandwidth. Eigenvalues lie in [0, 1], the largest
/// is 1. The squared distances are computed once and reused for the median.
pub fn dense_operator(x: &Points<'_>, sigma: f64) -> Result<(Vec<f64>, f64)> {
    let n = x.n;
    let mut a = vec![0.0f64; n * n];
    a.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let xi = x.row(i);
        for (j, v) in row.iter_mut().enumerate() {
            *v = sq_dist(xi, x.row(j));
        }
    });
    let upper: Vec<f64> = a
        .par_chunks(n)
        .enumerate()
        .flat_map_iter(|(i, row)| row[i + 1..].iter().copied())
        .collect();
    let eps = bandwidth(sigma, median_from_upper(upper, n))?;
    let inv = 1.0 / eps;
    a.par_iter_mut().for_each(|v| *v = (-*v * inv).exp());
    let q = row_sums(&a, n);
    scale_both_sides(&mut a, n, &q.iter().map(|v| 1.0 / v).collect::<Vec<_>>());
    let p = row_sums(&a, n);
    if let Some(i) = p.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::Numerical(format!(
            "degree of point {i} is {} after density normalisation; the data's scale is \
             degenerate (rescale X)",
            p[i]
        )));
    }
    scale_both_sides(
        &mut a,
        n,
        &p.iter().map(|v| 1.0 / v.sqrt()).collect::<Vec<_>>(),
    );
    Ok((a, eps))
}

fn row_sums(a: &[f64], n: usize) -> Vec<f64> {
    a.par_chunks(n).map(|row| row.iter().sum()).collect()
}

/// `a_ij *= s_i s_j`.
fn scale_both_sides(a: &mut [f64], n: usize, s: &[f64]) {
    a.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let si = s[i];
        for (v, sj) in row.iter_mut().zip(s) {
            *v *= si * sj;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_matches_sorting_the_full_matrix() {
        for n in [2usize, 3, 4, 7, 10] {
            let data: Vec<f64> = (0..n * 2).map(|i| ((i * 37) % 11) as f64).collect();
            let x = Points::new(&data, n, 2).unwrap();
            let mut full = Vec::new();
            for i in 0..n {
                for j in 0..n {
                    full.push(sq_dist(x.row(i), x.row(j)));
                }
            }
            full.sort_by(f64::total_cmp);
            let m = n * n;
            let want = 0.5 * (full[(m - 1) / 2] + full[m / 2]);
            let rows: Vec<usize> = (0..n).collect();
            assert_eq!(median_sq_dist(&x, &rows), want, "n={n}");
        }
    }

    #[test]
    fn operator_is_symmetric_with_top_eigenvector_sqrt_degree() {
        let data: Vec<f64> = (0..40).map(|i| ((i * 13) % 17) as f64 / 3.0).collect();
        let x = Points::new(&data, 20, 2).unwrap();
        let (a, _) = dense_operator(&x, 2.0).unwrap();
        for i in 0..20 {
            for j in 0..20 {
                assert!((a[i * 20 + j] - a[j * 20 + i]).abs() < 1e-15);
            }
        }
    }
}
