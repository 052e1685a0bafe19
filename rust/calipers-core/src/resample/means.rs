//! Bootstrap replicates of the mean of every model at once.

use std::ops::Range;

use super::{BLOCK, check_samples, chunk_replicates, draw_replicate_blocks};
use crate::error::Result;
use crate::par::{Monitor, map_chunks};
use crate::rng::LaneRng;

/// Bootstrap means of each sample for the replicates in `chunks`, row-major
/// (replicate, sample). Paired: one resample of the items per replicate, shared by all
/// samples (which must have equal lengths). Unpaired: each sample is resampled on its own, in
/// sample order. The draws are those of `bootstrap_indices`, so applying `mean` to those
/// indices gives the same replicates up to summation rounding.
pub fn bootstrap_means(
    samples: &[&[f64]],
    paired: bool,
    seed: u64,
    n_resamples: usize,
    chunks: Range<usize>,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    check_samples("scores", samples, paired)?;
    let m = samples.len();
    super::ensure_output_fits(&chunks, n_resamples, m)?;
    // Item-major copy for the paired design: one draw reads one contiguous row of m scores.
    let item_major: Vec<f64> = if paired {
        let n = samples[0].len();
        (0..n)
            .flat_map(|i| samples.iter().map(move |s| s[i]))
            .collect()
    } else {
        Vec::new()
    };
    let parts = map_chunks(chunks.len(), monitor, |i| {
        let chunk = chunks.start + i;
        let mut rng = LaneRng::stream(seed, chunk as u64);
        let reps = chunk_replicates(chunk, n_resamples);
        let mut out = Vec::with_capacity(reps.len() * m);
        for _ in reps {
            if paired {
                paired_replicate(&mut rng, &item_major, m, &mut out);
            } else {
                for s in samples {
                    out.push(sample_mean(&mut rng, s));
                }
            }
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

/// Per-column sums of a row-major (items × `M`) table over one resample of its rows. Draw j
/// goes to accumulator j mod `P` (blocks hold a multiple of `P` draws, so j counts from the
/// replicate's start), which breaks the floating-point dependency chains; the accumulators
/// are then added in a fixed tree. The order depends only on the draws, so the bits do too.
#[inline]
fn resampled_sums<const M: usize, const P: usize>(rng: &mut LaneRng, table: &[f64]) -> [f64; M] {
    const { assert!(BLOCK % P == 0) };
    let n = table.len() / M;
    let mut acc = [[0.0; M]; P];
    // Draws are below n, so every row is in bounds; the fixed widths let the compiler unroll.
    let row = |i: u32| &table[i as usize * M..][..M];
    draw_replicate_blocks(rng, n, |block| {
        let groups = block.chunks_exact(P);
        let rest = groups.remainder();
        for group in groups {
            for (a, &i) in acc.iter_mut().zip(group) {
                add_row(a, row(i));
            }
        }
        for (a, &i) in acc.iter_mut().zip(rest) {
            add_row(a, row(i));
        }
    });
    std::array::from_fn(|k| tree_sum(acc.map(|a| a[k])))
}

#[inline(always)]
fn add_row<const M: usize>(acc: &mut [f64; M], row: &[f64]) {
    for (a, x) in acc.iter_mut().zip(row) {
        *a += x;
    }
}

/// Sum of `P` (a power of two) values as a balanced tree: pairs of neighbours first.
fn tree_sum<const P: usize>(mut v: [f64; P]) -> f64 {
    let mut len = P;
    while len > 1 {
        len /= 2;
        for i in 0..len {
            v[i] = v[2 * i] + v[2 * i + 1];
        }
    }
    v[0]
}

fn sample_mean(rng: &mut LaneRng, x: &[f64]) -> f64 {
    let [sum] = resampled_sums::<1, 8>(rng, x);
    sum / x.len() as f64
}

fn paired_replicate(rng: &mut LaneRng, item_major: &[f64], m: usize, out: &mut Vec<f64>) {
    // Few models (the common case) get accumulators in registers: the generic loop over a
    // heap vector of width m runs about 1.7x slower for two models.
    let n = (item_major.len() / m) as f64;
    match m {
        1 => out.push(sample_mean(rng, item_major)),
        2 => out.extend(resampled_sums::<2, 4>(rng, item_major).map(|s| s / n)),
        3 => out.extend(resampled_sums::<3, 4>(rng, item_major).map(|s| s / n)),
        4 => out.extend(resampled_sums::<4, 4>(rng, item_major).map(|s| s / n)),
        _ => paired_any(rng, item_major, m, out),
    }
}

fn paired_any(rng: &mut LaneRng, item_major: &[f64], m: usize, out: &mut Vec<f64>) {
    let n = item_major.len() / m;
    // Two accumulators per model: draw j goes to the one of parity j.
    let mut acc = vec![0.0; 2 * m];
    let (acc0, acc1) = acc.split_at_mut(m);
    let row = |i: u32| &item_major[i as usize * m..][..m];
    draw_replicate_blocks(rng, n, |block| {
        for pair in block.chunks(2) {
            for (x, s0) in row(pair[0]).iter().zip(acc0.iter_mut()) {
                *s0 += x;
            }
            if let Some(&b) = pair.get(1) {
                for (y, s1) in row(b).iter().zip(acc1.iter_mut()) {
                    *s1 += y;
                }
            }
        }
    });
    out.extend(
        acc0.iter()
            .zip(acc1.iter())
            .map(|(s0, s1)| (s0 + s1) / n as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;
    use crate::resample::{bootstrap_indices, n_chunks};

    #[test]
    fn means_equal_means_of_drawn_indices() {
        let x: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..50).map(|i| (i as f64 * 0.11).cos()).collect();
        let b = 70;
        for paired in [true, false] {
            let means = bootstrap_means(&[&x, &y], paired, 3, b, 0..n_chunks(b), &Silent).unwrap();
            let sizes: &[usize] = if paired { &[50] } else { &[50, 50] };
            let idx = bootstrap_indices(sizes, 3, b, 0..n_chunks(b), &Silent).unwrap();
            let per = sizes.iter().sum::<usize>();
            for (r, rep) in idx.chunks(per).enumerate() {
                let (ix, iy) = if paired { (rep, rep) } else { rep.split_at(50) };
                let mx = ix.iter().map(|&i| x[i as usize]).sum::<f64>() / 50.0;
                let my = iy.iter().map(|&i| y[i as usize]).sum::<f64>() / 50.0;
                assert!((means[2 * r] - mx).abs() < 1e-12);
                assert!((means[2 * r + 1] - my).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn every_paired_width_gives_the_means_of_the_drawn_indices() {
        let b = 40;
        // Odd sizes: the last group of accumulators is partial; 601 spans three blocks.
        for n in [31, 601] {
            let idx = bootstrap_indices(&[n], 5, b, 0..n_chunks(b), &Silent).unwrap();
            for m in 1..=6 {
                let data: Vec<Vec<f64>> = (0..m)
                    .map(|k| {
                        (0..n)
                            .map(|i| ((i * 13 + k * 7) % 17) as f64 * 0.3)
                            .collect()
                    })
                    .collect();
                let samples: Vec<&[f64]> = data.iter().map(|v| v.as_slice()).collect();
                let means = bootstrap_means(&samples, true, 5, b, 0..n_chunks(b), &Silent).unwrap();
                for (r, rep) in idx.chunks(n).enumerate() {
                    for (k, s) in data.iter().enumerate() {
                        let direct = rep.iter().map(|&i| s[i as usize]).sum::<f64>() / n as f64;
                        assert!(
                            (means[r * m + k] - direct).abs() < 1e-12,
                            "n = {n}, m = {m}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tree_sum_adds_neighbours_first() {
        let v = [1.0, 1e16, -1e16, 1.0];
        // (1 + 1e16) + (-1e16 + 1) = 1e16 - 1e16 = 0 in floating point; left to right gives 1.
        assert_eq!(tree_sum(v), 0.0);
        assert_eq!(tree_sum([2.0; 8]), 16.0);
        assert_eq!(tree_sum([3.5]), 3.5);
    }

    #[test]
    fn unequal_lengths_need_unpaired() {
        let (x, y) = (vec![1.0, 2.0], vec![1.0]);
        assert!(bootstrap_means(&[&x, &y], true, 1, 10, 0..1, &Silent).is_err());
        assert!(bootstrap_means(&[&x, &y], false, 1, 10, 0..1, &Silent).is_ok());
    }

    #[test]
    fn bootstrap_variance_of_mean_is_close_to_theory() {
        let x: Vec<f64> = (0..200).map(|i| ((i * 7919) % 200) as f64).collect();
        let b = 4000;
        let means = bootstrap_means(&[&x], true, 11, b, 0..n_chunks(b), &Silent).unwrap();
        let mu = x.iter().sum::<f64>() / 200.0;
        let var_x = x.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / 200.0;
        let mb = means.iter().sum::<f64>() / b as f64;
        let vb = means.iter().map(|v| (v - mb).powi(2)).sum::<f64>() / (b - 1) as f64;
        assert!((vb / (var_x / 200.0) - 1.0).abs() < 0.08, "{vb}");
        assert!((mb - mu).abs() < 0.5);
    }
}
