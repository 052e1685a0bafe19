//! Weighted k-means: greedy k-means++ seeding, Lloyd iterations and seeded restarts.
//!
//! Used to cluster benchmark items (by their correctness over training models, or by IRT item
//! embeddings) and take one representative "anchor" item per cluster, as tinyBenchmarks does
//! with scikit-learn's `KMeans`. The algorithm follows scikit-learn's: greedy k-means++ with
//! `2 + ln k` candidates per step (sampled proportionally to weight x squared distance), Lloyd
//! iterations until the labels stop changing or the total squared centre shift falls below
//! `tol` times the mean per-feature variance, empty clusters relocated to far points, and the
//! restart of lowest inertia kept.
//!
//! Determinism: the work is split into fixed-size chunks of points and every reduction is
//! folded in chunk (or point) order, restart `r` draws from `Rng::stream(seed, r)`, so the
//! result is bit-identical for every thread count.

use rayon::prelude::*;

use crate::error::{Error, Result, ensure_finite};
use crate::par::{self, Monitor};
use crate::rng::Rng;

/// Points per parallel work unit.
const CHUNK: usize = 128;
/// Below this many flops a step runs on the calling thread (same chunks, same result): the
/// pool's wake-up costs more than the work.
const PARALLEL_WORK: usize = 1 << 20;

/// Options of [`kmeans`].
#[derive(Clone, Debug)]
pub struct KMeansOptions {
    /// Number of clusters (1 <= k <= number of points).
    pub k: usize,
    /// Independent restarts; the one of lowest inertia is kept.
    pub n_init: usize,
    /// Maximum Lloyd iterations per restart.
    pub max_iter: usize,
    /// Relative tolerance on the total squared centre shift (scikit-learn's `tol`).
    pub tol: f64,
    /// Seed of the random streams (restart r uses stream r).
    pub seed: u64,
    /// Candidates per greedy k-means++ step; 0 means `2 + floor(ln k)` as in scikit-learn.
    pub n_local_trials: usize,
}

/// A fitted clustering.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansFit {
    /// Cluster centres, row-major `k x d`.
    pub centers: Vec<f64>,
    /// Cluster of each point.
    pub labels: Vec<usize>,
    /// Sum over points of weight x squared distance to its centre.
    pub inertia: f64,
    /// Lloyd iterations run by the kept restart.
    pub n_iter: usize,
    /// Index of the kept restart.
    pub restart: usize,
}

/// One representative point per cluster and the cluster's share of the total weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Anchors {
    /// For each cluster, the member point nearest to its centre (ties: lowest index).
    pub index: Vec<usize>,
    /// For each cluster, the sum of its members' weights over the total weight.
    pub weight: Vec<f64>,
}

/// Row-major points with weights, validated once.
struct Points<'a> {
    x: &'a [f64],
    d: usize,
    w: Vec<f64>,
    /// Squared norm of each point.
    norms: Vec<f64>,
}

impl Points<'_> {
    fn n(&self) -> usize {
        self.w.len()
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
}

/// Dot product with eight independent accumulators (vectorisable, order fixed).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Squared Euclidean distance from the expansion |x|^2 + |c|^2 - 2 x.c, clamped at 0.
#[inline]
fn sq_dist(x: &[f64], x_norm: f64, c: &[f64], c_norm: f64) -> f64 {
    (x_norm + c_norm - 2.0 * dot(x, c)).max(0.0)
}

