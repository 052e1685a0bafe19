//! The paper's dense diffusion operator: Gaussian kernel with a median bandwidth, α = 1
//! density normalisation and the symmetric conjugate of the Markov matrix.

use rayon::prelude::*;

use super::Points;
use super::linalg::{exp_nonpos, sq_dist};
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

/// The paper's operator in factored form: `A = S K S` with the Gaussian kernel `K` (row-major
/// `n × n`, unit diagonal) and `S = diag(scale)`, `scale_i = 1 / (q_i √p_i)`, where `q = K 1`
/// and `p = Q⁻¹ K Q⁻¹ 1`. Keeping `K` and `S` apart lets the pivoted Cholesky read only the rows
/// it pivots on, with no `n²` scaling passes.
pub struct DenseOperator {
    pub kernel: Vec<f64>,
    pub scale: Vec<f64>,
    pub n: usize,
    /// Kernel bandwidth `sigma · median(D²)`.
    pub bandwidth: f64,
}

impl DenseOperator {
    /// Diagonal of `A`.
    pub fn diagonal(&self) -> Vec<f64> {
        (0..self.n)
            .map(|i| self.scale[i] * self.kernel[i * self.n + i] * self.scale[i])
            .collect()
    }

    /// Row `i` of `A` into `out`.
    pub fn row_into(&self, i: usize, out: &mut [f64]) {
        let (n, si) = (self.n, self.scale[i]);
        out.par_chunks_mut(ROW_CHUNK)
            .zip(self.kernel[i * n..(i + 1) * n].par_chunks(ROW_CHUNK))
            .zip(self.scale.par_chunks(ROW_CHUNK))
            .for_each(|((o, k), s)| {
                for ((o, k), s) in o.iter_mut().zip(k).zip(s) {
                    *o = si * k * s;
                }
            });
    }

    /// `A` itself (row-major), consuming the factors.
    pub fn into_matrix(self) -> Vec<f64> {
        let (n, s) = (self.n, self.scale);
        let mut a = self.kernel;
        a.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            let si = s[i];
            for (v, sj) in row.iter_mut().zip(&s) {
                *v = si * *v * sj; // same rounding as `row_into`
            }
        });
        a
    }
}

/// Columns per parallel piece when one row of `A` is formed.
const ROW_CHUNK: usize = 4096;

/// The dense operator of `x` for bandwidth `sigma · median(D²)`. Eigenvalues of `A` lie in
/// [0, 1], the largest is 1. Squared distances are computed once, in the buffer that then holds
/// the kernel.
pub fn dense_operator(x: &Points<'_>, sigma: f64) -> Result<DenseOperator> {
    let n = x.n;
    let mut k = vec![0.0f64; n * n];
    k.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let xi = x.row(i);
        for (j, v) in row.iter_mut().enumerate() {
            *v = sq_dist(xi, x.row(j));
        }
    });
    let eps = bandwidth(sigma, median_of_square(&k, n))?;
    let inv = 1.0 / eps;
    // Kernel in place, and its row sums q in the same sweep.
    let q: Vec<f64> = k
        .par_chunks_mut(n)
        .map(|row| {
            row.iter_mut().for_each(|v| *v = exp_nonpos(-*v * inv));
            row.iter().sum::<f64>()
        })
        .collect();
    let inv_q: Vec<f64> = q.iter().map(|v| 1.0 / v).collect();
    // p = Q⁻¹ K Q⁻¹ 1, the degrees after density normalisation.
    let p: Vec<f64> = k
        .par_chunks(n)
        .zip(&inv_q)
        .map(|(row, iq)| iq * row.iter().zip(&inv_q).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    if let Some(i) = p.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::Numerical(format!(
            "degree of point {i} is {} after density normalisation; the data's scale is \
             degenerate (rescale X)",
            p[i]
        )));
    }
    let scale = inv_q.iter().zip(&p).map(|(iq, p)| iq / p.sqrt()).collect();
    Ok(DenseOperator {
        kernel: k,
        scale,
        n,
        bandwidth: eps,
    })
}

/// Median of the symmetric row-major `n × n` matrix `d2` with zero diagonal (as the full-matrix
/// median in [`median_from_upper`]), read in place: a strided sample brackets the wanted order
/// statistics, one sweep counts the values below the bracket and collects those inside, and
/// the answer is selected among those few. Falls back to selecting over the whole upper
/// triangle if the bracket misses (exact either way).
fn median_of_square(d2: &[f64], n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let total = n * n;
    // Full-matrix positions below n are the zero diagonal; the rest map to upper order stats.
    let ranks = [(total - 1) / 2, total / 2].map(|pos| (pos >= n).then(|| (pos - n) / 2));
    let (first, last) = match ranks {
        [None, None] => return 0.0,
        [Some(a), Some(b)] => (a, b),
        [Some(a), None] | [None, Some(a)] => (a, a),
    };
    let stats = upper_order_stats(d2, n, first, last);
    let value = |r: Option<usize>| r.map_or(0.0, |r| stats[r - first]);
    0.5 * (value(ranks[0]) + value(ranks[1]))
}

