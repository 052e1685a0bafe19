//! The paper's dense diffusion operator: Gaussian kernel with a median bandwidth, α = 1
//! density normalisation and the symmetric conjugate of the Markov matrix.

use rayon::prelude::*;

use super::Points;
use super::linalg::{exp_nonpos, sq_dist};
use crate::error::{Error, Result};
use crate::linalg::dot4;
use crate::par::Monitor;

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
    if median.is_finite() && !eps.is_finite() {
        return Err(Error::invalid(
            "sigma",
            format!("sigma · median(D²) = {sigma} · {median} overflows; pass a smaller sigma"),
        ));
    }
    if !median.is_finite() {
        return Err(Error::invalid(
            "X",
            format!(
                "the median squared distance between points overflows ({median}); rescale X \
                 (divide it by its typical magnitude)"
            ),
        ));
    }
    if eps.is_nan() || eps <= 0.0 {
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

/// The paper's operator `A = S K S`, matrix-free: the Gaussian kernel `K` (unit diagonal) is
/// never stored; any row of it is recomputed from the points on demand (`n` distances and `n`
/// exponentials, cheap next to reading an `n²` matrix back from memory). `S = diag(scale)`,
/// `scale_i = 1 / (q_i √p_i)`, with `q = K 1` and `p = Q⁻¹ K Q⁻¹ 1`. The pivoted Cholesky reads
/// only the ~r rows it pivots on, so the whole operator costs two symmetric sweeps over the
/// pairs (upper triangle only) plus `r` rows, in `O(n)` memory.
pub struct DenseOperator {
    /// Coordinate-major copy of the points: coordinate `c` of point `j` at `coords[c·n + j]`.
    coords: Vec<f64>,
    dim: usize,
    /// `1 / bandwidth`.
    inv_bandwidth: f64,
    pub scale: Vec<f64>,
    pub n: usize,
    /// Kernel bandwidth `sigma · median(D²)`.
    pub bandwidth: f64,
}

impl DenseOperator {
    /// Diagonal of `A` (the kernel's diagonal is exactly 1).
    pub fn diagonal(&self) -> Vec<f64> {
        self.scale.iter().map(|s| s * 1.0 * s).collect()
    }

    /// Row `i` of `A` into `out`.
    pub fn row_into(&self, i: usize, out: &mut [f64]) {
        out.par_chunks_mut(ROW_CHUNK)
            .enumerate()
            .for_each(|(c, o)| self.row_part(i, c * ROW_CHUNK, o));
    }

    /// Entries `j0..j0 + out.len()` of row `i` of `A`.
    fn row_part(&self, i: usize, j0: usize, out: &mut [f64]) {
        self.kernel_row(i, j0, out);
        let si = self.scale[i];
        for (o, s) in out.iter_mut().zip(&self.scale[j0..]) {
            *o = si * *o * s;
        }
    }

    /// `K(i, j0..j0 + out.len())` into `out`: the same bits for `K(i, j)` and `K(j, i)`.
    fn kernel_row(&self, i: usize, j0: usize, out: &mut [f64]) {
        self.row(i, j0, out, Some(self.inv_bandwidth));
    }

    /// Squared distances of row `i` (or their kernel values, given `1 / bandwidth`).
    fn row(&self, i: usize, j0: usize, out: &mut [f64], inv_bandwidth: Option<f64>) {
        pulp::Arch::new().dispatch(Row {
            coords: &self.coords,
            n: self.n,
            dim: self.dim,
            i,
            j0,
            out,
            inv_bandwidth,
        });
    }

    /// `A` itself (row-major `n × n`; only the dense-eigendecomposition fallback needs it).
    pub fn into_matrix(self) -> Result<Vec<f64>> {
        let n = self.n;
        let mut a =
            crate::mem::try_filled("X", n * n, 0.0f64, "use method='nystrom' or fewer points")?;
        a.par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, row)| self.row_part(i, 0, row));
        Ok(a)
    }
}

/// Columns per parallel piece when one row of `A` is formed.
const ROW_CHUNK: usize = 4096;

/// Fixed number of row groups of the symmetric sweeps: each keeps its own column partial sums
/// (`n` values), added in group order, so the sums do not depend on the thread count.
const SWEEP_GROUPS: usize = 64;

/// One sweep group's result: `(row, Σ_{j>row} K w)` for its rows, and its column partial sums.
type GroupSums = (Vec<(usize, f64)>, Vec<f64>);

/// One row of squared distances `Σ_c (x_c[j] − x_c[i])²` (coordinates summed in order) for
/// `j = j0..j0 + out.len()`, optionally mapped through `exp(−d² / bandwidth)`. Vectorised over
/// `j` by `pulp::Arch::dispatch` (plain multiply/add, so every instruction set gives the same
/// bits as the scalar build).
struct Row<'a> {
    coords: &'a [f64],
    n: usize,
    dim: usize,
    i: usize,
    j0: usize,
    out: &'a mut [f64],
    inv_bandwidth: Option<f64>,
}

