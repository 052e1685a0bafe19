//! Vectorised cell loops of unidimensional JML: per-row ability sums and per-item sums.
//!
//! Each kernel is a struct whose [`pulp::WithSimd`] implementation inlines the loop, so
//! `pulp::Arch::dispatch` compiles it for the widest vector unit of the CPU (AVX2 + FMA on
//! x86-64) while keeping one code path. Summation orders are fixed by the data layout only
//! (never by threads or vector width), so every machine and thread count gives the same bits.

use super::data::Cell;
use crate::fastmath::{bernoulli_loglik, sigmoid};

/// Cells per block of the row kernel: the block's terms are buffered, then summed pairwise.
const BLOCK: usize = 64;

/// Gradient Σ w (y − p) a, information Σ w p(1 − p) a² and bound Σ w a² of one row at θ.
pub struct RowSums<'a, C: Cell> {
    pub row: &'a [C],
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub theta: f64,
}

impl<C: Cell> pulp::WithSimd for RowSums<'_, C> {
    type Output = [f64; 3];

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> [f64; 3] {
        let Self { row, a, b, theta } = self;
        let mut total = [0.0; 3];
        let (mut g, mut h, mut hm) = ([0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK]);
        for ((c, aa), bb) in row.chunks(BLOCK).zip(a.chunks(BLOCK)).zip(b.chunks(BLOCK)) {
            let n = c.len().min(aa.len()).min(bb.len());
            for k in 0..n {
                let (w, y) = c[k].split();
                let ak = aa[k];
                let p = sigmoid(ak * theta - bb[k]);
                let wa = w * ak;
                g[k] = (y - p) * wa;
                h[k] = p * (1.0 - p) * wa * ak;
                hm[k] = wa * ak;
            }
            g[n..].fill(0.0);
            h[n..].fill(0.0);
            hm[n..].fill(0.0);
            total[0] += pairwise(&mut g);
            total[1] += pairwise(&mut h);
            total[2] += pairwise(&mut hm);
        }
        total
    }
}

/// Sum of a block by halving (element-wise loops that vectorise; fixed order).
#[inline(always)]
fn pairwise(v: &mut [f64; BLOCK]) -> f64 {
    let mut half = BLOCK / 2;
    while half > 0 {
        let (lo, hi) = v.split_at_mut(half);
        for (x, y) in lo.iter_mut().zip(hi.iter()) {
            *x += *y;
        }
        half /= 2;
    }
    v[0]
}

/// Per-item sums over all models for items `a.len()` wide starting at column `start`:
/// out[0..5] = Σ r θ, −Σ r, Σ v θ², −Σ v θ, Σ v with r = w (y − p), v = w p (1 − p), and, when
/// `observed` is set (some cells are missing), out[5..8] = Σ w θ², −Σ w θ, Σ w (each a column-length array).
pub struct ItemSums<'a, C: Cell> {
    pub cells: &'a [C],
    pub n_items: usize,
    pub start: usize,
    pub theta: &'a [f64],
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub observed: bool,
}

impl<C: Cell> pulp::WithSimd for ItemSums<'_, C> {
    type Output = [Vec<f64>; 8];

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> [Vec<f64>; 8] {
        let width = self.a.len().min(self.b.len());
        let mut out: [Vec<f64>; 8] = std::array::from_fn(|_| vec![0.0; width]);
        let row = |l: usize| &self.cells[l * self.n_items + self.start..][..width];
        let [ga, gb, haa, hab, hbb, oaa, oab, obb] = &mut out;
        let (ga, gb, haa, hab, hbb) = (
            &mut ga[..width],
            &mut gb[..width],
            &mut haa[..width],
            &mut hab[..width],
            &mut hbb[..width],
        );
        let (oaa, oab, obb) = (&mut oaa[..width], &mut oab[..width], &mut obb[..width]);
        let (a, b) = (&self.a[..width], &self.b[..width]);
        for (l, &t) in self.theta.iter().enumerate() {
            let cells = row(l);
            let t2 = t * t;
            for i in 0..width {
                let (w, y) = cells[i].split();
                let p = sigmoid(a[i] * t - b[i]);
                let r = w * (y - p);
                let v = w * p * (1.0 - p);
                ga[i] += r * t;
                gb[i] -= r;
                haa[i] += v * t2;
                hab[i] -= v * t;
                hbb[i] += v;
            }
            if self.observed {
                for i in 0..width {
                    let w = cells[i].split().0;
                    oaa[i] += w * t2;
                    oab[i] -= w * t;
                    obb[i] += w;
                }
            }
        }
        if !self.observed {
            // Every cell observed: the bound's sums are the same for every item.
            let s2: f64 = self.theta.iter().map(|t| t * t).sum();
            let s1: f64 = self.theta.iter().sum();
            oaa.fill(s2);
            oab.fill(-s1);
            obb.fill(self.theta.len() as f64);
        }
        out
    }
}

