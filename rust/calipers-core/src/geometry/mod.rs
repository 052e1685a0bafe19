//! Dataset geometry: diffusion operators, their spectra, diffusion maps and the ingredients of
//! log-Euclidean signature (LES) distances (Shnitzer, Yurochkin, Greenewald, Solomon, ICML 2022).
//!
//! * [`diffusion_spectrum`]: leading eigenvalues of the paper's dense operator — Gaussian kernel
//!   `exp(−D²/(σ·median D²))`, α = 1 density normalisation, symmetric conjugate of the Markov
//!   matrix (eigenvalues in [0, 1]) — either exactly (matrix-free operator + pivoted Cholesky
//!   with a certified error bound) or by a landmark Nyström factorisation that never forms `n × n`.
//! * [`diffusion_map`]: the kNN-sparse diffusion operator and its leading eigenpairs (Lanczos).

pub mod kernel;
pub mod krylov;
pub mod lanczos;
pub mod linalg;
pub mod nystrom;
pub mod pivchol;
pub mod stored;

use rayon::prelude::*;

/// The point type of the crate; geometry validates with [`Points::with_shape`].
pub use crate::knn::Points;
pub use kernel::median_sq_dist;
pub use lanczos::Csr;

use crate::error::{Error, Result};
use crate::par::{self, Monitor};
use crate::rng::Rng;
use linalg::sq_dist;

/// Largest n for the exact (dense) mode: it is matrix-free, but its dense-eigendecomposition
/// fallback forms an `8 n²`-byte operator (7.2 GB at 30,000).
pub const MAX_EXACT_N: usize = 30_000;

/// Exact mode's relative accuracy on the slowly decaying spectra it solves by block Krylov:
/// every eigenvalue within `tol + EXACT_REL_TOL · λ_nev` (with `tol = 1e-6 · gamma` from the
/// Python layer, each `log(λ + gamma)` is then exact to about 1e-6).
pub const EXACT_REL_TOL: f64 = 1e-6;

/// How to compute the spectrum of the dense operator.
#[derive(Clone, Copy, Debug)]
pub enum Method {
    /// Form the `n × n` operator; pivoted Cholesky until the remainder's trace is ≤ `tol`
    /// (every eigenvalue then exact to `tol`), or a full dense eigendecomposition when the
    /// spectrum decays too slowly for a low rank (rank above `max(n/8, 4·n_eigs, 512)`).
    Exact { tol: f64 },
    /// Landmark Nyström factorisation; the bandwidth's median over all pairs when there are at
    /// most `median_pairs` of them, else over `median_pairs` seeded random pairs.
    Nystrom {
        n_landmarks: usize,
        median_pairs: usize,
        seed: u64,
    },
}

/// Leading eigenvalues of one dataset's diffusion operator.
#[derive(Clone, Debug)]
pub struct Spectrum {
    /// `n_eigs` eigenvalues in decreasing order (zeros past the numerical rank).
    pub eigenvalues: Vec<f64>,
    /// Kernel bandwidth `σ · median(D²)` actually used.
    pub bandwidth: f64,
    /// Rank of the factorisation (pivots for exact, kept landmark components for Nyström).
    pub rank: usize,
    /// Exact mode: bound on every eigenvalue's absolute error (0 after a full dense
    /// eigendecomposition, i.e. rounding only); Nyström: NaN (no bound).
    pub error_bound: f64,
}

/// Leading `n_eigs` eigenvalues of the paper's diffusion operator of `x`.
pub fn diffusion_spectrum(
    x: &Points<'_>,
    n_eigs: usize,
    sigma: f64,
    method: Method,
    monitor: &dyn Monitor,
) -> Result<Spectrum> {
    check_spectrum_args(x, n_eigs, sigma)?;
    let mut spectrum = match method {
        Method::Exact { tol } => exact_spectrum(x, n_eigs, sigma, tol, monitor)?,
        Method::Nystrom {
            n_landmarks,
            median_pairs,
            seed,
        } => nystrom_spectrum(x, sigma, n_landmarks, median_pairs, seed, monitor)?,
    };
    spectrum.eigenvalues.resize(n_eigs.max(1), 0.0);
    spectrum.eigenvalues.truncate(n_eigs);
    Ok(spectrum)
}

