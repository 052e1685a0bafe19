//! Drawing the item indices of one bootstrap replicate.

use std::ops::Range;

use super::{check_chunks, chunk_replicates};
use crate::error::{Error, Result};
use crate::par::{Monitor, map_chunks};
use crate::rng::Rng;

/// Uniform integers in `[0, n)` for `1 <= n < 2^32`, two per 64-bit word: Lemire's 32-bit
/// multiply-shift with rejection, so there is no modulo bias.
#[derive(Clone, Debug)]
pub struct Below32 {
    n: u64,
    threshold: u32,
    spare: Option<u32>,
}

impl Below32 {
    /// A sampler for `[0, n)`; `n` must be positive.
    pub fn new(n: u32) -> Self {
        let n = n.max(1);
        Below32 {
            n: n as u64,
            threshold: n.wrapping_neg() % n,
            spare: None,
        }
    }

    #[inline]
    fn word(&mut self, rng: &mut Rng) -> u32 {
        match self.spare.take() {
            Some(w) => w,
            None => {
                let x = rng.next_u64();
                self.spare = Some(x as u32);
                (x >> 32) as u32
            }
        }
    }

    #[inline]
    pub fn draw(&mut self, rng: &mut Rng) -> usize {
        loop {
            let m = self.word(rng) as u64 * self.n;
            if (m as u32) >= self.threshold {
                return (m >> 32) as usize;
            }
        }
    }
}

/// Draws the `n` item indices of one resample of a sample of size `n`, calling `visit` on
/// each. This is the single definition of a replicate's draws: every kernel (means, counts,
/// explicit indices) goes through it or [`draw_replicate_pairs`], so they all see the same
/// resamples.
#[inline]
pub fn draw_replicate(rng: &mut Rng, n: usize, mut visit: impl FnMut(usize)) {
    draw_replicate_pairs(rng, n, |a, b| {
        visit(a);
        if let Some(b) = b {
            visit(b);
        }
    });
}

/// The draws of [`draw_replicate`] delivered two at a time (one 64-bit word gives two
/// indices, high half first; the second is `None` for the last call when `n` is odd). Lets
/// kernels keep two independent accumulators.
#[inline]
pub fn draw_replicate_pairs(rng: &mut Rng, n: usize, mut pair: impl FnMut(usize, Option<usize>)) {
    let n64 = n.clamp(1, u32::MAX as usize) as u64;
    let threshold = (n64 as u32).wrapping_neg() % n64 as u32;
    for _ in 0..n / 2 {
        let x = rng.next_u64();
        let a = bounded(rng, (x >> 32) as u32, n64, threshold);
        let b = bounded(rng, x as u32, n64, threshold);
        pair(a, Some(b));
    }
    if n % 2 == 1 {
        let x = rng.next_u64();
        pair(bounded(rng, (x >> 32) as u32, n64, threshold), None);
    }
}

/// Lemire's multiply-shift of a 32-bit word into `[0, n)`, redrawing on the rare rejection.
#[inline]
fn bounded(rng: &mut Rng, word: u32, n: u64, threshold: u32) -> usize {
    let m = word as u64 * n;
    if (m as u32) >= threshold {
        return (m >> 32) as usize;
    }
    loop {
        let m = (rng.next_u64() >> 32) * n;
        if (m as u32) >= threshold {
            return (m >> 32) as usize;
        }
    }
}

/// The indices of the replicates in `chunks`, flattened replicate-major: for each replicate the
/// indices of sample 0 (`sizes[0]` of them), then sample 1, ... A paired design passes one
/// size (the items are shared by all models). Used to apply arbitrary user statistics.
pub fn bootstrap_indices(
    sizes: &[usize],
    seed: u64,
    n_resamples: usize,
    chunks: Range<usize>,
    monitor: &dyn Monitor,
) -> Result<Vec<u32>> {
    if sizes.is_empty() || sizes.contains(&0) || sizes.iter().any(|&n| n > u32::MAX as usize) {
        return Err(Error::invalid(
            "sizes",
            "every sample size must be between 1 and 2^32 - 1",
        ));
    }
    check_chunks(&chunks, n_resamples)?;
    let per_replicate: usize = sizes.iter().sum();
    let parts = map_chunks(chunks.len(), monitor, |i| {
        let chunk = chunks.start + i;
        let mut rng = Rng::stream(seed, chunk as u64);
        let reps = chunk_replicates(chunk, n_resamples);
        let mut out = Vec::with_capacity(reps.len() * per_replicate);
        for _ in reps {
            for &n in sizes {
                draw_replicate(&mut rng, n, |i| out.push(i as u32));
            }
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;

    #[test]
    fn below32_is_uniform() {
        let mut rng = Rng::new(5);
        let mut b = Below32::new(7);
        let mut hist = [0usize; 7];
        for _ in 0..700_000 {
            hist[b.draw(&mut rng)] += 1;
        }
        for h in hist {
            assert!((h as f64 / 100_000.0 - 1.0).abs() < 0.02, "{hist:?}");
        }
    }

    #[test]
    fn indices_do_not_depend_on_chunk_split() {
        let all = bootstrap_indices(&[5, 3], 9, 100, 0..4, &Silent).unwrap();
        let a = bootstrap_indices(&[5, 3], 9, 100, 0..1, &Silent).unwrap();
        let b = bootstrap_indices(&[5, 3], 9, 100, 1..4, &Silent).unwrap();
        assert_eq!(all.len(), 100 * 8);
        assert_eq!([a, b].concat(), all);
        assert!(
            all.chunks(8)
                .all(|r| r[..5].iter().all(|&i| i < 5) && r[5..].iter().all(|&i| i < 3))
        );
    }

    #[test]
    fn bad_chunks_are_rejected() {
        assert!(bootstrap_indices(&[5], 1, 10, 0..2, &Silent).is_err());
        assert!(bootstrap_indices(&[0], 1, 10, 0..1, &Silent).is_err());
        assert!(bootstrap_indices(&[5], 1, 0, 0..0, &Silent).is_err());
    }
}
