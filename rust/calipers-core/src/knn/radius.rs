//! Radius search: all reference points within a squared distance of each query.

use super::{Points, sqdist};
use crate::error::{Error, Result};
use crate::par::{self, Monitor};

const QUERY_CHUNK: usize = 64;

/// All reference points within squared distance `tau` of each query (CSR: `indptr`,
/// `indices`, `sqdist`, rows sorted by index). `same_set` excludes each point itself.
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
            counts.push(idx.len() - before);
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