fn validate<'a>(
    x: &'a [f64],
    n: usize,
    d: usize,
    weights: Option<&[f64]>,
    opts: &KMeansOptions,
) -> Result<Points<'a>> {
    if n == 0 || d == 0 {
        return Err(Error::shape(
            "x",
            format!("has shape ({n}, {d}); pass at least one point with one feature"),
        ));
    }
    if x.len() != n * d {
        return Err(Error::shape(
            "x",
            format!("has {} values, expected n * d = {}", x.len(), n * d),
        ));
    }
    ensure_finite("x", x)?;
    let w = match weights {
        None => vec![1.0; n],
        Some(w) => {
            if w.len() != n {
                return Err(Error::shape(
                    "sample_weight",
                    format!(
                        "has {} values for {n} points; pass one weight per point",
                        w.len()
                    ),
                ));
            }
            ensure_finite("sample_weight", w)?;
            if w.iter().any(|&v| v < 0.0) {
                return Err(Error::invalid(
                    "sample_weight",
                    "has negative entries; use weights >= 0",
                ));
            }
            w.to_vec()
        }
    };
    let positive = w.iter().filter(|&&v| v > 0.0).count();
    if opts.k == 0 || opts.k > n {
        return Err(Error::invalid(
            "k",
            format!(
                "must be between 1 and the number of points ({n}), got {}",
                opts.k
            ),
        ));
    }
    if positive == 0 {
        return Err(Error::invalid(
            "sample_weight",
            "all weights are zero; at least one must be positive",
        ));
    }
    if opts.n_init == 0 || opts.max_iter == 0 {
        return Err(Error::invalid(
            "n_init, max_iter",
            "must both be at least 1",
        ));
    }
    if !(opts.tol >= 0.0 && opts.tol.is_finite()) {
        return Err(Error::invalid(
            "tol",
            format!("must be finite and >= 0, got {}", opts.tol),
        ));
    }
    let norms = (0..n).map(|i| {
        let r = &x[i * d..(i + 1) * d];
        dot(r, r)
    });
    Ok(Points {
        x,
        d,
        w,
        norms: norms.collect(),
    })
}

/// Parallel map over fixed-size chunks of points in the calipers pool, results in chunk
/// order. Each parallel step enters the pool separately so that the monitor is always
/// ticked from the calling thread (where Python can deliver Ctrl-C).
fn over_chunks<T: Send>(
    n: usize,
    work: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync + Send,
) -> Result<Vec<T>> {
    let ranges: Vec<_> = par::chunk_ranges(n, CHUNK).collect();
    if work < PARALLEL_WORK {
        return Ok(ranges.into_iter().map(f).collect());
    }
    par::install(|| ranges.into_par_iter().map(f).collect())
}

/// Nearest centre and squared distance of every point. Ties go to the point's previous
/// centre when it is among the nearest (so points moved into empty clusters stay there and
/// duplicate points cannot make the iteration cycle), else to the lowest index.
fn assign(
    p: &Points<'_>,
    centers: &[f64],
    k: usize,
    previous: Option<&[usize]>,
) -> Result<(Vec<usize>, Vec<f64>)> {
    let d = p.d;
    let c_norms: Vec<f64> = centers.chunks(d).map(|c| dot(c, c)).collect();
    let parts = over_chunks(p.n(), p.n() * k * d, |range| {
        let mut labels = Vec::with_capacity(range.len());
        let mut dists = Vec::with_capacity(range.len());
        for i in range {
            let (row, norm) = (p.row(i), p.norms[i]);
            let (mut best, mut best_d) = (0, f64::INFINITY);
            for c in 0..k {
                let dist = sq_dist(row, norm, &centers[c * d..(c + 1) * d], c_norms[c]);
                if dist < best_d {
                    best_d = dist;
                    best = c;
                }
            }
            if let Some(prev) = previous {
                let c = prev[i];
                if c != best
                    && sq_dist(row, norm, &centers[c * d..(c + 1) * d], c_norms[c]) <= best_d
                {
                    best = c;
                }
            }
            labels.push(best);
            dists.push(best_d);
        }
        (labels, dists)
    })?;
    let mut labels = Vec::with_capacity(p.n());
    let mut dists = Vec::with_capacity(p.n());
    for (l, dd) in parts {
        labels.extend(l);
        dists.extend(dd);
    }
    Ok((labels, dists))
}

/// Members of each cluster, in increasing point index.
fn members(labels: &[usize], k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); k];
    for (i, &l) in labels.iter().enumerate() {
        out[l].push(i);
    }
    out
}

