//! Square sparse matrices in compressed sparse row form, shared by the capabilities that build
//! or solve on neighbour graphs: `fairness` (similarity graphs, `usize` indices, validated and
//! solved in `fairness::graph` / `fairness::solve`) and `geometry` (kNN diffusion operators,
//! `u32` indices for a third less memory traffic per product, eigensolved by Lanczos).

use rayon::prelude::*;

/// A column index type: `usize`, or `u32` where the matrix is small enough and the products
/// are memory-bound.
pub trait SparseIndex: Copy + Send + Sync + 'static {
    fn index(self) -> usize;
}

impl SparseIndex for usize {
    #[inline]
    fn index(self) -> usize {
        self
    }
}

impl SparseIndex for u32 {
    #[inline]
    fn index(self) -> usize {
        self as usize
    }
}

/// Rows per parallel task of a sparse product (each row is independent: any split gives the
/// same bits; large enough that scheduling costs little next to the rows' work).
pub const SPMV_ROWS: usize = 2048;

/// An owned square (n × n) CSR matrix: row `i` holds `indices[indptr[i]..indptr[i+1]]` and
/// their `values`.
#[derive(Clone, Debug, PartialEq)]
pub struct Csr<I = usize> {
    pub n: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<I>,
    pub values: Vec<f64>,
}

/// A borrowed square CSR matrix.
#[derive(Clone, Copy, Debug)]
pub struct CsrRef<'a, I = usize> {
    pub n: usize,
    pub indptr: &'a [usize],
    pub indices: &'a [I],
    pub values: &'a [f64],
}

impl<I: SparseIndex> Csr<I> {
    pub fn view(&self) -> CsrRef<'_, I> {
        CsrRef {
            n: self.n,
            indptr: &self.indptr,
            indices: &self.indices,
            values: &self.values,
        }
    }

    /// `y = A x`, row blocks in parallel (each row summed in order: the same bits for any
    /// thread count).
    pub fn matvec(&self, x: &[f64], y: &mut [f64]) {
        y.par_chunks_mut(SPMV_ROWS).enumerate().for_each(|(b, yb)| {
            for (k, yi) in yb.iter_mut().enumerate() {
                *yi = self.row_dot(b * SPMV_ROWS + k, x);
            }
        });
    }

    /// `Σ_j A_ij x_j` over row `i`'s entries, in order.
    #[inline]
    pub fn row_dot(&self, i: usize, x: &[f64]) -> f64 {
        let (s, e) = (self.indptr[i], self.indptr[i + 1]);
        self.indices[s..e]
            .iter()
            .zip(&self.values[s..e])
            .map(|(&j, &v)| v * x[j.index()])
            .sum()
    }
}

impl<'a, I> CsrRef<'a, I> {
    /// Row `i`'s column indices and values.
    #[inline]
    pub fn row(&self, i: usize) -> (&'a [I], &'a [f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matvec_matches_dense_for_both_index_types() {
        // [[2, 0, 1], [0, 3, 0], [1, 0, 4]]
        let a = Csr::<usize> {
            n: 3,
            indptr: vec![0, 2, 3, 5],
            indices: vec![0, 2, 1, 0, 2],
            values: vec![2.0, 1.0, 3.0, 1.0, 4.0],
        };
        let b = Csr::<u32> {
            n: 3,
            indptr: a.indptr.clone(),
            indices: a.indices.iter().map(|&j| j as u32).collect(),
            values: a.values.clone(),
        };
        let x = [1.0, -2.0, 0.5];
        let (mut ya, mut yb) = ([0.0; 3], [0.0; 3]);
        a.matvec(&x, &mut ya);
        b.matvec(&x, &mut yb);
        assert_eq!(ya, [2.5, -6.0, 3.0]);
        assert_eq!(ya, yb);
        assert_eq!(a.view().row(2), (&[0usize, 2][..], &[1.0, 4.0][..]));
        assert_eq!(a.view().nnz(), 5);
    }
}
