//! Exact linear assignment (shortest augmenting paths, Jonker–Volgenant / Crouse 2016) and
//! the block matching of k-mixup (Greenewald et al. 2021): within each block of k points, the
//! permutation that minimises the total squared Euclidean distance, i.e. the exact OT plan
//! between two uniform k-point clouds.

use rayon::prelude::*;

use super::sample::power_of_two_at_most;
use crate::error::{Error, Result, ensure_finite};
use crate::mem;
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

/// Inner-loop steps between two looks at `Monitor::stop_requested` (a few milliseconds).
const STOP_CHECK_WORK: usize = 1 << 22;

impl Lap {
    /// Solves min Σ_i cost[i·n + σ(i)] over permutations σ of 0..n for a finite n×n
    /// row-major `cost`; returns σ (column of each row). O(n³) in the worst case. Costs should
    /// be of moderate magnitude (reduced costs are sums of a few of them); even with inf or
    /// NaN entries the result is a permutation, never a panic. Returns `Err(Interrupted)` soon
    /// after `stop` asks for it (`Monitor::stop_requested`).
    pub fn solve(&mut self, cost: &[f64], n: usize, stop: &dyn Monitor) -> Result<&[usize]> {
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
        let mut work = 0;
        for row in 0..n {
            let (sink, min_val, steps) = self.shortest_path(cost, n, row);
            self.update_duals(row, min_val);
            self.augment(row, sink);
            work += steps * n;
            if work >= STOP_CHECK_WORK {
                work = 0;
                if stop.stop_requested() {
                    return Err(Error::Interrupted);
                }
            }
        }
        Ok(&self.col_of_row)
    }

