//! kNN regression of a target matrix (one column per model and quantity) through the exact
//! kNN core, and its cross-validation over a grid of `k` from one search per fold.

use crate::error::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::knn::{Neighbors, Points, sqdist};
use crate::linalg::gemm;
use crate::par::{self, Monitor};

/// Queries per parallel chunk when folding neighbour rows into predictions.
const QUERY_CHUNK: usize = 256;

fn check_targets(targets: &[f64], n: usize, n_targets: usize) -> Result<()> {
    if n_targets == 0 {
        return Err(Error::shape(
            "scores",
            "has no columns; pass one column per model",
        ));
    }
    if targets.len() != n * n_targets {
        return Err(Error::shape(
            "scores",
            format!(
                "has {} values but {n} rows × {n_targets} columns were expected; pass one row per query",
                targets.len()
            ),
        ));
    }
    crate::error::ensure_finite("scores", targets)
}

fn check_ks(arg: &'static str, ks: &[usize], n_ref: usize) -> Result<usize> {
    let k_max = ks.iter().copied().max().unwrap_or(0);
    if ks.contains(&0) || ks.is_empty() {
        return Err(Error::invalid(arg, "every k must be at least 1"));
    }
    if k_max > n_ref {
        return Err(Error::invalid(
            arg,
            format!(
                "k = {k_max} but only {n_ref} training queries are available; pass a smaller k"
            ),
        ));
    }
    Ok(k_max)
}

/// Queries per parallel task of the blocked search.
const SEARCH_QUERIES: usize = 64;
/// Reference rows per matrix-product tile (a `SEARCH_ROWS × SEARCH_QUERIES` tile of f64 fits
/// in L2).
const SEARCH_ROWS: usize = 2048;
/// Candidates kept beyond `k` so that the exact re-rank can certify the list (f64 and f32
/// screening).
const SEARCH_SLACK: usize = 8;
const SEARCH_SLACK_F32: usize = 16;
/// Centred rows with a squared norm above this are screened in f64 (f32 would overflow).
const LOW_MAX_NORM: f64 = 1e30;
/// Per coordinate: covers f32 underflow to subnormals in the screening products.
const LOW_ERR_ABS: f64 = 1e-40;

/// The best `cap` candidates of one query by matrix-product distance, kept with the
/// threshold trick: candidates at or below the current `cap`-th distance are appended, and the
/// buffer is cut back to the best `cap` (by (distance, index)) when it reaches twice that.
struct Candidates {
    cap: usize,
    items: Vec<(f64, u32)>,
    thr: f64,
}

impl Candidates {
    fn new(cap: usize) -> Self {
        Candidates {
            cap,
            items: Vec::with_capacity(2 * cap),
            thr: f64::INFINITY,
        }
    }

    /// Cuts the buffer to its best `cap` entries; the `cap`-th becomes the threshold.
    fn compact(&mut self) {
        if self.items.len() > self.cap {
            self.items.select_nth_unstable_by(self.cap - 1, |a, b| {
                a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
            });
            self.items.truncate(self.cap);
        }
        if self.items.len() == self.cap {
            self.thr = self.items.iter().fold(f64::NEG_INFINITY, |m, e| m.max(e.0));
        }
    }

    #[inline]
    fn scan(&mut self, dist: &[f64], first: usize) {
        for (o, &d) in dist.iter().enumerate() {
            if d <= self.thr {
                self.items.push((d, (first + o) as u32));
                if self.items.len() == 2 * self.cap {
                    self.compact();
                }
            }
        }
    }
}

/// Rows minus the reference mean, rounded to f32, for the screening products (twice the SIMD
/// lanes of f64), with their squared norms computed in f64.
struct Low {
    data: Vec<f32>,
    norms: Vec<f64>,
}

fn centred_f32(data: &[f64], mean: &[f64]) -> Low {
    let dim = mean.len();
    let low: Vec<f32> = data
        .chunks_exact(dim)
        .flat_map(|row| row.iter().zip(mean).map(|(v, c)| (v - c) as f32))
        .collect();
    let norms = low
        .chunks_exact(dim)
        .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect();
    Low { data: low, norms }
}

