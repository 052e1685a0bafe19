//! The quantile function (generalised inverse CDF) Q(q) = inf{t : F(t) >= q} of weighted
//! samples, for one sample or many rows at once.

use rayon::prelude::*;

use super::sample::{Sample, SortedSample, validate};
use crate::error::{Error, Result};
use crate::{mem, par};

fn validate_levels(q: &[f64]) -> Result<()> {
    match q.iter().position(|x| !(0.0..=1.0).contains(x)) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            "q",
            format!(
                "level {} at position {i} is outside [0, 1]; quantile levels are probabilities",
                q[i]
            ),
        )),
    }
}

/// Smallest k in 0..n with `below(k)` false, for `below` true on a prefix.
fn partition_point(n: usize, below: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Fills `out[l]` with Q(q[l]) of the sorted sample `s`. Q(0) is the smallest value of
/// positive weight (the limit from the right), so every answer lies in the support.
fn fill(s: &SortedSample, q: &[f64], out: &mut [f64]) {
    let n = s.len();
    let first = partition_point(n, |k| s.cdf(k) <= 0.0);
    let last = partition_point(n, |k| s.cdf(k) < 1.0).min(n - 1);
    for (o, &level) in out.iter_mut().zip(q) {
        let k = partition_point(n, |k| s.cdf(k) < level);
        *o = s.value(k.clamp(first, last));
    }
}

/// Q(q) for every level in `q`.
pub fn quantiles(x: Sample, q: &[f64]) -> Result<Vec<f64>> {
    validate(&x, "x", "weights")?;
    validate_levels(q)?;
    let mut s = SortedSample::default();
    s.load(&x, false);
    let mut out = vec![0.0; q.len()];
    fill(&s, q, &mut out);
    Ok(out)
}

/// Q(q) for every row of `xs`, row-major (`xs.len()` × `q.len()`), in parallel over rows.
pub fn quantiles_rows(xs: &[Sample], q: &[f64]) -> Result<Vec<f64>> {
    for x in xs {
        validate(x, "x", "weights")?;
    }
    validate_levels(q)?;
    let cells = xs.len().saturating_mul(q.len());
    let mut out = mem::try_filled(
        "q",
        cells,
        0.0,
        &format!(
            "the result has one value per row and level ({} × {}); pass fewer levels or rows",
            xs.len(),
            q.len()
        ),
    )?;
    if q.is_empty() {
        return Ok(out);
    }
    par::install(|| {
        out.par_chunks_mut(q.len())
            .zip(xs)
            .with_min_len(8)
            .for_each_init(SortedSample::default, |s, (row, x)| {
                s.load(x, false);
                fill(s, q, row);
            })
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_and_weighted_levels() {
        let x = [3.0, 1.0, 2.0, 4.0];
        let got = quantiles(Sample::uniform(&x), &[0.0, 0.25, 0.26, 0.5, 1.0]).unwrap();
        assert_eq!(got, vec![1.0, 1.0, 2.0, 2.0, 4.0]);
        // Zero weights at both ends are never returned.
        let w = [1.0, 0.0, 1.0, 0.0];
        let s = Sample {
            values: &x,
            weights: Some(&w),
        };
        assert_eq!(
            quantiles(s, &[0.0, 0.5, 0.51, 1.0]).unwrap(),
            vec![2.0, 2.0, 3.0, 3.0]
        );
    }

    #[test]
    fn levels_outside_unit_interval_are_an_error() {
        let r = quantiles(Sample::uniform(&[1.0]), &[1.5]);
        assert!(matches!(r, Err(Error::InvalidArgument { arg: "q", .. })));
        let r = quantiles(Sample::uniform(&[1.0]), &[f64::NAN]);
        assert!(matches!(r, Err(Error::InvalidArgument { arg: "q", .. })));
    }
}
