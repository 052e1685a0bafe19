//! Sparse similarity graphs in CSR form: validation, symmetrised kNN graphs and radius graphs
//! with Gaussian weights exp(−θ d²).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::knn::Neighbors;
use crate::par;

/// The graph types: square CSR matrices with `usize` indices (see [`crate::sparse`]); the
/// checks and constructors below are the graph-specific part.
pub use crate::sparse::{Csr, CsrRef};

impl CsrRef<'_> {
    /// Checks structure (lengths, monotone `indptr`, indices in range and sorted within rows),
    /// finite non-negative weights, at least one edge, and symmetry of the weights.
    pub fn validate(&self) -> Result<()> {
        self.validate_structure()?;
        self.check_symmetric()
    }

    /// `validate` without the symmetry check (which is invariant under renumbering the nodes,
    /// so the solver runs it after renumbering, when the lookups are cache-friendly).
    pub fn validate_structure(&self) -> Result<()> {
        let n = self.n;
        if self.indptr.len() != n + 1 {
            return Err(Error::shape(
                "graph",
                format!(
                    "indptr has length {} but n + 1 = {} was expected",
                    self.indptr.len(),
                    n + 1
                ),
            ));
        }
        if self.indices.len() != self.values.len() {
            return Err(Error::shape(
                "graph",
                "indices and weights differ in length",
            ));
        }
        if self.indptr.first() != Some(&0) || self.indptr.last() != Some(&self.indices.len()) {
            return Err(Error::shape(
                "graph",
                "indptr must start at 0 and end at nnz",
            ));
        }
        if self.indptr.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::shape("graph", "indptr must be non-decreasing"));
        }
        if let Some(&j) = self.indices.iter().find(|&&j| j >= n) {
            return Err(Error::shape(
                "graph",
                format!("column index {j} is out of range for {n} nodes"),
            ));
        }
        for i in 0..n {
            let (cols, _) = self.row(i);
            if cols.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::shape(
                    "graph",
                    format!(
                        "row {i} has unsorted or duplicate column indices; call .sum_duplicates() and .sort_indices() first"
                    ),
                ));
            }
        }
        if let Some(p) = self
            .values
            .iter()
            .position(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(Error::invalid(
                "graph",
                format!(
                    "weight {} at position {p} is not a finite non-negative number",
                    self.values[p]
                ),
            ));
        }
        if !self.values.iter().any(|&w| w > 0.0) {
            return Err(Error::invalid(
                "graph",
                "has no edges with positive weight, so post-processing would change nothing; \
                 use a larger radius tau or a kNN graph",
            ));
        }
        Ok(())
    }

    /// Checks that the weights are symmetric (to 1e-12 relative).
    pub fn check_symmetric(&self) -> Result<()> {
        let bad = par::install(|| {
            (0..self.n).into_par_iter().find_first(|&i| {
                let (cols, ws) = self.row(i);
                cols.iter().zip(ws).any(|(&j, &w)| {
                    let (cj, wj) = self.row(j);
                    match cj.binary_search(&i) {
                        Ok(p) => (wj[p] - w).abs() > 1e-12 * w.abs().max(1.0),
                        Err(_) => w != 0.0,
                    }
                })
            })
        })?;
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::invalid(
                "graph",
                format!(
                    "is not symmetric (row {i} differs from its transpose); pass (W + W.T) / 2 or W.maximum(W.T)"
                ),
            )),
        }
    }
}

/// Gaussian weight exp(−θ d²); 1 at d² = 0 even for θ = inf (which 0 · inf would make NaN).
#[inline]
fn gaussian(theta: f64, d2: f64) -> f64 {
    if d2 == 0.0 { 1.0 } else { (-theta * d2).exp() }
}

/// Symmetrised (union) kNN graph: i ~ j when j is among i's neighbours or i among j's, with
/// weight exp(−θ d²_ij). No self-loops. Memory: O(n · k).
pub fn knn_graph(nb: &Neighbors, n: usize, theta: f64) -> Result<Csr> {
    if !(theta.is_finite() && theta >= 0.0) {
        return Err(Error::invalid(
            "theta",
            format!("must be finite and >= 0, got {theta}"),
        ));
    }
    let k = nb.k;
    if nb.indices.len() != n * k {
        return Err(Error::shape(
            "neighbors",
            "list length does not equal n * k",
        ));
    }
    let mut counts = vec![0usize; n + 1];
    for (i, &j) in nb.indices.iter().enumerate() {
        counts[i / k.max(1) + 1] += 1;
        counts[j + 1] += 1;
    }
    for i in 0..n {
        counts[i + 1] += counts[i];
    }
    let mut fill = counts.clone();
    let total = counts[n];
    let mut entries = vec![(0usize, 0.0f64); total];
    for (e, (&j, &d2)) in nb.indices.iter().zip(&nb.sqdist).enumerate() {
        let i = e / k.max(1);
        let w = gaussian(theta, d2);
        entries[fill[i]] = (j, w);
        fill[i] += 1;
        entries[fill[j]] = (i, w);
        fill[j] += 1;
    }
    // Sort and de-duplicate each row in parallel (an edge found from both ends keeps the
    // larger weight; they agree up to rounding).
    let rows: Vec<Vec<(usize, f64)>> = par::install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let mut row = entries[counts[i]..counts[i + 1]].to_vec();
                row.sort_by_key(|a| a.0);
                row.dedup_by(|b, a| {
                    if a.0 == b.0 {
                        a.1 = a.1.max(b.1);
                        true
                    } else {
                        false
                    }
                });
                row
            })
            .collect()
    })?;
    drop(entries);
    Ok(from_rows(n, rows))
}

fn from_rows(n: usize, rows: Vec<Vec<(usize, f64)>>) -> Csr {
    let nnz = rows.iter().map(Vec::len).sum();
    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::with_capacity(nnz);
    let mut weights = Vec::with_capacity(nnz);
    indptr.push(0);
    for row in rows {
        for (j, w) in row {
            indices.push(j);
            weights.push(w);
        }
        indptr.push(indices.len());
    }
    Csr {
        n,
        indptr,
        indices,
        values: weights,
    }
}

/// Radius graph weights exp(−θ d²) on CSR neighbour lists of squared distances.
pub fn gaussian_weights(sqdist: &[f64], theta: f64) -> Result<Vec<f64>> {
    if !(theta.is_finite() && theta >= 0.0) {
        return Err(Error::invalid(
            "theta",
            format!("must be finite and >= 0, got {theta}"),
        ));
    }
    Ok(sqdist.iter().map(|&d| gaussian(theta, d)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_graph_is_symmetric_union() {
        // 0's neighbour is 1, 1's is 2, 2's is 1.
        let nb = Neighbors {
            k: 1,
            indices: vec![1, 2, 1],
            sqdist: vec![1.0, 2.0, 2.0],
        };
        let g = knn_graph(&nb, 3, 0.5).unwrap();
        assert_eq!(g.indptr, vec![0, 1, 3, 4]);
        assert_eq!(g.indices, vec![1, 0, 2, 1]);
        let e = |d: f64| (-0.5 * d).exp();
        assert_eq!(g.values, vec![e(1.0), e(1.0), e(2.0), e(2.0)]);
        g.view().validate().unwrap();
    }

    #[test]
    fn asymmetric_graph_is_rejected() {
        let g = Csr {
            n: 2,
            indptr: vec![0, 1, 1],
            indices: vec![1],
            values: vec![1.0],
        };
        assert!(g.view().validate().is_err());
    }
}