/// Moves points into empty clusters: each empty cluster takes the point farthest from its
/// centre among clusters with at least two members (ties: lowest index). Always succeeds
/// because k <= n.
fn fill_empty(labels: &mut [usize], dists: &mut [f64], k: usize) -> Vec<usize> {
    let mut sizes = vec![0usize; k];
    for &l in labels.iter() {
        sizes[l] += 1;
    }
    let empty: Vec<usize> = (0..k).filter(|&c| sizes[c] == 0).collect();
    if empty.is_empty() {
        return empty;
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| dists[b].total_cmp(&dists[a]).then(a.cmp(&b)));
    let mut next = order.into_iter();
    for &c in &empty {
        for i in next.by_ref() {
            if sizes[labels[i]] >= 2 {
                sizes[labels[i]] -= 1;
                labels[i] = c;
                sizes[c] = 1;
                dists[i] = 0.0;
                break;
            }
        }
    }
    empty
}

/// Weighted means of the clusters (unweighted where a cluster's weights sum to zero).
fn update(p: &Points<'_>, labels: &[usize], k: usize) -> Result<Vec<f64>> {
    let d = p.d;
    let groups = members(labels, k);
    let mean_of = |idx: Vec<usize>| {
        let mut sum = vec![0.0; d];
        let total: f64 = idx.iter().map(|&i| p.w[i]).sum();
        let use_w = total > 0.0;
        for &i in &idx {
            let wi = if use_w { p.w[i] } else { 1.0 };
            for (s, &v) in sum.iter_mut().zip(p.row(i)) {
                *s += wi * v;
            }
        }
        let denom = if use_w {
            total
        } else {
            idx.len().max(1) as f64
        };
        sum.iter_mut().for_each(|s| *s /= denom);
        sum
    };
    let rows: Vec<Vec<f64>> = if p.n() * d < PARALLEL_WORK {
        groups.into_iter().map(mean_of).collect()
    } else {
        par::install(|| groups.into_par_iter().map(mean_of).collect())?
    };
    Ok(rows.concat())
}

/// Index of the first point whose cumulative weight exceeds `target` (clipped to n - 1).
fn search_cumulative(cum: &[f64], target: f64) -> usize {
    cum.partition_point(|&c| c <= target).min(cum.len() - 1)
}

