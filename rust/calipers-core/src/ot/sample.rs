//! Weighted 1-D samples, their validation, and their sorted form (values, original positions,
//! cumulative weights), plus the walk along the monotone coupling of two sorted samples.

use super::sort::{self, IndexSorter, KeySorter};
use crate::error::{Error, Result, ensure_finite, ensure_non_empty};

/// A weighted 1-D sample: values with optional non-negative weights (uniform when `None`).
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    pub values: &'a [f64],
    pub weights: Option<&'a [f64]>,
}

impl<'a> Sample<'a> {
    /// An unweighted sample.
    pub fn uniform(values: &'a [f64]) -> Self {
        Sample {
            values,
            weights: None,
        }
    }
}

/// Validates a sample; `name` and `wname` are the argument names used in messages.
pub(crate) fn validate(s: &Sample, name: &'static str, wname: &'static str) -> Result<()> {
    ensure_non_empty(name, s.values)?;
    ensure_finite(name, s.values)?;
    let Some(w) = s.weights else {
        return Ok(());
    };
    if w.len() != s.values.len() {
        return Err(Error::shape(
            wname,
            format!(
                "has length {} but {name} has length {}; pass one weight per value",
                w.len(),
                s.values.len()
            ),
        ));
    }
    ensure_finite(wname, w)?;
    if let Some(i) = w.iter().position(|&x| x < 0.0) {
        return Err(Error::invalid(
            wname,
            format!(
                "weight {} at position {i} is negative; weights must be >= 0",
                w[i]
            ),
        ));
    }
    if w.iter().sum::<f64>() <= 0.0 {
        return Err(Error::invalid(
            wname,
            "all weights are zero; at least one weight must be positive",
        ));
    }
    Ok(())
}

/// The largest power of two <= `x` (for finite x > 0), at least `f64::MIN_POSITIVE` so that its
/// inverse is finite. Multiplying by a power of two is exact (barring under/overflow).
pub(crate) fn power_of_two_at_most(x: f64) -> f64 {
    const EXPONENT_BITS: u64 = 0x7FF0_0000_0000_0000;
    f64::from_bits(x.to_bits() & EXPONENT_BITS).max(f64::MIN_POSITIVE)
}

/// A sample in ascending order with its cumulative weights. Reuse one per thread: loading a
/// new sample keeps the buffers' capacity, so batched rows allocate nothing after the first.
#[derive(Default)]
pub(crate) struct SortedSample {
    keys: KeySorter,
    pairs: IndexSorter,
    /// Original position of each sorted value (filled only when asked for, or when weighted).
    index: Vec<usize>,
    /// Cumulative normalised weights; empty for uniform weights (then cdf(k) = (k+1)/n).
    cdf: Vec<f64>,
    with_index: bool,
}

impl SortedSample {
    /// Sorts `s`; `with_index` also records each sorted value's original position.
    pub fn load(&mut self, s: &Sample, with_index: bool) {
        self.cdf.clear();
        self.index.clear();
        self.with_index = with_index || s.weights.is_some();
        if !self.with_index {
            self.keys.sort(s.values);
            return;
        }
        self.pairs.sort(s.values);
        self.keys.keys.clear();
        self.keys.keys.extend(self.pairs.pairs.iter().map(|p| p.0));
        self.index.extend(self.pairs.pairs.iter().map(|p| p.1));
        if let Some(w) = s.weights {
            self.load_cdf(w);
        }
    }

    /// Cumulative weights in sorted order, divided by their own final sum so that the last
    /// positive weight (and any zero weights after it) reach exactly 1. The weights are first
    /// scaled by a power of two that brings the largest near 1: exact, so ordinary weights give
    /// the same bits, while huge ones (1e308 each) cannot overflow the running sum.
    fn load_cdf(&mut self, w: &[f64]) {
        let largest = w.iter().fold(0.0f64, |m, &x| m.max(x));
        let unit = 1.0 / power_of_two_at_most(largest);
        let mut acc = 0.0;
        self.cdf.extend(self.index.iter().map(|&i| {
            acc += w[i] * unit;
            acc
        }));
        let total = acc;
        self.cdf.iter_mut().for_each(|c| *c /= total);
    }

    pub fn len(&self) -> usize {
        self.keys.keys.len()
    }

    /// Values the buffers can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.keys.keys.capacity().max(self.pairs.pairs.capacity())
    }

    pub fn is_uniform(&self) -> bool {
        self.cdf.is_empty()
    }

    /// The k-th smallest value.
    #[inline]
    pub fn value(&self, k: usize) -> f64 {
        sort::value(self.keys.keys[k])
    }

    /// The sorted values' bit keys (see [`sort::key`]).
    pub fn keys(&self) -> &[u64] {
        &self.keys.keys
    }

    /// Original position of the k-th smallest value (requires `with_index` at load).
    #[inline]
    pub fn position(&self, k: usize) -> usize {
        self.index[k]
    }

    /// Total weight of the k+1 smallest values, normalised to 1.
    #[inline]
    pub fn cdf(&self, k: usize) -> f64 {
        if self.cdf.is_empty() {
            (k + 1) as f64 / self.len() as f64
        } else {
            self.cdf[k]
        }
    }
}

/// Walks the monotone (quantile) coupling of two sorted samples, calling `step(i, j, mass)` for
/// each piece of [0, 1] on which F⁻¹ takes its i-th and G⁻¹ its j-th sorted value. Pieces can
/// have zero mass (zero weights, shared breakpoints); they contribute nothing to sums.
pub(crate) fn walk(a: &SortedSample, b: &SortedSample, mut step: impl FnMut(usize, usize, f64)) {
    let (na, nb) = (a.len(), b.len());
    let (mut i, mut j, mut t) = (0, 0, 0.0);
    while i < na && j < nb {
        let (ca, cb) = (a.cdf(i), b.cdf(j));
        let next = ca.min(cb);
        step(i, j, next - t);
        t = next;
        if ca <= next {
            i += 1;
        }
        if cb <= next {
            j += 1;
        }
    }
}
