//! Drawing the item indices of one bootstrap replicate.
//!
//! This module is the single definition of a replicate's draws: every kernel (means, order-
//! statistic counts, explicit indices) goes through [`draw_replicate_blocks`], so they all see
//! the same resamples. The definition, which fixes the bits of every bootstrap result:
//!
//! - A chunk's draws come from `LaneRng::stream(seed, chunk)`, replicate after replicate.
//! - A replicate of a sample of size n is cut into blocks of [`BLOCK`] indices (the last one
//!   shorter). Each block is filled from fresh generator steps.
//! - One step gives four 64-bit words w₀..w₃, that is eight 32-bit candidates: the halves of
//!   each word in lane order, low half first (lo(w₀), hi(w₀), lo(w₁), hi(w₁), ...).
//! - A candidate u maps to ⌊u·n / 2³²⌋ (Lemire's multiply-shift) unless the low 32 bits of
//!   u·n fall below 2³² mod n, where it is rejected. Rejection removes the modulo bias; its
//!   probability is below n / 2³² (about 10⁻⁶ for n = 5,000).
//! - The block takes the accepted candidates in order; those left over by its last step are
//!   discarded.
//!
//! Four generators stepped together fill one AVX2 register, and a step's eight candidates are
//! mapped, checked and stored with a handful of vector instructions. The AVX2 path is chosen at
//! run time (`pulp` proves the features, so no unsafe code is needed); the portable path
//! computes the same definition one candidate at a time and gives the same bits (tested).

use std::ops::Range;

use super::chunk_replicates;
use crate::error::{Error, Result};
use crate::par::{Monitor, map_chunks};
use crate::rng::{LANES, LaneRng};

/// Indices per block. Fixed: changing it changes results (see the module notes).
pub const BLOCK: usize = 256;

/// Candidates per generator step: two 32-bit halves of each lane's word.
const PER_STEP: usize = 2 * LANES;

/// Draws the `n` item indices (each below `n`) of one resample, handing them to `visit` block
/// by block in draw order. `n` must be between 1 and 2^32 − 1 (callers check).
#[inline]
pub fn draw_replicate_blocks(rng: &mut LaneRng, n: usize, mut visit: impl FnMut(&[u32])) {
    let range = Bounded::new(n);
    let mut block = [0u32; BLOCK];
    let mut left = n;
    while left > 0 {
        let len = left.min(BLOCK);
        fill_block(rng, range, &mut block[..len]);
        visit(&block[..len]);
        left -= len;
    }
}

/// Lemire's unbiased map of 32-bit words into `[0, n)`.
#[derive(Clone, Copy, Debug)]
struct Bounded {
    /// 32 bits, so that its products with 32-bit words are single 32 × 32 → 64-bit multiplies
    /// (one vector instruction for four lanes).
    n: u32,
    /// 2^32 mod n: products whose low half falls below it are rejected.
    threshold: u32,
}

impl Bounded {
    fn new(n: usize) -> Self {
        let n = n.clamp(1, u32::MAX as usize) as u32;
        Bounded {
            n,
            threshold: n.wrapping_neg() % n,
        }
    }
}

/// Fills `out` with accepted draws: the AVX2 path where the CPU has it, else the portable one.
fn fill_block(rng: &mut LaneRng, range: Bounded, out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(|| avx2::fill_block(simd, rng, range, out));
    }
    fill_block_portable(rng, range, out);
}

/// The definition one step at a time on plain integers.
fn fill_block_portable(rng: &mut LaneRng, range: Bounded, out: &mut [u32]) {
    let mut filled = 0;
    while filled < out.len() {
        let words = rng.next_words();
        let candidates: [u32; PER_STEP] =
            std::array::from_fn(|j| (words[j / 2] >> (32 * (j % 2))) as u32);
        filled = push_accepted(candidates, range, out, filled);
    }
}

