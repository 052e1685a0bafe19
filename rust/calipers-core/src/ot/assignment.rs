//! Exact linear assignment (shortest augmenting paths, Jonker–Volgenant / Crouse 2016) and
//! the block matching of k-mixup (Greenewald et al. 2021): within each block of k points, the
//! permutation that minimises the total squared Euclidean distance, i.e. the exact OT plan
//! between two uniform k-point clouds.

use crate::error::{Error, Result, ensure_finite};
use crate::par::{self, Monitor};

/// Per-column state of the solver, kept together so that the inner loop touches one cache
/// line (and one bounds check) per column.
#[derive(Clone, Copy)]
struct Column {
    /// Dual variable.
    v: f64,
    /// Length of the shortest alternating path found so far to this column.
    path_cost: f64,
    /// Row preceding this column on that path.
    path: usize,
    /// Row assigned to this column, or `NONE`.
    row: usize,
    /// Reached by the current search.
    seen: bool,
}

const NONE: usize = usize::MAX;

/// Buffers of the shortest-augmenting-path solver, reusable across problems.
#[derive(Default)]
pub struct Lap {
    u: Vec<f64>,
    col_of_row: Vec<usize>,
    seen_row: Vec<bool>,
    cols: Vec<Column>,
    remaining: Vec<usize>,
}

impl Lap {
    /// Solves min Σ_i cost[i·n + σ(i)] over permutations σ of 0..n for a finite n×n
    /// row-major `cost`; returns σ (column of each row). O(n³) in the worst case.
    pub fn solve(&mut self, cost: &[f64], n: usize) -> &[usize] {
        self.u.clear();
        self.u.resize(n, 0.0);
        self.col_of_row.clear();
        self.col_of_row.resize(n, NONE);
        let free = Column {
            v: 0.0,
            path_cost: f64::INFINITY,
            path: NONE,
            row: NONE,
            seen: false,
        };
        self.cols.clear();
        self.cols.resize(n, free);
        for row in 0..n {
            let (sink, min_val) = self.shortest_path(cost, n, row);
            self.update_duals(row, min_val);
            self.augment(row, sink);
        }
        &self.col_of_row
    }

    /// Dijkstra on reduced costs from the free row `row` to the nearest free column.
    fn shortest_path(&mut self, cost: &[f64], n: usize, row: usize) -> (usize, f64) {
        let Lap {
            u,
            seen_row,
            cols,
            remaining,
            ..
        } = self;
        for c in cols.iter_mut() {
            c.path_cost = f64::INFINITY;
            c.seen = false;
        }
        seen_row.clear();
        seen_row.resize(n, false);
        remaining.clear();
        remaining.extend((0..n).rev());
        let mut min_val = 0.0;
        let mut i = row;
        loop {
            seen_row[i] = true;
            let (ui, costs) = (u[i], &cost[i * n..(i + 1) * n]);
            let mut best = (f64::INFINITY, 0);
            for (slot, &j) in remaining.iter().enumerate() {
                let c = &mut cols[j];
                let reduced = min_val + costs[j] - ui - c.v;
                if reduced < c.path_cost {
                    c.path = i;
                    c.path_cost = reduced;
                }
                // Among equal costs prefer a free column: it ends the search sooner.
                if c.path_cost < best.0 || (c.path_cost == best.0 && c.row == NONE) {
                    best = (c.path_cost, slot);
                }
            }
            min_val = best.0;
            let j = remaining.swap_remove(best.1);
            cols[j].seen = true;
            if cols[j].row == NONE {
                return (j, min_val);
            }
            i = cols[j].row;
        }
    }

    fn update_duals(&mut self, row: usize, min_val: f64) {
        self.u[row] += min_val;
        for i in 0..self.u.len() {
            if self.seen_row[i] && i != row {
                self.u[i] += min_val - self.cols[self.col_of_row[i]].path_cost;
            }
        }
        for c in self.cols.iter_mut().filter(|c| c.seen) {
            c.v -= min_val - c.path_cost;
        }
    }

    fn augment(&mut self, row: usize, sink: usize) {
        let mut j = sink;
        loop {
            let i = self.cols[j].path;
            self.cols[j].row = i;
            std::mem::swap(&mut self.col_of_row[i], &mut j);
            if i == row {
                break;
            }
        }
    }
}

