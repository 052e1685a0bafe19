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
    /// No cell is missing.
    pub complete: bool,
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
        let complete = cells.iter().all(|c| c.split().0 > 0.0);
        Ok(Self {
            cells,
            n_models,
            n_items,
            complete,
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

pub use crate::fastmath::{bernoulli_loglik, sigmoid, softplus};

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
    fn softplus_is_stable() {
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
        assert!(sigmoid(-1000.0) < 1e-300 && sigmoid(1000.0) == 1.0);
    }
}