/// Exact `k` nearest reference rows of each query by blocked brute force: screening distances
/// ‖q‖² + ‖y‖² − 2 q·y from matrix products tile by tile (in f32 on rows centred at the
/// reference mean when their norms allow, else in f64), the best `k + slack` per query kept by
/// a threshold, then re-ranked by directly computed squared distances (`knn::sqdist`) and
/// sorted by (distance, index) — the order of `knn::exact_query`. A list is certified when its
/// `k`-th exact distance lies below the worst kept screening distance minus the rounding bound
/// (every row left out is then farther); rows that cannot be certified (exact ties at the
/// `k`-th place) are ranked directly over all reference rows. Query blocks run in parallel
/// and each is independent, so the result does not depend on the thread count.
///
/// Rounding bounds: in f64 the product and direct distances each lie within
/// (2d + 4) ε (‖q‖² + ‖y‖²) of the truth; in f32 (u = 2⁻²⁴) the representation error and the
/// length-d products move the screening distance by at most (d + 5) u (‖q'‖² + ‖y'‖²) (see
/// `knn::exact`'s `LowPrecision`), doubled here, plus the f64 bound of the direct re-rank.
fn blocked_neighbours(
    reference: Points,
    queries: Points,
    k: usize,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    blocked_search(reference, queries, k, true, monitor)
}

