//! The bootstrap engine shared by every resampling capability.
//!
//! Replicates are grouped in fixed chunks of [`CHUNK`] replicates; chunk `c` draws from its own
//! stream `LaneRng::stream(seed, c)` and chunk results are concatenated in chunk order. A caller may
//! therefore compute any range of chunks anywhere (another thread, process or machine) and
//! obtain exactly the bits a single local call would give.
//!
//! Resampling never materialises a resampled copy of the data: a replicate is a sequence of
//! item indices that is either folded directly into running sums (the mean) or into
//! multinomial counts over pre-sorted samples (order statistics, see `dominance`). Memory is
//! O(models × items) plus the outputs, never O(replicates × items).

mod draws;
mod means;
mod pairs;
mod permutation;
mod ranks;

pub use draws::{BLOCK, bootstrap_indices, draw_replicate_blocks};
pub use means::bootstrap_means;
pub use pairs::{
    PairMoments, QuantileQuery, numpy_std_ddof1, numpy_sum, pair_acceleration, pair_moments,
    pair_quantiles,
};
pub use permutation::{permutation_null_paired, permutation_null_unpaired};
pub use ranks::rank_probabilities;

use std::ops::Range;

use crate::error::{Error, Result};

/// Replicates per chunk (each chunk owns one random stream). Fixed: changing it changes results.
pub const CHUNK: usize = 32;

/// Number of chunks holding `n_resamples` replicates.
pub fn n_chunks(n_resamples: usize) -> usize {
    n_resamples.div_ceil(CHUNK)
}

/// The replicate indices of chunk `chunk`.
pub fn chunk_replicates(chunk: usize, n_resamples: usize) -> Range<usize> {
    let start = (chunk * CHUNK).min(n_resamples);
    start..((chunk + 1) * CHUNK).min(n_resamples)
}

/// Checks a chunk range against `n_resamples`; returns the number of replicates it holds.
pub fn check_chunks(chunks: &Range<usize>, n_resamples: usize) -> Result<usize> {
    if n_resamples == 0 {
        return Err(Error::invalid("n_resamples", "must be at least 1"));
    }
    if chunks.start > chunks.end || chunks.end > n_chunks(n_resamples) {
        return Err(Error::invalid(
            "chunks",
            format!(
                "range {}..{} is outside 0..{} for {n_resamples} resamples",
                chunks.start,
                chunks.end,
                n_chunks(n_resamples)
            ),
        ));
    }
    let first = chunk_replicates(chunks.start, n_resamples).start;
    let last = if chunks.end == chunks.start {
        first
    } else {
        chunk_replicates(chunks.end - 1, n_resamples).end
    };
    Ok(last - first)
}

/// Fails with `Error::Memory` naming `n_resamples` when `values_per_replicate` f64 outputs for
/// each replicate in `chunks` would not fit in the memory budget (checked before any
/// allocation, so an absurd `n_resamples` is an error instead of an abort).
pub fn ensure_output_fits(
    chunks: &Range<usize>,
    n_resamples: usize,
    values_per_replicate: usize,
) -> Result<()> {
    let reps = check_chunks(chunks, n_resamples)?;
    crate::mem::ensure_fits(
        "n_resamples",
        reps as u128 * values_per_replicate.max(1) as u128,
        8,
        "pass fewer resamples, or split the work into chunk ranges",
    )
}

/// Checks that every sample is non-empty, finite and small enough for 32-bit indices, and, for
/// a paired design, that all have the same length.
pub fn check_samples(arg: &'static str, samples: &[&[f64]], paired: bool) -> Result<()> {
    if samples.is_empty() {
        return Err(Error::shape(arg, "has no rows; pass at least one sample"));
    }
    for (k, s) in samples.iter().enumerate() {
        if s.is_empty() {
            return Err(Error::shape(arg, format!("sample {k} is empty")));
        }
        if s.len() > u32::MAX as usize {
            return Err(Error::invalid(
                arg,
                format!("sample {k} has more than 2^32 - 1 items"),
            ));
        }
        crate::error::ensure_finite(arg, s)?;
    }
    if paired && samples.iter().any(|s| s.len() != samples[0].len()) {
        return Err(Error::shape(
            arg,
            "samples have different lengths; a paired design needs one score per model and item (pass paired=False for independent samples)",
        ));
    }
    Ok(())
}
