//! Radius search: all reference points within a squared distance of each query.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::{Points, sqdist};
use crate::error::{Error, Result};
use crate::mem;
use crate::par::{self, Monitor};

const QUERY_CHUNK: usize = 64;

/// Bytes an edge costs from the search to a solved graph: 16 here (index and squared
/// distance), then weights, index copies and the Laplacian solve (measured ~31–42 in total).
pub const BYTES_PER_EDGE: u64 = 40;

/// The error for a radius that finds more edges than the memory budget can hold, with the
/// total extrapolated from the `found` edges of the first `searched` queries.
fn too_many_edges(found: usize, searched: usize, n_queries: usize) -> Error {
    let estimate = (found as u128 * n_queries as u128).div_ceil(searched.max(1) as u128);
    let reason = format!(
        "finds about {estimate} pairs within the radius ({found} around {searched} of the \
         {n_queries} points searched), more edges than fit in memory; pass a smaller tau or \
         use a kNN graph (graph='knn' / kneighbors_graph), or raise CALIPERS_MAX_MEMORY"
    );
    match mem::ensure_fits("tau", estimate, BYTES_PER_EDGE as u128, &reason) {
        Err(e) => e,
        // The estimate fits although the edges found so far did not: say so plainly.
        Ok(()) => Error::Memory { arg: "tau", reason },
    }
}

/// Queries whose neighbours are counted to estimate the edge count before the search.
const SAMPLE_QUERIES: usize = 256;

/// (queries sampled, edges they have): evenly spaced queries, so the count is deterministic.
fn sample_edge_count(
    reference: Points,
    queries: Points,
    tau: f64,
    same_set: bool,
) -> Result<(usize, usize)> {
    let n = queries.len();
    let step = n.div_ceil(SAMPLE_QUERIES).max(1);
    let picks: Vec<usize> = (0..n).step_by(step).collect();
    let count_for = |qi: usize| {
        let q = queries.row(qi);
        (0..reference.len())
            .filter(|&j| !(same_set && j == qi) && sqdist(q, reference.row(j)) <= tau)
            .count()
    };
    let edges = par::install(|| picks.par_iter().map(|&qi| count_for(qi)).sum())?;
    Ok((picks.len(), edges))
}

/// All reference points within squared distance `tau` of each query (CSR: `indptr`,
/// `indices`, `sqdist`, rows sorted by index). `same_set` excludes each point itself. Fails
/// with `Error::Memory` naming `tau` once the edges found exceed the memory budget
/// ([`BYTES_PER_EDGE`] each).
pub fn radius_neighbors(
    reference: Points,
    queries: Points,
    tau: f64,
    same_set: bool,
    monitor: &dyn Monitor,
) -> Result<(Vec<usize>, Vec<usize>, Vec<f64>)> {
    if !(tau.is_finite() && tau >= 0.0) {
        return Err(Error::invalid(
            "tau",
            format!("must be finite and >= 0, got {tau}"),
        ));
    }
    if reference.dim != queries.dim {
        return Err(Error::shape(
            "X",
            "new points and fitted points have different numbers of fair-space columns",
        ));
    }
    // A radius covering most pairs is refused up front from the edge count of a sample of
    // queries, and edges are counted as they are found as a backstop, so the search stops with
    // an error naming `tau` long before n² edges exhaust memory.
    let max_edges = (mem::budget_bytes() / BYTES_PER_EDGE) as usize;
    let all_pairs = queries.len() as u128 * reference.len() as u128;
    if all_pairs > max_edges as u128 {
        let (sampled, sample_edges) = sample_edge_count(reference, queries, tau, same_set)?;
        let estimate = sample_edges as u128 * queries.len() as u128 / sampled.max(1) as u128;
        if estimate > max_edges as u128 {
            return Err(too_many_edges(sample_edges, sampled, queries.len()));
        }
    }
    let (found, searched) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let ranges: Vec<_> = par::chunk_ranges(queries.len(), QUERY_CHUNK).collect();
    let parts = par::map_chunks(ranges.len(), monitor, |c| {
        let mut counts = Vec::with_capacity(ranges[c].len());
        let mut idx = Vec::new();
        let mut d2 = Vec::new();
        for qi in ranges[c].clone() {
            let q = queries.row(qi);
            let before = idx.len();
            for j in 0..reference.len() {
                if same_set && j == qi {
                    continue;
                }
                let d = sqdist(q, reference.row(j));
                if d <= tau {
                    idx.push(j);
                    d2.push(d);
                }
            }
            let count = idx.len() - before;
            counts.push(count);
            let total = found.fetch_add(count, Ordering::Relaxed) + count;
            let done = searched.fetch_add(1, Ordering::Relaxed) + 1;
            if total > max_edges {
                return Err(too_many_edges(total, done, queries.len()));
            }
        }
        Ok((counts, idx, d2))
    })?;
    let mut indptr = Vec::with_capacity(queries.len() + 1);
    indptr.push(0);
    let (mut indices, mut sqd) = (Vec::new(), Vec::new());
    for (counts, idx, d2) in parts {
        for c in counts {
            indptr.push(indptr.last().copied().unwrap_or(0) + c);
        }
        indices.extend(idx);
        sqd.extend(d2);
    }
    Ok((indptr, indices, sqd))
}
