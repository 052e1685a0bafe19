//! Exact neighbour lists for kNN regression by blocked brute force: screening distances from
//! matrix products (f32 on centred rows when their norms allow, else f64), the best
//! `k_max + slack` per query kept by a threshold, and exact direct distances computed only
//! where the screening cannot decide a set.
//!
//! A regression on `k` neighbours needs the *set* of the `k` nearest rows (by squared
//! distance, ties to the lower index: `knn::exact_query`'s order), not their order. So the
//! lists returned here are ordered such that for every requested `k` the first `k` entries
//! are exactly that set; with every `k` from 1 to `k_max` requested this is the full exact
//! order. Each query's screening distances `s` lie within a certified margin `m` of the exact
//! ones `d`, so with `s_k` the `k`-th smallest candidate screening distance, a candidate with
//! `s < s_k − 2m` is surely among the `k` nearest and one with `s > s_k + 2m` surely is not;
//! only the few inside that window get a direct distance (a random read of a whole f64 row,
//! which is what the search used to spend most of its time on).

use std::borrow::Cow;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::error::{Error, Result};
use crate::knn::{Points, sqdist};
use crate::par::{self, Monitor};

/// Queries per parallel task: the reference tile is packed once per task and used by all of
/// them.
const SEARCH_QUERIES: usize = 256;
/// Reference rows per matrix-product tile (a `SEARCH_ROWS × SEARCH_QUERIES` f32 tile is 512 KiB
/// and stays in L2).
const SEARCH_ROWS: usize = 512;
/// Candidates kept beyond `k_max`, so that the list can be certified against every row
/// left out (f64 and f32 screening).
const SEARCH_SLACK: usize = 8;
const SEARCH_SLACK_F32: usize = 16;
/// Centred rows with a squared norm above this are screened in f64 (f32 would overflow).
const LOW_MAX_NORM: f64 = 1e30;
/// Per coordinate: covers f32 underflow to subnormals in the screening products.
const LOW_ERR_ABS: f64 = 1e-40;
/// Screening distances tested against the threshold at once (branch-free, vectorised).
const SCAN_LANES: usize = 16;

/// A screening precision: f32 (twice the SIMD lanes) or f64. A candidate is packed into one
/// integer whose order is the (distance, index) order, so that selections compare integers.
trait Lane:
    Copy + Send + Sync + PartialOrd + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self>
{
    type Item: Copy + Ord + Send;
    const INFINITY: Self;
    fn pack(self, idx: u32) -> Self::Item;
    fn value(item: Self::Item) -> Self;
    fn index(item: Self::Item) -> u32;
    fn widen(self) -> f64;
    /// `dst` (column-major `len × qb`) = reference rows · query rowsᵀ.
    fn products(dst: &mut [Self], reference: &[Self], queries: &[Self], qb: usize, dim: usize);
}

impl Lane for f32 {
    type Item = u64;
    const INFINITY: f32 = f32::INFINITY;
    fn pack(self, idx: u32) -> u64 {
        let b = self.to_bits();
        let key = if b >> 31 == 1 { !b } else { b | 1 << 31 };
        u64::from(key) << 32 | u64::from(idx)
    }
    fn value(item: u64) -> f32 {
        let key = (item >> 32) as u32;
        f32::from_bits(if key >> 31 == 1 {
            key & !(1 << 31)
        } else {
            !key
        })
    }
    fn index(item: u64) -> u32 {
        item as u32
    }
    fn widen(self) -> f64 {
        f64::from(self)
    }
    fn products(dst: &mut [f32], reference: &[f32], queries: &[f32], qb: usize, dim: usize) {
        let len = reference.len() / dim;
        matmul(
            MatMut::from_column_major_slice_mut(dst, len, qb),
            Accum::Replace,
            MatRef::from_row_major_slice(reference, len, dim),
            MatRef::from_row_major_slice(queries, qb, dim).transpose(),
            1.0,
            Par::Seq,
        );
    }
}

