//! Efficient evaluation (tinyBenchmarks): clustering benchmark items to choose anchor items.
//!
//! The estimators and the IRT glue live in Python (`calipers.tiny`); the core holds the
//! heavy, parallel part: weighted k-means with seeded restarts and anchor extraction.

mod kmeans;

pub use kmeans::{Anchors, KMeansFit, KMeansOptions, anchors, kmeans};
