//! The one error type of the core. The bindings map each variant to a specific Python
//! exception class in `calipers.exceptions`, so messages must name the argument and the fix.

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An argument has an invalid value (negative weight, p < 1, k >= n, ...).
    #[error("{arg}: {reason}")]
    InvalidArgument { arg: &'static str, reason: String },
    /// Array shapes or lengths do not fit together.
    #[error("{arg}: {reason}")]
    Shape { arg: &'static str, reason: String },
    /// NaN or infinite values where finite ones are required.
    #[error("{arg}: {reason}")]
    NonFinite { arg: &'static str, reason: String },
    /// The computation itself failed (singular system, breakdown).
    #[error("{0}")]
    Numerical(String),
    /// The work would need more memory than the budget (`crate::mem`).
    #[error("{arg}: {reason}")]
    Memory { arg: &'static str, reason: String },
    /// The caller asked to stop (Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn invalid(arg: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            arg,
            reason: reason.into(),
        }
    }

    pub fn shape(arg: &'static str, reason: impl Into<String>) -> Self {
        Error::Shape {
            arg,
            reason: reason.into(),
        }
    }

    pub fn non_finite(arg: &'static str, reason: impl Into<String>) -> Self {
        Error::NonFinite {
            arg,
            reason: reason.into(),
        }
    }
}

/// Fails with `NonFinite` naming `arg` and the first bad position when `xs` has NaN or inf.
pub fn ensure_finite(arg: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::non_finite(
            arg,
            format!(
                "value {} at position {i} is not finite; remove or impute NaN/inf values",
                xs[i]
            ),
        )),
    }
}

/// Fails unless `xs` is non-empty.
pub fn ensure_non_empty<T>(arg: &'static str, xs: &[T]) -> Result<()> {
    if xs.is_empty() {
        Err(Error::shape(arg, "is empty; pass at least one value"))
    } else {
        Ok(())
    }
}
