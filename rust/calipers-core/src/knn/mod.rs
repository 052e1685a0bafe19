//! Nearest-neighbour search on row-major point matrices under squared Euclidean distance,
//! shared by the capabilities that build neighbour graphs (fairness, geometry).
//!
//! * [`exact_knn`] / [`exact_query`]: exact search. The reference points are partitioned into
//!   balls (k-means on a sample); each block of queries scans the balls nearest first with
//!   matrix products (‖q‖² + ‖y‖² − 2 q·y through faer) and skips every ball whose lower bound
//!   ‖q − c‖ − r exceeds its current k-th distance. A rounding-error margin and an exact
//!   re-rank make the answer exact: the reported distances are recomputed directly and every
//!   row is certified against the matrix-product error bound (rows that cannot be certified,
//!   e.g. with many exact ties, are redone by direct brute force). The all-points search
//!   screens first with f32 products on the centred rows (twice the SIMD lanes) under a
//!   correspondingly wider certified margin; rows that pass certify exactly as above, the
//!   others are searched again in f64. On clustered data this
//!   touches a small part of the n² pairs; on structureless high-dimensional data it falls
//!   back to blocked brute force.
//! * [`approximate_knn`]: random-projection forest + NN-descent refinement (deprecated in the
//!   Python API: on every measured input it was slower than the exact search or missed most
//!   neighbours; `bench/RESULTS.md`, fairness D).
//! * [`radius_neighbors`]: all points within a squared radius.
//!
//! Neighbour lists are sorted by (squared distance, index); a point is never its own
//! neighbour in the all-points searches. Results are the same bits for any thread count.

mod approx;
mod exact;
mod radius;

pub use approx::{ApproxOptions, approximate_knn};
pub use exact::{exact_knn, exact_query};
pub use radius::radius_neighbors;

use crate::error::{Error, Result};

/// Points as a row-major `n × dim` matrix: the one point type of the crate (neighbour search,
/// diffusion geometry, k-means anchors).
#[derive(Clone, Copy, Debug)]
pub struct Points<'a> {
    pub data: &'a [f64],
    pub n: usize,
    pub dim: usize,
}

impl<'a> Points<'a> {
    /// Validated points for a search (any number of rows, `dim ≥ 1`, finite values).
    pub fn new(data: &'a [f64], dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::shape(
                "X",
                "has no columns; pass at least one feature",
            ));
        }
        if data.len() % dim != 0 {
            return Err(Error::shape(
                "X",
                format!("length {} is not a multiple of dim {dim}", data.len()),
            ));
        }
        crate::error::ensure_finite("X", data)?;
        Ok(Points::unchecked(data, dim))
    }

    /// Validated `n × dim` points for a spectrum (non-empty, `dim ≥ 1`, finite values).
    pub fn with_shape(data: &'a [f64], n: usize, dim: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::shape("X", "has no rows; pass at least two points"));
        }
        if dim == 0 {
            return Err(Error::shape(
                "X",
                "has zero features (d = 0); pass at least one column",
            ));
        }
        if data.len() != n * dim {
            return Err(Error::shape(
                "X",
                format!(
                    "buffer has {} values, expected n·d = {}",
                    data.len(),
                    n * dim
                ),
            ));
        }
        crate::error::ensure_finite("X", data)?;
        Ok(Points { data, n, dim })
    }

    /// Points of a buffer the caller already checked (`dim ≥ 1`, a multiple of `dim` long).
    pub(crate) fn unchecked(data: &'a [f64], dim: usize) -> Self {
        Points {
            data,
            n: data.len() / dim,
            dim,
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// `k` neighbours per query row: `indices` and `sqdist` are row-major `n_query × k`.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbors {
    pub k: usize,
    pub indices: Vec<usize>,
    pub sqdist: Vec<f64>,
}

/// Squared Euclidean distance with four independent accumulators (so it vectorises).
#[inline]
pub fn sqdist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, u), v) in acc.iter_mut().zip(x).zip(y) {
            let d = u - v;
            *s += d * d;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (u, v) in ra.iter().zip(rb) {
        let d = u - v;
        s += d * d;
    }
    s
}

/// A bounded list of the best `k` candidates, sorted by (distance, index).
#[derive(Clone, Debug)]
pub(crate) struct TopK {
    pub(crate) k: usize,
    pub(crate) items: Vec<(f64, usize)>,
    /// Whether each entry arrived in the current refinement round (NN-descent's "new" flag).
    fresh: Vec<bool>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
            fresh: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    pub(crate) fn worst(&self) -> Option<(f64, usize)> {
        if self.items.len() < self.k {
            None
        } else {
            self.items.last().copied()
        }
    }

