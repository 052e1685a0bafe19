//! The bootstrap distribution of every model's rank.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::par::{Monitor, install, map_chunks};

/// Replicates ranked per parallel task.
const REPLICATES_PER_TASK: usize = 16;

/// `P(model k has rank r)` (row-major m × m, rank 1 = best) from replicates (m × `b`,
/// row-major). Tied models share the tied ranks equally: each gets 1 / (group size) of every
/// rank in its group. Per replicate the models are sorted once; the shares are accumulated
/// per model as a difference array (+share at the group's first rank, then −share after its
/// last, all additions in replicate order) and summed cumulatively, then divided by `b` (the
/// arithmetic of numpy's `add.at` + `cumsum` over the same shares); ranks the model never
/// held are exactly 0 (see `accumulate_row`).
pub fn rank_probabilities(
    reps: &[f64],
    b: usize,
    higher_is_better: bool,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    if b == 0 || reps.len() % b != 0 {
        return Err(Error::shape(
            "replicates",
            "must be a models × n_resamples table with n_resamples >= 1",
        ));
    }
    let m = reps.len() / b;
    if m > u32::MAX as usize - 1 {
        return Err(Error::invalid("replicates", "too many models"));
    }
    let fix = "rank fewer models at once (the result is a models × models table)";
    let mut out = crate::mem::try_filled("scores", m * m, 0.0, fix)?;
    crate::mem::ensure_fits("n_resamples", (b * m) as u128, 8, fix)?;
    let groups = map_chunks(b.div_ceil(REPLICATES_PER_TASK), monitor, |task| {
        let start = task * REPLICATES_PER_TASK;
        let end = (start + REPLICATES_PER_TASK).min(b);
        let mut order: Vec<(f64, u32)> = Vec::with_capacity(m);
        let mut part = Vec::with_capacity((end - start) * m);
        for r in start..end {
            part.extend(tie_groups(reps, b, r, higher_is_better, &mut order));
        }
        Ok(part)
    })?
    .concat();
    install(|| {
        out.par_chunks_mut(m.max(1))
            .enumerate()
            .for_each(|(k, row)| accumulate_row(&groups, m, b, k, row))
    })?;
    Ok(out)
}

/// For replicate `r`: per model (in model order), the first and last 0-based rank of its
/// group of equal values, best first.
fn tie_groups(
    reps: &[f64],
    b: usize,
    r: usize,
    higher_is_better: bool,
    order: &mut Vec<(f64, u32)>,
) -> Vec<(u32, u32)> {
    let m = reps.len() / b;
    order.clear();
    order.extend((0..m).map(|k| {
        let v = reps[k * b + r];
        (if higher_is_better { -v } else { v }, k as u32)
    }));
    order.sort_unstable_by(|a, c| a.0.total_cmp(&c.0));
    let mut groups = vec![(0u32, 0u32); m];
    let mut start = 0;
    while start < m {
        let mut end = start;
        while end + 1 < m && order[end + 1].0 == order[start].0 {
            end += 1;
        }
        for &(_, k) in &order[start..=end] {
            groups[k as usize] = (start as u32, end as u32);
        }
        start = end + 1;
    }
    groups
}

/// Row `k` of the result: the difference array of model k's shares over all replicates
/// (additions first, then subtractions, each in replicate order), summed cumulatively. The
/// float sums leave rounding residue (about 1e-16, of either sign) at ranks the model never
/// held, so a second, integer difference array counts the replicates covering each rank and
/// those with none are exactly 0. Elsewhere the true value is at least 1/(m·b), far above the
/// residue, so no probability is negative.
fn accumulate_row(groups: &[(u32, u32)], m: usize, b: usize, k: usize, row: &mut [f64]) {
    let mut acc = vec![0.0; m + 1];
    let mut covering = vec![0i64; m + 1];
    let share = |(first, last): (u32, u32)| 1.0 / (last - first + 1) as f64;
    for r in 0..b {
        let g = groups[r * m + k];
        acc[g.0 as usize] += share(g);
        covering[g.0 as usize] += 1;
    }
    for r in 0..b {
        let g = groups[r * m + k];
        acc[g.1 as usize + 1] -= share(g);
        covering[g.1 as usize + 1] -= 1;
    }
    let (mut running, mut count) = (0.0, 0i64);
    for ((out, a), c) in row.iter_mut().zip(&acc).zip(&covering) {
        running += a;
        count += c;
        *out = if count == 0 { 0.0 } else { running / b as f64 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    #[test]
    fn ranks_and_ties_by_hand() {
        // three models, two replicates: [3, 1, 2] then [1, 1, 0]
        let reps = [3.0, 1.0, 1.0, 1.0, 2.0, 0.0];
        let p = rank_probabilities(&reps, 2, true, &Silent).unwrap();
        // replicate 1: model 0 first, model 2 second, model 1 third
        // replicate 2: models 0 and 1 share ranks 1-2, model 2 third
        let expected = [
            0.75, 0.25, 0.0, //
            0.25, 0.25, 0.5, //
            0.0, 0.5, 0.5,
        ];
        assert_eq!(p, expected);
        let low = rank_probabilities(&reps, 2, false, &Silent).unwrap();
        assert_eq!(&low[6..], &[0.5, 0.5, 0.0]);
    }

    #[test]
    fn rows_and_columns_sum_to_one() {
        let reps: Vec<f64> = (0..5 * 37).map(|i| ((i * 7) % 11) as f64).collect();
        let p = rank_probabilities(&reps, 37, true, &Silent).unwrap();
        for k in 0..5 {
            let row: f64 = p[k * 5..(k + 1) * 5].iter().sum();
            let col: f64 = (0..5).map(|j| p[j * 5 + k]).sum();
            assert!((row - 1.0).abs() < 1e-12 && (col - 1.0).abs() < 1e-12);
        }
        assert!(rank_probabilities(&reps, 0, true, &Silent).is_err());
    }
}