/// [`diffusion_spectrum`] of several datasets, computed in parallel (results in input order).
pub fn diffusion_spectra(
    xs: &[Points<'_>],
    n_eigs: usize,
    sigma: f64,
    method: Method,
    monitor: &dyn Monitor,
) -> Result<Vec<Spectrum>> {
    let out: Result<Vec<Spectrum>> = par::install(|| {
        xs.par_iter()
            .map(|x| diffusion_spectrum(x, n_eigs, sigma, method, &par::Silent))
            .collect()
    })?;
    monitor.tick(xs.len(), xs.len())?;
    out
}

fn check_spectrum_args(x: &Points<'_>, n_eigs: usize, sigma: f64) -> Result<()> {
    if n_eigs == 0 {
        return Err(Error::invalid("n_eigs", "must be at least 1"));
    }
    if n_eigs > x.n {
        return Err(Error::invalid(
            "n_eigs",
            format!(
                "is {n_eigs} but X has only {} points; an n-point operator has n eigenvalues, \
                 so pass n_eigs <= {}",
                x.n, x.n
            ),
        ));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid("sigma", format!("must be > 0, got {sigma}")));
    }
    Ok(())
}

fn exact_spectrum(
    x: &Points<'_>,
    n_eigs: usize,
    sigma: f64,
    tol: f64,
    monitor: &dyn Monitor,
) -> Result<Spectrum> {
    if x.n > MAX_EXACT_N {
        return Err(Error::invalid(
            "method",
            format!(
                "'exact' forms an n × n matrix ({:.1} GB for n = {}); use method='nystrom' \
                 above n = {MAX_EXACT_N}",
                8.0 * (x.n as f64).powi(2) / 1e9,
                x.n
            ),
        ));
    }
    // Past this rank the spectrum decays too slowly for the low-rank route to pay off.
    let max_rank = x.n.min((x.n / 8).max(4 * n_eigs).max(512));
    par::install(|| {
        if stores_operator(x, n_eigs) {
            let op = stored::stored_operator(x, sigma, monitor)?;
            let (n, eps) = (op.n, op.bandwidth);
            let diagonal: Vec<f64> = (0..n).map(|i| op.a[i * n + i]).collect();
            let row_of = |i: usize, out: &mut [f64]| out.copy_from_slice(&op.a[i * n..(i + 1) * n]);
            if let Some(s) = pivchol::top_eigenvalues(&diagonal, row_of, tol, max_rank, monitor)? {
                return Ok(low_rank_spectrum(s, eps));
            }
            return dense_spectrum(op.a, n, eps, n_eigs, tol, monitor);
        }
        let op = kernel::dense_operator(x, sigma, monitor)?;
        let eps = op.bandwidth;
        let row_of = |i: usize, out: &mut [f64]| op.row_into(i, out);
        if let Some(s) = pivchol::top_eigenvalues(&op.diagonal(), row_of, tol, max_rank, monitor)? {
            return Ok(low_rank_spectrum(s, eps));
        }
        let n = op.n;
        ensure_dense_fits(n, n_eigs)?;
        let a = op.into_matrix()?;
        dense_spectrum(a, n, eps, n_eigs, tol, monitor)
    })?
}

/// Below this dimension the matrix-free operator is as cheap to evaluate as a Gram product, and
/// low-dimensional data (manifolds such as the tori) mostly have fast-decaying spectra that the
/// pivoted Cholesky solves in `O(n)` memory.
pub const STORED_MIN_DIM: usize = 8;

/// Whether to build the operator as a stored matrix from a Gram product at once: in dimension
/// ≥ [`STORED_MIN_DIM`], when the dense route's memory fits the budget. The pivoted Cholesky
/// still runs first on it (reading stored rows), so fast-decaying spectra keep that route.
fn stores_operator(x: &Points<'_>, n_eigs: usize) -> bool {
    x.dim >= STORED_MIN_DIM && crate::mem::ensure_fits("X", dense_bytes(x.n, n_eigs), 1, "").is_ok()
}

