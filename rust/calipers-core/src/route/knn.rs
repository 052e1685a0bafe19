//! kNN regression of a target matrix (one column per model and quantity) through the exact
//! kNN core, and its cross-validation over a grid of `k` from one search per fold.

use super::search::neighbour_lists;
use crate::error::{Error, Result};
use crate::knn::Points;
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

/// The exact neighbour lists for the requested `ks` (any order, repeats allowed) after a
/// memory check: row-major `n_queries × k_max`, each requested prefix exactly its set.
fn neighbours(
    reference: Points,
    queries: Points,
    ks: &[usize],
    monitor: &dyn Monitor,
) -> Result<(Vec<u32>, usize)> {
    let mut wanted = ks.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let k_max = *wanted.last().unwrap_or(&0);
    crate::mem::ensure_fits(
        "k",
        queries.len() as u128 * k_max as u128,
        4,
        "pass fewer queries at a time or a smaller k",
    )?;
    Ok((
        neighbour_lists(reference, queries, &wanted, monitor)?,
        k_max,
    ))
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
    check_ks("k", ks, reference.len())?;
    let (lists, k_max) = neighbours(reference, queries, ks, monitor)?;
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
            let ids = &lists[q * k_max..(q + 1) * k_max];
            for (j, &id) in ids.iter().enumerate() {
                let id = id as usize;
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
        check_ks("k_grid", ks, outside.len())?;
        let gather = |rows: &[usize]| -> Vec<f64> {
            rows.iter()
                .flat_map(|&i| points.row(i).iter().copied())
                .collect()
        };
        let (ref_data, q_data) = (gather(&outside), gather(&inside));
        let reference = Points::new(&ref_data, dim)?;
        let queries = Points::new(&q_data, dim)?;
        let (lists, k_max) = neighbours(reference, queries, ks, monitor)?;
        // Position of each k in the neighbour list, sorted for the cumulative scan.
        let nq = inside.len();
        let parts = par::map_chunks(nq.div_ceil(QUERY_CHUNK), monitor, |c| {
            let rows = c * QUERY_CHUNK..((c + 1) * QUERY_CHUNK).min(nq);
            let mut sse = vec![0.0; n_k * n_targets];
            let mut acc = vec![0.0; n_targets];
            for q in rows {
                acc.iter_mut().for_each(|a| *a = 0.0);
                let truth = &targets[inside[q] * n_targets..(inside[q] + 1) * n_targets];
                let ids = &lists[q * k_max..(q + 1) * k_max];
                for (j, &id) in ids.iter().enumerate() {
                    let id = outside[id as usize];
                    let y = &targets[id * n_targets..(id + 1) * n_targets];
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
    use crate::knn::sqdist;
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
            // Same neighbour sets (ties by index); the sums may run in another order.
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-14;
            assert!(close(
                got[i * 2],
                brute_mean(&data, &targets, t, qr, dim, 5)[0]
            ));
            assert!(close(
                got[i * 2 + 1],
                brute_mean(&data, &targets, t, qr, dim, 17)[1]
            ));
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
    fn bad_k_is_an_error() {
        let data = vec![0.0, 1.0, 2.0];
        let p = Points::new(&data, 1).unwrap();
        assert!(knn_predict(p, &[1.0, 2.0, 3.0], p, &[4], &Silent).is_err());
        assert!(knn_predict(p, &[1.0, 2.0, 3.0], p, &[0], &Silent).is_err());
        assert!(knn_predict(p, &[1.0, 2.0], p, &[1], &Silent).is_err());
    }
}
