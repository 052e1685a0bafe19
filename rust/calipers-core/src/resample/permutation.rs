//! Null distributions of the mean difference under permutation.

use std::ops::Range;

use super::{check_samples, chunk_replicates};
use crate::error::Result;
use crate::par::{Monitor, map_chunks};
use crate::rng::Rng;

/// Paired sign-flip null: for each replicate in `chunks`, mean_i(s_i · d_i) with independent
/// fair signs s_i (64 signs per random word).
pub fn permutation_null_paired(
    differences: &[f64],
    seed: u64,
    n_resamples: usize,
    chunks: Range<usize>,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    check_samples("differences", &[differences], true)?;
    super::ensure_output_fits(&chunks, n_resamples, 1)?;
    let n = differences.len() as f64;
    let parts = map_chunks(chunks.len(), monitor, |i| {
        let chunk = chunks.start + i;
        let mut rng = Rng::stream(seed, chunk as u64);
        let reps = chunk_replicates(chunk, n_resamples);
        let mut out = Vec::with_capacity(reps.len());
        for _ in reps {
            // four accumulators (item k goes to lane k mod 4) break the addition chain
            let mut lanes = [0.0; 4];
            for block in differences.chunks(64) {
                let bits = rng.next_u64();
                for (k, &d) in block.iter().enumerate() {
                    let sign = ((bits >> k) & 1) as f64 * 2.0 - 1.0;
                    lanes[k % 4] += sign * d;
                }
            }
            out.push(((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) / n);
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

/// Independent-samples null: for each replicate, the pooled scores are randomly split into
/// groups of sizes len(x) and len(y) (a partial Fisher–Yates shuffle that continues from the
/// previous replicate's order within a chunk, which keeps every split uniform) and
/// mean(group x) − mean(group y) is recorded.
pub fn permutation_null_unpaired(
    x: &[f64],
    y: &[f64],
    seed: u64,
    n_resamples: usize,
    chunks: Range<usize>,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    check_samples("x", &[x], true)?;
    check_samples("y", &[y], true)?;
    super::ensure_output_fits(&chunks, n_resamples, 1)?;
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let total: f64 = pooled.iter().sum();
    let (nx, ny) = (x.len(), y.len());
    let parts = map_chunks(chunks.len(), monitor, |i| {
        let chunk = chunks.start + i;
        let mut rng = Rng::stream(seed, chunk as u64);
        let reps = chunk_replicates(chunk, n_resamples);
        let mut work = pooled.clone();
        let len = work.len();
        let mut out = Vec::with_capacity(reps.len());
        for _ in reps {
            let mut sum_x = 0.0;
            for k in 0..nx {
                let j = k + rng.below((len - k) as u64) as usize;
                work.swap(k, j);
                sum_x += work[k];
            }
            out.push(sum_x / nx as f64 - (total - sum_x) / ny as f64);
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;
    use crate::resample::n_chunks;

    #[test]
    fn sign_flip_null_is_centred_with_the_right_variance() {
        let d: Vec<f64> = (0..100).map(|i| 1.0 + (i % 7) as f64).collect();
        let b = 4000;
        let null = permutation_null_paired(&d, 1, b, 0..n_chunks(b), &Silent).unwrap();
        let mean = null.iter().sum::<f64>() / b as f64;
        let var = null.iter().map(|v| v * v).sum::<f64>() / b as f64;
        let theory = d.iter().map(|v| v * v).sum::<f64>() / 100.0 / 100.0;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var / theory - 1.0).abs() < 0.08, "{var} {theory}");
    }

    #[test]
    fn label_permutation_null_keeps_the_pooled_total() {
        let x = [1.0, 2.0, 3.0];
        let y = [10.0, 20.0];
        let null = permutation_null_unpaired(&x, &y, 2, 500, 0..n_chunks(500), &Silent).unwrap();
        // every value is mean(S) - mean(rest) for a 3-subset S of the 5 pooled values
        for v in null {
            assert!((-20.0..=15.0).contains(&v));
        }
    }
}
