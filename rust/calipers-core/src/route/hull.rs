//! The non-decreasing concave hull of an accuracy–cost curve and its area on a fixed range.

use crate::error::{Error, Result};

/// Vertices (cost ascending) of the non-decreasing concave hull of the points
/// `(cost[j], perf[j])`: the best performance reachable at each cost by mixing two operating
/// points at random, never worse than at a lower cost. Its first vertex is the best point at
/// the lowest cost, its last the cheapest point of highest performance. `order` is scratch.
pub(crate) fn hull_into(
    cost: &[f64],
    perf: &[f64],
    order: &mut Vec<usize>,
    out: &mut Vec<(f64, f64)>,
) {
    out.clear();
    order.clear();
    order.extend(0..cost.len());
    let key = |a: &usize, b: &usize| {
        cost[*a]
            .total_cmp(&cost[*b])
            .then(perf[*b].total_cmp(&perf[*a]))
    };
    // Paths are usually sorted already (by decreasing cost); test before sorting.
    if !order.windows(2).all(|w| key(&w[0], &w[1]).is_le()) {
        if order.windows(2).all(|w| key(&w[1], &w[0]).is_le()) {
            order.reverse();
        }
        order.sort_by(key);
    }
    let mut best = f64::NEG_INFINITY;
    for &j in order.iter() {
        let (x, y) = (cost[j], perf[j]);
        // Non-decreasing: a point no better than an earlier (cheaper) one adds nothing.
        if y <= best {
            continue;
        }
        best = y;
        while out.len() >= 2 {
            let (ox, oy) = out[out.len() - 2];
            let (ax, ay) = out[out.len() - 1];
            // Pop the middle vertex unless it lies strictly above the chord.
            if (ax - ox) * (y - oy) - (ay - oy) * (x - ox) >= 0.0 {
                out.pop();
            } else {
                break;
            }
        }
        if let Some(&(lx, _)) = out.last()
            && lx == x
        {
            out.pop(); // same cost, better performance (only after the sort's ties)
        }
        out.push((x, y));
    }
}

/// The hull vertices as (costs, performances).
pub fn hull(cost: &[f64], perf: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    check_curve(cost, perf)?;
    let (mut order, mut out) = (Vec::new(), Vec::new());
    hull_into(cost, perf, &mut order, &mut out);
    Ok(out.into_iter().unzip())
}

fn check_curve(cost: &[f64], perf: &[f64]) -> Result<()> {
    if cost.len() != perf.len() {
        return Err(Error::shape("performance", "must have one value per cost"));
    }
    crate::error::ensure_non_empty("cost", cost)?;
    crate::error::ensure_finite("cost", cost)?;
    crate::error::ensure_finite("performance", perf)
}

fn check_range(lo: f64, hi: f64) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(Error::invalid(
            "cost_range",
            format!("({lo}, {hi}) must be finite with low < high"),
        ));
    }
    Ok(())
}

/// Integral over [lo, hi] of the segment from (x0, y0) to (x1, y1), x0 < x1.
#[inline]
fn segment_integral(x0: f64, y0: f64, x1: f64, y1: f64, lo: f64, hi: f64) -> f64 {
    let (a, b) = (x0.max(lo), x1.min(hi));
    if b <= a {
        return 0.0;
    }
    let at = |x: f64| y0 + (y1 - y0) * ((x - x0) / (x1 - x0));
    (b - a) * 0.5 * (at(a) + at(b))
}

/// Mean height on [lo, hi] of the piecewise-linear function through `vertices` (costs
/// ascending), flat beyond its first and last vertex.
pub(crate) fn area(vertices: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let (first, last) = (vertices[0], vertices[vertices.len() - 1]);
    let mut total = 0.0;
    if lo < first.0 {
        total += (first.0.min(hi) - lo) * first.1;
    }
    for w in vertices.windows(2) {
        total += segment_integral(w[0].0, w[0].1, w[1].0, w[1].1, lo, hi);
    }
    if hi > last.0 {
        total += (hi - last.0.max(lo)) * last.1;
    }
    total / (hi - lo)
}

/// Height at `x` of the piecewise-linear function through `vertices`, flat outside.
pub(crate) fn height(vertices: &[(f64, f64)], x: f64) -> f64 {
    let j = vertices.partition_point(|v| v.0 <= x);
    if j == 0 {
        return vertices[0].1;
    }
    if j == vertices.len() {
        return vertices[j - 1].1;
    }
    let ((x0, y0), (x1, y1)) = (vertices[j - 1], vertices[j]);
    y0 + (y1 - y0) * ((x - x0) / (x1 - x0))
}