/// Greedy k-means++ seeding (scikit-learn's variant), weighted.
fn kmeans_plusplus(p: &Points<'_>, k: usize, trials: usize, rng: &mut Rng) -> Result<Vec<f64>> {
    let (n, d) = (p.n(), p.d);
    let mut centers = Vec::with_capacity(k * d);
    let cum_w: Vec<f64> =
        p.w.iter()
            .scan(0.0, |s, &w| {
                *s += w;
                Some(*s)
            })
            .collect();
    let first = search_cumulative(&cum_w, rng.next_f64() * cum_w[n - 1]);
    centers.extend_from_slice(p.row(first));
    let dist_to = |c: usize| -> Result<Vec<f64>> {
        let (row, norm) = (p.row(c), p.norms[c]);
        let parts = over_chunks(n, n * d, |r| {
            r.map(|i| sq_dist(p.row(i), p.norms[i], row, norm))
                .collect::<Vec<_>>()
        })?;
        Ok(parts.concat())
    };
    let mut closest = dist_to(first)?;
    for _ in 1..k {
        let weighted: Vec<f64> = closest
            .iter()
            .zip(&p.w)
            .scan(0.0, |s, (&c, &w)| {
                *s += c * w;
                Some(*s)
            })
            .collect();
        let pot = weighted[n - 1];
        let candidates: Vec<usize> = (0..trials)
            .map(|_| {
                if pot > 0.0 {
                    search_cumulative(&weighted, rng.next_f64() * pot)
                } else {
                    // every point sits on a centre: draw by weight alone
                    search_cumulative(&cum_w, rng.next_f64() * cum_w[n - 1])
                }
            })
            .collect();
        // One pass over the points scores every candidate: distances (point-major) and the
        // potential each candidate would leave, summed chunk by chunk in order.
        let closest_ref = &closest;
        let parts = over_chunks(n, n * d * trials, |r| {
            let mut dists = Vec::with_capacity(r.len() * trials);
            let mut pots = vec![0.0; trials];
            for i in r {
                let (row, norm) = (p.row(i), p.norms[i]);
                for (t, &c) in candidates.iter().enumerate() {
                    let dist = sq_dist(row, norm, p.row(c), p.norms[c]);
                    pots[t] += p.w[i] * dist.min(closest_ref[i]);
                    dists.push(dist);
                }
            }
            (dists, pots)
        })?;
        let mut pots = vec![0.0; trials];
        for (_, part) in &parts {
            pots.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        let best = (0..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
        centers.extend_from_slice(p.row(candidates[best]));
        let mut i = 0;
        for (dists, _) in &parts {
            for chunk in dists.chunks(trials) {
                closest[i] = closest[i].min(chunk[best]);
                i += 1;
            }
        }
    }
    Ok(centers)
}

/// Mean over features of the (unweighted) variance, which scales `tol` as in scikit-learn.
fn mean_variance(p: &Points<'_>) -> f64 {
    let (n, d) = (p.n(), p.d);
    let mut mean = vec![0.0; d];
    for i in 0..n {
        mean.iter_mut().zip(p.row(i)).for_each(|(m, &v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0; d];
    for i in 0..n {
        var.iter_mut()
            .zip(p.row(i))
            .zip(&mean)
            .for_each(|((s, &v), &m)| *s += (v - m) * (v - m));
    }
    var.iter().sum::<f64>() / (n as f64 * d as f64)
}

/// One restart: seeding then Lloyd iterations.
fn lloyd(
    p: &Points<'_>,
    opts: &KMeansOptions,
    restart: usize,
    tol_abs: f64,
    monitor: &dyn Monitor,
) -> Result<KMeansFit> {
    let k = opts.k;
    let trials = if opts.n_local_trials == 0 {
        2 + (k as f64).ln().floor() as usize
    } else {
        opts.n_local_trials
    };
    let mut rng = Rng::stream(opts.seed, restart as u64);
    let mut centers = kmeans_plusplus(p, k, trials, &mut rng)?;
    let mut previous: Option<Vec<usize>> = None;
    let mut n_iter = 0;
    let (mut labels, mut dists);
    loop {
        (labels, dists) = assign(p, &centers, k, previous.as_deref())?;
        let relocated = fill_empty(&mut labels, &mut dists, k);
        if n_iter == opts.max_iter || (relocated.is_empty() && previous.as_ref() == Some(&labels)) {
            break;
        }
        monitor.tick(restart, opts.n_init)?;
        let new_centers = update(p, &labels, k)?;
        let shift: f64 = new_centers
            .iter()
            .zip(&centers)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        centers = new_centers;
        n_iter += 1;
        previous = Some(labels);
        if shift <= tol_abs {
            let last = previous.take();
            (labels, dists) = assign(p, &centers, k, last.as_deref())?;
            fill_empty(&mut labels, &mut dists, k);
            break;
        }
    }
    let inertia = dists.iter().zip(&p.w).map(|(d, w)| d * w).sum();
    Ok(KMeansFit {
        centers,
        labels,
        inertia,
        n_iter,
        restart,
    })
}

/// Weighted k-means of the `n x d` row-major points `x`, keeping the best of `n_init`
/// restarts. Every cluster of the result is non-empty.
pub fn kmeans(
    x: &[f64],
    n: usize,
    d: usize,
    weights: Option<&[f64]>,
    opts: &KMeansOptions,
    monitor: &dyn Monitor,
) -> Result<KMeansFit> {
    let p = validate(x, n, d, weights, opts)?;
    let tol_abs = opts.tol * mean_variance(&p);
    let mut best: Option<KMeansFit> = None;
    for restart in 0..opts.n_init {
        let fit = lloyd(&p, opts, restart, tol_abs, monitor)?;
        monitor.tick(restart + 1, opts.n_init)?;
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    best.ok_or_else(|| Error::Numerical("k-means produced no restart".into()))
}

/// The anchor of each cluster (its member nearest to the centre) and the cluster's share of
/// the total weight.
pub fn anchors(
    x: &[f64],
    n: usize,
    d: usize,
    weights: Option<&[f64]>,
    fit: &KMeansFit,
) -> Result<Anchors> {
    let k = fit.centers.len() / d.max(1);
    let opts = KMeansOptions {
        k,
        n_init: 1,
        max_iter: 1,
        tol: 0.0,
        seed: 0,
        n_local_trials: 0,
    };
    let p = validate(x, n, d, weights, &opts)?;
    if fit.labels.len() != n || fit.labels.iter().any(|&l| l >= k) {
        return Err(Error::shape("labels", format!("need {n} labels in 0..{k}")));
    }
    let total: f64 = p.w.iter().sum();
    let mut index = Vec::with_capacity(k);
    let mut weight = Vec::with_capacity(k);
    for (c, idx) in members(&fit.labels, k).into_iter().enumerate() {
        let center = &fit.centers[c * d..(c + 1) * d];
        let c_norm = dot(center, center);
        let nearest = idx.iter().copied().min_by(|&a, &b| {
            let da = sq_dist(p.row(a), p.norms[a], center, c_norm);
            let db = sq_dist(p.row(b), p.norms[b], center, c_norm);
            da.total_cmp(&db).then(a.cmp(&b))
        });
        let Some(nearest) = nearest else {
            return Err(Error::invalid(
                "labels",
                format!("cluster {c} has no members"),
            ));
        };
        index.push(nearest);
        weight.push(idx.iter().map(|&i| p.w[i]).sum::<f64>() / total);
    }
    Ok(Anchors { index, weight })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;
    use proptest::prelude::{ProptestConfig, prop_assert, prop_assert_eq, proptest};

    fn opts(k: usize, seed: u64) -> KMeansOptions {
        KMeansOptions {
            k,
            n_init: 3,
            max_iter: 300,
            tol: 1e-4,
            seed,
            n_local_trials: 0,
        }
    }

    /// Points around `centers` with small noise, cluster by cluster.
    fn blobs(centers: &[[f64; 2]], per: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        let mut x = Vec::new();
        for c in centers {
            for _ in 0..per {
                x.push(c[0] + 0.05 * rng.normal());
                x.push(c[1] + 0.05 * rng.normal());
            }
        }
        x
    }

    fn brute_sq_dist(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    #[test]
    fn separated_blobs_are_recovered() {
        let centers = [[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0], [5.0, -5.0]];
        let x = blobs(&centers, 25, 1);
        let fit = kmeans(&x, 100, 2, None, &opts(4, 7), &Silent).unwrap();
        for blob in 0..4 {
            let l = fit.labels[blob * 25];
            assert!(
                fit.labels[blob * 25..(blob + 1) * 25]
                    .iter()
                    .all(|&m| m == l)
            );
        }
        let mut distinct = fit.labels.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
        let a = anchors(&x, 100, 2, None, &fit).unwrap();
        assert!(a.weight.iter().all(|&w| (w - 0.25).abs() < 1e-12));
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn result_is_a_lloyd_fixed_point() {
        let mut rng = Rng::new(3);
        let (n, d, k) = (300, 5, 7);
        let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
        let w: Vec<f64> = (0..n).map(|_| 0.5 + rng.next_f64()).collect();
        let mut o = opts(k, 11);
        o.tol = 0.0;
        let fit = kmeans(&x, n, d, Some(&w), &o, &Silent).unwrap();
        // labels are the brute-force nearest centres
        for i in 0..n {
            let row = &x[i * d..(i + 1) * d];
            let dists: Vec<f64> = (0..k)
                .map(|c| brute_sq_dist(row, &fit.centers[c * d..(c + 1) * d]))
                .collect();
            let best = dists.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(dists[fit.labels[i]] <= best + 1e-9);
        }
        // centres are the weighted means of their members
        for c in 0..k {
            let (mut sum, mut tot) = (vec![0.0; d], 0.0);
            for i in (0..n).filter(|&i| fit.labels[i] == c) {
                tot += w[i];
                for j in 0..d {
                    sum[j] += w[i] * x[i * d + j];
                }
            }
            for j in 0..d {
                assert!((sum[j] / tot - fit.centers[c * d + j]).abs() < 1e-9);
            }
        }
        let inertia: f64 = (0..n)
            .map(|i| {
                let c = fit.labels[i];
                w[i] * brute_sq_dist(&x[i * d..(i + 1) * d], &fit.centers[c * d..(c + 1) * d])
            })
            .sum();
        assert!((inertia - fit.inertia).abs() < 1e-8 * inertia.max(1.0));
    }

    #[test]
    fn more_clusters_than_distinct_points_still_fills_every_cluster() {
        // 40 points but only 3 distinct values, 10 clusters
        let x: Vec<f64> = (0..40).map(|i| (i % 3) as f64).collect();
        let fit = kmeans(&x, 40, 1, None, &opts(10, 1), &Silent).unwrap();
        let a = anchors(&x, 40, 1, None, &fit).unwrap();
        let mut idx = a.index.clone();
        idx.sort_unstable();
        idx.dedup();
        assert_eq!(idx.len(), 10);
        assert!((a.weight.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(fit.inertia.abs() < 1e-12);
    }

    #[test]
    fn same_seed_same_result_and_restarts_differ() {
        let mut rng = Rng::new(5);
        let x: Vec<f64> = (0..500 * 3).map(|_| rng.next_f64()).collect();
        let a = kmeans(&x, 500, 3, None, &opts(12, 9), &Silent).unwrap();
        let b = kmeans(&x, 500, 3, None, &opts(12, 9), &Silent).unwrap();
        assert_eq!(a, b);
        let c = kmeans(&x, 500, 3, None, &opts(12, 10), &Silent).unwrap();
        assert_ne!(a.centers, c.centers);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let x = [0.0, 1.0, 2.0];
        assert!(matches!(
            kmeans(&x, 3, 1, None, &opts(4, 0), &Silent),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            kmeans(&x, 3, 1, None, &opts(0, 0), &Silent),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            kmeans(&x, 2, 1, None, &opts(1, 0), &Silent),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            kmeans(&[0.0, f64::NAN], 2, 1, None, &opts(1, 0), &Silent),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            kmeans(&x, 3, 1, Some(&[1.0, -1.0, 1.0]), &opts(1, 0), &Silent),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            kmeans(&x, 3, 1, Some(&[0.0, 0.0, 0.0]), &opts(1, 0), &Silent),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            kmeans(&[], 0, 1, None, &opts(1, 0), &Silent),
            Err(Error::Shape { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn clusters_are_non_empty_and_weights_sum_to_one(
            n in 1usize..60, d in 1usize..5, k_frac in 0.0f64..1.0, seed in 0u64..1000,
            levels in 1u32..6,
        ) {
            let k = 1 + ((n - 1) as f64 * k_frac) as usize;
            let mut rng = Rng::new(seed);
            // few distinct levels make ties and duplicate points common
            let x: Vec<f64> = (0..n * d).map(|_| rng.below(levels as u64) as f64).collect();
            let w: Vec<f64> = (0..n).map(|_| rng.next_f64() + 0.01).collect();
            let fit = kmeans(&x, n, d, Some(&w), &opts(k, seed), &Silent).unwrap();
            prop_assert_eq!(fit.labels.len(), n);
            let a = anchors(&x, n, d, Some(&w), &fit).unwrap();
            let mut idx = a.index.clone();
            idx.sort_unstable();
            idx.dedup();
            prop_assert_eq!(idx.len(), k);
            for (c, &i) in a.index.iter().enumerate() {
                prop_assert_eq!(fit.labels[i], c);
            }
            prop_assert!((a.weight.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!(fit.inertia >= 0.0 && fit.inertia.is_finite());
        }
    }
}
