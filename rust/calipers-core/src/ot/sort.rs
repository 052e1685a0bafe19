//! Fast sorting of f64 values through their order-preserving u64 bit keys.
//!
//! Sorting dominates every 1-D transport computation. Sorting the integer keys with the
//! standard pattern-defeating sort is about twice as fast as sorting the floats with
//! `total_cmp` (measured on this project's machine for 512 and 10^6 values). LSD radix sorts
//! (8- and 11-bit digits) and a value-range bucket sort were measured too and were slower
//! there: scattered writes are expensive on that VM. Equal keys are equal bit patterns, and
//! indexed sorts break ties by position, so results never depend on the sort's internal order.

/// Maps an f64 to a u64 whose unsigned order is `f64::total_cmp` order
/// (−NaN < −inf < … < −0.0 < +0.0 < … < +inf < +NaN).
#[inline]
pub fn key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Inverse of [`key`].
#[inline]
pub fn value(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Reusable buffers for sorting f64 samples: the sorted keys live in `keys`.
#[derive(Default)]
pub struct KeySorter {
    pub keys: Vec<u64>,
}

impl KeySorter {
    /// Sorts `values`; the result is in `self.keys` (convert back with [`value`]).
    pub fn sort(&mut self, values: &[f64]) {
        self.keys.clear();
        self.keys.extend(values.iter().map(|&x| key(x)));
        self.keys.sort_unstable();
    }
}

/// Reusable buffers for sorting f64 samples together with their original positions.
#[derive(Default)]
pub struct IndexSorter {
    /// (key, original index) pairs in ascending key order after [`IndexSorter::sort`].
    pub pairs: Vec<(u64, usize)>,
}

impl IndexSorter {
    pub fn sort(&mut self, values: &[f64]) {
        self.pairs.clear();
        self.pairs
            .extend(values.iter().enumerate().map(|(i, &x)| (key(x), i)));
        // Positions are distinct, so ties in value keep their input order.
        self.pairs.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_preserve_order_and_round_trip() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            1e300,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} vs {}", w[0], w[1]);
        }
        for &x in &xs {
            assert_eq!(value(key(x)).to_bits(), x.to_bits());
        }
    }

    fn check(xs: Vec<f64>) {
        let mut s = KeySorter::default();
        s.sort(&xs);
        let got: Vec<f64> = s.keys.iter().map(|&k| value(k)).collect();
        let mut want = xs.clone();
        want.sort_by(f64::total_cmp);
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let mut ix = IndexSorter::default();
        ix.sort(&xs);
        // Stable: ties keep their input order.
        for w in ix.pairs.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
        }
    }

    #[test]
    fn sorts_every_size_class() {
        let mut state = 12345u64;
        for n in [0, 1, 2, 47, 500, 40_000] {
            let xs: Vec<f64> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e3
                })
                .collect();
            check(xs);
        }
        check(vec![3.0; 1000]);
    }

    proptest! {
        #[test]
        fn matches_comparison_sort(xs in prop::collection::vec(prop::num::f64::ANY, 0..300)) {
            check(xs);
        }
    }
}
