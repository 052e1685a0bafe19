//! Exact 1-D Wasserstein distances (returned as W_p^p; the caller takes the p-th root).

use rayon::prelude::*;

use crate::error::{Error, Result, ensure_finite, ensure_non_empty};
use crate::par;

/// A weighted 1-D sample: values with optional non-negative weights (uniform when `None`).
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    pub values: &'a [f64],
    pub weights: Option<&'a [f64]>,
}

/// Validates a sample; `name` and `wname` are the argument names used in messages.
fn validate(s: &Sample, name: &'static str, wname: &'static str) -> Result<()> {
    ensure_non_empty(name, s.values)?;
    ensure_finite(name, s.values)?;
    if let Some(w) = s.weights {
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
    }
    Ok(())
}

fn validate_p(p: f64) -> Result<()> {
    if !(p.is_finite() && p >= 1.0) {
        return Err(Error::invalid(
            "p",
            format!("is {p}; the Wasserstein order must be a finite number >= 1"),
        ));
    }
    Ok(())
}

#[inline]
fn cost(d: f64, p: f64) -> f64 {
    let d = d.abs();
    if p == 1.0 {
        d
    } else if p == 2.0 {
        d * d
    } else {
        d.powf(p)
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Sorted values with their cumulative weights normalised so that the last one is exactly 1.
fn sorted_cdf(s: &Sample) -> (Vec<f64>, Vec<f64>) {
    let n = s.values.len();
    match s.weights {
        None => {
            let cdf = (1..=n).map(|k| k as f64 / n as f64).collect();
            (sorted(s.values), cdf)
        }
        Some(w) => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| s.values[a].total_cmp(&s.values[b]));
            let total: f64 = w.iter().sum();
            let mut acc = 0.0;
            let mut cdf = Vec::with_capacity(n);
            for &i in &order {
                acc += w[i];
                cdf.push(acc / total);
            }
            cdf[n - 1] = 1.0;
            (order.iter().map(|&i| s.values[i]).collect(), cdf)
        }
    }
}

/// ∫₀¹ c(F⁻¹(t) − G⁻¹(t)) dt by a linear merge of the two cumulative-weight sequences.
fn merge_cost(xs: &[f64], cx: &[f64], ys: &[f64], cy: &[f64], p: f64) -> f64 {
    let (mut i, mut j, mut t, mut total) = (0, 0, 0.0, 0.0);
    while i < xs.len() && j < ys.len() {
        let next = cx[i].min(cy[j]);
        total += (next - t) * cost(xs[i] - ys[j], p);
        t = next;
        if cx[i] <= next {
            i += 1;
        }
        if cy[j] <= next {
            j += 1;
        }
    }
    total
}

/// Equal sizes and uniform weights: the k-th order statistics are matched.
fn sorted_pairs_cost(xs: &[f64], ys: &[f64], p: f64) -> f64 {
    let sum: f64 = xs.iter().zip(ys).map(|(x, y)| cost(x - y, p)).sum();
    sum / xs.len() as f64
}

fn pp_unchecked(u: &Sample, v: &Sample, p: f64) -> f64 {
    if u.weights.is_none() && v.weights.is_none() && u.values.len() == v.values.len() {
        let (xs, ys) = rayon::join(|| sorted(u.values), || sorted(v.values));
        return sorted_pairs_cost(&xs, &ys, p);
    }
    let ((xs, cx), (ys, cy)) = rayon::join(|| sorted_cdf(u), || sorted_cdf(v));
    merge_cost(&xs, &cx, &ys, &cy, p)
}

/// W_p^p between two weighted samples (exact).
pub fn wasserstein_pp(u: Sample, v: Sample, p: f64) -> Result<f64> {
    validate_p(p)?;
    validate(&u, "u_values", "u_weights")?;
    validate(&v, "v_values", "v_weights")?;
    par::install(|| pp_unchecked(&u, &v, p))
}

/// W_p^p for many pairs at once: `us[r]` against `vs[r]`, computed in parallel over rows.
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
            .map(|(u, v)| pp_unchecked(u, v, p))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &[f64]) -> Sample<'_> {
        Sample {
            values: v,
            weights: None,
        }
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