fn low_rank_spectrum(s: pivchol::PivotedSpectrum, bandwidth: f64) -> Spectrum {
    Spectrum {
        eigenvalues: s.eigenvalues,
        bandwidth,
        rank: s.rank,
        error_bound: s.residual_trace,
    }
}

/// Bytes of the dense route: the `n × n` operator plus the Krylov basis and its image.
fn dense_bytes(n: usize, n_eigs: usize) -> u128 {
    let n = n as u128;
    8 * n * n + 16 * n * krylov::basis_columns(n_eigs) as u128
}

fn ensure_dense_fits(n: usize, n_eigs: usize) -> Result<()> {
    crate::mem::ensure_fits(
        "X",
        dense_bytes(n, n_eigs),
        1,
        &format!(
            "the spectrum of X decays slowly, so method='exact' stores the n × n operator \
             (n = {n}); use method='nystrom' or fewer points"
        ),
    )
}

/// The spectrum of the stored operator `a`: block Krylov, or a full eigendecomposition when
/// the matrix is too small for Krylov to pay off (or, should it ever happen, Krylov runs out
/// of iterations).
fn dense_spectrum(
    a: Vec<f64>,
    n: usize,
    eps: f64,
    n_eigs: usize,
    tol: f64,
    monitor: &dyn Monitor,
) -> Result<Spectrum> {
    monitor.tick(0, 1)?;
    let tol = krylov::Tolerance {
        abs: tol,
        rel: EXACT_REL_TOL,
    };
    if let Some(s) = krylov::top_eigenvalues(&a, n, n_eigs, tol, monitor)? {
        return Ok(Spectrum {
            eigenvalues: s.eigenvalues,
            bandwidth: eps,
            rank: n,
            error_bound: s.error_bound,
        });
    }
    let (mut values, _) = linalg::sym_eig(faer::MatRef::from_row_major_slice(&a, n, n), false)?;
    values.reverse();
    values.iter_mut().for_each(|v| *v = v.max(0.0));
    Ok(Spectrum {
        eigenvalues: values,
        bandwidth: eps,
        rank: n,
        error_bound: 0.0,
    })
}

fn nystrom_spectrum(
    x: &Points<'_>,
    sigma: f64,
    n_landmarks: usize,
    median_pairs: usize,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<Spectrum> {
    if n_landmarks == 0 || median_pairs == 0 {
        return Err(Error::invalid(
            "n_landmarks",
            "needs n_landmarks >= 1 and median_pairs >= 1",
        ));
    }
    let m = n_landmarks.min(x.n);
    let landmarks = seeded_prefix(x.n, m, seed);
    par::install(|| {
        let median = if x.n * (x.n - 1) / 2 <= median_pairs {
            let all: Vec<usize> = (0..x.n).collect();
            kernel::median_sq_dist(x, &all)
        } else {
            sampled_median(x, median_pairs, seed)
        };
        let eps = kernel::bandwidth(sigma, median)?;
        let (values, rank) = nystrom::top_eigenvalues(x, &landmarks, eps, monitor)?;
        Ok(Spectrum {
            eigenvalues: values,
            bandwidth: eps,
            rank,
            error_bound: f64::NAN,
        })
    })?
}

/// Median squared distance over `n_pairs` uniformly drawn pairs of distinct points (seeded;
/// one random stream per fixed chunk of pairs, so any thread count gives the same sample).
fn sampled_median(x: &Points<'_>, n_pairs: usize, seed: u64) -> f64 {
    const CHUNK: usize = 1 << 16;
    let n = x.n as u64;
    let sample: Vec<f64> = (0..n_pairs.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            let mut rng = Rng::stream(seed, 1 + c as u64);
            let len = CHUNK.min(n_pairs - c * CHUNK);
            (0..len).map(move |_| {
                let i = rng.below(n);
                let mut j = rng.below(n - 1);
                if j >= i {
                    j += 1;
                }
                sq_dist(x.row(i as usize), x.row(j as usize))
            })
        })
        .collect();
    median(sample)
}

