//! Exact k-nearest neighbours by blocked brute force (Gram-matrix trick through faer's matrix
//! product, then exact squared distances recomputed for the k winners).

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::Points;
use super::linalg::{self, sq_dist};

/// Rows whose distances to all points are computed at once.
const QUERY_BLOCK: usize = 128;

/// For every point, its `k` nearest other points (ascending by distance, ties by index) as
/// `(index, squared distance)` pairs, row-major `n × k`.
pub fn knn(x: &Points<'_>, k: usize) -> Vec<(usize, f64)> {
    let (n, d) = (x.n, x.d);
    let norms: Vec<f64> = (0..n).map(|i| linalg::dot(x.row(i), x.row(i))).collect();
    let all = MatRef::from_row_major_slice(x.data, n, d);
    let mut out = vec![(0usize, 0.0f64); n * k];
    out.par_chunks_mut(QUERY_BLOCK * k)
        .enumerate()
        // One n × QUERY_BLOCK product buffer per worker, reused: allocating it per block cost
        // more in page faults than the product itself.
        .for_each_init(
            || Mat::<f64>::zeros(n, QUERY_BLOCK),
            |g, (b, ob)| {
                let start = b * QUERY_BLOCK;
                let rows = ob.len() / k;
                let q = all.subrows(start, rows);
                // n × rows, column-major: each query's inner products are one contiguous column.
                linalg::gemm(g.as_mut().subcols_mut(0, rows), all, q.transpose());
                let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
                for r in 0..rows {
                    let i = start + r;
                    best.clear();
                    // Candidate distances in one vectorisable sweep, then a scan whose test
                    // against the current k-th distance is almost always false.
                    let gi = g.col_as_slice_mut(r);
                    let ni = norms[i];
                    gi.iter_mut()
                        .zip(&norms)
                        .for_each(|(gij, nj)| *gij = ni + nj - 2.0 * *gij);
                    gi[i] = f64::INFINITY;
                    let mut worst = f64::INFINITY;
                    for (j, &d2) in gi.iter().enumerate() {
                        if j != i && (best.len() < k || d2 <= worst) {
                            push_best(&mut best, k, (d2, j));
                            worst = best.last().map_or(f64::INFINITY, |b| b.0);
                        }
                    }
                    for (slot, &(_, j)) in ob[r * k..(r + 1) * k].iter_mut().zip(&best) {
                        *slot = (j, sq_dist(x.row(i), x.row(j)));
                    }
                    ob[r * k..(r + 1) * k].sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                }
            },
        );
    out
}

/// Keeps the `k` smallest `(distance, index)` pairs in ascending order.
#[inline]
fn push_best(best: &mut Vec<(f64, usize)>, k: usize, cand: (f64, usize)) {
    let less = |a: &(f64, usize), b: &(f64, usize)| a.0 < b.0 || (a.0 == b.0 && a.1 < b.1);
    if best.len() == k {
        match best.last() {
            Some(worst) if less(&cand, worst) => {
                best.pop();
            }
            _ => return,
        }
    }
    let pos = best.partition_point(|e| less(e, &cand));
    best.insert(pos, cand);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let (n, d, k) = (300, 5, 7);
        let data: Vec<f64> = (0..n * d)
            .map(|i| ((i * 2654435761usize) % 1000) as f64 / 100.0)
            .collect();
        let x = Points::new(&data, n, d).unwrap();
        let got = knn(&x, k);
        for i in 0..n {
            let mut all: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (sq_dist(x.row(i), x.row(j)), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (slot, want) in got[i * k..(i + 1) * k].iter().zip(&all) {
                assert!((slot.1 - want.0).abs() < 1e-9, "row {i}");
            }
        }
    }
}
