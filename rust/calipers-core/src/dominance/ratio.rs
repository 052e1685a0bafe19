//! Exact violation integrals for one pair of empirical distributions.

use crate::error::{Error, Result};

/// Order of stochastic dominance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// First order: quantile functions.
    First,
    /// Second order: integrated quantile functions.
    Second,
}

impl Order {
    pub fn from_int(order: u32) -> Result<Self> {
        match order {
            1 => Ok(Order::First),
            2 => Ok(Order::Second),
            _ => Err(Error::invalid("order", format!("got {order}; use 1 or 2"))),
        }
    }
}

/// The two halves of ∫(Q_Y − Q_X)²: where Y's curve is above X's (`above`, the violation of
/// "X dominates Y") and below it (`below`), both up to a common positive factor that depends
/// on the kernel (only their ratio is meaningful).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Violation {
    pub above: f64,
    pub below: f64,
}

impl Violation {
    /// ε(X, Y); 0.5 when the curves coincide.
    pub fn ratio(&self) -> f64 {
        let total = self.above + self.below;
        if total > 0.0 { self.above / total } else { 0.5 }
    }

    /// ε(Y, X) = 1 − ε(X, Y).
    pub fn reverse_ratio(&self) -> f64 {
        let total = self.above + self.below;
        if total > 0.0 { self.below / total } else { 0.5 }
    }

    /// Adds ∫ d² over a cell of width `w` on which the difference d is constant.
    #[inline]
    fn add_constant(&mut self, d: f64, w: f64) {
        let p = d.max(0.0);
        let q = d.min(0.0);
        self.above += w * p * p;
        self.below += w * q * q;
    }

    /// Adds 3·∫ D² over a cell of width `w` on which D is linear from `a` to `b`, splitting
    /// the cell at the zero crossing (∫ of a linear segment squared is w(a² + ab + b²)/3; the
    /// common factor 1/3 is dropped, which leaves every ratio unchanged).
    #[inline]
    fn add_linear(&mut self, a: f64, b: f64, w: f64) {
        if a >= 0.0 && b >= 0.0 {
            self.above += w * (a * a + a * b + b * b);
        } else if a <= 0.0 && b <= 0.0 {
            self.below += w * (a * a + a * b + b * b);
        } else {
            let s = a / (a - b); // fraction of the cell before the crossing
            let (first, second) = (w * s * a * a, w * (1.0 - s) * b * b);
            if a > 0.0 {
                self.above += first;
                self.below += second;
            } else {
                self.below += first;
                self.above += second;
            }
        }
    }
}

impl Violation {
    /// Whether the plain floating-point sums can be trusted: finite, and large enough that no
    /// square that underflowed could matter (below 1e-270 the careful path recomputes; an
    /// exact 0 may be differences too small to square, or truly identical curves).
    pub fn is_reliable(&self) -> bool {
        let total = self.above + self.below;
        total.is_finite() && total >= RELIABLE_TOTAL
    }
}

/// About 2^-897: squares that underflowed (each below 2^-1022) are negligible next to it.
const RELIABLE_TOTAL: f64 = 1e-270;

/// 2^k for k in [-1022, 1023] (a normal number).
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// The binary exponent e of a positive finite `v`, with v = f·2^e and f in [0.5, 1).
fn exponent(v: f64) -> i32 {
    if v < f64::MIN_POSITIVE {
        return exponent(v * pow2(64)) - 64; // subnormal: normalise first
    }
    ((v.to_bits() >> 52) & 0x7ff) as i32 - 1022
}

/// `v · 2^-e` in two exact steps, each by a normal power of two (one step by 2^-1074..2^1023
/// could be subnormal and round).
fn scale_down(v: f64, e: i32) -> f64 {
    let half = e / 2;
    v * pow2(-half) * pow2(-(e - half))
}

/// Multiplies every value by 2^-e with e the exponent of the largest |value|, so the largest
/// becomes at least 0.5 and below 1. All zeros stay zeros.
fn normalise(values: &mut [f64]) {
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest > 0.0 {
        let e = exponent(largest);
        values.iter_mut().for_each(|v| *v = scale_down(*v, e));
    }
}