/// The first `k` entries of a seeded uniform random permutation of `0..n` (partial
/// Fisher–Yates), sorted so that the subsample is used in data order.
fn seeded_prefix(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if k < n {
        let mut rng = Rng::new(seed);
        for i in 0..k {
            let j = i + rng.below((n - i) as u64) as usize;
            idx.swap(i, j);
        }
    }
    idx.truncate(k);
    idx
}

/// A fitted kNN diffusion map.
pub struct DiffusionMapFit {
    /// Leading eigenvalues of the symmetric operator, decreasing (the first is the trivial 1).
    pub eigenvalues: Vec<f64>,
    /// Right eigenvectors of the Markov matrix, `n × (n_components + 1)` row-major, scaled so
    /// that the first is the constant 1 (orthonormal in the stationary measure).
    pub eigenvectors: Vec<f64>,
    /// Kernel bandwidth used.
    pub epsilon: f64,
    /// Whether Lanczos met the tolerance within its basis limit.
    pub converged: bool,
}

/// Parameters of [`diffusion_map`].
#[derive(Clone, Copy, Debug)]
pub struct DiffusionMapParams {
    pub n_components: usize,
    pub k: usize,
    pub alpha: f64,
    /// Bandwidth; `None` takes the median of the squared kNN distances.
    pub epsilon: Option<f64>,
    pub tol: f64,
    pub seed: u64,
}

/// Every point's `k` nearest other points as `(index, squared distance)`, row-major `n × k`,
/// from the shared exact search (certified equal to brute force). `monitor` is ticked between
/// batches of query blocks, so Ctrl-C stops a long search.
fn knn_pairs(x: &Points<'_>, k: usize, monitor: &dyn Monitor) -> Result<Vec<(usize, f64)>> {
    let points = *x;
    let found = crate::knn::exact_knn(points, k, monitor)?;
    Ok(found.indices.into_iter().zip(found.sqdist).collect())
}

/// kNN diffusion map: exact kNN graph, Gaussian weights symmetrised by max with self-loops,
/// α density normalisation, symmetric conjugate, top `n_components + 1` eigenpairs by Lanczos.
pub fn diffusion_map(
    x: &Points<'_>,
    p: DiffusionMapParams,
    monitor: &dyn Monitor,
) -> Result<DiffusionMapFit> {
    if p.k == 0 || p.k >= x.n {
        return Err(Error::invalid(
            "k",
            format!("needs 1 <= k < n = {} (got {})", x.n, p.k),
        ));
    }
    if u32::try_from(x.n).is_err() {
        return Err(Error::invalid(
            "X",
            format!("has {} rows; the kNN graph supports at most 2^32 − 1", x.n),
        ));
    }
    if p.n_components == 0 || p.n_components >= x.n {
        return Err(Error::invalid(
            "n_components",
            format!("needs 1 <= n_components < n = {}", x.n),
        ));
    }
    par::install(|| {
        let neighbours = knn_pairs(x, p.k, monitor)?;
        monitor.tick(1, 3)?;
        let epsilon = match p.epsilon {
            Some(e) => e,
            None => median(neighbours.iter().map(|&(_, d2)| d2).collect()),
        };
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(Error::invalid(
                "epsilon",
                format!(
                    "the bandwidth is {epsilon}; the median squared kNN distance is zero \
                     (many duplicate points): remove duplicates or pass epsilon > 0"
                ),
            ));
        }
        let (op, sqrt_deg) = sparse_operator(x.n, p.k, &neighbours, epsilon, p.alpha)?;
        monitor.tick(2, 3)?;
        let e = lanczos::top_eigenpairs(&op, p.n_components + 1, p.tol, p.seed, monitor)?;
        let eigenvectors = markov_vectors(&e.vectors, &sqrt_deg);
        Ok(DiffusionMapFit {
            eigenvalues: e.values,
            eigenvectors,
            epsilon,
            converged: e.converged,
        })
    })?
}

