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
//! Speed: every Lloyd step is Hamerly's exact acceleration. Each point keeps an upper bound
//! on the distance to its own centre and a lower bound on the distance to every other centre,
//! both carried across iterations by the triangle inequality (the centres' shifts); a point
//! whose bounds prove that its centre is still strictly the nearest (with a margin covering
//! floating-point error) is skipped, and the others get all their distances from a
//! register-blocked kernel (4 points x 4 centres per pass over the features). Because a
//! skipped point would have kept its label in a plain Lloyd step, the iterations, labels,
//! centres and inertia are exactly those of plain Lloyd (tested bit for bit). Restarts run
//! in parallel; within a restart, large steps are split over points.
//!
//! Determinism: every squared distance is `|x|^2 + |c|^2 - 2 x.c` with the dot product summed
//! in feature order, whichever routine computes it, so a point-centre distance has the same
//! bits everywhere; the work is split into fixed-size chunks of points and every reduction is
//! folded in chunk (or point) order; restart `r` draws from `Rng::stream(seed, r)`. The result
//! is bit-identical for every thread count.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{Error, Result, ensure_finite};
use crate::knn::Points;
use crate::linalg::dot;
use crate::par::{self, Monitor};
use crate::rng::Rng;

/// Points per parallel work unit.
const CHUNK: usize = 128;
/// Below this many flops a step runs on the calling thread (same chunks, same result): the
/// pool's wake-up costs more than the work.
const PARALLEL_WORK: usize = 1 << 20;
/// Points per register block of the distance kernel.
const BP: usize = 8;
/// Centres per register block of the distance kernel (one AVX2 vector).
const BC: usize = 4;
/// Relative slack on the pruning bounds (they accumulate rounded centre shifts).
const BOUND_REL: f64 = 1e-10;

/// Options of [`kmeans`].
#[derive(Clone, Debug)]
pub struct KMeansOptions {
    /// Number of clusters (1 <= k <= number of points).
    pub k: usize,
    /// Independent restarts; the one of lowest inertia is kept.
    pub n_restarts: usize,
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
struct Weighted<'a> {
    pts: Points<'a>,
    w: Vec<f64>,
    /// Squared norm of each point.
    norms: Vec<f64>,
    /// Absolute error bound of a computed distance (not squared), for the pruning margin.
    slack: f64,
}

impl Weighted<'_> {
    fn n(&self) -> usize {
        self.w.len()
    }

    fn row(&self, i: usize) -> &[f64] {
        self.pts.row(i)
    }

    /// Squared distance from point `i` to centre `c` (same bits as [`dists_to_all`]).
    fn sq_dist(&self, i: usize, cen: &Centres, c: usize) -> f64 {
        sq_dist(self.row(i), self.norms[i], cen.row(c), cen.norms[c])
    }
}

/// Centres, also laid out for the distance kernel: blocks of `BC` centres interleaved by
/// feature (`blocks[(cb * d + j) * BC + lane]`), the last block padded with zeros.
struct Centres {
    k: usize,
    d: usize,
    rows: Vec<f64>,
    norms: Vec<f64>,
    blocks: Vec<f64>,
}

impl Centres {
    fn new(rows: Vec<f64>, d: usize) -> Self {
        let k = rows.len() / d;
        let norms = rows.chunks_exact(d).map(|r| dot(r, r)).collect();
        let mut blocks = vec![0.0; k.div_ceil(BC) * d * BC];
        for (c, row) in rows.chunks_exact(d).enumerate() {
            let (cb, lane) = (c / BC, c % BC);
            for (j, &v) in row.iter().enumerate() {
                blocks[(cb * d + j) * BC + lane] = v;
            }
        }
        Centres {
            k,
            d,
            rows,
            norms,
            blocks,
        }
    }

    fn row(&self, c: usize) -> &[f64] {
        &self.rows[c * self.d..(c + 1) * self.d]
    }
}

/// Squared Euclidean distance from the expansion |x|^2 + |c|^2 - 2 x.c, clamped at 0.
#[inline]
fn sq_dist(x: &[f64], x_norm: f64, c: &[f64], c_norm: f64) -> f64 {
    (x_norm + c_norm - 2.0 * dot(x, c)).max(0.0)
}

