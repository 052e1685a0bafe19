//! Exact k-nearest-neighbour search: balls from k-means, nearest balls first, matrix-product
//! distances with a certified rounding margin, exact re-rank (see the module docs of `knn`).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::{Neighbors, Points, check_k, sqdist};
use crate::error::{Error, Result};
use crate::linalg::gemm;
use crate::par::{self, Monitor};
use crate::rng::Rng;

/// Below this many reference points the index is one ball (plain blocked brute force).
const ONE_BALL_MAX: usize = 4096;
/// Queries searched together (one matrix product per visited ball).
const QUERY_BLOCK: usize = 256;
/// Extra candidates kept beyond k so that the k-th distance can be certified (more in the
/// f32 screening pass, whose margin is wider).
const SLACK: usize = 2;
const LOW_SLACK: usize = 4;
/// The f32 screening pass is skipped when a centred squared norm exceeds this (no overflow in
/// f32 products, whose magnitudes are bounded by the squared norms).
const LOW_MAX_NORM: f64 = 1e30;
/// Lloyd iterations on the k-means sample, and sample points per centre.
const LLOYD_ITERS: usize = 6;
const SAMPLE_PER_CENTRE: usize = 32;
/// Fixed seed of the k-means sample: the partition only affects speed, never the answer.
const PARTITION_SEED: u64 = 0x6b6e_6e5f_6261_6c6c;

