//! Skill scaling laws across LLM families (Sloth; the latent-variable framework).
//!
//! Mean structure shared by both papers: skills θ_i = Wᵀx_i + α_f(i) (x = translog features of
//! size and tokens, α a family effect), benchmark index η_ij = λ_jᵀθ_i + b_j, mean score
//! c_j + (1 − c_j)·σ(η_ij). `fixed` holds the fixed-effect (Sloth) Huber objective with its
//! analytic gradient and the batched, seeded multi-start L-BFGS fits, parallel over
//! (problem, start) pairs; `lbfgs` the deterministic optimiser they use; `random` the random-effect (latent-variable)
//! marginal likelihood by adaptive Gauss–Hermite quadrature.

pub mod fixed;
pub mod lbfgs;
pub mod random;