/// The violation integrals with scaled arithmetic, for any finite samples: the differences
/// of the two curves on the merged cells are computed (halving both samples when a
/// difference would overflow), normalised by a power of two so the largest is near 1, and
/// only then squared (order 2: integrated, normalised again, then squared). The ratio is
/// scale-invariant, so this is the exact ratio up to rounding, for magnitudes from the
/// smallest subnormal to the largest double, where the plain sums overflow or underflow.
pub fn violation_careful(
    x_sorted: &[f64],
    x_counts: &[u32],
    y_sorted: &[f64],
    y_counts: &[u32],
    order: Order,
) -> Violation {
    let cells = merged_cells(x_sorted, x_counts, y_sorted, y_counts);
    let plain = |&(i, j, _): &(usize, usize, f64)| y_sorted[j] - x_sorted[i];
    let halved = |&(i, j, _): &(usize, usize, f64)| y_sorted[j] * 0.5 - x_sorted[i] * 0.5;
    let mut d: Vec<f64> = cells.iter().map(plain).collect();
    if d.iter().any(|v| !v.is_finite()) {
        d = cells.iter().map(halved).collect();
    }
    normalise(&mut d);
    let mut v = Violation::default();
    match order {
        Order::First => {
            for (&dk, &(_, _, w)) in d.iter().zip(&cells) {
                v.add_constant(dk, w);
            }
        }
        Order::Second => {
            // the integrated difference at each cell's right end (|area| <= max |d| <= 1)
            let mut area: Vec<f64> = Vec::with_capacity(d.len() + 1);
            area.push(0.0);
            let mut acc = 0.0;
            for (&dk, &(_, _, w)) in d.iter().zip(&cells) {
                acc += dk * w;
                area.push(acc);
            }
            normalise(&mut area);
            for (k, &(_, _, w)) in cells.iter().enumerate() {
                v.add_linear(area[k], area[k + 1], w);
            }
        }
    }
    v
}

/// The cells of the merged grid of cumulative weights: (atom of x, atom of y, width), widths
/// summing to 1, empty cells left out. Exact integer arithmetic as in `violation_weighted`.
fn merged_cells(
    x_sorted: &[f64],
    x_counts: &[u32],
    y_sorted: &[f64],
    y_counts: &[u32],
) -> Vec<(usize, usize, f64)> {
    let wx: u128 = x_counts.iter().map(|&c| c as u128).sum();
    let wy: u128 = y_counts.iter().map(|&c| c as u128).sum();
    let mut cells = Vec::new();
    if wx == 0 || wy == 0 {
        return cells;
    }
    let end = wx * wy;
    let (mut i, mut j) = (0usize, 0usize);
    let mut cum_x = x_counts.first().copied().unwrap_or(0) as u128;
    let mut cum_y = y_counts.first().copied().unwrap_or(0) as u128;
    let mut t_prev = 0u128;
    while t_prev < end && i < x_sorted.len() && j < y_sorted.len() {
        let (ex, ey) = (cum_x * wy, cum_y * wx);
        let t = ex.min(ey);
        if t > t_prev {
            cells.push((i, j, (t - t_prev) as f64 / end as f64));
            t_prev = t;
        }
        if ex == t {
            i += 1;
            cum_x += x_counts.get(i).copied().unwrap_or(0) as u128;
        }
        if ey == t {
            j += 1;
            cum_y += y_counts.get(j).copied().unwrap_or(0) as u128;
        }
    }
    cells
}

/// Violation integrals for two sorted samples of the same size (the cells are the n steps of
/// width 1/n; the common factor 1/n is dropped since only the ratio matters).
pub fn violation_equal(x_sorted: &[f64], y_sorted: &[f64], order: Order) -> Violation {
    match order {
        Order::First => violation_steps(x_sorted, y_sorted),
        Order::Second => {
            let (mut px, mut py) = (x_sorted.to_vec(), y_sorted.to_vec());
            prefix_sums(&mut px);
            prefix_sums(&mut py);
            violation_prefix(&px, &py)
        }
    }
}

/// In-place running sums.
pub fn prefix_sums(xs: &mut [f64]) {
    let mut acc = 0.0;
    for x in xs {
        acc += *x;
        *x = acc;
    }
}

const LANES: usize = 4;

/// Sums the lanes of a split; independent lanes break the floating-point dependency chain.
fn total(lanes: [Violation; LANES]) -> Violation {
    Violation {
        above: (lanes[0].above + lanes[1].above) + (lanes[2].above + lanes[3].above),
        below: (lanes[0].below + lanes[1].below) + (lanes[2].below + lanes[3].below),
    }
}

