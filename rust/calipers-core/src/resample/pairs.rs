//! All-pairs differences from per-model replicates.
//!
//! For a statistic linear in the items (the mean), the paired bootstrap replicate of
//! `stat_i − stat_j` is the difference of the two models' replicates, so every pair is
//! summarised from the models' replicates alone: O(pairs × resamples) after the
//! O(models × items × resamples) bootstrap, instead of resampling each pair.
//!
//! The summaries reproduce numpy's arithmetic so that they equal the pair-by-pair numpy path
//! bit for bit: `std(ddof=1)` with numpy's pairwise summation, and `percentile` with its
//! linear interpolation (order statistics found by selection, never a full sort).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::par::{Monitor, install};

/// Pairs handled between two monitor ticks.
const PAIRS_PER_TICK: usize = 1 << 14;

/// Per-pair counts and spread of the replicate differences `d*_b = reps[i][b] − reps[j][b]`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PairMoments {
    /// Mean of `d*` (numpy's pairwise sum divided by the count).
    pub mean: Vec<f64>,
    /// Standard deviation (ddof = 1) of `d*`, as numpy computes it.
    pub sd: Vec<f64>,
    /// `#{d* < observed}` (for the BCa bias correction).
    pub below: Vec<u32>,
    /// `#{d* <= observed}`.
    pub at_or_below: Vec<u32>,
    /// `#{|d* − observed| >= |observed|}` (the bootstrap p-value shifted to the null).
    pub extreme: Vec<u32>,
}

/// Checks the replicate table (models × `n_resamples`, row-major) and the pair lists.
fn check_pairs(reps: &[f64], n_resamples: usize, first: &[u32], second: &[u32]) -> Result<usize> {
    if n_resamples == 0 || reps.len() % n_resamples != 0 {
        return Err(Error::shape(
            "replicates",
            "must be a models × n_resamples table with n_resamples >= 1",
        ));
    }
    if n_resamples > u32::MAX as usize {
        return Err(Error::invalid("n_resamples", "must be below 2^32"));
    }
    let m = reps.len() / n_resamples;
    if first.len() != second.len() {
        return Err(Error::shape(
            "pairs",
            "first and second have different lengths",
        ));
    }
    if first.iter().chain(second).any(|&k| k as usize >= m) {
        return Err(Error::invalid(
            "pairs",
            format!("model index out of 0..{m}"),
        ));
    }
    Ok(m)
}

/// Per-thread scratch: the differences of one pair and the candidates of two selections.
type Scratch = (Vec<f64>, [Vec<f64>; 2]);

/// Runs `per_pair` over every pair, in parallel, ticking `monitor` between batches.
fn map_pairs<T: Send>(
    n_pairs: usize,
    monitor: &dyn Monitor,
    per_pair: impl Fn(usize, &mut Scratch) -> T + Sync + Send,
) -> Result<Vec<T>> {
    let mut out = crate::mem::try_with_capacity("pairs", n_pairs, "pass fewer pairs per call")?;
    let mut start = 0;
    while start < n_pairs {
        let end = (start + PAIRS_PER_TICK).min(n_pairs);
        let part: Vec<T> = install(|| {
            (start..end)
                .into_par_iter()
                .map_init(Scratch::default, |scratch, p| per_pair(p, scratch))
                .collect()
        })?;
        out.extend(part);
        start = end;
        monitor.tick(start, n_pairs)?;
    }
    Ok(out)
}

/// Fills `buf` with the replicate differences of models `i` and `j`.
#[inline]
fn differences(reps: &[f64], b: usize, i: u32, j: u32, buf: &mut Vec<f64>) {
    let (ri, rj) = (&reps[i as usize * b..][..b], &reps[j as usize * b..][..b]);
    buf.clear();
    buf.extend(ri.iter().zip(rj).map(|(x, y)| x - y));
}