impl Lane for f64 {
    type Item = u128;
    const INFINITY: f64 = f64::INFINITY;
    fn pack(self, idx: u32) -> u128 {
        let b = self.to_bits();
        let key = if b >> 63 == 1 { !b } else { b | 1 << 63 };
        u128::from(key) << 32 | u128::from(idx)
    }
    fn value(item: u128) -> f64 {
        let key = (item >> 32) as u64;
        f64::from_bits(if key >> 63 == 1 {
            key & !(1 << 63)
        } else {
            !key
        })
    }
    fn index(item: u128) -> u32 {
        item as u32
    }
    fn widen(self) -> f64 {
        self
    }
    fn products(dst: &mut [f64], reference: &[f64], queries: &[f64], qb: usize, dim: usize) {
        let len = reference.len() / dim;
        crate::linalg::gemm(
            MatMut::from_column_major_slice_mut(dst, len, qb),
            MatRef::from_row_major_slice(reference, len, dim),
            MatRef::from_row_major_slice(queries, qb, dim).transpose(),
        );
    }
}

/// The rows the screening products run on, their squared norms in that precision, and each
/// query's certified bound on |screening − direct distance|.
struct Frame<'a, T: Clone> {
    reference: Cow<'a, [T]>,
    queries: Cow<'a, [T]>,
    ref_norms: Vec<T>,
    q_norms: Vec<T>,
    margin: Vec<f64>,
    slack: usize,
}

fn sq_norms(data: &[f64], dim: usize) -> Vec<f64> {
    data.chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Rounding bounds: in f64 the product and the direct distances each lie within
/// (2d + 4) ε (‖q‖² + ‖y‖²) of the truth. In f32 (u = 2⁻²⁴) on rows centred at the reference
/// mean, the representation error and the length-d products move the screening distance by
/// at most (d + 5) u (‖q'‖² + ‖y'‖²) (see `knn::exact`'s `LowPrecision`), and forming
/// ‖q'‖² + ‖y'‖² − 2 q'·y' in f32 adds about 5 u (‖q'‖² + ‖y'‖²); `(d + 12) ε` covers both
/// twice over.
fn frame_f64<'a>(reference: Points<'a>, queries: Points<'a>) -> Frame<'a, f64> {
    let dim = reference.dim;
    let ref_norms = sq_norms(reference.data, dim);
    let q_norms = sq_norms(queries.data, dim);
    let max_norm = ref_norms.iter().copied().fold(0.0, f64::max);
    let err64 = (4 * dim + 16) as f64 * f64::EPSILON;
    let margin = q_norms.iter().map(|&q| err64 * (q + max_norm)).collect();
    Frame {
        reference: Cow::Borrowed(reference.data),
        queries: Cow::Borrowed(queries.data),
        ref_norms,
        q_norms,
        margin,
        slack: SEARCH_SLACK,
    }
}

fn frame_f32(reference: Points, queries: Points) -> Option<Frame<'static, f32>> {
    let (dim, n_ref) = (reference.dim, reference.len());
    if n_ref == 0 {
        return None;
    }
    let mut mean = vec![0.0; dim];
    for row in reference.data.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    mean.iter_mut().for_each(|s| *s /= n_ref as f64);
    let centred = |data: &[f64]| -> (Vec<f32>, Vec<f64>) {
        let low: Vec<f32> = data
            .chunks_exact(dim)
            .flat_map(|row| row.iter().zip(&mean).map(|(v, c)| (v - c) as f32))
            .collect();
        let norms = low
            .chunks_exact(dim)
            .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
            .collect();
        (low, norms)
    };
    let (r, r_norms) = centred(reference.data);
    let (q, q_norms) = centred(queries.data);
    let too_big = |ns: &[f64]| ns.iter().any(|&v| v.is_nan() || v > LOW_MAX_NORM);
    if too_big(&r_norms) || too_big(&q_norms) {
        return None;
    }
    let low_max = r_norms.iter().copied().fold(0.0, f64::max);
    let direct = frame_f64(reference, queries).margin;
    let err32 = (dim + 12) as f64 * f64::from(f32::EPSILON);
    let margin = direct
        .iter()
        .zip(&q_norms)
        .map(|(d, &qn)| d + err32 * (qn + low_max) + LOW_ERR_ABS * dim as f64)
        .collect();
    Some(Frame {
        reference: Cow::Owned(r),
        queries: Cow::Owned(q),
        ref_norms: r_norms.iter().map(|&v| v as f32).collect(),
        q_norms: q_norms.iter().map(|&v| v as f32).collect(),
        margin,
        slack: SEARCH_SLACK_F32,
    })
}

