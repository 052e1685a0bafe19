//! Violation ratios between many models, observed and under the bootstrap.

use std::ops::Range;

use rayon::prelude::*;

use super::ratio::{
    Order, Violation, prefix_sums, violation_careful, violation_equal, violation_prefix,
    violation_steps, violation_weighted,
};
use crate::error::{Error, Result};
use crate::par::{Monitor, install, map_chunks};
use crate::resample::{check_samples, chunk_replicates, draw_replicate_blocks};
use crate::rng::LaneRng;

/// A sample sorted once: its order statistics and the item index of each.
struct Sorted {
    values: Vec<f64>,
    items: Vec<usize>,
}

fn sort_sample(s: &[f64]) -> Sorted {
    let mut items: Vec<usize> = (0..s.len()).collect();
    items.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
    Sorted {
        values: items.iter().map(|&i| s[i]).collect(),
        items,
    }
}

fn check_models(samples: &[&[f64]], paired: bool) -> Result<()> {
    check_samples("scores", samples, paired)?;
    if samples.len() < 2 {
        return Err(Error::shape(
            "scores",
            "has one model; dominance compares at least two",
        ));
    }
    Ok(())
}

fn violation(a: &[f64], b: &[f64], order: Order) -> Violation {
    let (ca, cb) = (vec![1u32; a.len()], vec![1u32; b.len()]);
    let fast = if a.len() == b.len() {
        violation_equal(a, b, order)
    } else {
        violation_weighted(a, &ca, b, &cb, order)
    };
    if fast.is_reliable() {
        fast
    } else {
        violation_careful(a, &ca, b, &cb, order)
    }
}

/// The m × m matrix (row-major) of ε(F_i, F_j), the ratio violating "model i dominates model
/// j"; the diagonal is 0.5.
pub fn violation_matrix(samples: &[&[f64]], order: Order) -> Result<Vec<f64>> {
    check_models(samples, false)?;
    let m = samples.len();
    let sorted: Vec<Sorted> = samples.iter().map(|s| sort_sample(s)).collect();
    let rows: Vec<Vec<f64>> = install(|| {
        (0..m)
            .into_par_iter()
            .map(|i| {
                (0..m)
                    .map(|j| violation(&sorted[i].values, &sorted[j].values, order).ratio())
                    .collect()
            })
            .collect()
    })?;
    Ok(rows.concat())
}

/// Per-chunk scratch space: O(models × items).
struct Scratch {
    items: Vec<u32>,
    counts: Vec<Vec<u32>>,
    expanded: Vec<Vec<f64>>,
    eps: Vec<f64>,
}