/// Order statistics `first..=last` (0-based ranks) of the strict upper triangle of `d2`.
fn upper_order_stats(d2: &[f64], n: usize, first: usize, last: usize) -> Vec<f64> {
    let count = n * (n - 1) / 2;
    let upper = |i: usize| &d2[i * n + i + 1..(i + 1) * n];
    // Deterministic sample: about 2^16 values at a fixed stride through the upper triangle.
    let stride = (count / 65_536).max(1);
    let mut sample: Vec<f64> = (0..n)
        .flat_map(|i| {
            let start = (stride - (i * (2 * n - i - 1) / 2) % stride) % stride;
            upper(i).iter().skip(start).step_by(stride).copied()
        })
        .collect();
    sample.sort_unstable_by(f64::total_cmp);
    let s = sample.len();
    let margin = (4.0 * (s as f64).sqrt()) as usize + 8;
    let at = |rank: usize, up: bool| -> f64 {
        let idx = (rank as f64 / count as f64 * s as f64) as usize;
        let idx = if up {
            (idx + margin).min(s - 1)
        } else {
            idx.saturating_sub(margin)
        };
        sample[idx]
    };
    let (a, b) = (at(first, false), at(last, true));
    let parts: Vec<(usize, Vec<f64>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut below = 0;
            let mut inside = Vec::new();
            for &v in upper(i) {
                if v < a {
                    below += 1;
                } else if v <= b {
                    inside.push(v);
                }
            }
            (below, inside)
        })
        .collect();
    let below: usize = parts.iter().map(|p| p.0).sum();
    let mut inside: Vec<f64> = parts.into_iter().flat_map(|p| p.1).collect();
    if first < below || last >= below + inside.len() {
        inside = (0..n).flat_map(|i| upper(i).iter().copied()).collect();
        return select_range(inside, first, last);
    }
    select_range(inside, first - below, last - below)
}

/// Values of ranks `first..=last` of `v`, ascending.
fn select_range(mut v: Vec<f64>, first: usize, last: usize) -> Vec<f64> {
    v.select_nth_unstable_by(first, f64::total_cmp);
    // Everything after position `first` is >= v[first]: bring each next minimum forward.
    for r in first + 1..=last {
        v[r..].select_nth_unstable_by(0, f64::total_cmp);
    }
    v[first..=last].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: &Points<'_>) -> Vec<f64> {
        let n = x.n;
        (0..n * n)
            .map(|e| sq_dist(x.row(e / n), x.row(e % n)))
            .collect()
    }

    #[test]
    fn median_matches_sorting_the_full_matrix() {
        // Small values of `% 11` give many ties; n = 700 and 901 exercise the sampled bracket.
        for n in [2usize, 3, 4, 7, 10, 700, 901] {
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
            assert_eq!(median_of_square(&square(&x), n), want, "n={n}");
            let smooth: Vec<f64> = (0..n * 2)
                .map(|i| ((i * 7919) % 1009) as f64 / 7.0)
                .collect();
            let y = Points::new(&smooth, n, 2).unwrap();
            let mut all = square(&y);
            let got = median_of_square(&all, n);
            all.sort_by(f64::total_cmp);
            assert_eq!(got, 0.5 * (all[(m - 1) / 2] + all[m / 2]), "n={n}");
        }
    }

    #[test]
    fn operator_is_symmetric_with_top_eigenvector_sqrt_degree() {
        let data: Vec<f64> = (0..40).map(|i| ((i * 13) % 17) as f64 / 3.0).collect();
        let x = Points::new(&data, 20, 2).unwrap();
        let op = dense_operator(&x, 2.0).unwrap();
        let diag = op.diagonal();
        let mut row3 = vec![0.0; 20];
        op.row_into(3, &mut row3);
        let a = op.into_matrix();
        assert_eq!(row3, a[60..80].to_vec());
        for i in 0..20 {
            for j in 0..20 {
                assert!((a[i * 20 + j] - a[j * 20 + i]).abs() < 1e-15);
            }
            assert_eq!(diag[i], a[i * 21]);
        }
    }
}
