//! Approximate kNN graph: a forest of random-projection trees gives initial candidates, then
//! rounds of neighbour-of-neighbour refinement (NN-descent) improve them. Each round reads the
//! previous graph and writes a new one (Jacobi style), so the result is identical for any
//! thread count. Memory O(n · (k + n_trees)).

use rayon::prelude::*;

use super::{Neighbors, Points, TopK, check_k, flatten, sqdist};
use crate::error::{Error, Result};
use crate::par::{self, Monitor};
use crate::rng::Rng;

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
    let initial = par::map_chunks(ranges.len(), monitor, |c| {
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
        let (next, changed) = refine_round(points, &graph, k, &ranges, monitor)?;
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
    monitor: &dyn Monitor,
) -> Result<(Vec<TopK>, usize)> {
    let rev = reverse_lists(graph, k);
    let parts = par::map_chunks(ranges.len(), monitor, |c| {
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
