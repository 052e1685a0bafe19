//! One-dimensional optimal transport by sorting.
//!
//! For a convex cost c(x − y) the optimal coupling of two distributions on the line is the
//! monotone (quantile) coupling, so W_p^p = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt can be computed exactly
//! after sorting, by merging the two cumulative-weight sequences.

mod wasserstein;

pub use wasserstein::{Sample, wasserstein_pp, wasserstein_pp_rows};