/// Log-likelihood Σ w [y z − log(1 + e^z)] of one row at θ, summed like [`RowSums`].
pub struct RowLoglik<'a, C: Cell> {
    pub row: &'a [C],
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub theta: f64,
}

impl<C: Cell> pulp::WithSimd for RowLoglik<'_, C> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> f64 {
        let Self { row, a, b, theta } = self;
        let mut total = 0.0;
        let mut terms = [0.0; BLOCK];
        for ((c, aa), bb) in row.chunks(BLOCK).zip(a.chunks(BLOCK)).zip(b.chunks(BLOCK)) {
            let n = c.len().min(aa.len()).min(bb.len());
            for k in 0..n {
                let (w, y) = c[k].split();
                terms[k] = w * bernoulli_loglik(y, aa[k] * theta - bb[k]);
            }
            terms[n..].fill(0.0);
            total += pairwise(&mut terms);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irt::data::MISSING;
    use pulp::WithSimd;

    fn data() -> (Vec<u8>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (n, m) = (7, 203);
        let cells = (0..n * m)
            .map(|k| [0, 1, 1, MISSING, 0][k % 5])
            .collect::<Vec<u8>>();
        let theta = (0..n).map(|l| l as f64 * 0.7 - 2.0).collect();
        let a = (0..m).map(|i| 0.5 + (i % 7) as f64 * 0.3).collect();
        let b = (0..m).map(|i| (i % 11) as f64 * 0.5 - 2.5).collect();
        (cells, theta, a, b)
    }

    /// The dispatched (vector) kernels give the same bits as the plain scalar build and
    /// match direct sums written with libm's exp.
    #[test]
    fn kernels_match_scalar_code_and_direct_sums() {
        let (cells, theta, a, b) = data();
        let m = a.len();
        for (l, &t) in theta.iter().enumerate() {
            let row = &cells[l * m..(l + 1) * m];
            let kernel = || RowSums {
                row,
                a: &a,
                b: &b,
                theta: t,
            };
            let wide = pulp::Arch::new().dispatch(kernel());
            assert_eq!(wide, kernel().with_simd(pulp::Scalar::new()));
            let mut direct = [0.0; 3];
            let mut ll = 0.0;
            for i in 0..m {
                let (w, y) = row[i].split();
                let p = 1.0 / (1.0 + (b[i] - a[i] * t).exp());
                direct[0] += w * (y - p) * a[i];
                direct[1] += w * p * (1.0 - p) * a[i] * a[i];
                direct[2] += w * a[i] * a[i];
                let z = a[i] * t - b[i];
                ll += w * (y * z - (z.max(0.0) + (-z.abs()).exp().ln_1p()));
            }
            for (x, y) in wide.iter().zip(&direct) {
                assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
            }
            let loglik = || RowLoglik {
                row,
                a: &a,
                b: &b,
                theta: t,
            };
            let got = pulp::Arch::new().dispatch(loglik());
            assert_eq!(got, loglik().with_simd(pulp::Scalar::new()));
            assert!((got - ll).abs() < 1e-12 * ll.abs());
        }
        for observed in [true, false] {
            let kernel = || ItemSums {
                cells: &cells,
                n_items: m,
                start: 3,
                theta: &theta,
                a: &a[3..150],
                b: &b[3..150],
                observed,
            };
            let wide = pulp::Arch::new().dispatch(kernel());
            assert_eq!(wide, kernel().with_simd(pulp::Scalar::new()));
            for (j, i) in (3..150).enumerate() {
                let (mut ga, mut hbb, mut obb) = (0.0, 0.0, 0.0);
                for (l, &t) in theta.iter().enumerate() {
                    let (w, y) = cells[l * m + i].split();
                    let p = 1.0 / (1.0 + (b[i] - a[i] * t).exp());
                    ga += w * (y - p) * t;
                    hbb += w * p * (1.0 - p);
                    obb += w;
                }
                assert!((wide[0][j] - ga).abs() < 1e-12 && (wide[4][j] - hbb).abs() < 1e-12);
                if observed {
                    assert_eq!(wide[7][j], obb);
                }
            }
        }
    }
}
