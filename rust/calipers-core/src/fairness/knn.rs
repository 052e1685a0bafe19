//! k-nearest-neighbour search in the fair space (points already mapped by the fair metric, so
//! the metric is plain squared Euclidean here).
//!
//! * `exact_knn` / `exact_query`: blocked brute force, O(n_query · n · d) time, O(n · k) memory.
//! * `approximate_knn`: a forest of random-projection trees gives initial candidates, then
//!   rounds of neighbour-of-neighbour refinement (NN-descent) improve them. Each round reads the
//!   previous graph and writes a new one (Jacobi style), so the result is identical for any
//!   thread count. Memory O(n · (k + n_trees)).
//!
//! Neighbour lists are sorted by (squared distance, index); the point itself is excluded.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::par::{self, Monitor};
use crate::rng::Rng;

/// Points as a row-major `n × dim` matrix.
#[derive(Clone, Copy, Debug)]
pub struct Points<'a> {
    pub data: &'a [f64],
    pub dim: usize,
}

impl<'a> Points<'a> {
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
        Ok(Points { data, dim })
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    fn row(&self, i: usize) -> &'a [f64] {
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
struct TopK {
    k: usize,
    items: Vec<(f64, usize)>,
    /// Whether each entry arrived in the current refinement round (NN-descent's "new" flag).
    fresh: Vec<bool>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
            fresh: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    fn worst(&self) -> Option<(f64, usize)> {
        if self.items.len() < self.k {
            None
        } else {
            self.items.last().copied()
        }
    }