/// Element type of the screening matrix products: f64, or f32 (twice the SIMD lanes) on
/// centred coordinates with a wider certified margin.
trait Lane: Copy + Default + Into<f64> {
    fn gemm(dst: MatMut<'_, Self>, lhs: MatRef<'_, Self>, rhs: MatRef<'_, Self>);
}

impl Lane for f64 {
    fn gemm(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
        gemm(dst, lhs, rhs);
    }
}

impl Lane for f32 {
    fn gemm(dst: MatMut<'_, f32>, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>) {
        matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
    }
}

fn norms(data: &[f64], dim: usize) -> Vec<f64> {
    data.chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// The reference points reordered ball by ball.
struct Index {
    dim: usize,
    /// Rows of ball `b` are `starts[b]..starts[b + 1]` of `data` (row-major).
    data: Vec<f64>,
    norms: Vec<f64>,
    /// Original index of each reordered row.
    ids: Vec<usize>,
    starts: Vec<usize>,
    centres: Vec<f64>,
    centre_norms: Vec<f64>,
    /// Upper bound on the distance from each centre to its members.
    radius: Vec<f64>,
    /// Relative rounding bound: ‖q‖² + ‖y‖² − 2 q·y (matrix product) and the directly
    /// computed squared distance each differ from the true value by at most
    /// (2d + 4) ε (‖q‖² + ‖y‖²) resp. d ε ‖q − y‖² ≤ 2d ε (‖q‖² + ‖y‖²); `err_rel` covers both.
    err_rel: f64,
    max_norm: f64,
    low: Option<LowPrecision>,
}

/// The reordered rows minus their mean, rounded to f32, for the screening pass.
///
/// With q', y' the f32 rows (u = 2⁻²⁴), the representation error moves √‖q − y‖² by at most
/// ≈ u (‖q'‖ + ‖y'‖), i.e. ‖q − y‖² by ≈ 4u (‖q'‖² + ‖y'‖²), and an f32 dot product of
/// length d errs by at most d u ‖q'‖ ‖y'‖; so the screening distance ‖q'‖² + ‖y'‖² − 2 q'·y'
/// is within (d + 5) u (‖q'‖² + ‖y'‖²) of the true squared distance. `err_rel` doubles that;
/// `err_abs` covers underflow to subnormals.
struct LowPrecision {
    data: Vec<f32>,
    norms: Vec<f64>,
    max_norm: f64,
    err_rel: f64,
    err_abs: f64,
}

impl LowPrecision {
    /// `None` when the centred rows are too large for f32 (the f64 pass then runs alone).
    fn build(data: &[f64], dim: usize) -> Option<LowPrecision> {
        let n = data.len() / dim;
        if n == 0 {
            return None;
        }
        let mut mean = vec![0.0; dim];
        for row in data.chunks_exact(dim) {
            for (s, v) in mean.iter_mut().zip(row) {
                *s += v;
            }
        }
        mean.iter_mut().for_each(|s| *s /= n as f64);
        let low: Vec<f32> = data
            .chunks_exact(dim)
            .flat_map(|row| row.iter().zip(&mean).map(|(v, c)| (v - c) as f32))
            .collect();
        let norms: Vec<f64> = low
            .chunks_exact(dim)
            .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
            .collect();
        let max_norm = norms.iter().copied().fold(0.0, f64::max);
        if max_norm.is_nan() || max_norm > LOW_MAX_NORM {
            return None;
        }
        Some(LowPrecision {
            data: low,
            norms,
            max_norm,
            err_rel: (dim + 8) as f64 * f64::from(f32::EPSILON),
            err_abs: (dim + 4) as f64 * 1e-40,
        })
    }

    fn rows(&self, r: std::ops::Range<usize>, dim: usize) -> Rows<'_, f32> {
        Rows {
            data: &self.data[r.start * dim..r.end * dim],
            norms: &self.norms[r],
        }
    }
}

/// Index of the nearest centre of each row (ties to the lower index).
fn nearest_centres(rows: &[f64], dim: usize, centres: &[f64], c_norms: &[f64]) -> Vec<usize> {
    let m = c_norms.len();
    let n = rows.len() / dim;
    let c = MatRef::from_row_major_slice(centres, m, dim);
    let mut out = Vec::with_capacity(n);
    for r0 in (0..n).step_by(QUERY_BLOCK) {
        let b = QUERY_BLOCK.min(n - r0);
        let q = MatRef::from_row_major_slice(&rows[r0 * dim..(r0 + b) * dim], b, dim);
        let mut g = Mat::<f64>::zeros(m, b);
        gemm(g.as_mut(), c, q.transpose());
        for col in 0..b {
            let mut best = (f64::INFINITY, 0usize);
            for (j, (&cn, &gv)) in c_norms.iter().zip(g.col_as_slice(col)).enumerate() {
                let v = cn - 2.0 * gv;
                if v < best.0 {
                    best = (v, j);
                }
            }
            out.push(best.1);
        }
    }
    out
}

/// Parallel `nearest_centres` over fixed row blocks (thread-count independent).
fn assign(
    points: Points,
    centres: &[f64],
    c_norms: &[f64],
    monitor: &dyn Monitor,
) -> Result<Vec<usize>> {
    let dim = points.dim;
    let ranges: Vec<_> = par::chunk_ranges(points.len(), 8 * QUERY_BLOCK).collect();
    let parts = par::map_chunks(ranges.len(), monitor, |c| {
        let r = ranges[c].clone();
        Ok(nearest_centres(
            &points.data[r.start * dim..r.end * dim],
            dim,
            centres,
            c_norms,
        ))
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// k-means centres (Lloyd on a fixed random sample); only the speed depends on them.
fn kmeans_centres(points: Points, m: usize, monitor: &dyn Monitor) -> Result<Vec<f64>> {
    let (n, dim) = (points.len(), points.dim);
    let mut order: Vec<usize> = (0..n).collect();
    Rng::stream(PARTITION_SEED, 0).shuffle(&mut order);
    order.truncate((SAMPLE_PER_CENTRE * m).min(n));
    let sample: Vec<f64> = order
        .iter()
        .flat_map(|&i| points.row(i).iter().copied())
        .collect();
    let mut centres = sample[..m * dim].to_vec();
    for _ in 0..LLOYD_ITERS {
        let cn = norms(&centres, dim);
        let labels = assign(Points::unchecked(&sample, dim), &centres, &cn, monitor)?;
        let mut sums = vec![0.0; m * dim];
        let mut counts = vec![0usize; m];
        for (row, &l) in sample.chunks_exact(dim).zip(&labels) {
            counts[l] += 1;
            for (s, v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row) {
                *s += v;
            }
        }
        for (c, &cnt) in counts.iter().enumerate() {
            if cnt > 0 {
                for (dst, s) in centres[c * dim..(c + 1) * dim]
                    .iter_mut()
                    .zip(&sums[c * dim..(c + 1) * dim])
                {
                    *dst = s / cnt as f64;
                }
            }
        }
    }
    Ok(centres)
}

impl Index {
    fn build(points: Points, monitor: &dyn Monitor) -> Result<Index> {
        let (n, dim) = (points.len(), points.dim);
        let m = if n <= ONE_BALL_MAX {
            1
        } else {
            (n as f64).sqrt().ceil() as usize
        };
        let labels = if m == 1 {
            vec![0; n]
        } else {
            let centres = kmeans_centres(points, m, monitor)?;
            assign(points, &centres, &norms(&centres, dim), monitor)?
        };
        // Counting sort by ball (stable, so rows keep their order within a ball).
        let mut starts = vec![0usize; m + 1];
        for &l in &labels {
            starts[l + 1] += 1;
        }
        for b in 0..m {
            starts[b + 1] += starts[b];
        }
        let mut fill = starts.clone();
        let mut ids = vec![0usize; n];
        for (i, &l) in labels.iter().enumerate() {
            ids[fill[l]] = i;
            fill[l] += 1;
        }
        let data: Vec<f64> = ids
            .iter()
            .flat_map(|&i| points.row(i).iter().copied())
            .collect();
        // Centres = means of the members; radius = largest member distance, rounded up.
        let mut centres = vec![0.0; m * dim];
        let mut radius = vec![0.0; m];
        for b in 0..m {
            let rows = &data[starts[b] * dim..starts[b + 1] * dim];
            let count = starts[b + 1] - starts[b];
            if count == 0 {
                continue;
            }
            let c = &mut centres[b * dim..(b + 1) * dim];
            for row in rows.chunks_exact(dim) {
                for (s, v) in c.iter_mut().zip(row) {
                    *s += v;
                }
            }
            c.iter_mut().for_each(|s| *s /= count as f64);
            let far = rows
                .chunks_exact(dim)
                .map(|row| sqdist(row, c))
                .fold(0.0f64, f64::max);
            radius[b] = far.sqrt() * (1.0 + 1e-12) + f64::MIN_POSITIVE;
        }
        let row_norms = norms(&data, dim);
        let max_norm = row_norms.iter().copied().fold(0.0, f64::max);
        let low = LowPrecision::build(&data, dim);
        Ok(Index {
            dim,
            centre_norms: norms(&centres, dim),
            data,
            norms: row_norms,
            ids,
            starts,
            centres,
            radius,
            err_rel: (4 * dim + 16) as f64 * f64::EPSILON,
            max_norm,
            low,
        })
    }

    fn n_balls(&self) -> usize {
        self.radius.len()
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// A sorted list of the best `cap` candidates by (matrix-product distance, index).
struct Best {
    cap: usize,
    items: Vec<(f64, usize)>,
}

impl Best {
    #[inline]
    fn worst(&self) -> f64 {
        if self.items.len() < self.cap {
            f64::INFINITY
        } else {
            self.items[self.cap - 1].0
        }
    }

    #[inline]
    fn push(&mut self, d: f64, j: usize) {
        if self.items.len() == self.cap {
            match self.items.last() {
                Some(&w) if (d, j) < w => {
                    self.items.pop();
                }
                _ => return,
            }
        }
        let pos = self.items.partition_point(|&e| e < (d, j));
        self.items.insert(pos, (d, j));
    }
}

/// Rows in a screening lane: row-major data and their squared norms (computed in f64).
#[derive(Clone, Copy)]
struct Rows<'a, T> {
    data: &'a [T],
    norms: &'a [f64],
}

/// Queries of one block: row-major data, squared norms, (all-points search) the original
/// index of each query, which is excluded from its own list, and the same rows in the f32
/// screening frame of the index when it has one.
struct QueryBlock<'a> {
    data: &'a [f64],
    norms: &'a [f64],
    self_ids: Option<&'a [usize]>,
    low: Option<Rows<'a, f32>>,
}

/// Lower bounds on the squared distance from each query to each ball (row-major `b × m`)
/// and the order in which to visit the non-empty balls (nearest centres first on the whole).
fn ball_bounds(index: &Index, queries: &QueryBlock) -> (Vec<f64>, Vec<usize>) {
    let dim = index.dim;
    let b = queries.norms.len();
    let m = index.n_balls();
    let q = MatRef::from_row_major_slice(queries.data, b, dim);
    let mut gc = Mat::<f64>::zeros(m, b);
    gemm(
        gc.as_mut(),
        MatRef::from_row_major_slice(&index.centres, m, dim),
        q.transpose(),
    );
    let mut lower = vec![0.0; b * m];
    let mut visit_key = vec![0.0; m];
    for r in 0..b {
        let qn = queries.norms[r];
        for (c, key) in visit_key.iter_mut().enumerate() {
            let cn = index.centre_norms[c];
            let a = qn + cn - 2.0 * gc[(c, r)];
            let err = index.err_rel * (qn + cn);
            let dist = (a - err).max(0.0).sqrt();
            let lb = (dist - index.radius[c]).max(0.0);
            lower[r * m + c] = lb * lb;
            *key += a.max(0.0);
        }
    }
    let mut balls: Vec<usize> = (0..m)
        .filter(|&c| index.starts[c + 1] > index.starts[c])
        .collect();
    balls.sort_by(|&x, &y| visit_key[x].total_cmp(&visit_key[y]).then(x.cmp(&y)));
    (lower, balls)
}

/// The best `cap` candidates of each query by screening distance ‖q‖² + ‖y‖² − 2 q·y (matrix
/// products in lane `T`), and the number of distances evaluated. Every point left out has a
/// screening distance at least the list's worst, or a true distance above worst − margin.
fn screen<T: Lane>(
    index: &Index,
    points: Rows<T>,
    queries: &QueryBlock,
    q_lane: Rows<T>,
    margin: &[f64],
    cap: usize,
) -> (Vec<Best>, usize) {
    let dim = index.dim;
    let b = queries.norms.len();
    let m = index.n_balls();
    let (lower, balls) = ball_bounds(index, queries);
    let mut best: Vec<Best> = (0..b)
        .map(|_| Best {
            cap,
            items: Vec::with_capacity(cap + 1),
        })
        .collect();
    let mut scanned = 0usize;
    let mut active: Vec<usize> = Vec::with_capacity(b);
    let mut gathered: Vec<T> = Vec::new();
    let mut g: Vec<T> = Vec::new();
    for &c in &balls {
        active.clear();
        // A skipped ball's points are farther than worst − margin (see `certify`).
        active.extend((0..b).filter(|&r| lower[r * m + c] <= best[r].worst() - margin[r]));
        if active.is_empty() {
            continue;
        }
        let (s, e) = (index.starts[c], index.starts[c + 1]);
        let pts = MatRef::from_row_major_slice(&points.data[s * dim..e * dim], e - s, dim);
        let qa = if active.len() == b {
            MatRef::from_row_major_slice(q_lane.data, b, dim)
        } else {
            gathered.clear();
            for &r in &active {
                gathered.extend_from_slice(&q_lane.data[r * dim..(r + 1) * dim]);
            }
            MatRef::from_row_major_slice(&gathered, active.len(), dim)
        };
        g.clear();
        g.resize((e - s) * active.len(), T::default());
        T::gemm(
            MatMut::from_column_major_slice_mut(&mut g, e - s, active.len()),
            pts,
            qa.transpose(),
        );
        scanned += (e - s) * active.len();
        for (col, &r) in active.iter().enumerate() {
            let own = queries.self_ids.map(|ids| ids[r]);
            scan_column(
                &g[col * (e - s)..(col + 1) * (e - s)],
                q_lane.norms[r],
                &points.norms[s..e],
                &index.ids[s..e],
                own,
                &mut best[r],
            );
        }
    }
    (best, scanned)
}

/// Pushes the points of one ball whose screening distance reaches the list. Most points miss,
/// so each run of `SCAN_RUN` points is first tested as a whole (branch-free, vectorised).
#[inline]
fn scan_column<T: Lane>(
    g: &[T],
    qn: f64,
    norms: &[f64],
    ids: &[usize],
    own: Option<usize>,
    list: &mut Best,
) {
    const SCAN_RUN: usize = 8;
    let mut worst = list.worst();
    let mut visit = |g: &[T], norms: &[f64], ids: &[usize], worst: &mut f64| {
        for ((&gv, &yn), &j) in g.iter().zip(norms).zip(ids) {
            let a = qn + yn - 2.0 * gv.into();
            if a <= *worst && own != Some(j) {
                list.push(a, j);
                *worst = list.worst();
            }
        }
    };
    let runs = g.len() / SCAN_RUN * SCAN_RUN;
    for start in (0..runs).step_by(SCAN_RUN) {
        let (gr, nr) = (&g[start..start + SCAN_RUN], &norms[start..start + SCAN_RUN]);
        let mut hit = false;
        for (&gv, &yn) in gr.iter().zip(nr) {
            hit |= qn + yn - 2.0 * gv.into() <= worst;
        }
        if hit {
            visit(gr, nr, &ids[start..start + SCAN_RUN], &mut worst);
        }
    }
    visit(&g[runs..], &norms[runs..], &ids[runs..], &mut worst);
}

/// Searches one block in f64; returns each query's k neighbours (exact distances, sorted) and
/// the number of distances evaluated.
fn search_block(
    index: &Index,
    queries: &QueryBlock,
    reference: Points,
    k: usize,
) -> (Vec<Vec<(f64, usize)>>, usize) {
    let available = index.len() - usize::from(queries.self_ids.is_some());
    let cap = (k + SLACK).min(available);
    let margin: Vec<f64> = queries
        .norms
        .iter()
        .map(|&qn| index.err_rel * (qn + index.max_norm))
        .collect();
    let points = Rows {
        data: &index.data,
        norms: &index.norms,
    };
    let q_lane = Rows {
        data: queries.data,
        norms: queries.norms,
    };
    let (best, scanned) = screen(index, points, queries, q_lane, &margin, cap);
    let dim = index.dim;
    let lists = best
        .into_iter()
        .enumerate()
        .map(|(r, list)| {
            let q_row = &queries.data[r * dim..(r + 1) * dim];
            let own = queries.self_ids.map(|ids| ids[r]);
            certify(&list, q_row, margin[r], reference, k, available)
                .unwrap_or_else(|| brute_top_k(q_row, own, reference, k))
        })
        .collect();
    (lists, scanned)
}

/// Searches one block with the f32 screening pass; rows it cannot certify are searched again
/// by `search_block` (f64). Same answer as `search_block`, bit for bit.
fn search_block_low(
    index: &Index,
    low: &LowPrecision,
    queries: &QueryBlock,
    q_low: Rows<f32>,
    reference: Points,
    k: usize,
) -> (Vec<Vec<(f64, usize)>>, usize) {
    let dim = index.dim;
    let available = index.len() - usize::from(queries.self_ids.is_some());
    let cap = (k + LOW_SLACK).min(available);
    let margin: Vec<f64> = q_low
        .norms
        .iter()
        .map(|&qn| low.err_rel * (qn + low.max_norm) + low.err_abs)
        .collect();
    let points = Rows {
        data: &low.data,
        norms: &low.norms,
    };
    let (best, mut scanned) = screen(index, points, queries, q_low, &margin, cap);
    let mut lists: Vec<Vec<(f64, usize)>> = Vec::with_capacity(best.len());
    let mut redo: Vec<usize> = Vec::new();
    for (r, list) in best.iter().enumerate() {
        let q_row = &queries.data[r * dim..(r + 1) * dim];
        match certify(list, q_row, margin[r], reference, k, available) {
            Some(found) => lists.push(found),
            None => {
                redo.push(r);
                lists.push(Vec::new());
            }
        }
    }
    if !redo.is_empty() {
        let data: Vec<f64> = redo
            .iter()
            .flat_map(|&r| queries.data[r * dim..(r + 1) * dim].iter().copied())
            .collect();
        let norms: Vec<f64> = redo.iter().map(|&r| queries.norms[r]).collect();
        let ids: Option<Vec<usize>> = queries
            .self_ids
            .map(|ids| redo.iter().map(|&r| ids[r]).collect());
        let block = QueryBlock {
            data: &data,
            norms: &norms,
            self_ids: ids.as_deref(),
            low: None,
        };
        let (found, s) = search_block(index, &block, reference, k);
        scanned += s;
        for (&r, list) in redo.iter().zip(found) {
            lists[r] = list;
        }
    }
    (lists, scanned)
}

/// Exact distances of the kept candidates, re-ranked, when the rounding margin certifies that
/// nothing outside the list is closer than the k-th: every point left out has a true distance
/// above worst − margin (see `screen`), so the list is certified when the exact k-th distance
/// is strictly below that. `None` otherwise (near-ties at the k-th place).
fn certify(
    list: &Best,
    q_row: &[f64],
    margin: f64,
    reference: Points,
    k: usize,
    available: usize,
) -> Option<Vec<(f64, usize)>> {
    let worst = list.worst();
    let mut exact: Vec<(f64, usize)> = list
        .items
        .iter()
        .map(|&(_, j)| (sqdist(q_row, reference.row(j)), j))
        .collect();
    exact.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let complete = exact.len() == available;
    if !complete && (exact.len() < k || worst - margin <= exact[k - 1].0) {
        return None;
    }
    exact.truncate(k);
    Some(exact)
}

/// Every point ranked directly (the fallback for rows that cannot be certified).
fn brute_top_k(
    q_row: &[f64],
    own: Option<usize>,
    reference: Points,
    k: usize,
) -> Vec<(f64, usize)> {
    let mut exact: Vec<(f64, usize)> = (0..reference.len())
        .filter(|&j| Some(j) != own)
        .map(|j| (sqdist(q_row, reference.row(j)), j))
        .collect();
    exact.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    exact.truncate(k);
    exact
}

/// The search over all query blocks, results scattered back to query order.
fn search(
    index: &Index,
    reference: Points,
    blocks: &[QueryBlock],
    order: &[usize],
    k: usize,
    monitor: &dyn Monitor,
) -> Result<(Neighbors, usize)> {
    let parts = par::map_chunks(blocks.len(), monitor, |c| {
        let block = &blocks[c];
        Ok(match (&index.low, block.low) {
            (Some(low), Some(q_low)) => search_block_low(index, low, block, q_low, reference, k),
            _ => search_block(index, block, reference, k),
        })
    })?;
    let n_q = order.len();
    let mut indices = vec![0usize; n_q * k];
    let mut sqd = vec![0.0; n_q * k];
    let mut scanned = 0;
    let mut pos = 0;
    for (lists, s) in parts {
        scanned += s;
        for list in lists {
            let q = order[pos];
            pos += 1;
            for (slot, (d, j)) in list.into_iter().enumerate() {
                indices[q * k + slot] = j;
                sqd[q * k + slot] = d;
            }
        }
    }
    Ok((
        Neighbors {
            k,
            indices,
            sqdist: sqd,
        },
        scanned,
    ))
}

/// Exact `k` nearest neighbours of every point among the others: `indices` and `sqdist`
/// row-major `n × k`, each row sorted by (squared distance, index). Same bits for any
/// thread count.
pub fn exact_knn(points: Points, k: usize, monitor: &dyn Monitor) -> Result<Neighbors> {
    check_k(k, points.len(), true)?;
    let index = Index::build(points, monitor)?;
    all_points(&index, points, k, monitor).map(|r| r.0)
}

fn all_points(
    index: &Index,
    points: Points,
    k: usize,
    monitor: &dyn Monitor,
) -> Result<(Neighbors, usize)> {
    let dim = points.dim;
    // Queries in ball order (neighbouring queries share their nearest balls).
    let blocks: Vec<QueryBlock> = par::chunk_ranges(index.len(), QUERY_BLOCK)
        .map(|r| QueryBlock {
            data: &index.data[r.start * dim..r.end * dim],
            norms: &index.norms[r.clone()],
            self_ids: Some(&index.ids[r.clone()]),
            low: index.low.as_ref().map(|low| low.rows(r, dim)),
        })
        .collect();
    search(index, points, &blocks, &index.ids, k, monitor)
}

/// Exact `k` nearest points of `reference` for each row of `queries` (no self-exclusion).
pub fn exact_query(
    reference: Points,
    queries: Points,
    k: usize,
    monitor: &dyn Monitor,
) -> Result<Neighbors> {
    if reference.dim != queries.dim {
        return Err(Error::shape(
            "X",
            format!(
                "new points have {} fair-space columns but the fitted points have {}; pass data with the same features",
                queries.dim, reference.dim
            ),
        ));
    }
    check_k(k, reference.len(), false)?;
    let index = Index::build(reference, monitor)?;
    let dim = queries.dim;
    // Queries grouped by their nearest ball.
    let labels = assign(queries, &index.centres, &index.centre_norms, monitor)?;
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&i| labels[i]);
    let data: Vec<f64> = order
        .iter()
        .flat_map(|&i| queries.row(i).iter().copied())
        .collect();
    let q_norms = norms(&data, dim);
    let blocks: Vec<QueryBlock> = par::chunk_ranges(order.len(), QUERY_BLOCK)
        .map(|r| QueryBlock {
            data: &data[r.start * dim..r.end * dim],
            norms: &q_norms[r],
            self_ids: None,
            low: None,
        })
        .collect();
    search(&index, reference, &blocks, &order, k, monitor).map(|r| r.0)
}
