//! LLM judges against humans (Bridge): the cumulative-logit (proportional-odds) regression of
//! human labels on the judge's latent score and item covariates,
//!
//! ```text
//! P(Y_r ≤ k) = σ(τ_k − wᵀb),   k = 0..K−2,   τ = T t,
//! ```
//!
//! fitted by Newton's method with the analytic gradient and Hessian, and its item-cluster
//! bootstrap. The thresholds are `τ = T t` for a fixed (K−1) × n_t map `T`: the identity for
//! free thresholds, (−1, 1)ᵀ for the symmetric thresholds of pairwise comparisons with ties,
//! the empty map for a single threshold fixed at 0; so one solver serves every mode.
//!
//! - [`likelihood`]: the per-row log-likelihood `log(σ(u) − σ(l))` in a form that is accurate in
//!   both tails, its derivatives, the sums over rows (in fixed chunks of rows, folded in chunk
//!   order, so the bits do not depend on the thread count) and the item-clustered score sums
//!   for the sandwich covariance.
//! - [`newton`]: the damped Newton fit.
//! - [`bootstrap`]: refits on items resampled with replacement (and, for a judge latent made
//!   from M sampled judgments per item, on judgments re-drawn multinomially), in parallel over
//!   fixed chunks of replicates, each chunk with its own seeded stream.

pub mod bootstrap;
mod kernel;
pub mod likelihood;
pub mod newton;

pub use bootstrap::{Samples, bootstrap, latent_from_counts};
pub use likelihood::{Derivatives, Problem, cluster_meat, derivatives};
pub use newton::{Fit, fit, fit_clustered};