/// Squared distances of the points `idx` to every centre, point-major (`idx.len() x k`).
/// Register-blocked: each pass over the features serves `BP` points and `BC` centres; every
/// dot product is still summed in feature order, so the values equal [`sq_dist`]'s. Runs
/// with the widest SIMD instructions the CPU has: multiplies and adds stay separate (never
/// fused), so the bits do not depend on the instruction set.
fn dists_to_all(p: &Weighted<'_>, idx: &[usize], cen: &Centres) -> Vec<f64> {
    pulp::Arch::new().dispatch(AllDists {
        p,
        idx,
        cen,
        interleaved: None,
    })
}

/// [`dists_to_all`] for the consecutive points `range` (starting at a multiple of `BP`),
/// read from the points' interleaved copy (see [`interleave`]) instead of gathered.
fn dists_to_all_range(
    p: &Weighted<'_>,
    interleaved: &[f64],
    range: Range<usize>,
    cen: &Centres,
) -> Vec<f64> {
    let idx: Vec<usize> = range.collect();
    pulp::Arch::new().dispatch(AllDists {
        p,
        idx: &idx,
        cen,
        interleaved: Some(interleaved),
    })
}

/// The distance computation as a `pulp` operation, so that it is compiled for each
/// instruction set (a closure would not be inlined into the SIMD context).
struct AllDists<'a, 'x> {
    p: &'a Weighted<'x>,
    idx: &'a [usize],
    cen: &'a Centres,
    interleaved: Option<&'a [f64]>,
}

impl pulp::WithSimd for AllDists<'_, '_> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Vec<f64> {
        let AllDists {
            p,
            idx,
            cen,
            interleaved,
        } = self;
        let (d, k) = (p.pts.dim, cen.k);
        let mut out = vec![0.0; idx.len() * k];
        let mut xt = vec![0.0; d * BP];
        for (group, rows) in idx.chunks(BP).zip(out.chunks_mut(BP * k)) {
            let g = group[0] / BP;
            let points = match interleaved {
                Some(all) => &all[g * d * BP..(g + 1) * d * BP],
                None => {
                    xt.iter_mut().for_each(|v| *v = 0.0);
                    for (lane, &i) in group.iter().enumerate() {
                        for (j, &v) in p.row(i).iter().enumerate() {
                            xt[j * BP + lane] = v;
                        }
                    }
                    &xt
                }
            };
            group_dists(p, points, group, cen, rows);
        }
        out
    }
}

/// Points interleaved by feature in groups of `BP` (`out[(g * d + j) * BP + lane]`), the last
/// group padded with zeros: the layout [`block_dots`] reads.
fn interleave(p: &Weighted<'_>) -> Vec<f64> {
    let d = p.pts.dim;
    let mut out = vec![0.0; p.n().div_ceil(BP) * BP * d];
    for i in 0..p.n() {
        let (g, lane) = (i / BP, i % BP);
        for (j, &v) in p.row(i).iter().enumerate() {
            out[(g * d + j) * BP + lane] = v;
        }
    }
    out
}

/// Distances of one group of up to `BP` points (interleaved in `xt`) to every centre.
#[inline(always)]
fn group_dists(p: &Weighted<'_>, xt: &[f64], group: &[usize], cen: &Centres, out: &mut [f64]) {
    let k = cen.k;
    for (cb, block) in cen.blocks.chunks_exact(p.pts.dim * BC).enumerate() {
        let acc = block_dots(xt, block);
        for ((&i, row), a) in group.iter().zip(out.chunks_mut(k)).zip(&acc) {
            for (c, &v) in a.iter().enumerate() {
                if let Some(slot) = row.get_mut(cb * BC + c) {
                    *slot = (p.norms[i] + cen.norms[cb * BC + c] - 2.0 * v).max(0.0);
                }
            }
        }
    }
}

/// The `BP x BC` dot products of `BP` interleaved points with `BC` interleaved centres.
#[inline(always)]
fn block_dots(xt: &[f64], block: &[f64]) -> [[f64; BC]; BP] {
    let mut acc = [[0.0f64; BC]; BP];
    for (xs, cs) in xt.chunks_exact(BP).zip(block.chunks_exact(BC)) {
        let (Ok(xs), Ok(cs)) = (<&[f64; BP]>::try_from(xs), <&[f64; BC]>::try_from(cs)) else {
            continue; // unreachable: chunks_exact yields slices of these lengths
        };
        for (a, &x) in acc.iter_mut().zip(xs) {
            for (s, &c) in a.iter_mut().zip(cs) {
                *s += x * c;
            }
        }
    }
    acc
}

