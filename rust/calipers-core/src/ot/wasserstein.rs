//! Exact 1-D Wasserstein distances W_p (with W_p^p), finite whenever W_p is representable.

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

/// W_p and W_p^p of one pair of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wasserstein {
    pub distance: f64,
    /// W_p^p: may overflow to inf (or underflow to 0) where W_p itself is representable.
    pub power: f64,
}

/// Smallest plain sum of |Δ|^p trusted as it is: below it, terms may have underflowed to 0
/// in a way that matters (2^-900 leaves 2^-174 of headroom above the subnormals).
const SAFE_MIN_SUM: f64 = 1.1755e-271;

fn root(s: f64, p: f64) -> f64 {
    if p == 1.0 {
        s
    } else if p == 2.0 {
        s.sqrt()
    } else {
        s.powf(1.0 / p)
    }
}

/// Calls `piece(x, y, mass)` for every piece of the monotone coupling of two sorted samples.
fn for_each_piece(a: &SortedSample, b: &SortedSample, mut piece: impl FnMut(f64, f64, f64)) {
    if a.is_uniform() && b.is_uniform() && a.len() == b.len() {
        let m = 1.0 / a.len() as f64;
        (0..a.len()).for_each(|k| piece(a.value(k), b.value(k), m));
    } else {
        walk(a, b, |i, j, mass| piece(a.value(i), b.value(j), mass));
    }
}

/// W_p computed as M·(Σ mass·(|Δ|/M)^p)^{1/p} with M = max |Δ| over pieces of positive mass,
/// so that every term lies in [0, 1]: no overflow for huge |Δ| or large p, no underflow of the
/// whole sum for tiny |Δ|. Differences that overflow (|x − y| > f64::MAX) are halved first.
fn scaled_distance(a: &SortedSample, b: &SortedSample, p: f64) -> Wasserstein {
    let mut max_diff = 0.0f64;
    for_each_piece(a, b, |x, y, mass| {
        if mass > 0.0 {
            max_diff = max_diff.max((x - y).abs());
        }
    });
    let halve = max_diff.is_infinite();
    let diff = |x: f64, y: f64| {
        if halve {
            (x * 0.5 - y * 0.5).abs()
        } else {
            (x - y).abs()
        }
    };
    let mut scale = 0.0f64;
    for_each_piece(a, b, |x, y, mass| {
        if mass > 0.0 {
            scale = scale.max(diff(x, y));
        }
    });
    if scale == 0.0 {
        return Wasserstein {
            distance: 0.0,
            power: 0.0,
        };
    }
    let mut sum = 0.0;
    for_each_piece(a, b, |x, y, mass| {
        if mass > 0.0 {
            sum += mass * cost(diff(x, y) / scale, p);
        }
    });
    let distance = root(sum, p) * scale * if halve { 2.0 } else { 1.0 };
    Wasserstein {
        distance,
        power: cost(distance, p),
    }
}

/// W_p and W_p^p of two sorted samples: the plain sum Σ mass·|Δ|^p when it is safely
/// representable (the common case, vectorised for equal uniform samples), else the scaled form.
fn sorted_cost(a: &SortedSample, b: &SortedSample, p: f64) -> Wasserstein {
    let power = if a.is_uniform() && b.is_uniform() && a.len() == b.len() {
        sorted_pairs_cost(a.keys(), b.keys(), p)
    } else {
        let mut total = 0.0;
        walk(a, b, |i, j, mass| {
            total += mass * cost(a.value(i) - b.value(j), p)
        });
        total
    };
    // NaN (0 · inf from a zero-mass piece), inf (overflow) and tiny sums take the scaled path.
    if power.is_finite() && power >= SAFE_MIN_SUM {
        return Wasserstein {
            distance: root(power, p),
            power,
        };
    }
    scaled_distance(a, b, p)
}

/// Largest buffers (in values) kept for reuse between calls (16 MiB of keys per sample);
/// larger ones are freed.
const KEEP_MAX: usize = 1 << 21;

thread_local! {
    /// Sort buffers kept between calls: on this VM, first-touch page faults of fresh
    /// multi-megabyte buffers cost more than the sort itself.
    static BUFFERS: RefCell<(SortedSample, SortedSample)> = RefCell::default();
}

