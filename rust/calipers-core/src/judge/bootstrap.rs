//! The item-cluster bootstrap of the cumulative-logit fit, optionally with the judge's sampled
//! ratings re-drawn (spec §3.3: with a judge latent made from M sampled judgments per item the
//! latent carries sampling error, so an honest interval resamples the judgments as well).
//!
//! Replicate r draws `n_items` items with replacement (each drawn copy a new cluster with all
//! its ratings); with [`Samples`], each drawn copy also gets M judgments re-drawn
//! multinomially from its observed frequencies, and the latent column is recomputed from them
//! by the logit trick with Laplace smoothing. Replicate r uses its own stream
//! `Rng::stream(seed, r)`, replicates run in parallel over chunks, so the draws do not depend
//! on the thread count or on the chunk size.

use super::likelihood::Problem;
use super::newton::fit;
use crate::error::{Error, Result};
use crate::mem;
use crate::par::{Monitor, map_chunks, num_threads};
use crate::rng::Rng;

/// Clip of the cumulative judge probabilities in the logit trick (as `judge_latent_from_samples`).
const LATENT_EPS: f64 = 1e-12;
/// Rows refitted per parallel chunk (about): chunks of a few fits keep Ctrl-C responsive.
const ROWS_PER_CHUNK: usize = 100_000;
/// Replicates per chunk at most.
const MAX_CHUNK: usize = 16;

/// The judge's sampled ratings: `counts` is n_items × n_levels (row-major), the number of the
/// M sampled judgments of each item that gave each rating; `smoothing` the Laplace pseudo-count.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    pub counts: &'a [u32],
    pub n_levels: usize,
    pub smoothing: f64,
    /// The regressor column that holds the judge latent.
    pub column: usize,
}

/// The logit-trick latent from rating counts: p = (c + s)/(M + K s), the K − 1 cumulative
/// probabilities clipped to [1e-12, 1 − 1e-12], latent = −mean logit(cumulative).
pub fn latent_from_counts(counts: &[u32], smoothing: f64) -> f64 {
    let k = counts.len();
    let m: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let denom = m + k as f64 * smoothing;
    let mut cum = 0.0;
    let mut total = 0.0;
    for &c in &counts[..k - 1] {
        cum += (f64::from(c) + smoothing) / denom;
        let x = cum.clamp(LATENT_EPS, 1.0 - LATENT_EPS);
        total += (x / (1.0 - x)).ln();
    }
    -total / (k - 1) as f64
}

fn check_samples(s: &Samples<'_>, n_items: usize, q: usize) -> Result<()> {
    if s.n_levels < 2 {
        return Err(Error::invalid(
            "counts",
            "has fewer than 2 rating levels; pass one column per judge rating",
        ));
    }
    if Some(s.counts.len()) != n_items.checked_mul(s.n_levels) {
        return Err(Error::shape(
            "counts",
            format!(
                "has {} values for {n_items} items x {} levels",
                s.counts.len(),
                s.n_levels
            ),
        ));
    }
    if !(s.smoothing.is_finite() && s.smoothing > 0.0) {
        return Err(Error::invalid(
            "smoothing",
            "must be a positive finite number",
        ));
    }
    if s.column >= q {
        return Err(Error::invalid(
            "column",
            format!("is {} but there are {q} regressors", s.column),
        ));
    }
    for (i, row) in s.counts.chunks_exact(s.n_levels).enumerate() {
        let m: u64 = row.iter().map(|&c| u64::from(c)).sum();
        if m == 0 || m > u64::from(u32::MAX) {
            return Err(Error::invalid(
                "counts",
                format!("item {i} has {m} sampled judgments; pass between 1 and 2**32 - 1"),
            ));
        }
    }
    Ok(())
}

/// Re-draws the M judgments of one item multinomially from its observed frequencies.
fn redraw(counts: &[u32], rng: &mut Rng, out: &mut [u32]) {
    let m: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    out.iter_mut().for_each(|c| *c = 0);
    for _ in 0..m {
        let mut r = rng.below(m);
        for (o, &c) in out.iter_mut().zip(counts) {
            if r < u64::from(c) {
                *o += 1;
                break;
            }
            r -= u64::from(c);
        }
    }
}

/// Forwards a chunk-counting monitor's ticks as replicate counts.
struct PerReplicate<'m> {
    inner: &'m dyn Monitor,
    per_chunk: usize,
    total: usize,
}

impl Monitor for PerReplicate<'_> {
    fn tick(&self, done: usize, _chunks: usize) -> Result<()> {
        self.inner
            .tick((done * self.per_chunk).min(self.total), self.total)
    }

    fn stop_requested(&self) -> bool {
        self.inner.stop_requested()
    }
}

