//! Almost stochastic dominance of order 1 (quantiles) and 2 (integrated quantiles).
//!
//! The violation ratio of "X dominates Y" at order ℓ is
//! ε_ℓ(X, Y) = ∫₀¹ (Q⁽ℓ⁾_Y − Q⁽ℓ⁾_X)₊² dt / ∫₀¹ (Q⁽ℓ⁾_Y − Q⁽ℓ⁾_X)² dt,
//! with Q⁽¹⁾ the quantile function and Q⁽²⁾(t) = ∫₀ᵗ Q the integrated quantile (absolute
//! Lorenz curve). For empirical distributions both integrals are computed exactly on the
//! merged grid of cumulative weights: Q is constant and Q⁽²⁾ linear on every cell. Nothing is
//! truncated, and ε(X, Y) + ε(Y, X) = 1. When the two distributions coincide the ratio is
//! 0/0 and is reported as 0.5 (no evidence either way).

mod ratio;
mod relative;

pub use ratio::{Order, Violation, violation_careful, violation_equal, violation_weighted};
pub use relative::{bootstrap_one_vs_all, violation_matrix};