fn validate<'a>(
    x: &'a [f64],
    n: usize,
    d: usize,
    weights: Option<&[f64]>,
    opts: &KMeansOptions,
) -> Result<Weighted<'a>> {
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
    if opts.n_restarts == 0 || opts.max_iter == 0 {
        return Err(Error::invalid(
            "n_restarts, max_iter",
            "must both be at least 1",
        ));
    }
    if !(opts.tol >= 0.0 && opts.tol.is_finite()) {
        return Err(Error::invalid(
            "tol",
            format!("must be finite and >= 0, got {}", opts.tol),
        ));
    }
    let norms: Vec<f64> = (0..n)
        .map(|i| {
            let r = &x[i * d..(i + 1) * d];
            dot(r, r)
        })
        .collect();
    // Each of |x|^2, |c|^2 and x.c is off by at most ~d ulps of max |x|^2 (centres are
    // weighted means, so |c| <= max |x|); a squared distance off by e moves the distance by
    // at most sqrt(e). Four times that covers the bound, the comparison and the rounding of
    // the centre gaps.
    let max_norm = norms.iter().fold(0.0f64, |m, &v| m.max(v));
    let sq_err = 8.0 * (d as f64 + 4.0) * f64::EPSILON * max_norm;
    Ok(Weighted {
        pts: Points::unchecked(x, d),
        w,
        norms,
        slack: 4.0 * sq_err.sqrt(),
    })
}

/// Parallel map over fixed-size chunks of points in the calipers pool, results in chunk
/// order.
fn over_chunks<T: Send>(
    n: usize,
    work: usize,
    f: impl Fn(Range<usize>) -> T + Sync + Send,
) -> Result<Vec<T>> {
    let ranges: Vec<_> = par::chunk_ranges(n, CHUNK).collect();
    if work < PARALLEL_WORK {
        return Ok(ranges.into_iter().map(f).collect());
    }
    par::install(|| ranges.into_par_iter().map(f).collect())
}

/// Per-point state of Hamerly's bounds, carried across Lloyd steps.
struct Bounds {
    labels: Vec<usize>,
    /// Upper bound on the distance to the own centre.
    upper: Vec<f64>,
    /// Lower bound on the distance to every other centre.
    lower: Vec<f64>,
}

/// How far the centres moved since the bounds were last valid.
struct Shift {
    /// Distance moved by each centre.
    moved: Vec<f64>,
    /// The largest move, its centre, and the second largest.
    max: f64,
    argmax: usize,
    second: f64,
}

impl Shift {
    fn new(old: &Centres, new: &Centres) -> Self {
        let moved: Vec<f64> = (0..new.k)
            .map(|c| {
                let s: f64 = new
                    .row(c)
                    .iter()
                    .zip(old.row(c))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                s.sqrt()
            })
            .collect();
        let argmax = (0..moved.len()).fold(0, |b, c| if moved[c] > moved[b] { c } else { b });
        let second = moved
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != argmax)
            .fold(0.0f64, |m, (_, &v)| m.max(v));
        Shift {
            max: moved[argmax],
            argmax,
            second,
            moved,
        }
    }

    /// Largest move of a centre other than `c`.
    fn other_than(&self, c: usize) -> f64 {
        if c == self.argmax {
            self.second
        } else {
            self.max
        }
    }
}

/// Half the distance from each centre to its nearest other centre (infinite when k = 1): a
/// point closer than that to its centre cannot be closer to another.
fn half_gaps(cen: &Centres) -> Vec<f64> {
    let k = cen.k;
    let mut gap = vec![f64::INFINITY; k];
    for a in 0..k {
        for b in a + 1..k {
            let s: f64 = cen
                .row(a)
                .iter()
                .zip(cen.row(b))
                .map(|(x, y)| (x - y) * (x - y))
                .sum();
            let half = 0.5 * s.sqrt();
            gap[a] = gap[a].min(half);
            gap[b] = gap[b].min(half);
        }
    }
    gap
}