/// Bootstrap replicates of the one-vs-all ratios ε_i = mean_{j≠i} ε(F_i, F_j), row-major
/// (replicate, model), for the replicates in `chunks`. Each resample is a vector of
/// multinomial counts over a model's pre-sorted scores, so a replicate costs O(models × items)
/// for the resampling plus O(models² × items) for the pairs, with no sorting. Paired: one count
/// vector over the items per replicate, shared by all models through their sort permutations.
pub fn bootstrap_one_vs_all(
    samples: &[&[f64]],
    paired: bool,
    order: Order,
    seed: u64,
    n_resamples: usize,
    chunks: Range<usize>,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    check_models(samples, paired)?;
    crate::resample::ensure_output_fits(&chunks, n_resamples, samples.len())?;
    let sorted: Vec<Sorted> = samples.iter().map(|s| sort_sample(s)).collect();
    let equal = samples.iter().all(|s| s.len() == samples[0].len());
    let m = samples.len();
    let parts = map_chunks(chunks.len(), monitor, |i| {
        let chunk = chunks.start + i;
        let mut rng = LaneRng::stream(seed, chunk as u64);
        let mut scratch = Scratch {
            items: vec![0u32; if paired { samples[0].len() } else { 0 }],
            counts: sorted.iter().map(|s| vec![0u32; s.values.len()]).collect(),
            expanded: if equal {
                sorted.iter().map(|s| vec![0.0; s.values.len()]).collect()
            } else {
                Vec::new()
            },
            eps: vec![0.0; m],
        };
        let reps = chunk_replicates(chunk, n_resamples);
        let mut out = Vec::with_capacity(reps.len() * m);
        for _ in reps {
            draw_counts(
                &mut rng,
                &sorted,
                paired,
                &mut scratch.items,
                &mut scratch.counts,
            );
            one_vs_all(&sorted, order, equal, &mut scratch);
            out.extend_from_slice(&scratch.eps);
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

/// Fills `counts[k][r]` with the multiplicity of model k's r-th order statistic. Paired: one
/// resample of the items (`items` holds per-item counts), mapped through each model's sort.
fn draw_counts(
    rng: &mut LaneRng,
    sorted: &[Sorted],
    paired: bool,
    items: &mut [u32],
    counts: &mut [Vec<u32>],
) {
    if paired {
        items.fill(0);
        draw_replicate_blocks(rng, items.len(), |block| {
            block.iter().for_each(|&i| items[i as usize] += 1)
        });
        for (s, c) in sorted.iter().zip(counts.iter_mut()) {
            for (slot, &item) in c.iter_mut().zip(&s.items) {
                *slot = items[item];
            }
        }
    } else {
        for c in counts.iter_mut() {
            c.fill(0);
            draw_replicate_blocks(rng, c.len(), |block| {
                block.iter().for_each(|&r| c[r as usize] += 1)
            });
        }
    }
}

fn one_vs_all(sorted: &[Sorted], order: Order, equal: bool, scratch: &mut Scratch) {
    let m = sorted.len();
    if equal {
        for ((s, c), buf) in sorted
            .iter()
            .zip(&scratch.counts)
            .zip(&mut scratch.expanded)
        {
            expand(&s.values, c, buf);
            if order == Order::Second {
                prefix_sums(buf);
            }
        }
    }
    scratch.eps.fill(0.0);
    for i in 0..m {
        for j in i + 1..m {
            let v = if equal {
                let (a, b) = (&scratch.expanded[i], &scratch.expanded[j]);
                match order {
                    Order::First => violation_steps(a, b),
                    Order::Second => violation_prefix(a, b),
                }
            } else {
                violation_weighted(
                    &sorted[i].values,
                    &scratch.counts[i],
                    &sorted[j].values,
                    &scratch.counts[j],
                    order,
                )
            };
            let v = if v.is_reliable() {
                v
            } else {
                violation_careful(
                    &sorted[i].values,
                    &scratch.counts[i],
                    &sorted[j].values,
                    &scratch.counts[j],
                    order,
                )
            };
            scratch.eps[i] += v.ratio();
            scratch.eps[j] += v.reverse_ratio();
        }
    }
    for e in &mut scratch.eps {
        *e /= (m - 1) as f64;
    }
}

/// Writes each value `counts[r]` times: the sorted resample. Bootstrap counts are mostly 0–3,
/// so each value is written to the next four slots unconditionally (later values overwrite
/// the surplus) and only larger counts take a branch: no misprediction per value.
fn expand(values: &[f64], counts: &[u32], out: &mut [f64]) {
    const BLOCK: usize = 4;
    let len = out.len();
    let mut pos = 0;
    for (&v, &c) in values.iter().zip(counts) {
        let c = c as usize;
        if pos + BLOCK <= len {
            out[pos..pos + BLOCK].fill(v);
            if c > BLOCK {
                let end = (pos + c).min(len);
                out[pos + BLOCK..end].fill(v);
            }
        } else {
            let end = (pos + c).min(len);
            out[pos..end].fill(v);
        }
        pos += c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;
    use crate::resample::n_chunks;

    fn data(m: usize, n: usize) -> Vec<Vec<f64>> {
        (0..m)
            .map(|k| {
                (0..n)
                    .map(|i| ((i * 31 + k * 17) % 97) as f64 / 10.0 + k as f64 * 0.3)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn matrix_is_complementary_and_one_vs_all_averages_rows() {
        let d = data(4, 40);
        let s: Vec<&[f64]> = d.iter().map(|v| v.as_slice()).collect();
        for order in [Order::First, Order::Second] {
            let e = violation_matrix(&s, order).unwrap();
            for i in 0..4 {
                assert_eq!(e[i * 4 + i], 0.5);
                for j in 0..4 {
                    assert!((e[i * 4 + j] + e[j * 4 + i] - 1.0).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn expanded_and_weighted_kernels_agree_on_resamples() {
        let d = data(3, 25);
        let sorted: Vec<Sorted> = d.iter().map(|s| sort_sample(s)).collect();
        let mut rng = LaneRng::stream(5, 0);
        for paired in [true, false] {
            for order in [Order::First, Order::Second] {
                let mut scratch = Scratch {
                    items: vec![0; 25],
                    counts: vec![vec![0; 25]; 3],
                    expanded: vec![vec![0.0; 25]; 3],
                    eps: vec![0.0; 3],
                };
                draw_counts(
                    &mut rng,
                    &sorted,
                    paired,
                    &mut scratch.items,
                    &mut scratch.counts,
                );
                one_vs_all(&sorted, order, true, &mut scratch);
                let fast = scratch.eps.clone();
                one_vs_all(&sorted, order, false, &mut scratch);
                for (a, b) in fast.iter().zip(&scratch.eps) {
                    assert!((a - b).abs() < 1e-12, "{order:?} {paired} {a} {b}");
                }
            }
        }
    }

    #[test]
    fn bootstrap_replicates_are_ratios_and_split_by_chunks() {
        let d = data(3, 25);
        let s: Vec<&[f64]> = d.iter().map(|v| v.as_slice()).collect();
        let b = 70;
        for paired in [true, false] {
            let all =
                bootstrap_one_vs_all(&s, paired, Order::Second, 5, b, 0..n_chunks(b), &Silent)
                    .unwrap();
            let head =
                bootstrap_one_vs_all(&s, paired, Order::Second, 5, b, 0..1, &Silent).unwrap();
            let tail =
                bootstrap_one_vs_all(&s, paired, Order::Second, 5, b, 1..n_chunks(b), &Silent)
                    .unwrap();
            assert_eq!(all.len(), b * 3);
            assert_eq!([head, tail].concat(), all);
            assert!(all.iter().all(|e| (0.0..=1.0).contains(e)));
        }
    }

    #[test]
    fn expand_repeats_each_value_by_its_count() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        for counts in [
            [0u32, 6, 0, 0, 0, 1],
            [1, 1, 1, 1, 1, 2],
            [0, 0, 0, 0, 0, 7],
            [3, 0, 2, 0, 0, 2],
        ] {
            let mut out = vec![f64::NAN; 7];
            expand(&values, &counts, &mut out);
            let expected: Vec<f64> = values
                .iter()
                .zip(&counts)
                .flat_map(|(&v, &c)| std::iter::repeat_n(v, c as usize))
                .collect();
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn one_model_is_rejected() {
        let x = [1.0, 2.0];
        assert!(violation_matrix(&[&x], Order::First).is_err());
    }
}