fn median(mut v: Vec<f64>) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let hi = *v.select_nth_unstable_by(n / 2, f64::total_cmp).1;
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..n / 2].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    0.5 * (lo + hi)
}

/// Symmetric normalised kNN operator and `sqrt(degree)` (its leading eigenvector, unnormalised).
fn sparse_operator(
    n: usize,
    k: usize,
    nb: &[(usize, f64)],
    eps: f64,
    alpha: f64,
) -> Result<(Csr, Vec<f64>)> {
    // Union of i→j and j→i edges; both carry the same weight (distances are symmetric), so
    // deduplicating keeps max(K, Kᵀ). Self-loops have weight 1.
    let mut edges: Vec<(usize, usize, f64)> = Vec::with_capacity(2 * n * k + n);
    for i in 0..n {
        edges.push((i, i, 1.0));
        for &(j, d2) in &nb[i * k..(i + 1) * k] {
            let w = (-d2 / eps).exp();
            edges.push((i, j, w));
            edges.push((j, i, w));
        }
    }
    edges.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.total_cmp(&a.2)));
    edges.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
    let mut indptr = vec![0usize; n + 1];
    for e in &edges {
        indptr[e.0 + 1] += 1;
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    let indices: Vec<u32> = edges.iter().map(|e| e.1 as u32).collect();
    let mut values: Vec<f64> = edges.iter().map(|e| e.2).collect();
    let row_sums = |values: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| values[indptr[i]..indptr[i + 1]].iter().sum())
            .collect()
    };
    let q = row_sums(&values);
    let qa: Vec<f64> = q.iter().map(|v| v.powf(-alpha)).collect();
    if let Some(i) = qa.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::invalid(
            "alpha",
            format!(
                "the density normalisation q^-alpha is {} at point {i} (q = {}, alpha = \
                 {alpha}): it underflows or overflows; pass a smaller alpha (0 to 1 is usual)",
                qa[i], q[i]
            ),
        ));
    }
    scale_sym(&mut values, &indptr, &indices, &qa);
    let deg = row_sums(&values);
    let sqrt_deg: Vec<f64> = deg.iter().map(|v| v.sqrt()).collect();
    if sqrt_deg.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::Numerical(
            "a point has zero degree in the kNN graph; increase epsilon or k (or lower alpha)"
                .into(),
        ));
    }
    let inv: Vec<f64> = sqrt_deg.iter().map(|v| 1.0 / v).collect();
    scale_sym(&mut values, &indptr, &indices, &inv);
    Ok((
        Csr {
            n,
            indptr,
            indices,
            values,
        },
        sqrt_deg,
    ))
}

fn scale_sym(values: &mut [f64], indptr: &[usize], indices: &[u32], s: &[f64]) {
    for i in 0..s.len() {
        for e in indptr[i]..indptr[i + 1] {
            values[e] *= s[i] * s[indices[e] as usize];
        }
    }
}

/// `ψ_c = u_c / u_0` element-wise (Markov right eigenvectors with ψ_0 = 1), sign fixed so that
/// each column's entry of largest magnitude is positive. Row-major output.
fn markov_vectors(u: &faer::Mat<f64>, sqrt_deg: &[f64]) -> Vec<f64> {
    let (n, c) = (u.nrows(), u.ncols());
    // u_0 ∝ sqrt(deg) exactly; using it avoids dividing by a noisy Ritz vector.
    let norm = linalg::dot(sqrt_deg, sqrt_deg).sqrt();
    let mut out = vec![0.0; n * c];
    for col in 0..c {
        let sign = {
            let (mut best, mut val) = (0.0f64, 0.0f64);
            for i in 0..n {
                if u[(i, col)].abs() > best {
                    best = u[(i, col)].abs();
                    val = u[(i, col)];
                }
            }
            if val < 0.0 { -1.0 } else { 1.0 }
        };
        for i in 0..n {
            out[i * c + col] = if col == 0 {
                1.0
            } else {
                sign * u[(i, col)] * norm / sqrt_deg[i]
            };
        }
    }
    out
}