/// The best `cap` candidates of one query by screening distance, kept with the threshold
/// trick: candidates at or below the current `cap`-th distance are appended, and the buffer
/// (a slice of the block's one allocation) is cut back to the best `cap` (by (distance,
/// index)) when it reaches twice that.
struct Candidates<'a, T: Lane> {
    cap: usize,
    buf: &'a mut [T::Item],
    len: usize,
    thr: T,
}

impl<'a, T: Lane> Candidates<'a, T> {
    fn new(cap: usize, buf: &'a mut [T::Item]) -> Self {
        Candidates {
            cap,
            buf,
            len: 0,
            thr: T::INFINITY,
        }
    }

    /// Cuts the buffer to its best `cap` entries; the `cap`-th becomes the threshold.
    fn compact(&mut self) {
        if self.len > self.cap {
            self.buf[..self.len].select_nth_unstable(self.cap - 1);
            self.len = self.cap;
        }
        if self.len == self.cap {
            self.thr = T::value(
                *self.buf[..self.len]
                    .iter()
                    .max()
                    .expect("cap is at least 1"),
            );
        }
    }

    fn items(&mut self) -> &mut [T::Item] {
        &mut self.buf[..self.len]
    }

    /// Appends the entries of `dist` (reference rows from `first` on) at or below the
    /// threshold. Lanes are compared branch-free; only the rare hits are visited.
    #[inline]
    fn scan(&mut self, dist: &[T], first: usize) {
        for (c, chunk) in dist.chunks(SCAN_LANES).enumerate() {
            let thr = self.thr;
            let mut hits = 0u32;
            for (o, &d) in chunk.iter().enumerate() {
                hits |= u32::from(d <= thr) << o;
            }
            // A compaction mid-chunk lowers the threshold; the entries still appended under
            // the old one are only surplus candidates, dropped at the next compaction.
            while hits != 0 {
                let o = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                self.buf[self.len] = chunk[o].pack((first + c * SCAN_LANES + o) as u32);
                self.len += 1;
                if self.len == 2 * self.cap {
                    self.compact();
                }
            }
        }
    }
}

/// The query's neighbour list (`ks.last()` long) from its candidates, sorted by screening
/// distance: for each requested `k`, the candidates surely inside plus the best of the
/// ambiguous window by direct distance; entries are grouped by the first `k` whose set holds
/// them (in screening order within a group), so each requested prefix is exact. Returns
/// `false` when the candidates cannot be certified (the caller ranks all rows directly).
struct Resolver {
    exact: Vec<f64>,
    tier: Vec<usize>,
    window: Vec<(f64, u32, usize)>,
    counts: Vec<usize>,
}