/// First order, equal sizes: Σ (y_r − x_r)₊² and Σ (y_r − x_r)₋², with selects instead of
/// branches and four independent accumulators so that the loop vectorises.
pub fn violation_steps(x: &[f64], y: &[f64]) -> Violation {
    let mut above = [0.0; LANES];
    let mut below = [0.0; LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..LANES {
            let d = b[k] - a[k];
            let sq = d * d;
            above[k] += if d > 0.0 { sq } else { 0.0 };
            below[k] += if d < 0.0 { sq } else { 0.0 };
        }
    }
    let mut tail = Violation::default();
    for (a, b) in xr.iter().zip(yr) {
        tail.add_constant(b - a, 1.0);
    }
    Violation {
        above: (above[0] + above[1]) + (above[2] + above[3]) + tail.above,
        below: (below[0] + below[1]) + (below[2] + below[3]) + tail.below,
    }
}

/// Second order, equal sizes, from prefix sums: on cell r the integrated difference is linear
/// from D_{r−1} to D_r with D_r = py[r] − px[r] (and D_{−1} = 0).
pub fn violation_prefix(px: &[f64], py: &[f64]) -> Violation {
    let mut lanes = [Violation::default(); LANES];
    let mut prev = 0.0;
    for (r, (a, b)) in px.iter().zip(py).enumerate() {
        let d = b - a;
        lanes[r % LANES].add_linear(prev, d, 1.0);
        prev = d;
    }
    total(lanes)
}