/// Mean height of the non-decreasing hull of the curve on the fixed range [lo, hi] (flat
/// extrapolation outside the curve's own cost range).
pub fn hull_auc(cost: &[f64], perf: &[f64], lo: f64, hi: f64) -> Result<f64> {
    check_curve(cost, perf)?;
    check_range(lo, hi)?;
    let (mut order, mut out) = (Vec::new(), Vec::new());
    hull_into(cost, perf, &mut order, &mut out);
    Ok(area(&out, lo, hi))
}

/// Height of the non-decreasing hull at each of `at`.
pub fn hull_at(cost: &[f64], perf: &[f64], at: &[f64]) -> Result<Vec<f64>> {
    check_curve(cost, perf)?;
    crate::error::ensure_finite("costs", at)?;
    let (mut order, mut out) = (Vec::new(), Vec::new());
    hull_into(cost, perf, &mut order, &mut out);
    Ok(at.iter().map(|&x| height(&out, x)).collect())
}

/// Signed area on [lo, hi] of the curve itself (no hull) traced in the given order, plus flat
/// extensions before its first and after its last point, divided by (hi − lo). For a curve
/// whose cost increases along the order this is the mean height of the linear interpolation.
pub(crate) fn curve_area(points: impl Iterator<Item = (f64, f64)>, lo: f64, hi: f64) -> f64 {
    let mut total = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for (x, y) in points {
        match prev {
            None => {
                if lo < x {
                    total += (x.min(hi) - lo) * y;
                }
            }
            Some((px, py)) => {
                if x > px {
                    total += segment_integral(px, py, x, y, lo, hi);
                } else if x < px {
                    total -= segment_integral(x, y, px, py, lo, hi);
                }
            }
        }
        prev = Some((x, y));
    }
    if let Some((x, y)) = prev
        && hi > x
    {
        total += (hi - x.max(lo)) * y;
    }
    total / (hi - lo)
}

/// [`curve_area`] of the curve `(cost, perf)` in its given order (checked, for Python).
pub fn curve_auc(cost: &[f64], perf: &[f64], lo: f64, hi: f64) -> Result<f64> {
    check_curve(cost, perf)?;
    check_range(lo, hi)?;
    Ok(curve_area(
        cost.iter().copied().zip(perf.iter().copied()),
        lo,
        hi,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The hull's height at x written plainly: the best mixture of two points (or one point)
    /// whose cost is at most x, and the cheapest point's performance left of every point.
    fn brute_height(cost: &[f64], perf: &[f64], x: f64) -> f64 {
        let n = cost.len();
        let mut best = f64::NEG_INFINITY;
        for i in 0..n {
            if cost[i] <= x {
                best = best.max(perf[i]);
            }
            for j in 0..n {
                if cost[i] < x && cost[j] > x {
                    let t = (cost[j] - x) / (cost[j] - cost[i]);
                    best = best.max(t * perf[i] + (1.0 - t) * perf[j]);
                }
            }
        }
        if best == f64::NEG_INFINITY {
            let lo = cost.iter().copied().fold(f64::INFINITY, f64::min);
            best = (0..n)
                .filter(|&i| cost[i] == lo)
                .map(|i| perf[i])
                .fold(f64::NEG_INFINITY, f64::max);
        }
        best
    }

    #[test]
    fn hull_matches_brute_force() {
        let mut rng = Rng::new(9);
        for trial in 0..50 {
            let n = 1 + trial % 12;
            let cost: Vec<f64> = (0..n).map(|_| (rng.below(6) as f64) * 0.5).collect();
            let perf: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            for g in 0..40 {
                let x = -0.5 + g as f64 * 0.1;
                let got = hull_at(&cost, &perf, &[x]).unwrap()[0];
                let want = brute_height(&cost, &perf, x);
                assert!(
                    (got - want).abs() < 1e-12,
                    "trial {trial} x {x}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn area_of_a_step() {
        // One point at cost 1 with perf 0.5 and one at cost 3 with perf 0.9, range [0, 4]:
        // flat 0.5 on [0,1], linear to 0.9 on [1,3], flat on [3,4].
        let auc = hull_auc(&[3.0, 1.0], &[0.9, 0.5], 0.0, 4.0).unwrap();
        let want = (0.5 + 2.0 * 0.7 + 0.9) / 4.0;
        assert!((auc - want).abs() < 1e-15);
        let raw = curve_auc(&[1.0, 3.0], &[0.5, 0.9], 0.0, 4.0).unwrap();
        assert!((raw - want).abs() < 1e-15);
        assert!(hull_auc(&[1.0], &[0.5], 1.0, 1.0).is_err());
    }
}