/// Standard deviation, counts and p-value counts of the replicate differences for each pair
/// `(first[k], second[k])`, against `observed[k]`.
pub fn pair_moments(
    reps: &[f64],
    n_resamples: usize,
    first: &[u32],
    second: &[u32],
    observed: &[f64],
    monitor: &dyn Monitor,
) -> Result<PairMoments> {
    check_pairs(reps, n_resamples, first, second)?;
    if observed.len() != first.len() {
        return Err(Error::shape("observed", "needs one value per pair"));
    }
    let b = n_resamples;
    let rows = map_pairs(first.len(), monitor, |p, (buf, _)| {
        differences(reps, b, first[p], second[p], buf);
        let obs = observed[p];
        let (mut below, mut at_or_below, mut extreme) = (0u32, 0u32, 0u32);
        for &d in buf.iter() {
            below += u32::from(d < obs);
            at_or_below += u32::from(d <= obs);
            extreme += u32::from((d - obs).abs() >= obs.abs());
        }
        let (mean, sd) = numpy_mean_std_ddof1(buf);
        (mean, sd, below, at_or_below, extreme)
    })?;
    let mut out = PairMoments::default();
    for (mean, sd, below, at_or_below, extreme) in rows {
        out.mean.push(mean);
        out.sd.push(sd);
        out.below.push(below);
        out.at_or_below.push(at_or_below);
        out.extreme.push(extreme);
    }
    Ok(out)
}

/// One quantile to find: the fraction `q` (numpy's "linear" method) and a value `hint`
/// expected to lie just beyond it, on the side away from the median (above the quantile for
/// q <= 0.5, below it for q > 0.5). The hint only narrows the selection to the values between
/// it and the tail; a wrong hint costs time, never accuracy.
#[derive(Clone, Copy, Debug)]
pub struct QuantileQuery {
    pub q: f64,
    pub hint: f64,
}

/// The `low[k]` and `high[k]` quantiles of the replicate differences of each pair, as numpy's
/// `percentile(..., method="linear")` computes them. A NaN fraction gives NaN.
pub fn pair_quantiles(
    reps: &[f64],
    n_resamples: usize,
    first: &[u32],
    second: &[u32],
    low: &[QuantileQuery],
    high: &[QuantileQuery],
    monitor: &dyn Monitor,
) -> Result<(Vec<f64>, Vec<f64>)> {
    check_pairs(reps, n_resamples, first, second)?;
    if low.len() != first.len() || high.len() != first.len() {
        return Err(Error::shape(
            "quantiles",
            "needs one low and one high per pair",
        ));
    }
    let b = n_resamples;
    let rows = map_pairs(first.len(), monitor, |p, (buf, candidates)| {
        differences(reps, b, first[p], second[p], buf);
        let [lo, hi] = quantiles(buf, [low[p], high[p]], candidates);
        (lo, hi)
    })?;
    Ok(rows.into_iter().unzip())
}

/// BCa acceleration of each pair's difference from the models' jackknife influence values
/// `u` (models × items, row-major): `a = Σ w³ / (6 (Σ w²)^(3/2))` with, paired, `w = u_i − u_j`
/// (one sample, the items shared) and, unpaired, the two samples' sums combined as scipy does
/// (`u_i` with sign +1, `u_j` with sign −1; each sample's sums divided by its n³ and n²).
pub fn pair_acceleration(
    influence: &[&[f64]],
    paired: bool,
    first: &[u32],
    second: &[u32],
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    let m = influence.len();
    if first.len() != second.len() || first.iter().chain(second).any(|&k| k as usize >= m) {
        return Err(Error::shape(
            "pairs",
            format!("need equal lengths and indices below {m}"),
        ));
    }
    if paired && influence.iter().any(|u| u.len() != influence[0].len()) {
        return Err(Error::shape(
            "influence",
            "paired rows must have equal lengths",
        ));
    }
    map_pairs(first.len(), monitor, |p, _| {
        let (ui, uj) = (influence[first[p] as usize], influence[second[p] as usize]);
        let (num, den) = if paired {
            let n = ui.len() as f64;
            let (mut s3, mut s2) = (0.0, 0.0);
            for (a, b) in ui.iter().zip(uj) {
                let w = a - b;
                s2 += w * w;
                s3 += w * w * w;
            }
            (s3 / (n * n * n), s2 / (n * n))
        } else {
            let (ni, nj) = (ui.len() as f64, uj.len() as f64);
            let cube = |u: &[f64]| u.iter().map(|w| w * w * w).sum::<f64>();
            let square = |u: &[f64]| u.iter().map(|w| w * w).sum::<f64>();
            (
                cube(ui) / (ni * ni * ni) - cube(uj) / (nj * nj * nj),
                square(ui) / (ni * ni) + square(uj) / (nj * nj),
            )
        };
        num / (6.0 * den.powf(1.5))
    })
}