    /// Dijkstra on reduced costs from the free row `row` to the nearest free column; returns
    /// that column, its path length and the number of rows scanned.
    fn shortest_path(&mut self, cost: &[f64], n: usize, row: usize) -> (usize, f64, usize) {
        let Lap {
            u,
            seen_row,
            cols,
            remaining,
            ..
        } = self;
        // Every column starts with a path back to the search's own row, so that whichever
        // column is picked leads back to a row even when reduced costs are inf or NaN (with
        // finite costs every column is relaxed from `row` in the first step anyway).
        for c in cols.iter_mut() {
            c.path_cost = f64::INFINITY;
            c.path = row;
            c.seen = false;
        }
        seen_row.clear();
        seen_row.resize(n, false);
        remaining.clear();
        remaining.extend((0..n).rev());
        let mut min_val = 0.0;
        let mut i = row;
        let mut steps = 0;
        loop {
            steps += 1;
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
                return (j, min_val, steps);
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

/// The two blocks divided by one power of two s >= their largest |coordinate|. Every scaled
/// coordinate lies in [−1, 1], so squared distances stay below 4d: no overflow for coordinates
/// near f64::MAX, no underflow for tiny ones. The optimal assignment is invariant to a
/// positive scale of the cost matrix, and a power-of-two scale is exact.
fn scaled_blocks(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let largest = x.iter().chain(y).fold(0.0f64, |m, v| m.max(v.abs()));
    let unit = 0.5 / power_of_two_at_most(largest);
    let scale = |b: &[f64]| b.iter().map(|v| v * unit).collect::<Vec<_>>();
    (scale(x), scale(y))
}

/// Rows of a large block's cost matrix filled per batch, checking `Monitor::stop_requested` in between.
const COST_ROWS_PER_BATCH: usize = 64;

/// Exact assignment within one block: σ with x-row i matched to y-row σ(i) (block-relative).
fn match_block(x: &[f64], y: &[f64], d: usize, stop: &dyn Monitor) -> Result<Vec<usize>> {
    let m = x.len() / d;
    let (xs, ys) = scaled_blocks(x, y);
    let mut cost = Vec::new();
    if m < LARGE_BLOCK {
        squared_distances(&xs, &ys, d, &mut cost);
    } else {
        cost = mem::try_filled("k", m * m, 0.0, "pass a smaller k")?;
        for (batch, rows) in cost.chunks_mut(COST_ROWS_PER_BATCH * m).enumerate() {
            if stop.stop_requested() {
                return Err(Error::Interrupted);
            }
            let first = batch * COST_ROWS_PER_BATCH;
            rows.par_chunks_mut(m).enumerate().for_each(|(r, out)| {
                let xi = &xs[(first + r) * d..(first + r + 1) * d];
                for (o, yj) in out.iter_mut().zip(ys.chunks_exact(d)) {
                    *o = squared_distance(xi, yj);
                }
            });
        }
    }
    Ok(Lap::default().solve(&cost, m, stop)?.to_vec())
}

/// Blocks of at least this many points fill their cost matrix in parallel.
const LARGE_BLOCK: usize = 512;

/// k-mixup matching of two point clouds `x`, `y` (n×d, row-major): rows are cut into
/// consecutive blocks of `k` (the last block holds the n mod k rest), and within each block
/// row i of `x` is matched to row perm[i] of `y` by an exact assignment on squared Euclidean
/// cost. Blocks are solved in parallel; the result does not depend on the thread count.
/// Memory: 8·k² bytes per block in progress (one per thread), refused beyond the budget;
/// time O(k²d + k³) per block, interruptible through `monitor`.
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
    let in_flight = blocks.min(par::num_threads()) as u128;
    mem::ensure_fits(
        "k",
        in_flight * (k as u128) * (k as u128),
        8,
        &format!(
            "each block of k = {k} points needs a k×k cost matrix and O(k³) time; pass a \
             smaller k (k-mixup uses blocks of tens to hundreds of points)"
        ),
    )?;
    let block = |b: usize| {
        let rows = b * k..((b + 1) * k).min(n);
        let (xb, yb) = (
            &x[rows.start * d..rows.end * d],
            &y[rows.start * d..rows.end * d],
        );
        let sigma = match_block(xb, yb, d, monitor)?;
        Ok(sigma
            .into_iter()
            .map(|j| rows.start + j)
            .collect::<Vec<_>>())
    };
    // Blocks run in parallel; the solver polls `monitor.stop_requested()` every few
    // milliseconds, so Ctrl-C ends even one huge block early.
    let matched = par::map_chunks(blocks, monitor, block)?;
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
                let sigma = Lap::default().solve(&cost, n, &Silent).unwrap().to_vec();
                let mut sorted = sigma.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>());
                let total: f64 = (0..n).map(|i| cost[i * n + sigma[i]]).sum();
                assert_eq!(total, brute_force(&cost, n));
            }
        }
    }

    #[test]
    fn inf_and_nan_costs_still_give_a_permutation() {
        for bad in [f64::INFINITY, f64::NAN] {
            let cost = [bad, 1.0, bad, bad, 2.0, bad, 0.0, bad, bad];
            let sigma = Lap::default().solve(&cost, 3, &Silent).unwrap().to_vec();
            let mut sorted = sigma.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2]);
        }
    }

    #[test]
    fn coordinates_near_float_max_are_matched_optimally() {
        // Squared differences overflow unless the block is rescaled first.
        let x = [1e200, 0.0, 1.7e308, -1.7e308];
        let y = [-1e200, 1.0, -1.7e308, 1.7e308];
        assert_eq!(
            kmixup_match(&x[..2], &y[..2], 2, 1, 2, &Silent).unwrap(),
            vec![1, 0]
        );
        assert_eq!(
            kmixup_match(&x, &y, 4, 1, 2, &Silent).unwrap(),
            vec![1, 0, 3, 2]
        );
        let tiny = [1e-300, 0.0];
        let other = [0.0, 1e-300];
        assert_eq!(
            kmixup_match(&tiny, &other, 2, 1, 2, &Silent).unwrap(),
            vec![1, 0]
        );
    }

    struct StopAtOnce;
    impl Monitor for StopAtOnce {
        fn tick(&self, _done: usize, _total: usize) -> Result<()> {
            Err(Error::Interrupted)
        }

        fn stop_requested(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_large_block_stops_when_the_monitor_asks() {
        let n = 3000;
        let mut state = 1u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f64> = (0..n * 2).map(|_| next()).collect();
        let y: Vec<f64> = (0..n * 2).map(|_| next()).collect();
        let r = kmixup_match(&x, &y, n, 2, n, &StopAtOnce);
        assert_eq!(r, Err(Error::Interrupted));
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
