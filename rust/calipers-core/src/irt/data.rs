//! Compact response storage: a models × items matrix of `u8` codes (0, 1, [`MISSING`]) or of
//! `f32` fractional scores in [0, 1] with NaN for missing cells. Kernels are generic over
//! [`Cell`], so no float64 copy of the matrix is ever made.

use crate::error::{Error, Result};

/// The `u8` code of a missing binary response.
pub const MISSING: u8 = 255;

/// One stored response.
pub trait Cell: Copy + Send + Sync + 'static {
    /// (1 when observed else 0, target in [0, 1]); branch-free so loops vectorise.
    fn split(self) -> (f64, f64);
    /// Whether the stored value is allowed (0/1/MISSING, or [0, 1]/NaN).
    fn is_valid(self) -> bool;
}

impl Cell for u8 {
    #[inline(always)]
    fn split(self) -> (f64, f64) {
        (f64::from(u8::from(self <= 1)), f64::from(self & 1))
    }
    fn is_valid(self) -> bool {
        self <= 1 || self == MISSING
    }
}

impl Cell for f32 {
    #[inline(always)]
    fn split(self) -> (f64, f64) {
        if self.is_nan() {
            (0.0, 0.0)
        } else {
            (1.0, f64::from(self))
        }
    }
    fn is_valid(self) -> bool {
        self.is_nan() || (0.0..=1.0).contains(&self)
    }
}

/// A borrowed models × items response matrix (row-major).
#[derive(Clone, Copy)]
pub struct Responses<'a, C: Cell> {
    pub cells: &'a [C],
    pub n_models: usize,
    pub n_items: usize,
}

impl<'a, C: Cell> Responses<'a, C> {
    /// Checks the shape and that every value is a valid response code.
    pub fn new(cells: &'a [C], n_models: usize, n_items: usize) -> Result<Self> {
        if n_models == 0 || n_items == 0 {
            return Err(Error::shape(
                "Y",
                format!("has shape ({n_models}, {n_items}); pass at least one model and one item"),
            ));
        }
        if cells.len() != n_models * n_items {
            return Err(Error::shape(
                "Y",
                format!("has {} cells, expected {n_models} × {n_items}", cells.len()),
            ));
        }
        if let Some(k) = cells.iter().position(|c| !c.is_valid()) {
            return Err(Error::invalid(
                "Y",
                format!(
                    "cell (model {}, item {}) is not a valid response; responses must be 0/1 \
                     (or fractional scores in [0, 1]) with NaN for missing",
                    k / n_items,
                    k % n_items
                ),
            ));
        }
        Ok(Self {
            cells,
            n_models,
            n_items,
        })
    }

    #[inline]
    pub fn row(&self, l: usize) -> &'a [C] {
        &self.cells[l * self.n_items..(l + 1) * self.n_items]
    }

    /// Number of observed cells.
    pub fn n_observed(&self) -> usize {
        self.cells.iter().map(|c| c.split().0 as usize).sum()
    }
}

/// The logistic function; exact at both tails (no NaN for huge |z|).
#[inline(always)]
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// e^x by range reduction and a degree-13 polynomial: relative error below 1e-15 for
/// |x| ≤ 708 (clamped beyond), written with plain arithmetic and bit operations only so that
/// loops calling it vectorise (libm's `exp` is an opaque call).
#[inline(always)]
pub fn exp_fast(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
    const LN2_HI: f64 = 0.693_147_180_369_123_816_49;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    let x = x.clamp(-708.0, 708.0);
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series of e^r for |r| ≤ ln2/2, Horner form (r^14/14! < 2e-17).
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // 2^n from the integer sitting in t's low mantissa bits.
    let k = t.to_bits().wrapping_sub(SHIFT.to_bits());
    let scale = f64::from_bits(k.wrapping_add(1023) << 52);
    p * scale
}

/// The logistic function via [`exp_fast`] (for the vectorised fitting kernels).
#[inline(always)]
pub fn sigmoid_fast(z: f64) -> f64 {
    1.0 / (1.0 + exp_fast(-z))
}

/// log(1 + e^z) without overflow.
#[inline(always)]
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Bernoulli log-likelihood of target y at logit z: y z − log(1 + e^z).
#[inline(always)]
pub fn bernoulli_loglik(y: f64, z: f64) -> f64 {
    y * z - softplus(z)
}

/// Logit of a proportion, clipped away from 0 and 1.
pub fn clipped_logit(p: f64) -> f64 {
    let p = p.clamp(0.02, 0.98);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_split_into_weight_and_target() {
        assert_eq!(0u8.split(), (1.0, 0.0));
        assert_eq!(1u8.split(), (1.0, 1.0));
        assert_eq!(MISSING.split().0, 0.0);
        assert_eq!(f32::NAN.split(), (0.0, 0.0));
        assert_eq!(0.25f32.split(), (1.0, 0.25));
    }

    #[test]
    fn rejects_bad_codes_and_shapes() {
        assert!(Responses::new(&[0u8, 2], 1, 2).is_err());
        assert!(Responses::new(&[0.5f32, 1.5], 1, 2).is_err());
        assert!(Responses::new(&[0u8, 1], 1, 3).is_err());
        assert!(Responses::new(&[0u8, 1, MISSING], 1, 3).is_ok());
    }

    #[test]
    fn exp_fast_matches_libm() {
        let mut worst: f64 = 0.0;
        let mut x = -700.0;
        while x < 700.0 {
            worst = worst.max((exp_fast(x) / x.exp() - 1.0).abs());
            x += 0.0137;
        }
        assert!(worst < 2e-15, "worst relative error {worst}");
        assert!(exp_fast(-1e4) > 0.0 && exp_fast(1e4).is_finite());
        assert_eq!(sigmoid_fast(0.0), 0.5);
    }

    #[test]
    fn softplus_is_stable() {
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
        assert!(sigmoid(-1000.0) == 0.0 && sigmoid(1000.0) == 1.0);
    }
}
