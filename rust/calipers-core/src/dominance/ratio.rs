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