/// One assignment step: every point to its nearest centre. Ties go to the point's previous
/// centre when it is among the nearest (so points moved into empty clusters stay there and
/// duplicate points cannot make the iteration cycle), else to the lowest index. With `prune`,
/// points whose bounds prove the previous centre strictly nearest are skipped (same labels).
/// Returns the number of points whose label changed.
fn assign(
    p: &Weighted<'_>,
    cen: &Centres,
    state: &mut Bounds,
    shift: Option<&Shift>,
    have_previous: bool,
    prune: bool,
) -> Result<usize> {
    let k = cen.k;
    let gaps = if prune && have_previous {
        half_gaps(cen)
    } else {
        Vec::new()
    };
    let st = &*state;
    let parts = over_chunks(p.n(), p.n() * k * p.pts.dim, |range| {
        let start = range.start;
        let mut labels = st.labels[range.clone()].to_vec();
        let mut upper = st.upper[range.clone()].to_vec();
        let mut lower = st.lower[range.clone()].to_vec();
        if let Some(s) = shift {
            for (t, &a) in labels.iter().enumerate() {
                upper[t] += s.moved[a];
                lower[t] = (lower[t] - s.other_than(a)).max(0.0);
            }
        }
        let mut todo = Vec::with_capacity(range.len());
        for i in range {
            let t = i - start;
            if prune && have_previous {
                let a = labels[t];
                let bound = gaps[a].max(lower[t]) * (1.0 - BOUND_REL) - p.slack;
                if upper[t] * (1.0 + BOUND_REL) < bound {
                    continue;
                }
                upper[t] = p.sq_dist(i, cen, a).sqrt();
                if upper[t] * (1.0 + BOUND_REL) < bound {
                    continue;
                }
            }
            todo.push(i);
        }
        let dists = dists_to_all(p, &todo, cen);
        let mut changed = 0;
        for (row, &i) in dists.chunks_exact(k).zip(&todo) {
            let t = i - start;
            let mut best = 0;
            for c in 1..k {
                if row[c] < row[best] {
                    best = c;
                }
            }
            let prev = labels[t];
            if have_previous && prev != best && row[prev] <= row[best] {
                best = prev;
            }
            let second = (0..k)
                .filter(|&c| c != best)
                .fold(f64::INFINITY, |m, c| m.min(row[c]));
            changed += usize::from(!have_previous || best != prev);
            labels[t] = best;
            upper[t] = row[best].sqrt();
            lower[t] = second.sqrt();
        }
        (labels, upper, lower, changed)
    })?;
    let mut changed = 0;
    let mut offset = 0;
    for (labels, upper, lower, ch) in parts {
        let len = labels.len();
        state.labels[offset..offset + len].copy_from_slice(&labels);
        state.upper[offset..offset + len].copy_from_slice(&upper);
        state.lower[offset..offset + len].copy_from_slice(&lower);
        offset += len;
        changed += ch;
    }
    Ok(changed)
}