impl Resolver {
    fn new() -> Self {
        Resolver {
            exact: Vec::new(),
            tier: Vec::new(),
            window: Vec::new(),
            counts: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve<T: Lane>(
        &mut self,
        items: &mut [T::Item],
        complete: bool,
        margin: f64,
        ks: &[usize],
        q_row: &[f64],
        reference: Points,
        out: &mut Vec<u32>,
    ) -> bool {
        let k_max = *ks.last().expect("ks is not empty");
        items.sort_unstable();
        let s = |i: usize| T::value(items[i]).widen();
        let len = items.len();
        if !margin.is_finite() || len < k_max {
            return false;
        }
        // Every row left out has s ≥ the worst kept, so d ≥ that − m; the k_max-th exact
        // distance is at most s_{k_max} + m.
        if !complete && s(len - 1) - s(k_max - 1) <= 2.0 * margin {
            return false;
        }
        self.exact.clear();
        self.exact.resize(len, f64::NAN);
        self.tier.clear();
        self.tier.resize(len, usize::MAX);
        let mut sure = 0;
        for (j, &k) in ks.iter().enumerate() {
            let sk = s(k - 1);
            let a = items.partition_point(|&e| T::value(e).widen() < sk - 2.0 * margin);
            let b = items.partition_point(|&e| T::value(e).widen() <= sk + 2.0 * margin);
            if a > sure {
                for t in &mut self.tier[sure..a] {
                    if *t == usize::MAX {
                        *t = j;
                    }
                }
                sure = a;
            }
            self.window.clear();
            for (i, &item) in items.iter().enumerate().take(b).skip(a) {
                let idx = T::index(item);
                if self.exact[i].is_nan() {
                    self.exact[i] = sqdist(q_row, reference.row(idx as usize));
                }
                self.window.push((self.exact[i], idx, i));
            }
            self.window
                .sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            for &(_, _, i) in &self.window[..k - a] {
                if self.tier[i] == usize::MAX {
                    self.tier[i] = j;
                }
            }
        }
        // Counting sort by tier, screening order within a tier.
        self.counts.clear();
        self.counts.resize(ks.len() + 1, 0);
        for &t in &self.tier {
            if t != usize::MAX {
                self.counts[t + 1] += 1;
            }
        }
        for j in 0..ks.len() {
            self.counts[j + 1] += self.counts[j];
        }
        let start = out.len();
        out.resize(start + k_max, 0);
        for (i, &t) in self.tier.iter().enumerate() {
            if t != usize::MAX {
                out[start + self.counts[t]] = T::index(items[i]);
                self.counts[t] += 1;
            }
        }
        true
    }
}

/// All reference rows ranked by direct distance, ties to the lower index: the fallback for
/// lists the screening cannot certify (many exact ties at the boundary).
fn brute_list(q_row: &[f64], reference: Points, k: usize, out: &mut Vec<u32>) {
    let mut all: Vec<(f64, u32)> = (0..reference.len())
        .map(|j| (sqdist(q_row, reference.row(j)), j as u32))
        .collect();
    all.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    out.extend(all[..k].iter().map(|e| e.1));
}

/// Row-major `n_queries × ks.last()` indices of reference rows: for every `k` in `ks`
/// (sorted, distinct, at most the number of reference rows) the first `k` entries of a row
/// are exactly the `k` rows nearest to that query (ties to the lower index). Query blocks run
/// in parallel and each is independent, so the result does not depend on the thread count.
pub(crate) fn neighbour_lists(
    reference: Points,
    queries: Points,
    ks: &[usize],
    monitor: &dyn Monitor,
) -> Result<Vec<u32>> {
    neighbour_lists_with(reference, queries, ks, true, monitor)
}

fn neighbour_lists_with(
    reference: Points,
    queries: Points,
    ks: &[usize],
    allow_f32: bool,
    monitor: &dyn Monitor,
) -> Result<Vec<u32>> {
    let dim = reference.dim;
    if queries.dim != dim {
        return Err(Error::shape(
            "features",
            format!(
                "has {} columns but the training features have {dim}; pass the same features",
                queries.dim
            ),
        ));
    }
    debug_assert!(ks.windows(2).all(|w| w[0] < w[1]) && ks[0] >= 1);
    if reference.len() > u32::MAX as usize {
        return Err(Error::shape(
            "features",
            "has more than 2³² training rows; pass fewer",
        ));
    }
    match allow_f32.then(|| frame_f32(reference, queries)).flatten() {
        Some(frame) => search(&frame, reference, queries, ks, monitor),
        None => search(
            &frame_f64(reference, queries),
            reference,
            queries,
            ks,
            monitor,
        ),
    }
}

fn search<T: Lane>(
    frame: &Frame<T>,
    reference: Points,
    queries: Points,
    ks: &[usize],
    monitor: &dyn Monitor,
) -> Result<Vec<u32>> {
    let (n_ref, dim, nq) = (reference.len(), reference.dim, queries.len());
    let k_max = *ks.last().expect("ks is not empty");
    let cap = (k_max + frame.slack).min(n_ref);
    let complete = cap == n_ref;
    // Each query's buffer: twice `cap`, but never more rows than exist (each row is appended
    // at most once, so a buffer of n_ref never overflows).
    let width = (2 * cap).min(n_ref);
    crate::mem::ensure_fits(
        "k",
        (SEARCH_QUERIES.min(nq) * par::num_threads()) as u128 * width as u128,
        std::mem::size_of::<T::Item>() as u128,
        "pass a smaller k",
    )?;
    let lists = par::map_chunks(nq.div_ceil(SEARCH_QUERIES), monitor, |c| {
        let rows = c * SEARCH_QUERIES..((c + 1) * SEARCH_QUERIES).min(nq);
        let qb = rows.len();
        let q_low = &frame.queries[rows.start * dim..rows.end * dim];
        let mut bufs = vec![T::INFINITY.pack(0); qb * width];
        let mut cands: Vec<Candidates<T>> = bufs
            .chunks_exact_mut(width)
            .map(|buf| Candidates::new(cap, buf))
            .collect();
        let mut g = vec![T::INFINITY; SEARCH_ROWS.min(n_ref) * qb];
        for tile in par::chunk_ranges(n_ref, SEARCH_ROWS) {
            if monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            let len = tile.len();
            let g = &mut g[..len * qb];
            let r_low = &frame.reference[tile.start * dim..tile.end * dim];
            T::products(g, r_low, q_low, qb, dim);
            let yn = &frame.ref_norms[tile.clone()];
            for (r, col) in g.chunks_exact_mut(len).enumerate() {
                let qn = frame.q_norms[rows.start + r];
                col.iter_mut()
                    .zip(yn)
                    .for_each(|(v, &y)| *v = qn + y - (*v + *v));
                cands[r].scan(col, tile.start);
            }
        }
        let mut out = Vec::with_capacity(qb * k_max);
        let mut resolver = Resolver::new();
        for (r, mut cand) in cands.into_iter().enumerate() {
            cand.compact();
            let q = rows.start + r;
            let q_row = queries.row(q);
            let ok = resolver.resolve::<T>(
                cand.items(),
                complete,
                frame.margin[q],
                ks,
                q_row,
                reference,
                &mut out,
            );
            if !ok {
                brute_list(q_row, reference, k_max, &mut out);
            }
        }
        Ok(out)
    })?;
    Ok(lists.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::exact_query;
    use crate::par::Silent;
    use crate::rng::Rng;

    fn draw(rng: &mut Rng, m: usize, dim: usize, lattice: bool) -> Vec<f64> {
        (0..m * dim)
            .map(|_| {
                if lattice {
                    rng.below(5) as f64
                } else {
                    rng.normal() + 4.0 * rng.below(3) as f64
                }
            })
            .collect()
    }

    #[test]
    fn every_k_requested_gives_the_exact_order() {
        let mut rng = Rng::new(11);
        // Several tiles and query blocks, clustered rows, and a lattice with exact ties at
        // the k-th place.
        for (n, dim, lattice) in [(5000, 16, false), (3000, 3, true), (2500, 40, false)] {
            let data = draw(&mut rng, n, dim, lattice);
            let qd = draw(&mut rng, 300, dim, lattice);
            let (p, q) = (
                Points::new(&data, dim).unwrap(),
                Points::new(&qd, dim).unwrap(),
            );
            for k in [1, 37, 520] {
                let want = exact_query(p, q, k, &Silent).unwrap();
                let want: Vec<u32> = want.indices.iter().map(|&i| i as u32).collect();
                let all: Vec<usize> = (1..=k).collect();
                for allow_f32 in [true, false] {
                    let got = neighbour_lists_with(p, q, &all, allow_f32, &Silent).unwrap();
                    assert_eq!(got, want, "n={n} k={k} f32={allow_f32}");
                }
            }
        }
    }

    #[test]
    fn each_requested_prefix_is_the_exact_set() {
        let mut rng = Rng::new(12);
        for (n, dim, lattice) in [(4000, 24, false), (3000, 2, true), (700, 5, true)] {
            let data = draw(&mut rng, n, dim, lattice);
            let qd = draw(&mut rng, 260, dim, lattice);
            let (p, q) = (
                Points::new(&data, dim).unwrap(),
                Points::new(&qd, dim).unwrap(),
            );
            let ks = [1, 2, 9, 64, 300, 690];
            let want = exact_query(p, q, 690, &Silent).unwrap();
            for allow_f32 in [true, false] {
                let got = neighbour_lists_with(p, q, &ks, allow_f32, &Silent).unwrap();
                for i in 0..q.len() {
                    for &k in &ks {
                        let mut a: Vec<usize> = got[i * 690..i * 690 + k]
                            .iter()
                            .map(|&v| v as usize)
                            .collect();
                        let mut b = want.indices[i * 690..i * 690 + k].to_vec();
                        a.sort_unstable();
                        b.sort_unstable();
                        assert_eq!(a, b, "n={n} query {i} k={k} f32={allow_f32}");
                    }
                }
            }
        }
    }
}