impl pulp::WithSimd for Row<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            coords,
            n,
            dim,
            i,
            j0,
            out,
            inv_bandwidth,
        } = self;
        let len = out.len();
        out.fill(0.0);
        for c in 0..dim {
            let col = &coords[c * n..(c + 1) * n];
            let xi = col[i];
            for (o, x) in out.iter_mut().zip(&col[j0..j0 + len]) {
                let t = x - xi;
                *o += t * t;
            }
        }
        if let Some(inv) = inv_bandwidth {
            for o in out.iter_mut() {
                *o = exp_nonpos(-*o * inv);
            }
        }
    }
}

/// Counts the values of `row` below `a` and appends those in `[a, b]` to `inside`.
struct Bracket<'a> {
    row: &'a [f64],
    a: f64,
    b: f64,
    inside: &'a mut Vec<f64>,
}

impl pulp::WithSimd for Bracket<'_> {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> usize {
        let Self { row, a, b, inside } = self;
        // Branch-free count (vectorises); the bracket holds a few percent of the values.
        let below = row.iter().map(|&v| u64::from(v < a)).sum::<u64>() as usize;
        for &v in row {
            if v >= a && v <= b {
                inside.push(v);
            }
        }
        below
    }
}

/// Sum with four interleaved accumulators (vectorisable, fixed order).
#[inline(always)]
pub(super) fn sum4(v: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for x in rest {
        s += x;
    }
    s
}

/// Row-sum kernel of the symmetric sweeps: `Σ_j w_j k_j` over a kernel row and `col_j += c k_j`.
struct SymmetricUpdate<'a> {
    kernel: &'a [f64],
    weights: Option<&'a [f64]>,
    col: &'a mut [f64],
    coeff: f64,
}

impl pulp::WithSimd for SymmetricUpdate<'_> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> f64 {
        let Self {
            kernel,
            weights,
            col,
            coeff,
        } = self;
        for (c, k) in col.iter_mut().zip(kernel) {
            *c += coeff * k;
        }
        match weights {
            Some(w) => dot4(kernel, w),
            None => sum4(kernel),
        }
    }
}

impl DenseOperator {
    pub(super) fn new(x: &Points<'_>, bandwidth: f64) -> Self {
        let (n, dim) = (x.n, x.dim);
        let mut coords = vec![0.0f64; n * dim];
        for (j, row) in x.data.chunks_exact(dim).enumerate() {
            for (c, v) in row.iter().enumerate() {
                coords[c * n + j] = *v;
            }
        }
        DenseOperator {
            coords,
            dim,
            inv_bandwidth: 1.0 / bandwidth,
            scale: Vec::new(),
            n,
            bandwidth,
        }
    }

    pub(super) fn distance_row(&self, i: usize, j0: usize, out: &mut [f64]) {
        self.row(i, j0, out, None);
    }

    /// `Σ_c (x_c[j] − x_c[i])²`, the same bits as [`Self::distance_row`]'s entry `j`.
    fn pair_sq_dist(&self, i: usize, j: usize) -> f64 {
        let mut s = 0.0;
        for col in self.coords.chunks_exact(self.n) {
            let t = col[j] - col[i];
            s += t * t;
        }
        s
    }

    /// `Σ_{j≠i} K_ij w_j` for every `i` (`w = 1` when `weights` is `None`), from one sweep over
    /// the pairs `i < j`: each kernel value is computed once and used for both rows.
    /// A group left undone because a stop was asked for leaves its sums out: the caller
    /// checks `monitor.stop_requested()` before using them.
    fn symmetric_sums(&self, weights: Option<&[f64]>, monitor: &dyn Monitor) -> Vec<f64> {
        let n = self.n;
        let parts: Vec<GroupSums> = (0..SWEEP_GROUPS)
            .into_par_iter()
            .map(|g| {
                if monitor.stop_requested() {
                    return (Vec::new(), Vec::new());
                }
                let mut col = vec![0.0f64; n];
                let mut buf = vec![0.0f64; n];
                let rows: Vec<(usize, f64)> = group_rows(n, g)
                    .map(|i| {
                        let k = &mut buf[..n - 1 - i];
                        self.kernel_row(i, i + 1, k);
                        let coeff = weights.map_or(1.0, |w| w[i]);
                        let row = pulp::Arch::new().dispatch(SymmetricUpdate {
                            kernel: k,
                            weights: weights.map(|w| &w[i + 1..]),
                            col: &mut col[i + 1..],
                            coeff,
                        });
                        (i, row)
                    })
                    .collect();
                (rows, col)
            })
            .collect();
        let mut total = vec![0.0f64; n];
        for (_, col) in &parts {
            for (t, c) in total.iter_mut().zip(col) {
                *t += c;
            }
        }
        for (rows, _) in &parts {
            for &(i, r) in rows {
                total[i] += r;
            }
        }
        total
    }
}