/// Squared distance of every point to its own centre.
fn own_dists(p: &Weighted<'_>, cen: &Centres, labels: &[usize]) -> Result<Vec<f64>> {
    let parts = over_chunks(p.n(), p.n() * p.pts.dim, |range| {
        range
            .map(|i| p.sq_dist(i, cen, labels[i]))
            .collect::<Vec<_>>()
    })?;
    Ok(parts.concat())
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
/// because k <= n. Moved points lose their bounds (recomputed in the next step). Returns
/// whether any point moved.
fn fill_empty(p: &Weighted<'_>, cen: &Centres, state: &mut Bounds) -> Result<bool> {
    let k = cen.k;
    let mut sizes = vec![0usize; k];
    for &l in &state.labels {
        sizes[l] += 1;
    }
    let empty: Vec<usize> = (0..k).filter(|&c| sizes[c] == 0).collect();
    if empty.is_empty() {
        return Ok(false);
    }
    let dists = own_dists(p, cen, &state.labels)?;
    let mut order: Vec<usize> = (0..p.n()).collect();
    order.sort_by(|&a, &b| dists[b].total_cmp(&dists[a]).then(a.cmp(&b)));
    let mut next = order.into_iter();
    for &c in &empty {
        for i in next.by_ref() {
            let l = state.labels[i];
            if sizes[l] >= 2 {
                sizes[l] -= 1;
                state.labels[i] = c;
                sizes[c] = 1;
                state.upper[i] = f64::INFINITY;
                state.lower[i] = 0.0;
                break;
            }
        }
    }
    Ok(true)
}

/// Weighted means of the clusters (unweighted where a cluster's weights sum to zero).
fn update(p: &Weighted<'_>, labels: &[usize], k: usize) -> Result<Vec<f64>> {
    let d = p.pts.dim;
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
fn kmeans_plusplus(p: &Weighted<'_>, k: usize, trials: usize, rng: &mut Rng) -> Result<Vec<f64>> {
    let (n, d) = (p.n(), p.pts.dim);
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
    let first_centre = Centres::new(p.row(first).to_vec(), d);
    let interleaved = interleave(p);
    let mut closest = own_dists(p, &first_centre, &vec![0; n])?;
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
        let cand = Centres::new(
            candidates.iter().flat_map(|&c| p.row(c)).copied().collect(),
            d,
        );
        // One pass over the points scores every candidate: distances (point-major) and the
        // potential each candidate would leave, summed chunk by chunk in order.
        let closest_ref = &closest;
        let parts = over_chunks(n, n * d * trials, |r| {
            let dists = dists_to_all_range(p, &interleaved, r.clone(), &cand);
            let mut pots = vec![0.0; trials];
            for (row, i) in dists.chunks_exact(trials).zip(r) {
                for (pot, &dist) in pots.iter_mut().zip(row) {
                    *pot += p.w[i] * dist.min(closest_ref[i]);
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
            for row in dists.chunks_exact(trials) {
                closest[i] = closest[i].min(row[best]);
                i += 1;
            }
        }
    }
    Ok(centers)
}

/// Mean over features of the (unweighted) variance, which scales `tol` as in scikit-learn.
fn mean_variance(p: &Weighted<'_>) -> f64 {
    let (n, d) = (p.n(), p.pts.dim);
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

/// One restart: seeding then Lloyd iterations (Hamerly-pruned unless `prune` is false).
fn lloyd(
    p: &Weighted<'_>,
    opts: &KMeansOptions,
    restart: usize,
    tol_abs: f64,
    prune: bool,
    monitor: &dyn Monitor,
) -> Result<KMeansFit> {
    let k = opts.k;
    let trials = if opts.n_local_trials == 0 {
        2 + (k as f64).ln().floor() as usize
    } else {
        opts.n_local_trials
    };
    let mut rng = Rng::stream(opts.seed, restart as u64);
    let mut centers = Centres::new(kmeans_plusplus(p, k, trials, &mut rng)?, p.pts.dim);
    let mut state = Bounds {
        labels: vec![0; p.n()],
        upper: vec![f64::INFINITY; p.n()],
        lower: vec![0.0; p.n()],
    };
    let mut shift: Option<Shift> = None;
    let mut n_iter = 0;
    loop {
        let changed = assign(p, &centers, &mut state, shift.as_ref(), n_iter > 0, prune)?;
        let relocated = fill_empty(p, &centers, &mut state)?;
        if n_iter == opts.max_iter || (n_iter > 0 && !relocated && changed == 0) {
            break;
        }
        if monitor.stop_requested() {
            return Err(Error::Interrupted);
        }
        let new_centers = Centres::new(update(p, &state.labels, k)?, p.pts.dim);
        let moved: f64 = new_centers
            .rows
            .iter()
            .zip(&centers.rows)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        shift = Some(Shift::new(&centers, &new_centers));
        centers = new_centers;
        n_iter += 1;
        if moved <= tol_abs {
            assign(p, &centers, &mut state, shift.as_ref(), true, prune)?;
            fill_empty(p, &centers, &mut state)?;
            break;
        }
    }
    let dists = own_dists(p, &centers, &state.labels)?;
    let inertia = dists.iter().zip(&p.w).map(|(d, w)| d * w).sum();
    Ok(KMeansFit {
        centers: centers.rows,
        labels: state.labels,
        inertia,
        n_iter,
        restart,
    })
}

/// Runs every restart in parallel (results in restart order); `monitor` gets the number of
/// restarts finished, and a stop request ends the Lloyd loops early.
fn run_restarts(
    p: &Weighted<'_>,
    opts: &KMeansOptions,
    tol_abs: f64,
    prune: bool,
    monitor: &dyn Monitor,
) -> Result<Vec<KMeansFit>> {
    par::map_chunks(opts.n_restarts, monitor, |r| {
        lloyd(p, opts, r, tol_abs, prune, monitor)
    })
}

/// Weighted k-means of the `n x d` row-major points `x`, keeping the best of `n_restarts`
/// restarts (the first of the lowest inertia). Every cluster of the result is non-empty.
pub fn kmeans(
    x: &[f64],
    n: usize,
    d: usize,
    weights: Option<&[f64]>,
    opts: &KMeansOptions,
    monitor: &dyn Monitor,
) -> Result<KMeansFit> {
    fit_restarts(x, n, d, weights, opts, true, monitor)
}

fn fit_restarts(
    x: &[f64],
    n: usize,
    d: usize,
    weights: Option<&[f64]>,
    opts: &KMeansOptions,
    prune: bool,
    monitor: &dyn Monitor,
) -> Result<KMeansFit> {
    let p = validate(x, n, d, weights, opts)?;
    let tol_abs = opts.tol * mean_variance(&p);
    let fits = run_restarts(&p, opts, tol_abs, prune, monitor)?;
    let mut best: Option<KMeansFit> = None;
    for fit in fits {
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
        n_restarts: 1,
        max_iter: 1,
        tol: 0.0,
        seed: 0,
        n_local_trials: 0,
    };
    let p = validate(x, n, d, weights, &opts)?;
    if fit.labels.len() != n || fit.labels.iter().any(|&l| l >= k) {
        return Err(Error::shape("labels", format!("need {n} labels in 0..{k}")));
    }
    let cen = Centres::new(fit.centers.clone(), d);
    let total: f64 = p.w.iter().sum();
    let mut index = Vec::with_capacity(k);
    let mut weight = Vec::with_capacity(k);
    for (c, idx) in members(&fit.labels, k).into_iter().enumerate() {
        let nearest = idx.iter().copied().min_by(|&a, &b| {
            let da = p.sq_dist(a, &cen, c);
            let db = p.sq_dist(b, &cen, c);
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
            n_restarts: 3,
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

#[cfg(test)]
mod pruning_tests {
    use super::*;
    use crate::par::Silent;

    fn opts(k: usize, seed: u64, tol: f64) -> KMeansOptions {
        KMeansOptions {
            k,
            n_restarts: 3,
            max_iter: 300,
            tol,
            seed,
            n_local_trials: 0,
        }
    }

    #[test]
    fn blocked_distances_have_the_bits_of_the_plain_formula() {
        let mut rng = Rng::new(8);
        for (n, d, k) in [(13, 1, 3), (9, 7, 5), (21, 33, 10)] {
            let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
            let o = opts(k, 0, 0.0);
            let p = validate(&x, n, d, None, &o).unwrap();
            let cen = Centres::new((0..k * d).map(|_| rng.normal()).collect(), d);
            let idx: Vec<usize> = (0..n).rev().collect();
            let all = dists_to_all(&p, &idx, &cen);
            for (t, &i) in idx.iter().enumerate() {
                for c in 0..k {
                    assert_eq!(all[t * k + c].to_bits(), p.sq_dist(i, &cen, c).to_bits());
                    let brute: f64 = p
                        .row(i)
                        .iter()
                        .zip(cen.row(c))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    assert!((all[t * k + c] - brute).abs() < 1e-9 * (1.0 + brute));
                }
            }
        }
    }

    /// Hamerly's pruning skips work, never changes a step: same iterations, labels, centres
    /// and inertia, bit for bit, as plain Lloyd (all distances every step).
    #[test]
    fn pruned_lloyd_is_plain_lloyd_bit_for_bit() {
        let mut rng = Rng::new(9);
        let cases: Vec<(usize, usize, usize, Vec<f64>)> = vec![
            // correctness-like 0/1 vectors: many exact ties
            (
                600,
                40,
                25,
                (0..600 * 40).map(|_| rng.below(2) as f64).collect(),
            ),
            // 2-D embeddings with a wide range
            (
                2000,
                2,
                50,
                (0..2000 * 2).map(|_| 3.0 * rng.normal()).collect(),
            ),
            // few distinct points: empty clusters and relocations
            (
                300,
                3,
                40,
                (0..300 * 3).map(|_| rng.below(3) as f64).collect(),
            ),
            // far from the origin (large norms, small gaps)
            (
                500,
                4,
                12,
                (0..500 * 4).map(|_| 1e3 + rng.normal()).collect(),
            ),
        ];
        for (n, d, k, x) in cases {
            let w: Vec<f64> = (0..n).map(|_| 0.2 + rng.next_f64()).collect();
            for tol in [0.0, 1e-4] {
                let o = opts(k, 3, tol);
                let plain = fit_restarts(&x, n, d, Some(&w), &o, false, &Silent).unwrap();
                let fast = fit_restarts(&x, n, d, Some(&w), &o, true, &Silent).unwrap();
                assert_eq!(plain, fast, "n={n} d={d} k={k} tol={tol}");
            }
        }
    }
}
