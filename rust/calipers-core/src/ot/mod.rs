//! One-dimensional optimal transport by sorting, and exact assignment for k-mixup.
//!
//! For a convex cost c(x − y) the optimal coupling of two distributions on the line is the
//! monotone (quantile) coupling, so W_p^p = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt can be computed exactly
//! after sorting, by merging the two cumulative-weight sequences. The same sort-then-match
//! kernel gives quantile functions, the optimal plan, and the AOT alignment losses.

mod aot;
mod assignment;
mod coupling;
mod quantile;
mod sample;
pub mod sort;
mod wasserstein;

pub use aot::{AotOutput, AotParams, Logps, Relaxation, aot_paired, aot_unpaired};
pub use assignment::{Lap, kmixup_match};
pub use coupling::{Coupling, monotone_coupling};
pub use quantile::{quantiles, quantiles_rows};
pub use sample::Sample;
pub use wasserstein::{Wasserstein, wasserstein, wasserstein_rows};