/// The dense operator of `x` for bandwidth `sigma · median(D²)`. Eigenvalues of `A` lie in
/// [0, 1], the largest is 1. Only `O(n)` memory: see [`DenseOperator`].
/// Each of its three sweeps over the pairs stops early when `monitor` asks (Ctrl-C).
pub fn dense_operator(x: &Points<'_>, sigma: f64, monitor: &dyn Monitor) -> Result<DenseOperator> {
    let n = x.n;
    let mut op = DenseOperator::new(x, 1.0);
    let median = median_of_pairs(&op, monitor);
    stopped(monitor)?;
    let eps = bandwidth(sigma, median)?;
    op.inv_bandwidth = 1.0 / eps;
    op.bandwidth = eps;
    // q = K 1 (the diagonal contributes exactly 1).
    let sums = op.symmetric_sums(None, monitor);
    stopped(monitor)?;
    let q: Vec<f64> = sums.into_iter().map(|s| 1.0 + s).collect();
    let inv_q: Vec<f64> = q.iter().map(|v| 1.0 / v).collect();
    // p = Q⁻¹ K Q⁻¹ 1, the degrees after density normalisation.
    let sums = op.symmetric_sums(Some(&inv_q), monitor);
    stopped(monitor)?;
    let p: Vec<f64> = sums
        .into_iter()
        .zip(&inv_q)
        .map(|(s, iq)| iq * (iq + s))
        .collect();
    if let Some(i) = p.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::Numerical(format!(
            "degree of point {i} is {} after density normalisation; the data's scale is \
             degenerate (rescale X)",
            p[i]
        )));
    }
    op.scale = inv_q.iter().zip(&p).map(|(iq, p)| iq / p.sqrt()).collect();
    debug_assert_eq!(op.scale.len(), n);
    Ok(op)
}

/// Median of the full `n × n` matrix of squared distances (diagonal zeros included, as
/// [`median_from_upper`]), without storing it: a strided sample of the pairs brackets the
/// wanted order statistics, one sweep counts the pairs below the bracket and collects those
/// inside, and the answer is selected among those few. Falls back to selecting over all pairs
/// if the bracket misses (exact either way).
pub(super) fn median_of_pairs(op: &impl PairDistances, monitor: &dyn Monitor) -> f64 {
    let n = op.n();
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
    let stats = upper_order_stats(op, first, last, monitor);
    let value = |r: Option<usize>| r.map_or(0.0, |r| stats[r - first]);
    0.5 * (value(ranks[0]) + value(ranks[1]))
}

