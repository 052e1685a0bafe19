//! Exact 1-D Wasserstein distances (returned as W_p^p; the caller takes the p-th root).

use std::cell::RefCell;

use rayon::prelude::*;

use super::sample::{Sample, SortedSample, validate, walk};
use super::sort;
use crate::error::{Error, Result};
use crate::par;

pub(crate) fn validate_p(p: f64) -> Result<()> {
    if !(p.is_finite() && p >= 1.0) {
        return Err(Error::invalid(
            "p",
            format!("is {p}; the Wasserstein order must be a finite number >= 1"),
        ));
    }
    Ok(())
}

/// |d|^p, with the common orders spelled out (powf is slow and not exact for them).
#[inline]
pub(crate) fn cost(d: f64, p: f64) -> f64 {
    let d = d.abs();
    if p == 1.0 {
        d
    } else if p == 2.0 {
        d * d
    } else {
        d.powf(p)
    }
}

/// Equal sizes and uniform weights: the k-th order statistics are matched. The loop is
/// specialised per order so that the hot p = 1, 2 cases vectorise.
fn sorted_pairs_cost(xs: &[u64], ys: &[u64], p: f64) -> f64 {
    let pairs = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| sort::value(x) - sort::value(y));
    let sum: f64 = if p == 1.0 {
        pairs.map(f64::abs).sum()
    } else if p == 2.0 {
        pairs.map(|d| d * d).sum()
    } else {
        pairs.map(|d| d.abs().powf(p)).sum()
    };
    sum / xs.len() as f64
}

/// W_p^p of two sorted samples.
fn sorted_cost(a: &SortedSample, b: &SortedSample, p: f64) -> f64 {
    if a.is_uniform() && b.is_uniform() && a.len() == b.len() {
        return sorted_pairs_cost(a.keys(), b.keys(), p);
    }
    let mut total = 0.0;
    walk(a, b, |i, j, mass| {
        total += mass * cost(a.value(i) - b.value(j), p)
    });
    total
}

/// Largest buffers (in values) kept for reuse between calls (16 MiB of keys per sample);
/// larger ones are freed.
const KEEP_MAX: usize = 1 << 21;

thread_local! {
    /// Sort buffers kept between calls: on this VM, first-touch page faults of fresh
    /// multi-megabyte buffers cost more than the sort itself.
    static BUFFERS: RefCell<(SortedSample, SortedSample)> = RefCell::default();
}

/// Sorts both samples (in parallel) and returns W_p^p, reusing this thread's buffers.
fn pp_reusing_buffers(u: &Sample, v: &Sample, p: f64) -> f64 {
    let (mut a, mut b) = BUFFERS.with(|cell| cell.take());
    let (a_loaded, b_loaded) = rayon::join(
        move || {
            a.load(u, false);
            a
        },
        move || {
            b.load(v, false);
            b
        },
    );
    let result = sorted_cost(&a_loaded, &b_loaded, p);
    // Weighted samples also fill position and cumulative-weight buffers (40 bytes a value):
    // too much to keep around, so only the unweighted key buffers are reused.
    let unweighted = u.weights.is_none() && v.weights.is_none();
    if unweighted && a_loaded.capacity() <= KEEP_MAX && b_loaded.capacity() <= KEEP_MAX {
        BUFFERS.with(|cell| cell.replace((a_loaded, b_loaded)));
    }
    result
}

/// W_p^p between two weighted samples (exact).
pub fn wasserstein_pp(u: Sample, v: Sample, p: f64) -> Result<f64> {
    validate_p(p)?;
    validate(&u, "u_values", "u_weights")?;
    validate(&v, "v_values", "v_weights")?;
    par::install(|| pp_reusing_buffers(&u, &v, p))
}