/// ‖a − b‖², summed in four independent lanes so that the additions pipeline (and
/// vectorise); the order of additions is fixed, so the result is deterministic.
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let (mut ca, mut cb) = (a.chunks_exact(4), b.chunks_exact(4));
    for (xa, xb) in (&mut ca).zip(&mut cb) {
        for l in 0..4 {
            let diff = xa[l] - xb[l];
            lanes[l] += diff * diff;
        }
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(p, q)| (p - q) * (p - q))
        .sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// Squared Euclidean distances between the rows of `x` (a×d) and `y` (b×d), row-major a×b.
fn squared_distances(x: &[f64], y: &[f64], d: usize, out: &mut Vec<f64>) {
    out.clear();
    for xi in x.chunks_exact(d) {
        out.extend(y.chunks_exact(d).map(|yj| squared_distance(xi, yj)));
    }
}

/// k-mixup matching of two point clouds `x`, `y` (n×d, row-major): rows are cut into
/// consecutive blocks of `k` (the last block holds the n mod k rest), and within each block
/// row i of `x` is matched to row perm[i] of `y` by an exact assignment on squared Euclidean
/// cost. Blocks are solved in parallel; the result does not depend on the thread count.
pub fn kmixup_match(
    x: &[f64],
    y: &[f64],
    n: usize,
    d: usize,
    k: usize,
    monitor: &dyn Monitor,
) -> Result<Vec<usize>> {
    if n == 0 || d == 0 {
        return Err(Error::shape("x", "is empty; pass at least one point"));
    }
    if x.len() != n * d || y.len() != n * d {
        return Err(Error::shape(
            "y",
            format!("must have the shape of x ({n}×{d}); pass two batches of equal size"),
        ));
    }
    if k == 0 {
        return Err(Error::invalid(
            "k",
            "is 0; the block size must be at least 1",
        ));
    }
    ensure_finite("x", x)?;
    ensure_finite("y", y)?;
    let k = k.min(n);
    let blocks = n.div_ceil(k);
    let matched = par::map_chunks(blocks, monitor, |b| {
        let rows = b * k..((b + 1) * k).min(n);
        let m = rows.len();
        let (xb, yb) = (
            &x[rows.start * d..rows.end * d],
            &y[rows.start * d..rows.end * d],
        );
        let mut cost = Vec::with_capacity(m * m);
        squared_distances(xb, yb, d, &mut cost);
        let sigma = Lap::default().solve(&cost, m).to_vec();
        Ok(sigma
            .into_iter()
            .map(|j| rows.start + j)
            .collect::<Vec<_>>())
    })?;
    Ok(matched.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    /// Minimum over all permutations, by brute force.
    fn brute_force(cost: &[f64], n: usize) -> f64 {
        fn go(cost: &[f64], n: usize, row: usize, used: &mut Vec<bool>) -> f64 {
            if row == n {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost[row * n + j] + go(cost, n, row + 1, used));
                    used[j] = false;
                }
            }
            best
        }
        go(cost, n, 0, &mut vec![false; n])
    }

    #[test]
    fn optimal_on_small_random_and_tied_problems() {
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 59) as f64 // 0..31: many ties
        };
        for n in 1..=7 {
            for _ in 0..20 {
                let cost: Vec<f64> = (0..n * n).map(|_| next()).collect();
                let sigma = Lap::default().solve(&cost, n).to_vec();
                let mut sorted = sigma.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>());
                let total: f64 = (0..n).map(|i| cost[i * n + sigma[i]]).sum();
                assert_eq!(total, brute_force(&cost, n));
            }
        }
    }

    #[test]
    fn blocks_stay_within_themselves() {
        let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let y: Vec<f64> = (0..10).rev().map(|i| i as f64).collect();
        let perm = kmixup_match(&x, &y, 10, 1, 4, &Silent).unwrap();
        // Block {0..4}: y = 9,8,7,6 ; x = 0,1,2,3 matched in order → y index 3,2,1,0.
        assert_eq!(perm, vec![3, 2, 1, 0, 7, 6, 5, 4, 9, 8]);
    }
}