/// Violation integrals for two sorted samples with integer weights (bootstrap counts or ones),
/// any sizes. Breakpoints t = (cumulative weight)/(total) of both samples are merged exactly in
/// integer arithmetic (units of 1/(Wx·Wy)). Zero weights give empty cells.
pub fn violation_weighted(
    x_sorted: &[f64],
    x_counts: &[u32],
    y_sorted: &[f64],
    y_counts: &[u32],
    order: Order,
) -> Violation {
    let wx: u64 = x_counts.iter().map(|&c| c as u64).sum();
    let wy: u64 = y_counts.iter().map(|&c| c as u64).sum();
    let mut v = Violation::default();
    if wx == 0 || wy == 0 {
        return v;
    }
    let total = (wx as u128 * wy as u128) as f64;
    let (mut i, mut j) = (0usize, 0usize);
    let (mut cum_x, mut cum_y) = (0u128, 0u128); // cumulative weight through atoms i, j
    cum_x += x_counts.first().copied().unwrap_or(0) as u128;
    cum_y += y_counts.first().copied().unwrap_or(0) as u128;
    let mut t_prev = 0u128;
    let end = wx as u128 * wy as u128;
    let mut area = 0.0;
    while t_prev < end && i < x_sorted.len() && j < y_sorted.len() {
        let ex = cum_x * wy as u128;
        let ey = cum_y * wx as u128;
        let t = ex.min(ey);
        if t > t_prev {
            let w = (t - t_prev) as f64 / total;
            let d = y_sorted[j] - x_sorted[i];
            match order {
                Order::First => v.add_constant(d, w),
                Order::Second => {
                    let next = area + d * w;
                    v.add_linear(area, next, w);
                    area = next;
                }
            }
            t_prev = t;
        }
        if ex == t {
            i += 1;
            cum_x += x_counts.get(i).copied().unwrap_or(0) as u128;
        }
        if ey == t {
            j += 1;
            cum_y += y_counts.get(j).copied().unwrap_or(0) as u128;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    /// Q and Q⁽²⁾ on a fine grid by brute force (midpoint rule).
    fn brute(x: &[f64], y: &[f64], order: Order, grid: usize) -> f64 {
        let q = |s: &[f64], t: f64| s[((t * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        let (mut above, mut total) = (0.0, 0.0);
        let (mut ax, mut ay) = (0.0, 0.0);
        for k in 0..grid {
            let t = (k as f64 + 0.5) / grid as f64;
            let d = match order {
                Order::First => q(y, t) - q(x, t),
                Order::Second => {
                    ax += q(x, t) / grid as f64;
                    ay += q(y, t) / grid as f64;
                    ay - ax
                }
            };
            above += d.max(0.0).powi(2);
            total += d * d;
        }
        above / total
    }

    #[test]
    fn weighted_matches_equal_for_same_sizes() {
        let x = sorted(vec![0.3, -1.0, 2.0, 0.5, 0.1]);
        let y = sorted(vec![0.0, 0.2, 1.5, -0.5, 0.4]);
        let ones = vec![1u32; 5];
        for order in [Order::First, Order::Second] {
            let a = violation_equal(&x, &y, order).ratio();
            let b = violation_weighted(&x, &ones, &y, &ones, order).ratio();
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
    }

    #[test]
    fn matches_fine_grid_for_unequal_sizes() {
        let x = sorted(vec![0.3, -1.0, 2.0, 0.5]);
        let y = sorted(vec![0.0, 0.2, 1.5, -0.5, 0.4, 0.9, -0.2]);
        let (ox, oy) = (vec![1u32; 4], vec![1u32; 7]);
        for order in [Order::First, Order::Second] {
            let exact = violation_weighted(&x, &ox, &y, &oy, order).ratio();
            let approx = brute(&x, &y, order, 280_000);
            assert!((exact - approx).abs() < 1e-4, "{order:?} {exact} {approx}");
        }
    }

    #[test]
    fn identical_samples_give_one_half() {
        let x = [1.0, 2.0, 3.0];
        assert_eq!(violation_equal(&x, &x, Order::First).ratio(), 0.5);
        assert!(Order::from_int(3).is_err());
    }

    #[test]
    fn extreme_magnitudes_use_scaled_arithmetic() {
        let ones2 = [1u32, 1];
        let cases: [(&[f64], &[f64], f64); 4] = [
            (&[1e-200, 2e-200], &[0.0, 1.5e-200], 0.0),
            (&[1e160, 2e160], &[0.0, 3e160], 0.5),
            (&[-1e308, 1e308], &[1e308, 1.7e308], 1.0),
            (&[1e-300, 1e300], &[2e-300, 1e300], 1.0),
        ];
        for (x, y, want) in cases {
            let fast = violation_equal(x, y, Order::First);
            let v = if fast.is_reliable() {
                fast
            } else {
                violation_careful(x, &ones2, y, &ones2, Order::First)
            };
            assert!(
                (v.ratio() - want).abs() < 1e-12,
                "{x:?} {y:?} {}",
                v.ratio()
            );
        }
        // identical: 0.5 from both paths
        let x = [1e-320, 3e-320];
        assert_eq!(
            violation_careful(&x, &ones2, &x, &ones2, Order::Second).ratio(),
            0.5
        );
    }

    #[test]
    fn careful_path_equals_the_fast_one_on_ordinary_data() {
        let x = sorted(vec![0.3, -1.0, 2.0, 0.5]);
        let y = sorted(vec![0.0, 0.2, 1.5, -0.5, 0.4, 0.9, -0.2]);
        let (ox, oy) = (vec![1u32, 2, 0, 1], vec![1u32; 7]);
        for order in [Order::First, Order::Second] {
            let a = violation_weighted(&x, &ox, &y, &oy, order).ratio();
            let b = violation_careful(&x, &ox, &y, &oy, order).ratio();
            assert!((a - b).abs() < 1e-12, "{order:?} {a} {b}");
        }
        assert_eq!(exponent(1.0), 1);
        assert_eq!(exponent(0.75), 0);
        assert_eq!(exponent(f64::MIN_POSITIVE / 4.0), -1023);
    }

    proptest! {
        #[test]
        fn ratios_are_complementary(
            x in prop::collection::vec(-10.0f64..10.0, 1..30),
            y in prop::collection::vec(-10.0f64..10.0, 1..30),
            cx in prop::collection::vec(0u32..3, 30),
            cy in prop::collection::vec(0u32..3, 30),
        ) {
            let (x, y) = (sorted(x), sorted(y));
            let (cx, cy) = (&cx[..x.len()], &cy[..y.len()]);
            for order in [Order::First, Order::Second] {
                let v = violation_weighted(&x, cx, &y, cy, order);
                let w = violation_weighted(&y, cy, &x, cx, order);
                prop_assert!((v.ratio() + v.reverse_ratio() - 1.0).abs() < 1e-12);
                prop_assert!((v.ratio() - w.reverse_ratio()).abs() < 1e-9);
                prop_assert!((0.0..=1.0).contains(&v.ratio()));
            }
        }

        #[test]
        fn shifted_sample_dominates(x in prop::collection::vec(-10.0f64..10.0, 1..30), shift in 0.01f64..5.0) {
            let x = sorted(x);
            let y: Vec<f64> = x.iter().map(|v| v - shift).collect();
            for order in [Order::First, Order::Second] {
                prop_assert_eq!(violation_equal(&x, &y, order).ratio(), 0.0);
            }
        }
    }
}