/// W_p^p for many pairs at once: `us[r]` against `vs[r]`, computed in parallel over rows.
/// Each worker thread reuses one pair of sort buffers for all its rows, and every row is
/// computed by one thread alone, so the bits do not depend on the number of threads.
pub fn wasserstein_pp_rows(us: &[Sample], vs: &[Sample], p: f64) -> Result<Vec<f64>> {
    validate_p(p)?;
    if us.len() != vs.len() {
        return Err(Error::shape(
            "v_values",
            format!(
                "has {} rows but u_values has {}; pass one row per pair",
                vs.len(),
                us.len()
            ),
        ));
    }
    for (u, v) in us.iter().zip(vs) {
        validate(u, "u_values", "u_weights")?;
        validate(v, "v_values", "v_weights")?;
    }
    par::install(|| {
        us.par_iter()
            .zip(vs)
            .with_min_len(8)
            .map_init(
                || (SortedSample::default(), SortedSample::default()),
                |(a, b), (u, v)| {
                    a.load(u, false);
                    b.load(v, false);
                    sorted_cost(a, b, p)
                },
            )
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &[f64]) -> Sample<'_> {
        Sample::uniform(v)
    }

    #[test]
    fn known_values() {
        // Two point masses at 0 and 3: W_p = 3 for every p.
        assert!((wasserstein_pp(s(&[0.0]), s(&[3.0]), 1.0).unwrap() - 3.0).abs() < 1e-15);
        assert!((wasserstein_pp(s(&[0.0]), s(&[3.0]), 2.0).unwrap() - 9.0).abs() < 1e-15);
        // {0, 1} vs {0}: half the mass moves by 1.
        assert!((wasserstein_pp(s(&[0.0, 1.0]), s(&[0.0]), 1.0).unwrap() - 0.5).abs() < 1e-15);
    }

    #[test]
    fn weights_equal_repetition() {
        let w = [2.0, 1.0];
        let a = wasserstein_pp(
            Sample {
                values: &[0.0, 5.0],
                weights: Some(&w),
            },
            s(&[1.0, 2.0, 4.0]),
            1.5,
        )
        .unwrap();
        let b = wasserstein_pp(s(&[0.0, 0.0, 5.0]), s(&[1.0, 2.0, 4.0]), 1.5).unwrap();
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            wasserstein_pp(s(&[]), s(&[1.0]), 1.0),
            Err(Error::Shape {
                arg: "u_values",
                ..
            })
        ));
        assert!(matches!(
            wasserstein_pp(s(&[f64::NAN]), s(&[1.0]), 1.0),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            wasserstein_pp(s(&[1.0]), s(&[1.0]), 0.5),
            Err(Error::InvalidArgument { arg: "p", .. })
        ));
        let neg = Sample {
            values: &[1.0],
            weights: Some(&[-1.0]),
        };
        assert!(matches!(
            wasserstein_pp(neg, s(&[1.0]), 1.0),
            Err(Error::InvalidArgument {
                arg: "u_weights",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn merge_path_equals_sorted_path(xs in prop::collection::vec(-1e3..1e3f64, 1..40), shift in -5.0..5.0f64) {
            let ys: Vec<f64> = xs.iter().rev().map(|x| x * 0.5 + shift).collect();
            let ones = vec![1.0; xs.len()];
            let fast = wasserstein_pp(s(&xs), s(&ys), 2.0).unwrap();
            let merged = wasserstein_pp(Sample { values: &xs, weights: Some(&ones) }, s(&ys), 2.0).unwrap();
            prop_assert!((fast - merged).abs() <= 1e-9 * (1.0 + fast));
        }

        #[test]
        fn symmetric_and_zero_on_self(xs in prop::collection::vec(-1e3..1e3f64, 1..30), ys in prop::collection::vec(-1e3..1e3f64, 1..30)) {
            let a = wasserstein_pp(s(&xs), s(&ys), 1.0).unwrap();
            let b = wasserstein_pp(s(&ys), s(&xs), 1.0).unwrap();
            prop_assert!((a - b).abs() <= 1e-9 * (1.0 + a));
            prop_assert_eq!(wasserstein_pp(s(&xs), s(&xs), 1.0).unwrap(), 0.0);
        }
    }
}