/// Sorts both samples (in parallel) and returns W_p, reusing this thread's buffers.
fn pp_reusing_buffers(u: &Sample, v: &Sample, p: f64) -> Wasserstein {
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

/// W_p (and W_p^p) between two weighted samples (exact).
pub fn wasserstein(u: Sample, v: Sample, p: f64) -> Result<Wasserstein> {
    validate_p(p)?;
    validate(&u, "u_values", "u_weights")?;
    validate(&v, "v_values", "v_weights")?;
    par::install(|| pp_reusing_buffers(&u, &v, p))
}

/// W_p for many pairs at once: `us[r]` against `vs[r]`, computed in parallel over rows.
/// Each worker thread reuses one pair of sort buffers for all its rows, and every row is
/// computed by one thread alone, so the bits do not depend on the number of threads.
pub fn wasserstein_rows(us: &[Sample], vs: &[Sample], p: f64) -> Result<Vec<Wasserstein>> {
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
        assert!((wasserstein(s(&[0.0]), s(&[3.0]), 1.0).unwrap().power - 3.0).abs() < 1e-15);
        assert!((wasserstein(s(&[0.0]), s(&[3.0]), 2.0).unwrap().power - 9.0).abs() < 1e-15);
        // {0, 1} vs {0}: half the mass moves by 1.
        assert!((wasserstein(s(&[0.0, 1.0]), s(&[0.0]), 1.0).unwrap().power - 0.5).abs() < 1e-15);
    }

    #[test]
    fn weights_equal_repetition() {
        let w = [2.0, 1.0];
        let a = wasserstein(
            Sample {
                values: &[0.0, 5.0],
                weights: Some(&w),
            },
            s(&[1.0, 2.0, 4.0]),
            1.5,
        )
        .unwrap()
        .power;
        let b = wasserstein(s(&[0.0, 0.0, 5.0]), s(&[1.0, 2.0, 4.0]), 1.5)
            .unwrap()
            .power;
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn extreme_magnitudes_and_orders_stay_finite() {
        let w = |u: &[f64], v: &[f64], p: f64| wasserstein(s(u), s(v), p).unwrap();
        // Squares overflow, differences too: the true W_2 is 2e200 and 2e308 > f64::MAX.
        assert_eq!(w(&[1e200], &[-1e200], 2.0).distance, 2e200);
        assert_eq!(w(&[1e200], &[-1e200], 2.0).power, f64::INFINITY);
        assert_eq!(w(&[1e308], &[-1e308], 1.0).distance, f64::INFINITY);
        assert_eq!(w(&[1e308], &[-0.5e308], 3.0).distance, 1.5e308);
        // Squares underflow: W_2 = 1e-200 although W_2^2 = 1e-400 is not representable.
        let tiny = w(&[1e-200, 0.0], &[0.0, -1e-200], 2.0);
        assert!((tiny.distance / 1e-200 - 1.0).abs() < 1e-15, "{tiny:?}");
        // Large orders tend to the largest matched difference.
        let big = w(&[0.0, 1.0, 2.0], &[0.5, 1.0, 5.0], 1e6);
        assert!((big.distance - 3.0).abs() < 1e-5, "{big:?}");
        let small = w(&[0.0, 0.1], &[0.3, 0.1], 1e6);
        assert!((small.distance - 0.2).abs() < 1e-6, "{small:?}");
        // A zero-weight value far away carries no mass (0 · inf must not give NaN).
        let zw = [1.0, 0.0];
        let far = wasserstein(
            Sample {
                values: &[0.0, 1e300],
                weights: Some(&zw),
            },
            s(&[1.0]),
            2.0,
        )
        .unwrap();
        assert_eq!(far.distance, 1.0);
        assert_eq!(w(&[3.0], &[3.0], 7.5).distance, 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            wasserstein(s(&[]), s(&[1.0]), 1.0),
            Err(Error::Shape {
                arg: "u_values",
                ..
            })
        ));
        assert!(matches!(
            wasserstein(s(&[f64::NAN]), s(&[1.0]), 1.0),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            wasserstein(s(&[1.0]), s(&[1.0]), 0.5),
            Err(Error::InvalidArgument { arg: "p", .. })
        ));
        let neg = Sample {
            values: &[1.0],
            weights: Some(&[-1.0]),
        };
        assert!(matches!(
            wasserstein(neg, s(&[1.0]), 1.0),
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
            let fast = wasserstein(s(&xs), s(&ys), 2.0).unwrap().power;
            let merged = wasserstein(Sample { values: &xs, weights: Some(&ones) }, s(&ys), 2.0).unwrap().power;
            prop_assert!((fast - merged).abs() <= 1e-9 * (1.0 + fast));
        }

        #[test]
        fn symmetric_and_zero_on_self(xs in prop::collection::vec(-1e3..1e3f64, 1..30), ys in prop::collection::vec(-1e3..1e3f64, 1..30)) {
            let a = wasserstein(s(&xs), s(&ys), 1.0).unwrap().power;
            let b = wasserstein(s(&ys), s(&xs), 1.0).unwrap().power;
            prop_assert!((a - b).abs() <= 1e-9 * (1.0 + a));
            prop_assert_eq!(wasserstein(s(&xs), s(&xs), 1.0).unwrap().power, 0.0);
        }
    }
}