    /// Inserts `(d, j)` if it beats the current worst; returns whether it was inserted.
    /// Ignores an index already present.
    #[inline]
    fn push(&mut self, d: f64, j: usize) -> bool {
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
    fn age(&mut self) {
        self.fresh.iter_mut().for_each(|f| *f = false);
    }

    /// (index, fresh) pairs.
    fn entries(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        self.items
            .iter()
            .map(|&(_, j)| j)
            .zip(self.fresh.iter().copied())
    }

    #[inline]
    fn contains(&self, j: usize) -> bool {
        self.items.iter().any(|&(_, i)| i == j)
    }
}

const QUERY_CHUNK: usize = 64;
const REF_BLOCK: usize = 512;

fn check_k(k: usize, n_ref: usize, exclude_self: bool) -> Result<()> {
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

fn flatten(lists: Vec<Vec<TopK>>, k: usize) -> Neighbors {
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

/// Squared norms of the rows.
fn row_norms(p: Points) -> Vec<f64> {
    p.data
        .chunks(p.dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Exact `k` nearest reference points of each query point by blocked brute force. Candidate
/// distances come from a matrix product (|q|² + |r|² − 2 q·r, fast); the kept neighbours'
/// distances are then recomputed directly, so reported values are accurate. `same_set`
/// means the queries are the reference points themselves (each is excluded from its list).
fn brute_force(
    reference: Points,
    queries: Points,
    k: usize,
    same_set: bool,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    use ndarray::{Array2, ArrayView2, linalg::general_mat_mul};
    let n_ref = reference.len();
    let dim = reference.dim;
    let (ref_norms, q_norms) = (row_norms(reference), row_norms(queries));
    let ranges: Vec<_> = par::chunk_ranges(queries.len(), QUERY_CHUNK).collect();
    let lists = par::map_chunks(ranges.len(), monitor, |c| {
        let range = ranges[c].clone();
        let qd = &queries.data[range.start * dim..range.end * dim];
        let q = ArrayView2::from_shape((range.len(), dim), qd)
            .map_err(|e| Error::Numerical(e.to_string()))?;
        let mut tops: Vec<TopK> = range.clone().map(|_| TopK::new(k)).collect();
        let mut full = Array2::<f64>::zeros((range.len(), REF_BLOCK.min(n_ref)));
        let mut tail = Array2::<f64>::zeros((range.len(), n_ref % REF_BLOCK));
        for block in par::chunk_ranges(n_ref, REF_BLOCK) {
            let rd = &reference.data[block.start * dim..block.end * dim];
            let r = ArrayView2::from_shape((block.len(), dim), rd)
                .map_err(|e| Error::Numerical(e.to_string()))?;
            let out = if block.len() == full.ncols() {
                &mut full
            } else {
                &mut tail
            };
            general_mat_mul(1.0, &q, &r.t(), 0.0, out);
            for ((t, qi), row) in tops.iter_mut().zip(range.clone()).zip(out.rows()) {
                for (j, &dot) in block.clone().zip(row.iter()) {
                    if same_set && j == qi {
                        continue;
                    }
                    let d = (q_norms[qi] + ref_norms[j] - 2.0 * dot).max(0.0);
                    if t.worst().is_none_or(|w| (d, j) < w) {
                        t.push(d, j);
                    }
                }
            }
        }
        // Recompute the kept distances exactly and re-sort.
        for (t, qi) in tops.iter_mut().zip(range) {
            for item in t.items.iter_mut() {
                item.0 = sqdist(queries.row(qi), reference.row(item.1));
            }
            t.items
                .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
        Ok(tops)
    })?;
    Ok(flatten(lists, k))
}

/// Exact kNN graph of `points` (each point excluded from its own list).
pub fn exact_knn(points: Points, k: usize, monitor: &dyn Monitor) -> Result<Neighbors> {
    check_k(k, points.len(), true)?;
    brute_force(points, points, k, true, monitor)
}

/// Exact `k` nearest points of `reference` for each row of `queries` (no self-exclusion).
pub fn exact_query(
    reference: Points,
    queries: Points,
    k: usize,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    if reference.dim != queries.dim {
        return Err(Error::shape(
            "X",
            format!(
                "new points have {} fair-space columns but the fitted points have {}; pass data with the same features",
                queries.dim, reference.dim
            ),
        ));
    }
    check_k(k, reference.len(), false)?;
    brute_force(reference, queries, k, false, monitor)
}

/// Settings of the approximate search.
#[derive(Clone, Copy, Debug)]
pub struct ApproxOptions {
    pub n_trees: usize,
    pub leaf_size: usize,
    pub max_rounds: usize,
    /// Stop refining when fewer than `delta · n · k` list entries changed in a round.
    pub delta: f64,
    pub seed: u64,
}

/// One random-projection tree: returns a leaf id per point.
fn rp_tree_leaves(points: Points, leaf_size: usize, rng: &mut Rng) -> Vec<u32> {
    let n = points.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut leaf_of = vec![0u32; n];
    let mut next_leaf = 0u32;
    let mut stack = vec![(0usize, n)];
    let mut side = Vec::new();
    while let Some((lo, hi)) = stack.pop() {
        let len = hi - lo;
        if len <= leaf_size {
            for &i in &order[lo..hi] {
                leaf_of[i] = next_leaf;
            }
            next_leaf += 1;
            continue;
        }
        // Two distinct positions in the node (len > leaf_size >= 2).
        let pos_a = rng.below(len as u64) as usize;
        let pos_b = (pos_a + 1 + rng.below(len as u64 - 1) as usize) % len;
        let (a, b) = (order[lo + pos_a], order[lo + pos_b]);
        let (pa, pb) = (points.row(a), points.row(b));
        // Hyperplane equidistant from a and b: sign of |x-b|² - |x-a|².
        side.clear();
        side.extend(
            order[lo..hi]
                .iter()
                .map(|&i| sqdist(points.row(i), pb) - sqdist(points.row(i), pa)),
        );
        let mut idx: Vec<usize> = (0..len).collect();
        idx.sort_by(|&x, &y| side[x].total_cmp(&side[y]));
        let n_left = side.iter().filter(|&&s| s < 0.0).count();
        // Degenerate split (duplicates, all on one side): split the sorted order in half.
        let cut = if n_left == 0 || n_left == len {
            len / 2
        } else {
            n_left
        };
        let reordered: Vec<usize> = idx.iter().map(|&x| order[lo + x]).collect();
        order[lo..hi].copy_from_slice(&reordered);
        stack.push((lo, lo + cut));
        stack.push((lo + cut, hi));
    }
    leaf_of
}

/// Members of each leaf in CSR form.
fn leaf_members(leaf_of: &[u32]) -> (Vec<usize>, Vec<usize>) {
    let n_leaves = leaf_of.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut ptr = vec![0usize; n_leaves + 1];
    for &l in leaf_of {
        ptr[l as usize + 1] += 1;
    }
    for i in 0..n_leaves {
        ptr[i + 1] += ptr[i];
    }
    let mut fill = ptr.clone();
    let mut members = vec![0usize; leaf_of.len()];
    for (i, &l) in leaf_of.iter().enumerate() {
        members[fill[l as usize]] = i;
        fill[l as usize] += 1;
    }
    (ptr, members)
}

/// Approximate kNN graph (random-projection forest + NN-descent refinement).
pub fn approximate_knn(
    points: Points,
    k: usize,
    opts: ApproxOptions,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    let n = points.len();
    check_k(k, n, true)?;
    if opts.n_trees == 0 {
        return Err(Error::invalid("n_trees", "must be at least 1"));
    }
    let leaf_size = opts.leaf_size.max(k + 1);
    let trees: Vec<(Vec<usize>, Vec<usize>, Vec<u32>)> = par::install(|| {
        (0..opts.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = Rng::stream(opts.seed, t as u64);
                let leaf_of = rp_tree_leaves(points, leaf_size, &mut rng);
                let (ptr, members) = leaf_members(&leaf_of);
                (ptr, members, leaf_of)
            })
            .collect()
    })?;
    monitor.tick(0, opts.max_rounds + 1)?;
    let ranges: Vec<_> = par::chunk_ranges(n, 256).collect();
    let initial = par::map_chunks(ranges.len(), &par::Silent, |c| {
        Ok(ranges[c]
            .clone()
            .map(|i| {
                let mut top = TopK::new(k);
                let q = points.row(i);
                for (ptr, members, leaf_of) in &trees {
                    let l = leaf_of[i] as usize;
                    for &j in &members[ptr[l]..ptr[l + 1]] {
                        if j != i && !top.contains(j) {
                            top.push(sqdist(q, points.row(j)), j);
                        }
                    }
                }
                top
            })
            .collect::<Vec<_>>())
    })?;
    let mut graph: Vec<TopK> = initial.into_iter().flatten().collect();
    drop(trees);
    monitor.tick(1, opts.max_rounds + 1)?;
    for round in 0..opts.max_rounds {
        let (next, changed) = refine_round(points, &graph, k, &ranges)?;
        graph = next;
        monitor.tick(round + 2, opts.max_rounds + 1)?;
        if (changed as f64) < opts.delta * (n * k) as f64 {
            break;
        }
    }
    // A leaf smaller than k + 1 cannot happen (leaf_size > k), but a point could still end
    // with fewer than k candidates if all its leaves were tiny: fill from brute force then.
    let short: Vec<usize> = (0..n).filter(|&i| graph[i].items.len() < k).collect();
    for i in short {
        let q = points.row(i);
        for j in (0..n).filter(|&j| j != i) {
            graph[i].push(sqdist(q, points.row(j)), j);
        }
    }
    Ok(flatten(vec![graph], k))
}

/// Reverse neighbour lists with the forward edge's fresh flag, each capped at `cap`
/// entries (first come by source index, so deterministic).
fn reverse_lists(graph: &[TopK], cap: usize) -> Vec<Vec<(usize, bool)>> {
    let mut rev: Vec<Vec<(usize, bool)>> = vec![Vec::new(); graph.len()];
    for (i, t) in graph.iter().enumerate() {
        for (j, fresh) in t.entries() {
            if rev[j].len() < cap {
                rev[j].push((i, fresh));
            }
        }
    }
    rev
}

/// One NN-descent round: each point tries the neighbours (forward and reverse) of its
/// neighbours (forward and reverse), skipping paths made only of old edges (tried before).
fn refine_round(
    points: Points,
    graph: &[TopK],
    k: usize,
    ranges: &[std::ops::Range<usize>],
) -> Result<(Vec<TopK>, usize)> {
    let rev = reverse_lists(graph, k);
    let parts = par::map_chunks(ranges.len(), &par::Silent, |c| {
        let mut changed = 0usize;
        let mut cands: Vec<usize> = Vec::new();
        let tops: Vec<TopK> = ranges[c]
            .clone()
            .map(|i| {
                let mut top = graph[i].clone();
                top.age();
                let q = points.row(i);
                cands.clear();
                let near = graph[i].entries().chain(rev[i].iter().copied());
                for (c, f1) in near {
                    let second = graph[c].entries().chain(rev[c].iter().copied());
                    cands.extend(second.filter(|&(j, f2)| (f1 || f2) && j != i).map(|p| p.0));
                }
                cands.sort_unstable();
                cands.dedup();
                for &j in &cands {
                    if !top.contains(j) && top.push(sqdist(q, points.row(j)), j) {
                        changed += 1;
                    }
                }
                top
            })
            .collect();
        Ok((tops, changed))
    })?;
    let changed = parts.iter().map(|p| p.1).sum();
    Ok((parts.into_iter().flat_map(|p| p.0).collect(), changed))
}

/// All reference points within squared distance `tau` of each query (CSR: `indptr`,
/// `indices`, `sqdist`, rows sorted by index). `same_set` excludes each point itself.
pub fn radius_neighbors(
    reference: Points,
    queries: Points,
    tau: f64,
    same_set: bool,
    monitor: &dyn Monitor,
) -> Result<(Vec<usize>, Vec<usize>, Vec<f64>)> {
    if !(tau.is_finite() && tau >= 0.0) {
        return Err(Error::invalid(
            "tau",
            format!("must be finite and >= 0, got {tau}"),
        ));
    }
    if reference.dim != queries.dim {
        return Err(Error::shape(
            "X",
            "new points and fitted points have different numbers of fair-space columns",
        ));
    }
    let ranges: Vec<_> = par::chunk_ranges(queries.len(), QUERY_CHUNK).collect();
    let parts = par::map_chunks(ranges.len(), monitor, |c| {
        let mut counts = Vec::with_capacity(ranges[c].len());
        let mut idx = Vec::new();
        let mut d2 = Vec::new();
        for qi in ranges[c].clone() {
            let q = queries.row(qi);
            let before = idx.len();
            for j in 0..reference.len() {
                if same_set && j == qi {
                    continue;
                }
                let d = sqdist(q, reference.row(j));
                if d <= tau {
                    idx.push(j);
                    d2.push(d);
                }
            }
            counts.push(idx.len() - before);
        }
        Ok((counts, idx, d2))
    })?;
    let mut indptr = Vec::with_capacity(queries.len() + 1);
    indptr.push(0);
    let (mut indices, mut sqd) = (Vec::new(), Vec::new());
    for (counts, idx, d2) in parts {
        for c in counts {
            indptr.push(indptr.last().copied().unwrap_or(0) + c);
        }
        indices.extend(idx);
        sqd.extend(d2);
    }
    Ok((indptr, indices, sqd))
}

#[cfg(test)]
mod tests {
    use super::*;

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