/// Appends the accepted candidates of one step at `out[filled..]`, in order, while room is
/// left; returns the new fill.
#[inline]
fn push_accepted(
    candidates: [u32; PER_STEP],
    range: Bounded,
    out: &mut [u32],
    mut filled: usize,
) -> usize {
    for u in candidates {
        let m = u as u64 * range.n as u64;
        if filled < out.len() && m as u32 >= range.threshold {
            out[filled] = (m >> 32) as u32;
            filled += 1;
        }
    }
    filled
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::__m256i;

    use pulp::bytemuck::cast;
    use pulp::x86::V3;

    use super::{Bounded, PER_STEP, push_accepted};
    use crate::rng::{LANES, LaneRng};

    /// The block filler of the AVX2 path: one xoshiro256++ step of the four lanes, then the
    /// eight multiply-shifts, the rejection test and the store, all in registers. Inlined
    /// into `V3::vectorize`, which compiles it with AVX2 enabled.
    #[inline(always)]
    pub(super) fn fill_block(simd: V3, rng: &mut LaneRng, range: Bounded, out: &mut [u32]) {
        let v = simd.avx2;
        let mut s: [__m256i; 4] = rng.state().map(cast);
        let n = simd.avx._mm256_set1_epi64x(range.n as i64);
        // Unsigned a ≥ t for 32-bit lanes is max(a, t) = a.
        let threshold = simd.avx._mm256_set1_epi32(range.threshold as i32);
        let mut filled = 0;
        while filled < out.len() {
            let words = step(simd, &mut s);
            // The products of the low halves (even 32-bit lanes) and of the high halves.
            let lo = v._mm256_mul_epu32(words, n);
            let hi = v._mm256_mul_epu32(v._mm256_srli_epi64::<32>(words), n);
            // Per candidate, in candidate order: the index (high half of its product) and
            // the low half of its product (the rejection test).
            let index = v._mm256_blend_epi32::<0b1010_1010>(v._mm256_srli_epi64::<32>(lo), hi);
            let low = v._mm256_blend_epi32::<0b1010_1010>(lo, v._mm256_slli_epi64::<32>(hi));
            let accepted = v._mm256_cmpeq_epi32(v._mm256_max_epu32(low, threshold), low);
            if v._mm256_movemask_epi8(accepted) == -1 && out.len() - filled >= PER_STEP {
                let indices: [u32; PER_STEP] = cast(index);
                out[filled..filled + PER_STEP].copy_from_slice(&indices);
                filled += PER_STEP;
            } else {
                filled = push_accepted(cast(words), range, out, filled);
            }
        }
        rng.set_state(s.map(cast::<__m256i, [u64; LANES]>));
    }

    /// `LaneRng::next_words` on registers.
    #[inline(always)]
    fn step(simd: V3, s: &mut [__m256i; 4]) -> __m256i {
        let v = simd.avx2;
        let [s0, s1, s2, s3] = *s;
        let sum = v._mm256_add_epi64(s0, s3);
        let rotl23 = v._mm256_or_si256(
            v._mm256_slli_epi64::<23>(sum),
            v._mm256_srli_epi64::<41>(sum),
        );
        let out = v._mm256_add_epi64(rotl23, s0);
        let t = v._mm256_slli_epi64::<17>(s1);
        let s2 = v._mm256_xor_si256(s2, s0);
        let s3 = v._mm256_xor_si256(s3, s1);
        let s1 = v._mm256_xor_si256(s1, s2);
        let s0 = v._mm256_xor_si256(s0, s3);
        let s2 = v._mm256_xor_si256(s2, t);
        let s3 = v._mm256_or_si256(v._mm256_slli_epi64::<45>(s3), v._mm256_srli_epi64::<19>(s3));
        *s = [s0, s1, s2, s3];
        out
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
    let per_replicate: usize = sizes.iter().sum();
    // u32 indices: half the bytes of f64 outputs, so ask for ceil(per_replicate / 2) values.
    super::ensure_output_fits(&chunks, n_resamples, per_replicate.div_ceil(2))?;
    let parts = map_chunks(chunks.len(), monitor, |i| {
        let chunk = chunks.start + i;
        let mut rng = LaneRng::stream(seed, chunk as u64);
        let reps = chunk_replicates(chunk, n_resamples);
        let mut out = Vec::with_capacity(reps.len() * per_replicate);
        for _ in reps {
            for &n in sizes {
                draw_replicate_blocks(&mut rng, n, |block| out.extend_from_slice(block));
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

    /// One block of the module's definition written plainly: one candidate at a time, the
    /// threshold 2^32 mod n computed in 64 bits, leftovers of the last step dropped.
    fn plain_block(rng: &mut LaneRng, n: usize, len: usize) -> Vec<u32> {
        let threshold = (1u64 << 32) % n as u64;
        let mut out = Vec::new();
        while out.len() < len {
            let w = rng.next_words();
            let halves = w.iter().flat_map(|x| [x & 0xFFFF_FFFF, x >> 32]);
            for u in halves {
                let m = u * n as u64;
                if out.len() < len && m % (1u64 << 32) >= threshold {
                    out.push((m >> 32) as u32);
                }
            }
        }
        out
    }

    /// One block as the library draws it.
    fn fast_block(rng: &mut LaneRng, n: usize, len: usize) -> Vec<u32> {
        let mut out = vec![0u32; len];
        fill_block(rng, Bounded::new(n), &mut out);
        out
    }

    #[test]
    fn replicates_follow_the_documented_definition() {
        for n in [1, 2, 7, 8, 9, 255, 256, 257, 1000, 1031] {
            let (mut fast, mut plain) =
                (LaneRng::stream(3, n as u64), LaneRng::stream(3, n as u64));
            for _ in 0..3 {
                let mut drawn = Vec::new();
                draw_replicate_blocks(&mut fast, n, |b| drawn.extend_from_slice(b));
                let expected: Vec<u32> = (0..n)
                    .step_by(BLOCK)
                    .flat_map(|start| plain_block(&mut plain, n, BLOCK.min(n - start)))
                    .collect();
                assert_eq!(drawn, expected, "n = {n}");
            }
        }
    }

    #[test]
    fn blocks_follow_the_definition_when_rejections_are_frequent() {
        // Near 2^32 about a third of the candidates are rejected (2^32 mod n ≈ 2^32 / 3).
        for n in [3usize << 30, u32::MAX as usize - 1, 5_000] {
            let (mut fast, mut plain) = (LaneRng::stream(1, 2), LaneRng::stream(1, 2));
            for len in [BLOCK, 13, BLOCK, 1, BLOCK] {
                assert_eq!(
                    fast_block(&mut fast, n, len),
                    plain_block(&mut plain, n, len)
                );
            }
        }
    }

    #[test]
    fn vector_and_portable_paths_agree() {
        for n in [5usize, 5_000, 3 << 30] {
            let range = Bounded::new(n);
            let (mut a, mut b) = (LaneRng::stream(1, 2), LaneRng::stream(1, 2));
            let (mut wide, mut narrow) = ([0u32; BLOCK], [0u32; BLOCK]);
            for len in [BLOCK, 7, BLOCK, 1, 200] {
                fill_block(&mut a, range, &mut wide[..len]);
                fill_block_portable(&mut b, range, &mut narrow[..len]);
                assert_eq!(wide, narrow);
                assert_eq!(a.state(), b.state());
            }
        }
    }

    #[test]
    fn draws_are_uniform() {
        let mut rng = LaneRng::stream(5, 0);
        let mut hist = [0usize; 7];
        for _ in 0..100_000 {
            draw_replicate_blocks(&mut rng, 7, |b| {
                b.iter().for_each(|&i| hist[i as usize] += 1)
            });
        }
        for h in hist {
            assert!((h as f64 / 100_000.0 - 1.0).abs() < 0.02, "{hist:?}");
        }
        // With frequent rejections: uniform over the thirds of [0, 3·2^30).
        let mut thirds = [0usize; 3];
        for _ in 0..1_000 {
            for i in fast_block(&mut rng, 3 << 30, BLOCK) {
                thirds[i as usize >> 30] += 1;
            }
        }
        let expected = 1_000.0 * BLOCK as f64 / 3.0;
        for t in thirds {
            assert!((t as f64 / expected - 1.0).abs() < 0.02, "{thirds:?}");
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
