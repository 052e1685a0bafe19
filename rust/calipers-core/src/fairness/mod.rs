//! Individual fairness by graph-Laplacian post-processing (Petersen et al. 2021, "GLIF").
//!
//! Points arrive already mapped into the fair space by the fair metric (a linear map applied
//! once in Python), so every distance here is squared Euclidean. Nothing builds a dense n × n
//! matrix: graphs are CSR, the solver only needs sparse matrix–block products.

pub mod graph;
pub mod solve;

pub use crate::knn::{
    ApproxOptions, Neighbors, Points, approximate_knn, exact_knn, exact_query, radius_neighbors,
};
pub use graph::{Csr, CsrRef, gaussian_weights, knn_graph};
pub use solve::{Solution, SolveOptions, Variant, glif_solve, out_of_sample};