fn blocked_search(
    reference: Points,
    queries: Points,
    k: usize,
    allow_f32: bool,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    let (n_ref, dim, nq) = (reference.len(), reference.dim, queries.len());
    if queries.dim != dim {
        return Err(Error::shape(
            "features",
            format!(
                "has {} columns but the training features have {dim}; pass the same features",
                queries.dim
            ),
        ));
    }
    let norms = |data: &[f64]| -> Vec<f64> {
        data.chunks_exact(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect()
    };
    let ref_norms = norms(reference.data);
    let q_norms_all = norms(queries.data);
    let max_norm = ref_norms.iter().copied().fold(0.0, f64::max);
    let err64 = (4 * dim + 16) as f64 * f64::EPSILON;
    // The f32 frame: rows centred at the reference mean.
    let low = if allow_f32 && n_ref > 0 {
        let mut mean = vec![0.0; dim];
        for row in reference.data.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        mean.iter_mut().for_each(|s| *s /= n_ref as f64);
        let (r, q) = (
            centred_f32(reference.data, &mean),
            centred_f32(queries.data, &mean),
        );
        let big = |l: &Low| l.norms.iter().any(|&v| v.is_nan() || v > LOW_MAX_NORM);
        (!big(&r) && !big(&q)).then_some((r, q))
    } else {
        None
    };
    let low_max = low
        .as_ref()
        .map_or(0.0, |(r, _)| r.norms.iter().copied().fold(0.0, f64::max));
    // (d + 5) u doubled (u = ε₃₂ / 2), with the margin `knn::exact` uses.
    let err32 = (dim + 8) as f64 * f64::from(f32::EPSILON);
    let slack = if low.is_some() {
        SEARCH_SLACK_F32
    } else {
        SEARCH_SLACK
    };
    let cap = (k + slack).min(n_ref);
    let lists = par::map_chunks(nq.div_ceil(SEARCH_QUERIES), monitor, |c| {
        let rows = c * SEARCH_QUERIES..((c + 1) * SEARCH_QUERIES).min(nq);
        let qb = rows.len();
        let q_data = &queries.data[rows.start * dim..rows.end * dim];
        let q_norms = &q_norms_all[rows.clone()];
        let mut cands: Vec<Candidates> = (0..qb).map(|_| Candidates::new(cap)).collect();
        let tile_len = SEARCH_ROWS.min(n_ref);
        let mut g = vec![0.0; tile_len * qb];
        let mut g32 = vec![0.0f32; if low.is_some() { tile_len * qb } else { 0 }];
        for tile in par::chunk_ranges(n_ref, SEARCH_ROWS) {
            if monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            let len = tile.len();
            let g = &mut g[..len * qb];
            let (qn_s, yn): (&[f64], &[f64]) = match &low {
                Some((r, q)) => {
                    let g32 = &mut g32[..len * qb];
                    matmul(
                        MatMut::from_column_major_slice_mut(g32, len, qb),
                        Accum::Replace,
                        MatRef::from_row_major_slice(
                            &r.data[tile.start * dim..tile.end * dim],
                            len,
                            dim,
                        ),
                        MatRef::from_row_major_slice(
                            &q.data[rows.start * dim..rows.end * dim],
                            qb,
                            dim,
                        )
                        .transpose(),
                        1.0,
                        Par::Seq,
                    );
                    g.iter_mut()
                        .zip(g32.iter())
                        .for_each(|(d, &s)| *d = f64::from(s));
                    (&q.norms[rows.clone()], &r.norms[tile.clone()])
                }
                None => {
                    gemm(
                        MatMut::from_column_major_slice_mut(g, len, qb),
                        MatRef::from_row_major_slice(
                            &reference.data[tile.start * dim..tile.end * dim],
                            len,
                            dim,
                        ),
                        MatRef::from_row_major_slice(q_data, qb, dim).transpose(),
                    );
                    (q_norms, &ref_norms[tile.clone()])
                }
            };
            for (r, col) in g.chunks_exact_mut(len).enumerate() {
                let qn = qn_s[r];
                col.iter_mut()
                    .zip(yn)
                    .for_each(|(v, &y)| *v = qn + y - 2.0 * *v);
                cands[r].scan(col, tile.start);
            }
        }
        let mut idx = Vec::with_capacity(qb * k);
        let mut dst = Vec::with_capacity(qb * k);
        for (r, mut cand) in cands.into_iter().enumerate() {
            cand.compact();
            let q_row = &q_data[r * dim..(r + 1) * dim];
            let mut exact: Vec<(f64, usize)> = cand
                .items
                .iter()
                .map(|&(_, j)| (sqdist(q_row, reference.row(j as usize)), j as usize))
                .collect();
            exact.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            let mut margin = err64 * (q_norms[r] + max_norm);
            if let Some((_, q)) = &low {
                margin += err32 * (q.norms[rows.start + r] + low_max) + LOW_ERR_ABS * dim as f64;
            }
            if cap < n_ref && cand.thr - margin <= exact[k - 1].0 {
                exact = (0..n_ref)
                    .map(|j| (sqdist(q_row, reference.row(j)), j))
                    .collect();
                exact.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            }
            for &(d, j) in &exact[..k] {
                idx.push(j);
                dst.push(d);
            }
        }
        Ok((idx, dst))
    })?;
    let (mut indices, mut sqdist_out) = (Vec::with_capacity(nq * k), Vec::with_capacity(nq * k));
    for (i, d) in lists {
        indices.extend(i);
        sqdist_out.extend(d);
    }
    Ok(Neighbors {
        k,
        indices,
        sqdist: sqdist_out,
    })
}

/// The exact `k_max` neighbours of every query among `reference`, after a memory check.
fn neighbours(
    reference: Points,
    queries: Points,
    k_max: usize,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    crate::mem::ensure_fits(
        "k",
        queries.len() as u128 * k_max as u128,
        16,
        "pass fewer queries at a time or a smaller k",
    )?;
    if reference.len() > u32::MAX as usize {
        return Err(Error::shape(
            "features",
            "has more than 2³² training rows; pass fewer",
        ));
    }
    blocked_neighbours(reference, queries, k_max, monitor)
}

/// Uniform kNN regression: for each query row and target column `t`, the mean of the
/// targets of its `ks[t]` nearest reference rows (neighbours sorted by (squared distance,
/// index), summed in that order). `targets` is row-major `n_ref × ks.len()`; returns
/// row-major `n_queries × ks.len()`.
pub fn knn_predict(
    reference: Points,
    targets: &[f64],
    queries: Points,
    ks: &[usize],
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    let n_targets = ks.len();
    check_targets(targets, reference.len(), n_targets)?;
    let k_max = check_ks("k", ks, reference.len())?;
    let nb = neighbours(reference, queries, k_max, monitor)?;
    // For neighbour position j, the columns whose k ends there.
    let mut ends: Vec<Vec<usize>> = vec![Vec::new(); k_max];
    for (t, &k) in ks.iter().enumerate() {
        ends[k - 1].push(t);
    }
    let nq = queries.len();
    let parts = par::map_chunks(nq.div_ceil(QUERY_CHUNK), monitor, |c| {
        let rows = c * QUERY_CHUNK..((c + 1) * QUERY_CHUNK).min(nq);
        let mut out = vec![0.0; rows.len() * n_targets];
        let mut acc = vec![0.0; n_targets];
        for (r, q) in rows.enumerate() {
            acc.iter_mut().for_each(|a| *a = 0.0);
            let ids = &nb.indices[q * k_max..(q + 1) * k_max];
            for (j, &id) in ids.iter().enumerate() {
                let y = &targets[id * n_targets..(id + 1) * n_targets];
                acc.iter_mut().zip(y).for_each(|(a, v)| *a += v);
                for &t in &ends[j] {
                    out[r * n_targets + t] = acc[t] / (j + 1) as f64;
                }
            }
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

/// Cross-validated squared errors of uniform kNN regression for every `k` in `ks`: `folds[i]`
/// is the fold of row `i` (below `n_folds`); each fold's rows are predicted from the other
/// folds' rows with one exact search up to the largest `k`. Returns row-major
/// `n_folds × ks.len() × n_targets` sums of squared errors (summed over the fold's rows in
/// row order), from which the caller forms R² or any other score.
pub fn knn_cv_errors(
    points: Points,
    targets: &[f64],
    n_targets: usize,
    folds: &[usize],
    n_folds: usize,
    ks: &[usize],
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    let n = points.len();
    check_targets(targets, n, n_targets)?;
    if folds.len() != n {
        return Err(Error::shape(
            "folds",
            "must have one entry per training row",
        ));
    }
    if n_folds < 2 || folds.iter().any(|&f| f >= n_folds) {
        return Err(Error::invalid(
            "cv",
            "needs at least 2 folds and a fold below n_folds for every row",
        ));
    }
    let dim = points.dim;
    let n_k = ks.len();
    let mut out = vec![0.0; n_folds * n_k * n_targets];
    for f in 0..n_folds {
        let (inside, outside): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| folds[i] == f);
        if inside.is_empty() {
            continue;
        }
        let k_max = check_ks("k_grid", ks, outside.len())?;
        let gather = |rows: &[usize]| -> Vec<f64> {
            rows.iter()
                .flat_map(|&i| points.row(i).iter().copied())
                .collect()
        };
        let (ref_data, q_data) = (gather(&outside), gather(&inside));
        let reference = Points::new(&ref_data, dim)?;
        let queries = Points::new(&q_data, dim)?;
        let nb = neighbours(reference, queries, k_max, monitor)?;
        // Position of each k in the neighbour list, sorted for the cumulative scan.
        let nq = inside.len();
        let parts = par::map_chunks(nq.div_ceil(QUERY_CHUNK), monitor, |c| {
            let rows = c * QUERY_CHUNK..((c + 1) * QUERY_CHUNK).min(nq);
            let mut sse = vec![0.0; n_k * n_targets];
            let mut acc = vec![0.0; n_targets];
            for q in rows {
                acc.iter_mut().for_each(|a| *a = 0.0);
                let truth = &targets[inside[q] * n_targets..(inside[q] + 1) * n_targets];
                let ids = &nb.indices[q * k_max..(q + 1) * k_max];
                for (j, &id) in ids.iter().enumerate() {
                    let y = &targets[outside[id] * n_targets..(outside[id] + 1) * n_targets];
                    acc.iter_mut().zip(y).for_each(|(a, v)| *a += v);
                    for (ki, &k) in ks.iter().enumerate() {
                        if k == j + 1 {
                            let row = &mut sse[ki * n_targets..(ki + 1) * n_targets];
                            for ((s, a), t) in row.iter_mut().zip(&acc).zip(truth) {
                                let e = t - a / k as f64;
                                *s += e * e;
                            }
                        }
                    }
                }
            }
            Ok(sse)
        })?;
        let block = &mut out[f * n_k * n_targets..(f + 1) * n_k * n_targets];
        for part in parts {
            block.iter_mut().zip(part).for_each(|(o, p)| *o += p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::exact_query;
    use crate::par::Silent;
    use crate::rng::Rng;

    fn brute_mean(
        reference: &[f64],
        targets: &[f64],
        t: usize,
        q: &[f64],
        dim: usize,
        k: usize,
    ) -> Vec<f64> {
        let n = reference.len() / dim;
        let mut all: Vec<(f64, usize)> = (0..n)
            .map(|j| (sqdist(q, &reference[j * dim..(j + 1) * dim]), j))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut acc = vec![0.0; t];
        for &(_, j) in &all[..k] {
            for c in 0..t {
                acc[c] += targets[j * t + c];
            }
        }
        acc.iter().map(|a| a / k as f64).collect()
    }

    #[test]
    fn predict_matches_brute_force_with_ties() {
        let (n, dim, t) = (400, 3, 2);
        let mut rng = Rng::new(3);
        // Coordinates on a coarse lattice: many exact distance ties, decided by index.
        let data: Vec<f64> = (0..n * dim).map(|_| rng.below(4) as f64).collect();
        let targets: Vec<f64> = (0..n * t).map(|_| rng.next_f64()).collect();
        let qd: Vec<f64> = (0..50 * dim).map(|_| rng.below(4) as f64 + 0.5).collect();
        let p = Points::new(&data, dim).unwrap();
        let q = Points::new(&qd, dim).unwrap();
        let got = knn_predict(p, &targets, q, &[5, 17], &Silent).unwrap();
        for i in 0..50 {
            let qr = &qd[i * dim..(i + 1) * dim];
            assert_eq!(got[i * 2], brute_mean(&data, &targets, t, qr, dim, 5)[0]);
            assert_eq!(
                got[i * 2 + 1],
                brute_mean(&data, &targets, t, qr, dim, 17)[1]
            );
        }
    }

    #[test]
    fn cv_errors_match_per_fold_predictions() {
        let (n, dim, t) = (300, 4, 3);
        let mut rng = Rng::new(5);
        let data: Vec<f64> = (0..n * dim).map(|_| rng.normal()).collect();
        let targets: Vec<f64> = (0..n * t).map(|_| rng.next_f64()).collect();
        let folds: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let ks = [1, 4, 9];
        let p = Points::new(&data, dim).unwrap();
        let sse = knn_cv_errors(p, &targets, t, &folds, 3, &ks, &Silent).unwrap();
        for f in 0..3 {
            let out: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
            let inn: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
            let rd: Vec<f64> = out.iter().flat_map(|&i| p.row(i).to_vec()).collect();
            let rt: Vec<f64> = out
                .iter()
                .flat_map(|&i| targets[i * t..(i + 1) * t].to_vec())
                .collect();
            for (ki, &k) in ks.iter().enumerate() {
                let mut want = vec![0.0; t];
                for &i in &inn {
                    let pred = brute_mean(&rd, &rt, t, p.row(i), dim, k);
                    for c in 0..t {
                        want[c] += (targets[i * t + c] - pred[c]).powi(2);
                    }
                }
                for c in 0..t {
                    let got = sse[(f * ks.len() + ki) * t + c];
                    assert!(
                        (got - want[c]).abs() <= 1e-12 * want[c].max(1.0),
                        "{got} {}",
                        want[c]
                    );
                }
            }
        }
    }

    #[test]
    fn blocked_search_equals_the_exact_index_search() {
        let mut rng = Rng::new(11);
        // Several tiles, clustered rows, and a lattice with exact ties at the k-th place.
        for (n, dim, lattice) in [(5000, 16, false), (3000, 3, true), (2500, 40, false)] {
            let draw = |rng: &mut Rng, m: usize| -> Vec<f64> {
                (0..m * dim)
                    .map(|_| {
                        if lattice {
                            rng.below(5) as f64
                        } else {
                            rng.normal() + 4.0 * rng.below(3) as f64
                        }
                    })
                    .collect()
            };
            let data = draw(&mut rng, n);
            let qd = draw(&mut rng, 300);
            let (p, q) = (
                Points::new(&data, dim).unwrap(),
                Points::new(&qd, dim).unwrap(),
            );
            for k in [1, 37, 520] {
                let want = exact_query(p, q, k, &Silent).unwrap();
                for allow_f32 in [true, false] {
                    let got = blocked_search(p, q, k, allow_f32, &Silent).unwrap();
                    assert_eq!(got.indices, want.indices, "n={n} k={k} f32={allow_f32}");
                    assert_eq!(got.sqdist, want.sqdist);
                }
            }
        }
    }

    #[test]
    fn bad_k_is_an_error() {
        let data = vec![0.0, 1.0, 2.0];
        let p = Points::new(&data, 1).unwrap();
        assert!(knn_predict(p, &[1.0, 2.0, 3.0], p, &[4], &Silent).is_err());
        assert!(knn_predict(p, &[1.0, 2.0, 3.0], p, &[0], &Silent).is_err());
        assert!(knn_predict(p, &[1.0, 2.0], p, &[1], &Silent).is_err());
    }
}