    /// Inserts `(d, j)` if it beats the current worst; returns whether it was inserted.
    /// Ignores an index already present.
    #[inline]
    pub(crate) fn push(&mut self, d: f64, j: usize) -> bool {
        if let Some(w) = self.worst()
            && (d, j) >= w
        {
            return false;
        }
        if self.items.iter().any(|&(_, i)| i == j) {
            return false;
        }
        let pos = self.items.partition_point(|&(dd, jj)| (dd, jj) < (d, j));
        self.items.insert(pos, (d, j));
        self.fresh.insert(pos, true);
        self.items.truncate(self.k);
        self.fresh.truncate(self.k);
        true
    }

    /// Marks every entry as old (start of a refinement round).
    pub(crate) fn age(&mut self) {
        self.fresh.iter_mut().for_each(|f| *f = false);
    }

    /// (index, fresh) pairs.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        self.items
            .iter()
            .map(|&(_, j)| j)
            .zip(self.fresh.iter().copied())
    }

    #[inline]
    pub(crate) fn contains(&self, j: usize) -> bool {
        self.items.iter().any(|&(_, i)| i == j)
    }
}

pub(crate) fn check_k(k: usize, n_ref: usize, exclude_self: bool) -> Result<()> {
    let available = if exclude_self {
        n_ref.saturating_sub(1)
    } else {
        n_ref
    };
    if k == 0 {
        return Err(Error::invalid("n_neighbors", "must be at least 1"));
    }
    if k > available {
        return Err(Error::invalid(
            "n_neighbors",
            format!(
                "is {k} but only {available} other points exist; pass n_neighbors < n (the number of points)"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn flatten(lists: Vec<Vec<TopK>>, k: usize) -> Neighbors {
    let n: usize = lists.iter().map(Vec::len).sum();
    let mut indices = Vec::with_capacity(n * k);
    let mut sqdist = Vec::with_capacity(n * k);
    for t in lists.into_iter().flatten() {
        for (d, j) in t.items {
            indices.push(j);
            sqdist.push(d);
        }
    }
    Neighbors { k, indices, sqdist }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par;
    use crate::rng::Rng;

    fn random_points(n: usize, dim: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n * dim).map(|_| rng.normal()).collect()
    }

    fn naive(points: Points, k: usize) -> Vec<Vec<usize>> {
        (0..points.len())
            .map(|i| {
                let mut all: Vec<(f64, usize)> = (0..points.len())
                    .filter(|&j| j != i)
                    .map(|j| (sqdist(points.row(i), points.row(j)), j))
                    .collect();
                all.sort_by(|a, b| a.partial_cmp(b).unwrap());
                all.iter().take(k).map(|p| p.1).collect()
            })
            .collect()
    }

    #[test]
    fn exact_matches_naive() {
        let data = random_points(300, 7, 1);
        let p = Points::new(&data, 7).unwrap();
        let nb = exact_knn(p, 5, &par::Silent).unwrap();
        let want = naive(p, 5);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(&nb.indices[i * 5..(i + 1) * 5], w.as_slice());
        }
    }

    /// Rows of the naive answer, sorted by (distance, index), for a few query rows.
    fn check_rows(p: Points, nb: &Neighbors, k: usize, rows: impl Iterator<Item = usize>) {
        for i in rows {
            let mut all: Vec<(f64, usize)> = (0..p.len())
                .filter(|&j| j != i)
                .map(|j| (sqdist(p.row(i), p.row(j)), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all.iter().take(k).map(|e| e.1).collect();
            assert_eq!(&nb.indices[i * k..(i + 1) * k], want.as_slice(), "row {i}");
            for (d, e) in nb.sqdist[i * k..(i + 1) * k].iter().zip(&all) {
                assert_eq!(*d, e.0, "row {i}");
            }
        }
    }

    #[test]
    fn exact_with_many_balls_matches_naive() {
        // Clustered points (20 centres) so that balls are pruned, plus exact duplicates
        // (ties that the rounding certificate must send to the direct scan).
        let (n, dim, k) = (6000, 5, 7);
        let mut rng = Rng::new(4);
        let centres: Vec<f64> = (0..20 * dim).map(|_| 10.0 * rng.normal()).collect();
        let mut data = Vec::with_capacity(n * dim);
        for i in 0..n {
            if i % 50 == 49 {
                let prev = data[(i - 1) * dim..i * dim].to_vec();
                data.extend(prev);
                continue;
            }
            let c = rng.below(20) as usize;
            for t in 0..dim {
                data.push(centres[c * dim + t] + rng.normal());
            }
        }
        let p = Points::new(&data, dim).unwrap();
        let nb = exact_knn(p, k, &par::Silent).unwrap();
        check_rows(p, &nb, k, (0..n).step_by(37).chain(45..55));
        // Queries against the reference: the query rows themselves, so the nearest
        // neighbour of each is at distance 0 and the rest match the all-points lists.
        let q = Points::new(&data[..300 * dim], dim).unwrap();
        let nq = exact_query(p, q, k + 1, &par::Silent).unwrap();
        for i in 0..300 {
            assert_eq!(nq.sqdist[i * (k + 1)], 0.0);
            assert_eq!(
                &nq.sqdist[i * (k + 1) + 1..(i + 1) * (k + 1)],
                &nb.sqdist[i * k..(i + 1) * k]
            );
        }
    }

    /// Brute force over every row, compared bit for bit (indices and distances).
    fn check_all(data: &[f64], dim: usize, k: usize) {
        let p = Points::new(data, dim).unwrap();
        let nb = exact_knn(p, k, &par::Silent).unwrap();
        check_rows(p, &nb, k, 0..p.len());
    }

    #[test]
    fn f32_screening_is_exact_on_large_offsets_and_ties() {
        // A lattice of spacing 1e-3 shifted by 1e6: f32 cannot hold the raw coordinates
        // (spacing 0.06 there), only the centred ones; the lattice gives exact distance ties
        // (decided by index) and near-ties one rounding apart.
        let (dim, k) = (3, 6);
        let mut data = Vec::new();
        for i in 0..9 {
            for j in 0..9 {
                for l in 0..9 {
                    let jitter = if (i + j + l) % 7 == 0 { 1e-12 } else { 0.0 };
                    data.extend([
                        1e6 + 1e-3 * i as f64 + jitter,
                        -3e6 + 1e-3 * j as f64,
                        1e-3 * l as f64,
                    ]);
                }
            }
        }
        check_all(&data, dim, k);
        // Clustered points with a huge far cluster: the f32 margin (relative to the largest
        // norm) cannot certify the small-scale rows, which fall back to the f64 search.
        let (dim, k) = (16, 9);
        let mut rng = Rng::new(7);
        let mut data = Vec::new();
        for i in 0..5000 {
            let (scale, shift) = if i % 10 == 0 { (1.0, 1e5) } else { (1e-4, 0.0) };
            let c = (i % 13) as f64;
            for t in 0..dim {
                data.push(shift + scale * (c + rng.normal()) + if t == 0 { c } else { 0.0 });
            }
            if i % 97 == 96 {
                // Exact duplicate of the previous point.
                let prev = data[data.len() - 2 * dim..data.len() - dim].to_vec();
                data.truncate(data.len() - dim);
                data.extend(prev);
            }
        }
        check_all(&data, dim, k);
    }

    #[test]
    fn approximate_recall_is_high() {
        let data = random_points(3000, 8, 2);
        let p = Points::new(&data, 8).unwrap();
        let opts = ApproxOptions {
            n_trees: 6,
            leaf_size: 40,
            max_rounds: 8,
            delta: 0.001,
            seed: 3,
        };
        let approx = approximate_knn(p, 10, opts, &par::Silent).unwrap();
        let exact = exact_knn(p, 10, &par::Silent).unwrap();
        let mut hits = 0;
        for i in 0..3000 {
            let e = &exact.indices[i * 10..(i + 1) * 10];
            hits += approx.indices[i * 10..(i + 1) * 10]
                .iter()
                .filter(|j| e.contains(j))
                .count();
        }
        let recall = hits as f64 / 30000.0;
        assert!(recall >= 0.95, "recall {recall}");
    }

    #[test]
    fn k_too_large_is_an_error() {
        let data = random_points(5, 2, 1);
        let p = Points::new(&data, 2).unwrap();
        assert!(exact_knn(p, 5, &par::Silent).is_err());
        assert!(exact_knn(p, 4, &par::Silent).is_ok());
    }
}
