//! Deterministic random streams.
//!
//! One user seed (u64) is expanded into independent streams, one per fixed-size chunk of work,
//! keyed by (seed, stream index). Workers may process chunks in any order on any number of
//! threads; because each chunk owns its stream and results are folded in chunk order, the
//! output is bit-identical for every thread count and executor.
//!
//! The generator is xoshiro256++ seeded through SplitMix64 (both public-domain algorithms by
//! Blackman and Vigna): fast, 256-bit state, and trivially reproducible in any language.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a bijective 64-bit mixer.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The SplitMix64 sequence that seeds stream `stream` under user seed `seed`: every generator
/// state is drawn from it, so distinct (seed, stream) pairs start far apart.
fn seed_words(seed: u64, stream: u64) -> impl Iterator<Item = u64> {
    let start = mix64(seed ^ mix64(stream.wrapping_mul(GOLDEN).wrapping_add(GOLDEN)));
    (1..).map(move |k: u64| mix64(start.wrapping_add(k.wrapping_mul(GOLDEN))))
}

/// The all-zero state is the one fixed point of xoshiro: replace it (it has probability 2^-256).
fn nonzero_state(mut s: [u64; 4]) -> [u64; 4] {
    if s == [0; 4] {
        s[0] = GOLDEN;
    }
    s
}

/// A xoshiro256++ generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The generator of stream `stream` under user seed `seed`.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut words = seed_words(seed, stream);
        Rng {
            s: nonzero_state(std::array::from_fn(|_| words.next().unwrap_or(GOLDEN))),
        }
    }

    /// A generator for a single, unchunked computation.
    pub fn new(seed: u64) -> Self {
        Self::stream(seed, 0)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
    /// `n` must be positive.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// Standard normal deviate (Marsaglia's polar method; the spare value is discarded so that
    /// the stream position depends only on the number of calls).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// Generators stepped together by [`LaneRng`].
pub const LANES: usize = 4;

/// [`LANES`] independent xoshiro256++ generators stepped together: one step gives `LANES`
/// words. The state is stored word-major (`s[word][lane]`), so that each state word is one
/// four-lane vector register. Used where random words are the bottleneck: the bootstrap's
/// item draws.
#[derive(Clone, Debug)]
pub struct LaneRng {
    s: [[u64; LANES]; 4],
}

impl LaneRng {
    /// The generators of stream `stream` under user seed `seed`. Lane 0 starts where
    /// `Rng::stream(seed, stream)` starts; the other lanes take their states from the rest of
    /// the same SplitMix64 seeding sequence.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut words = seed_words(seed, stream);
        let lanes: [[u64; 4]; LANES] = std::array::from_fn(|_| {
            nonzero_state(std::array::from_fn(|_| words.next().unwrap_or(GOLDEN)))
        });
        LaneRng {
            s: std::array::from_fn(|word| std::array::from_fn(|lane| lanes[lane][word])),
        }
    }

    /// The state, word-major: `state()[word][lane]`.
    pub fn state(&self) -> [[u64; LANES]; 4] {
        self.s
    }

    /// Replaces the state with one returned by [`LaneRng::state`] and advanced elsewhere (by a
    /// vectorised copy of [`LaneRng::next_words`]).
    pub fn set_state(&mut self, s: [[u64; LANES]; 4]) {
        self.s = s;
    }

    /// One xoshiro256++ step of every lane, written on whole lane arrays (the bootstrap's draws
    /// run an AVX2 copy of it on registers, `resample::draws`, tested to give the same words).
    #[inline(always)]
    pub fn next_words(&mut self) -> [u64; LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        std::array::from_fn(|l| {
            let out = s0[l]
                .wrapping_add(s3[l])
                .rotate_left(23)
                .wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::stream(7, 3).next_u64(), Rng::stream(7, 4).next_u64());
        assert_ne!(Rng::stream(7, 3).next_u64(), Rng::stream(8, 3).next_u64());
    }

    #[test]
    fn uniform_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.next_f64()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "{var}");
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn below_is_unbiased_for_small_n() {
        let mut r = Rng::new(2);
        let mut hist = [0usize; 3];
        for _ in 0..300_000 {
            hist[r.below(3) as usize] += 1;
        }
        for h in hist {
            assert!((h as f64 / 100_000.0 - 1.0).abs() < 0.02, "{hist:?}");
        }
    }

    #[test]
    fn normal_moments() {
        let mut r = Rng::new(3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }

    #[test]
    fn each_lane_is_a_plain_xoshiro_stream() {
        let mut lanes = LaneRng::stream(7, 3);
        let seeds: Vec<u64> = seed_words(7, 3).take(4 * LANES).collect();
        let mut plain: Vec<Rng> = seeds
            .chunks(4)
            .map(|w| Rng {
                s: [w[0], w[1], w[2], w[3]],
            })
            .collect();
        for _ in 0..100 {
            let words = lanes.next_words();
            for (l, rng) in plain.iter_mut().enumerate() {
                assert_eq!(words[l], rng.next_u64());
            }
        }
        assert_eq!(plain[0].s, {
            let mut r = Rng::stream(7, 3);
            (0..100).for_each(|_| {
                r.next_u64();
            });
            r.s
        });
        assert_ne!(
            LaneRng::stream(7, 4).next_words(),
            LaneRng::stream(7, 3).next_words()
        );
    }
}
