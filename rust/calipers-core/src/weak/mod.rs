//! Weak-supervision evaluation by partial identification (Fréchet bounds).
//!
//! The closed forms for metrics of a discrete prediction and the exact K = 2 sorting path are
//! cheap and live in Python (`calipers.weak`); the core holds the heavy part, the entropic
//! (log-sum-exp smoothed) dual of the per-pattern semi-discrete transport problem for a
//! general bounded g(x, y), solved by damped Newton per pattern, in parallel over patterns.

mod entropic;

pub use entropic::{EntropicBound, entropic_upper_bound};