/// Rows of each item: `order[offsets[i]..offsets[i + 1]]`, in row order.
fn rows_by_item(items: &[u32], n_items: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut offsets = vec![0usize; n_items + 1];
    for (r, &i) in items.iter().enumerate() {
        let i = i as usize;
        if i >= n_items {
            return Err(Error::invalid(
                "items",
                format!("row {r} has item {i} >= n_items {n_items}"),
            ));
        }
        offsets[i + 1] += 1;
    }
    if let Some(i) = (0..n_items).find(|&i| offsets[i + 1] == 0) {
        return Err(Error::invalid(
            "items",
            format!("item {i} has no rating; number the items 0..n_items - 1 without gaps"),
        ));
    }
    for i in 0..n_items {
        offsets[i + 1] += offsets[i];
    }
    let mut next = offsets.clone();
    let mut order = vec![0usize; items.len()];
    for (r, &i) in items.iter().enumerate() {
        order[next[i as usize]] = r;
        next[i as usize] += 1;
    }
    Ok((offsets, order))
}

/// `n_resamples` item-cluster bootstrap refits of `problem`, each from `warm` (the full fit's
/// θ, when given; else from the marginal start): returns the n_resamples × P
/// estimates (row-major; NaN rows for replicates that could not be fitted) and a flag per
/// replicate (false when the replicate lost a label category or its fit failed, e.g. by
/// separation). `items[r]` is the item of row r, in 0..n_items, every item with a rating.
#[allow(clippy::too_many_arguments)]
pub fn bootstrap(
    problem: &Problem<'_>,
    items: &[u32],
    n_items: usize,
    samples: Option<&Samples<'_>>,
    warm: Option<&[f64]>,
    n_resamples: usize,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<(Vec<f64>, Vec<bool>)> {
    let n = problem.n_rows();
    if items.len() != n {
        return Err(Error::shape(
            "items",
            format!("has length {} but there are {n} ratings", items.len()),
        ));
    }
    let q = problem.n_regressors();
    if let Some(s) = samples {
        check_samples(s, n_items, q)?;
    }
    let np = problem.n_params();
    let fix = "pass fewer n_resamples or fewer ratings";
    mem::ensure_fits("n_resamples", n_resamples as u128 * np as u128, 8, fix)?;
    // each worker holds one replicate's labels and regressors (about n rows)
    mem::ensure_fits(
        "y",
        num_threads() as u128 * n as u128 * (q as u128 + 1),
        8,
        fix,
    )?;
    let (offsets, order) = rows_by_item(items, n_items)?;
    let k = problem.n_categories();
    let per_chunk = (ROWS_PER_CHUNK / n.max(1)).clamp(1, MAX_CHUNK);
    let n_chunks = n_resamples.div_ceil(per_chunk);
    let progress = PerReplicate {
        inner: monitor,
        per_chunk,
        total: n_resamples,
    };
    let (y_all, w_all, tmap) = (problem.labels(), problem.regressors(), problem.tmap());
    let parts = map_chunks(n_chunks, &progress, |c| {
        let reps = c * per_chunk..((c + 1) * per_chunk).min(n_resamples);
        let mut y = Vec::with_capacity(n + n / 4);
        let mut w = Vec::with_capacity((n + n / 4) * q);
        let mut redrawn = vec![0u32; samples.map_or(0, |s| s.n_levels)];
        let mut out = Vec::with_capacity(reps.len());
        for r in reps {
            if monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            let mut rng = Rng::stream(seed, r as u64);
            y.clear();
            w.clear();
            for _ in 0..n_items {
                let item = rng.below(n_items as u64) as usize;
                let latent = samples.map(|s| {
                    let counts = &s.counts[item * s.n_levels..(item + 1) * s.n_levels];
                    redraw(counts, &mut rng, &mut redrawn);
                    latent_from_counts(&redrawn, s.smoothing)
                });
                for &row in &order[offsets[item]..offsets[item + 1]] {
                    y.push(y_all[row]);
                    let start = w.len();
                    w.extend_from_slice(&w_all[row * q..(row + 1) * q]);
                    if let (Some(z), Some(s)) = (latent, samples) {
                        w[start + s.column] = z;
                    }
                }
            }
            let mut seen = vec![false; k];
            y.iter().for_each(|&c| seen[c as usize] = true);
            if !seen.iter().all(|&s| s) {
                out.push(None);
                continue;
            }
            let rep = Problem::new(&y, &w, q, tmap, problem.n_thresholds(), k)?;
            match fit(&rep, warm, false, monitor) {
                Ok(f) => out.push(Some(f.theta)),
                Err(Error::Numerical(_)) => out.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })?;
    let mut draws = mem::try_with_capacity("n_resamples", n_resamples * np, fix)?;
    let mut ok = Vec::with_capacity(n_resamples);
    for theta in parts.into_iter().flatten() {
        match theta {
            Some(t) => {
                draws.extend_from_slice(&t);
                ok.push(true);
            }
            None => {
                draws.extend(std::iter::repeat_n(f64::NAN, np));
                ok.push(false);
            }
        }
    }
    Ok((draws, ok))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::{Silent, set_num_threads};

    fn data(n_items: usize, seed: u64) -> (Vec<u32>, Vec<f64>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let (mut y, mut w, mut items) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n_items {
            let z = rng.normal();
            let x = rng.normal();
            for _ in 0..3 {
                let u = rng.next_f64().clamp(1e-12, 1.0 - 1e-12);
                let latent = 0.9 * z + 0.4 * x + (u / (1.0 - u)).ln();
                y.push([-1.0, 0.0, 1.0].iter().filter(|&&t| latent > t).count() as u32);
                w.extend([z, x]);
                items.push(i as u32);
            }
        }
        (y, w, items)
    }

    const FREE4: [f64; 9] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

    #[test]
    fn draws_do_not_depend_on_the_thread_count() {
        let (y, w, items) = data(150, 1);
        let p = Problem::new(&y, &w, 2, &FREE4, 3, 4).unwrap();
        let mut runs = Vec::new();
        for threads in [1, 2, 4] {
            set_num_threads(threads).unwrap();
            runs.push(bootstrap(&p, &items, 150, None, None, 37, 9, &Silent).unwrap());
        }
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
        let (draws, ok) = &runs[0];
        assert_eq!(ok.len(), 37);
        assert!(ok.iter().all(|&o| o));
        // the spread of the coefficient on z is of the order of its standard error
        let a: Vec<f64> = draws.chunks(5).map(|t| t[3]).collect();
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let sd = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 36.0).sqrt();
        assert!(sd > 0.02 && sd < 0.5, "{sd}");
    }

    #[test]
    fn resampled_judgments_move_the_latent() {
        let (y, mut w, items) = data(120, 2);
        let mut rng = Rng::new(5);
        let counts: Vec<u32> = (0..120 * 5).map(|_| rng.below(6) as u32 + 1).collect();
        for (r, &i) in items.iter().enumerate() {
            w[r * 2] = latent_from_counts(&counts[i as usize * 5..(i as usize + 1) * 5], 0.5);
        }
        let p = Problem::new(&y, &w, 2, &FREE4, 3, 4).unwrap();
        let s = Samples {
            counts: &counts,
            n_levels: 5,
            smoothing: 0.5,
            column: 0,
        };
        let with = bootstrap(&p, &items, 120, Some(&s), None, 8, 3, &Silent).unwrap();
        let without = bootstrap(&p, &items, 120, None, None, 8, 3, &Silent).unwrap();
        assert_ne!(with.0, without.0);
        // redrawn counts keep M
        let mut out = [0u32; 5];
        redraw(&counts[..5], &mut rng, &mut out);
        assert_eq!(out.iter().sum::<u32>(), counts[..5].iter().sum::<u32>());
    }

    #[test]
    fn redraw_has_the_multinomial_moments() {
        let counts = [1u32, 3, 4, 2, 0];
        let m = 10.0;
        let mut rng = Rng::new(11);
        let reps = 200_000;
        let mut sum = [0.0f64; 5];
        let mut sq = [0.0f64; 5];
        let mut out = [0u32; 5];
        for _ in 0..reps {
            redraw(&counts, &mut rng, &mut out);
            for k in 0..5 {
                let v = f64::from(out[k]);
                sum[k] += v;
                sq[k] += v * v;
            }
        }
        for k in 0..5 {
            let p = f64::from(counts[k]) / m;
            let mean = sum[k] / reps as f64;
            let var = sq[k] / reps as f64 - mean * mean;
            assert!((mean - m * p).abs() < 0.02, "mean {k}: {mean}");
            assert!((var - m * p * (1.0 - p)).abs() < 0.03, "var {k}: {var}");
        }
    }

    #[test]
    fn latent_from_counts_is_the_logit_trick() {
        // p = (c + ½)/(M + 2.5): c = (2, 0, 1, 5, 2), M = 10
        let c = [2u32, 0, 1, 5, 2];
        let p: Vec<f64> = c.iter().map(|&v| (f64::from(v) + 0.5) / 12.5).collect();
        let mut cum = 0.0;
        let mut s = 0.0;
        for v in &p[..4] {
            cum += v;
            s += (cum / (1.0 - cum)).ln();
        }
        assert!((latent_from_counts(&c, 0.5) + s / 4.0).abs() < 1e-14);
    }

    #[test]
    fn bad_items_are_errors() {
        let (y, w, mut items) = data(10, 3);
        let p = Problem::new(&y, &w, 2, &FREE4, 3, 4).unwrap();
        assert!(bootstrap(&p, &items, 11, None, None, 2, 0, &Silent).is_err());
        items[0] = 99;
        assert!(bootstrap(&p, &items, 10, None, None, 2, 0, &Silent).is_err());
    }
}