/// Order statistics `first..=last` (0-based ranks) of the squared distances of pairs `i < j`.
fn upper_order_stats(
    op: &impl PairDistances,
    first: usize,
    last: usize,
    monitor: &dyn Monitor,
) -> Vec<f64> {
    let n = op.n();
    let count = n * (n - 1) / 2;
    // Deterministic sample: about 2^16 pairs at a fixed stride through the upper triangle.
    let stride = (count / 65_536).max(1);
    let mut sample: Vec<f64> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let start = (stride - (i * (2 * n - i - 1) / 2) % stride) % stride;
            (i + 1 + start..n)
                .step_by(stride)
                .map(move |j| op.pair(i, j))
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
    let parts: Vec<(usize, Vec<f64>)> = (0..SWEEP_GROUPS)
        .into_par_iter()
        .map(|g| {
            let mut buf = vec![0.0f64; n];
            let mut below = 0;
            let mut inside = Vec::new();
            if monitor.stop_requested() {
                return (below, inside);
            }
            for i in group_rows(n, g) {
                let row = op.upper_row(i, &mut buf);
                below += pulp::Arch::new().dispatch(Bracket {
                    row,
                    a,
                    b,
                    inside: &mut inside,
                });
            }
            (below, inside)
        })
        .collect();
    let below: usize = parts.iter().map(|p| p.0).sum();
    let mut inside: Vec<f64> = parts.into_iter().flat_map(|p| p.1).collect();
    if monitor.stop_requested() {
        return vec![0.0; last - first + 1]; // unused: the caller stops
    }
    if first < below || last >= below + inside.len() {
        inside = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| {
                let mut buf = vec![0.0f64; n];
                op.upper_row(i, &mut buf).to_vec()
            })
            .collect();
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

/// The rows of group `g` of the symmetric sweeps: rows `i` and `n − 1 − i` are paired so that
/// every group holds about the same number of pairs.
fn group_rows(n: usize, g: usize) -> impl Iterator<Item = usize> {
    let pairs = n.div_ceil(2);
    let per = pairs.div_ceil(SWEEP_GROUPS);
    let (lo, hi) = ((g * per).min(pairs), ((g + 1) * per).min(pairs));
    (lo..hi).flat_map(move |p| {
        let mirror = n - 1 - p;
        std::iter::once(p).chain((mirror != p).then_some(mirror))
    })
}

/// Squared distances of the pairs `i < j`, from the points or from a stored matrix: what the
/// exact median selection reads.
pub(super) trait PairDistances: Sync {
    fn n(&self) -> usize;
    /// `D²(i, j)` for `i < j`, the same bits as the entry of [`Self::upper_row`].
    fn pair(&self, i: usize, j: usize) -> f64;
    /// `D²(i, i + 1..n)`, written into `buf` if it has to be computed.
    fn upper_row<'s>(&'s self, i: usize, buf: &'s mut [f64]) -> &'s [f64];
}

impl PairDistances for DenseOperator {
    fn n(&self) -> usize {
        self.n
    }

    fn pair(&self, i: usize, j: usize) -> f64 {
        self.pair_sq_dist(i, j)
    }

    fn upper_row<'s>(&'s self, i: usize, buf: &'s mut [f64]) -> &'s [f64] {
        let row = &mut buf[..self.n - 1 - i];
        self.distance_row(i, i + 1, row);
        row
    }
}

/// `Err(Interrupted)` once a stop has been asked for.
pub(super) fn stopped(monitor: &dyn Monitor) -> Result<()> {
    if monitor.stop_requested() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
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
            let x = Points::with_shape(&data, n, 2).unwrap();
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
            assert_eq!(
                median_of_pairs(&DenseOperator::new(&x, 1.0), &crate::par::Silent),
                want,
                "n={n}"
            );
            let smooth: Vec<f64> = (0..n * 2)
                .map(|i| ((i * 7919) % 1009) as f64 / 7.0)
                .collect();
            let y = Points::with_shape(&smooth, n, 2).unwrap();
            let mut all = square(&y);
            let got = median_of_pairs(&DenseOperator::new(&y, 1.0), &crate::par::Silent);
            all.sort_by(f64::total_cmp);
            assert_eq!(got, 0.5 * (all[(m - 1) / 2] + all[m / 2]), "n={n}");
        }
    }

    #[test]
    fn operator_is_symmetric_with_top_eigenvector_sqrt_degree() {
        let data: Vec<f64> = (0..40).map(|i| ((i * 13) % 17) as f64 / 3.0).collect();
        let x = Points::with_shape(&data, 20, 2).unwrap();
        let op = dense_operator(&x, 2.0, &crate::par::Silent).unwrap();
        let diag = op.diagonal();
        let mut row3 = vec![0.0; 20];
        op.row_into(3, &mut row3);
        let a = op.into_matrix().unwrap();
        assert_eq!(row3, a[60..80].to_vec());
        for i in 0..20 {
            for j in 0..20 {
                assert!((a[i * 20 + j] - a[j * 20 + i]).abs() < 1e-15);
            }
            assert_eq!(diag[i], a[i * 21]);
        }
    }

    /// The matrix-free operator equals the paper's formulas evaluated on a stored matrix
    /// (odd n, 3-d points: several sweep groups, an unpaired middle row).
    #[test]
    fn matrix_free_operator_matches_plain_dense_formulas() {
        let n = 301;
        let data: Vec<f64> = (0..n * 3)
            .map(|i| ((i * 7919) % 1013) as f64 / 97.0)
            .collect();
        let x = Points::with_shape(&data, n, 3).unwrap();
        let d2 = square(&x);
        let mut sorted = d2.clone();
        sorted.sort_by(f64::total_cmp);
        let eps = 2.0 * 0.5 * (sorted[(n * n - 1) / 2] + sorted[n * n / 2]);
        let k: Vec<f64> = d2.iter().map(|v| (-v / eps).exp()).collect();
        let q: Vec<f64> = k.chunks(n).map(|r| r.iter().sum()).collect();
        let p: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| k[i * n + j] / (q[i] * q[j])).sum())
            .collect();
        let op = dense_operator(&x, 2.0, &crate::par::Silent).unwrap();
        assert_eq!(op.bandwidth, eps);
        let a = op.into_matrix().unwrap();
        for i in 0..n {
            for j in 0..n {
                let want = k[i * n + j] / (q[i] * p[i].sqrt() * q[j] * p[j].sqrt());
                let got = a[i * n + j];
                assert!(
                    (got - want).abs() <= 1e-14 * want.abs().max(1e-300) + 1e-300,
                    "{i},{j}"
                );
            }
        }
    }
}
