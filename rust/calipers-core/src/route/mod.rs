//! Cost-aware routing (CARROT, Somerstep et al. 2025; Shnitzer et al. 2023).
//!
//! * [`knn_predict`] / [`knn_cv_errors`]: kNN regression of a target matrix (per-model quality
//!   and cost) on query features through the exact kNN core; one neighbour search up to the
//!   largest `k` serves every `k` of the cross-validation grid; the blocked f32-screened
//!   search (`search`) computes direct distances only where the screening cannot decide
//!   which rows are among the `k` nearest.
//! * [`mu_path`]: the exact routing path. Query `i` goes to `argmax_m P[i,m] − μ·C[i,m]`
//!   (ties to the cheaper model, then the lower index); as μ grows the choice follows the
//!   upper envelope of the M lines `μ ↦ P[i,m] − μ C[i,m]`. All breakpoints of all queries
//!   are merged and swept once, so the whole accuracy–cost curve costs O(nM·h + E log E)
//!   (h the envelope size, E ≤ n(M−1) the number of breakpoints) instead of one pass per
//!   grid value of μ.
//! * [`hull`], [`hull_auc`], [`hull_at`]: the non-decreasing concave hull of a curve (what
//!   random mixing of two operating points achieves) and its mean height on a fixed cost
//!   range, with flat extrapolation outside the curve's own range.
//! * [`bootstrap_frontiers`]: paired bootstrap over queries of the frontier statistics of
//!   several routers at once (the same resampled queries for all), in the chunked streams of
//!   `crate::resample`, so the bits do not depend on the thread count.

mod bootstrap;
mod envelope;
mod hull;
mod knn;
mod search;

pub use bootstrap::{BootstrapOptions, FIXED_STATS, bootstrap_frontiers};
pub use envelope::{Path, Start, mu_path, mu_path_events};
pub use hull::{curve_auc, hull, hull_at, hull_auc};
pub use knn::{knn_cv_errors, knn_predict};