/// numpy's `np.std(x, ddof=1)` for a contiguous row: the mean by pairwise summation divided by
/// n, the squared deviations summed pairwise, divided by n − 1, square root.
pub fn numpy_std_ddof1(x: &[f64]) -> f64 {
    numpy_mean_std_ddof1(x).1
}

/// numpy's `mean` and `std(ddof=1)` of a row (the mean is the one `std` uses).
fn numpy_mean_std_ddof1(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let mean = numpy_sum(x) / n as f64;
    if n < 2 {
        return (mean, f64::NAN);
    }
    let squares: f64 = numpy_sum_map(x, |v| {
        let d = v - mean;
        d * d
    });
    (mean, (squares / (n - 1) as f64).sqrt())
}

/// numpy's pairwise summation (`pairwise_sum` in its umath loops): below 8 values a plain
/// loop; up to 128 eight accumulators combined as a tree plus the remainder; above, the two
/// halves (the first a multiple of 8) summed recursively.
pub fn numpy_sum(x: &[f64]) -> f64 {
    numpy_sum_map(x, |v| v)
}

fn numpy_sum_map(x: &[f64], f: impl Fn(f64) -> f64 + Copy) -> f64 {
    let n = x.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in x {
            res += f(v);
        }
        res
    } else if n <= 128 {
        let mut r: [f64; 8] = std::array::from_fn(|k| f(x[k]));
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for k in 0..8 {
                r[k] += f(x[i + k]);
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &x[whole..] {
            res += f(v);
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        numpy_sum_map(&x[..half], f) + numpy_sum_map(&x[half..], f)
    }
}

/// Where numpy's linear-method quantile `q` of `n` values falls: the two order statistics
/// to interpolate and the weight.
fn virtual_index(n: usize, q: f64) -> (usize, usize, f64) {
    let v = (n - 1) as f64 * q;
    if v >= (n - 1) as f64 {
        (n - 1, n - 1, 0.0)
    } else if v < 0.0 {
        (0, 0, 0.0)
    } else {
        let prev = v.floor();
        (prev as usize, prev as usize + 1, v - prev)
    }
}

/// numpy's `_lerp`: from `a` when `t < 0.5`, from `b` otherwise (monotone and exact at ends).
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// The two quantiles of `values` (reordered in place) asked by `queries`. One pass collects,
/// for each query, the values on the tail side of its hint; each quantile's two neighbouring
/// order statistics are then selected among those candidates when there are enough of them,
/// else among all values.
fn quantiles(
    values: &mut [f64],
    queries: [QuantileQuery; 2],
    candidates: &mut [Vec<f64>; 2],
) -> [f64; 2] {
    let lower = queries.map(|q| q.q <= 0.5);
    let hints = queries.map(|q| q.hint);
    for c in candidates.iter_mut() {
        c.clear();
    }
    for &v in values.iter() {
        for k in 0..2 {
            let keep = if lower[k] {
                v <= hints[k]
            } else {
                v >= hints[k]
            };
            if keep {
                candidates[k].push(v);
            }
        }
    }
    [0, 1].map(|k| resolve(values, queries[k], lower[k], &mut candidates[k]))
}

/// One quantile from its candidates (all values on the tail side of the hint), or from all
/// values when the hint left too few.
fn resolve(values: &mut [f64], query: QuantileQuery, lower: bool, candidates: &mut [f64]) -> f64 {
    let n = values.len();
    if query.q.is_nan() || n == 0 {
        return f64::NAN;
    }
    let (prev, next, t) = virtual_index(n, query.q);
    let skipped = if lower { 0 } else { n - candidates.len() }; // all below every candidate
    let enough = if lower {
        candidates.len() > next
    } else {
        skipped <= prev
    };
    let (a, b) = if enough {
        order_statistics(candidates, prev - skipped, next - skipped)
    } else {
        order_statistics(values, prev, next)
    };
    lerp(a, b, t)
}

/// The `prev`-th and `next`-th smallest (0-based; next is prev or prev + 1) of `values`,
/// reordered in place: one selection, then the minimum of the part above it.
fn order_statistics(values: &mut [f64], prev: usize, next: usize) -> (f64, f64) {
    let (_, at, above) = values.select_nth_unstable_by(prev, f64::total_cmp);
    let a = *at;
    let b = if next == prev {
        a
    } else {
        above.iter().copied().fold(f64::INFINITY, f64::min)
    };
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    fn sorted_quantile(x: &[f64], q: f64) -> f64 {
        let mut s = x.to_vec();
        s.sort_by(f64::total_cmp);
        let (a, b, t) = virtual_index(s.len(), q);
        lerp(s[a], s[b], t)
    }

    #[test]
    fn selection_matches_sorting() {
        let x: Vec<f64> = (0..1001)
            .map(|i| ((i * 7919) % 1009) as f64 * 0.1 - 3.0)
            .collect();
        let mut candidates = [Vec::new(), Vec::new()];
        let qs = [0.025, 0.975, 0.0, 1.0, 0.9, 0.1, 0.5, 0.30001];
        for (&q1, &q2) in qs.iter().zip(qs.iter().rev()) {
            let exact = [sorted_quantile(&x, q1), sorted_quantile(&x, q2)];
            // good hints, hints on the wrong side (too few candidates), no narrowing at all
            for shift in [0.5, -0.5, 1e9, -1e9] {
                let away = |q: f64, e: f64| if q <= 0.5 { e + shift } else { e - shift };
                let queries = [
                    QuantileQuery {
                        q: q1,
                        hint: away(q1, exact[0]),
                    },
                    QuantileQuery {
                        q: q2,
                        hint: away(q2, exact[1]),
                    },
                ];
                let mut buf = x.clone();
                let got = quantiles(&mut buf, queries, &mut candidates);
                assert_eq!(got, exact, "q = {q1}, {q2}, shift = {shift}");
            }
        }
        let mut one = vec![2.5];
        let query = QuantileQuery { q: 0.9, hint: 0.0 };
        let nan = QuantileQuery {
            q: f64::NAN,
            hint: 0.0,
        };
        let got = quantiles(&mut one, [query, nan], &mut candidates);
        assert_eq!(got[0], 2.5);
        assert!(got[1].is_nan());
        let mut same = vec![1.5; 40];
        let query = QuantileQuery { q: 0.3, hint: 1.5 };
        assert_eq!(
            quantiles(&mut same, [query, query], &mut candidates),
            [1.5, 1.5]
        );
    }

    #[test]
    fn moments_count_and_spread() {
        // two models, four replicates
        let reps = [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 1.0, 1.0];
        let m = pair_moments(&reps, 4, &[0], &[1], &[1.5], &Silent).unwrap();
        // d* = [1, 2, 2, 3]
        assert_eq!(m.below, vec![1]);
        assert_eq!(m.at_or_below, vec![1]);
        assert_eq!(m.extreme, vec![1]); // |d - 1.5| >= 1.5 only for d = 3
        assert!((m.sd[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn numpy_sum_is_exact_on_integers_and_handles_sizes() {
        for n in [0usize, 1, 7, 8, 9, 128, 129, 1000] {
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(numpy_sum(&x), (n * n.saturating_sub(1) / 2) as f64);
        }
    }

    #[test]
    fn bad_pairs_are_errors() {
        let reps = [1.0, 2.0, 3.0, 4.0];
        assert!(pair_moments(&reps, 2, &[0], &[2], &[0.0], &Silent).is_err());
        assert!(pair_moments(&reps, 3, &[0], &[1], &[0.0], &Silent).is_err());
        let q = QuantileQuery { q: 0.1, hint: 0.0 };
        assert!(pair_quantiles(&reps, 2, &[0], &[1], &[q], &[], &Silent).is_err());
    }
}
