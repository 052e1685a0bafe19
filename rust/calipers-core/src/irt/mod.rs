//! Item response theory: Rasch/1PL, 2PL and multidimensional 2PL with missing responses.
//!
//! Model: P(y_li = 1) = σ(a_i·θ_l − b_i) for model (subject) l and item i, θ_l, a_i ∈ R^D.
//! Fitting by penalised joint maximum likelihood ([`fit_jml`], the fast default) or by
//! marginal maximum likelihood with EM on a quadrature grid ([`fit_em`], unidimensional).
//! Responses are stored compactly ([`Responses`]: `u8` codes or `f32` fractional scores) and
//! every kernel streams over them; [`score`] estimates abilities of new models against fixed
//! items (MLE, MAP, EAP) and [`predict`] gives probabilities.

mod data;
mod em;
mod jml;
mod kernels;
mod linalg;
mod params;
mod score;

pub use data::{Cell, MISSING, Responses};
pub use em::fit_em;
pub use jml::fit_jml;
pub use params::{Fit, FitOptions, Params, Slopes};
pub use score::{ItemBank, ScoreMethod, predict, score};
