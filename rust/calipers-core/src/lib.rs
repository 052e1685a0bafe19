//! calipers-core: the numerical engine of calipers, in pure Rust.
//!
//! Every public function takes validated, contiguous slices and plain scalars and returns
//! `Result<_, Error>`; no function here may panic on user input. Python concerns (numpy, the
//! GIL, exceptions) live in the `calipers-py` bindings crate.
#![forbid(unsafe_code)]

pub mod dominance;
pub mod error;
pub mod fairness;
pub mod fastmath;
pub mod geometry;
pub mod irt;
pub mod judge;
pub mod knn;
pub mod linalg;
pub mod mem;
pub mod ot;
pub mod par;
pub mod prompts;
pub mod resample;
pub mod rng;
pub mod route;
pub mod scaling;
pub mod sparse;
pub mod tiny;
pub mod weak;

pub use error::{Error, Result};
