//! GLIF post-processing: solve (I + λ L) F = F̂ for all K output columns at once.
//!
//! Both variants are written as A = I + λ' (diag(c) − M) with a symmetric sparse M:
//! * GLIF: M = W, c = W 1 (so L = D − W), λ' = λ;
//! * GLIF-NRW (Petersen et al.'s official code): W̃ = D^{-1/2} W D^{-1/2}, D̃ = diag(W̃ 1),
//!   L = I − (D̃^{-1} W̃ + W̃ D̃^{-1}) / 2, i.e. M_ij = W̃_ij (1/D̃_i + 1/D̃_j) / 2 and c = 1,
//!   λ' = λ · mean degree. Isolated nodes (degree 0) get an all-zero row of L and are returned
//!   unchanged.
//!
//! A is symmetric positive definite (eigenvalues ≥ 1), so conjugate gradients converge; we run
//! K independent CG recurrences that share one sparse matrix–block product per iteration, with
//! the Jacobi preconditioner diag(A)^{-1}. Reductions are summed over fixed-size row chunks in
//! order, so results are bit-identical for any number of threads. Memory: the operator
//! (nnz floats + n) plus five n × K blocks.

use std::borrow::Cow;

use rayon::prelude::*;

use super::graph::{Csr, CsrRef};
use crate::error::{Error, Result, ensure_finite};
use crate::par::{self, Monitor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Glif,
    Nrw,
}

/// Solver settings: relative residual tolerance per column and an iteration cap.
#[derive(Clone, Copy, Debug)]
pub struct SolveOptions {
    pub lam: f64,
    pub variant: Variant,
    pub tol: f64,
    pub max_iter: usize,
}

/// The smoothed outputs (n × K row-major) with per-column CG iterations and final relative
/// residuals, and the effective λ' used (λ, or λ · mean degree for NRW).
#[derive(Clone, Debug)]
pub struct Solution {
    pub values: Vec<f64>,
    pub iterations: Vec<usize>,
    pub residuals: Vec<f64>,
    pub lam_effective: f64,
}

/// A = I + λ' (diag(c) − M), stored as M's values on the graph's pattern.
struct Operator<'a> {
    graph: CsrRef<'a>,
    m: Cow<'a, [f64]>,
    c: Vec<f64>,
    lam: f64,
    /// 1 / diag(A).
    inv_diag: Vec<f64>,
}

const ROW_CHUNK: usize = 2048;

impl<'a> Operator<'a> {
    fn new(graph: CsrRef<'a>, lam: f64, variant: Variant) -> Self {
        let n = graph.n;
        let degree: Vec<f64> = (0..n).map(|i| graph.row(i).1.iter().sum()).collect();
        let (m, c, lam) = match variant {
            Variant::Glif => (Cow::Borrowed(graph.values), degree, lam),
            Variant::Nrw => {
                let mean_degree = degree.iter().sum::<f64>() / n.max(1) as f64;
                let inv_sqrt: Vec<f64> = degree
                    .iter()
                    .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 })
                    .collect();
                let mut wt = Vec::with_capacity(graph.nnz());
                let mut dt = vec![0.0; n];
                for (i, dti) in dt.iter_mut().enumerate() {
                    let (cols, ws) = graph.row(i);
                    for (&j, &w) in cols.iter().zip(ws) {
                        let v = w * inv_sqrt[i] * inv_sqrt[j];
                        *dti += v;
                        wt.push(v);
                    }
                }
                let inv_dt: Vec<f64> = dt
                    .iter()
                    .map(|&d| if d > 0.0 { 1.0 / d } else { 0.0 })
                    .collect();
                let mut e = 0;
                for i in 0..n {
                    let (cols, _) = graph.row(i);
                    for &j in cols {
                        wt[e] *= 0.5 * (inv_dt[i] + inv_dt[j]);
                        e += 1;
                    }
                }
                let c = dt
                    .iter()
                    .map(|&d| if d > 0.0 { 1.0 } else { 0.0 })
                    .collect();
                (Cow::Owned(wt), c, lam * mean_degree)
            }
        };
        let inv_diag = (0..n)
            .map(|i| {
                let (cols, _) = graph.row(i);
                let start = graph.indptr[i];
                let self_weight = cols
                    .iter()
                    .position(|&j| j == i)
                    .map_or(0.0, |p| m[start + p]);
                1.0 / (1.0 + lam * (c[i] - self_weight))
            })
            .collect();
        Operator {
            graph,
            m,
            c,
            lam,
            inv_diag,
        }
    }

    /// y = A x for an n × K block (row-major); returns the column sums of x ∘ y (summed over
    /// fixed row chunks in order, so thread-count independent).
    fn apply(&self, x: &[f64], y: &mut [f64], k: usize) -> Result<Vec<f64>> {
        let parts: Vec<Vec<f64>> = par::install(|| {
            y.par_chunks_mut(ROW_CHUNK * k)
                .enumerate()
                .map(|(chunk, ys)| {
                    let first = chunk * ROW_CHUNK;
                    let mut acc = vec![0.0; k];
                    let mut dots = vec![0.0; k];
                    for (r, yi) in ys.chunks_mut(k).enumerate() {
                        let i = first + r;
                        acc.iter_mut().for_each(|a| *a = 0.0);
                        let (a, b) = (self.graph.indptr[i], self.graph.indptr[i + 1]);
                        for (&j, &w) in self.graph.indices[a..b].iter().zip(&self.m[a..b]) {
                            for (s, &xj) in acc.iter_mut().zip(&x[j * k..(j + 1) * k]) {
                                *s += w * xj;
                            }
                        }
                        let xi = &x[i * k..(i + 1) * k];
                        let (lam, ci) = (self.lam, self.c[i]);
                        for (((o, &v), &s), d) in yi.iter_mut().zip(xi).zip(&acc).zip(&mut dots) {
                            *o = v + lam * (ci * v - s);
                            *d += v * *o;
                        }
                    }
                    dots
                })
                .collect()
        })?;
        Ok(sum_parts(parts, k))
    }
}

/// Adds per-chunk partial sums in chunk order.
fn sum_parts(parts: Vec<Vec<f64>>, k: usize) -> Vec<f64> {
    let mut total = vec![0.0; k];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// Per-column sums of `f(row, col)` over all rows, summed chunk by chunk in a fixed order.
fn column_sums(n: usize, k: usize, f: impl Fn(usize, usize) -> f64 + Sync) -> Result<Vec<f64>> {
    let parts: Vec<Vec<f64>> = par::install(|| {
        (0..n.div_ceil(ROW_CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut s = vec![0.0; k];
                for i in c * ROW_CHUNK..((c + 1) * ROW_CHUNK).min(n) {
                    for (col, sc) in s.iter_mut().enumerate() {
                        *sc += f(i, col);
                    }
                }
                s
            })
            .collect()
    })?;
    let mut total = vec![0.0; k];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    Ok(total)
}

fn check_inputs(graph: &CsrRef, scores: &[f64], k: usize, opts: &SolveOptions) -> Result<()> {
    graph.validate_structure()?;
    if k == 0 || scores.len() != graph.n * k {
        return Err(Error::shape(
            "scores",
            format!(
                "has {} values but the graph has {} nodes and K = {k} columns; pass one row of scores per node",
                scores.len(),
                graph.n
            ),
        ));
    }
    ensure_finite("scores", scores)?;
    if !(opts.lam.is_finite() && opts.lam >= 0.0) {
        return Err(Error::invalid(
            "lam",
            format!("must be finite and >= 0, got {}", opts.lam),
        ));
    }
    if !(opts.tol.is_finite() && opts.tol > 0.0) {
        return Err(Error::invalid(
            "tol",
            format!("must be > 0, got {}", opts.tol),
        ));
    }
    Ok(())
}

/// Solves (I + λ' L) F = F̂ (`scores`, n × K row-major) by Jacobi-preconditioned CG on all
/// columns at once, starting from F̂. Stops each column when ‖r‖ ≤ tol · ‖F̂‖.
pub fn glif_solve(
    graph: CsrRef,
    scores: &[f64],
    k: usize,
    opts: SolveOptions,
    monitor: &dyn Monitor,
) -> Result<Solution> {
    check_inputs(&graph, scores, k, &opts)?;
    // Renumber the nodes in breadth-first order so that neighbours sit close in memory: the
    // sparse products gather rows of the score block, and random node order (as from a kNN
    // search over shuffled data) makes every gather a cache miss.
    let order = bfs_order(&graph);
    let permuted = permute(&graph, &order)?;
    permuted.view().check_symmetric()?;
    let b: Vec<f64> = order
        .iter()
        .flat_map(|&old| scores[old * k..(old + 1) * k].iter().copied())
        .collect();
    let mut sol = solve_in_order(permuted.view(), &b, k, opts, monitor)?;
    let mut values = vec![0.0; sol.values.len()];
    for (new, &old) in order.iter().enumerate() {
        values[old * k..(old + 1) * k].copy_from_slice(&sol.values[new * k..(new + 1) * k]);
    }
    sol.values = values;
    Ok(sol)
}

/// Breadth-first order of the nodes (each component from its lowest-numbered node,
/// neighbours in index order): deterministic, O(n + nnz).
fn bfs_order(g: &CsrRef) -> Vec<usize> {
    let mut seen = vec![false; g.n];
    let mut order = Vec::with_capacity(g.n);
    for start in 0..g.n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut head = order.len();
        order.push(start);
        while head < order.len() {
            let u = order[head];
            head += 1;
            for &v in g.row(u).0 {
                if !seen[v] {
                    seen[v] = true;
                    order.push(v);
                }
            }
        }
    }
    order
}

/// The graph with node `order[new]` renamed `new` (rows re-sorted by the new indices),
/// built in parallel over fixed row chunks.
fn permute(g: &CsrRef, order: &[usize]) -> Result<Csr> {
    let mut inv = vec![0usize; g.n];
    for (new, &old) in order.iter().enumerate() {
        inv[old] = new;
    }
    let mut indptr = Vec::with_capacity(g.n + 1);
    indptr.push(0);
    for &old in order {
        indptr.push(indptr[indptr.len() - 1] + (g.indptr[old + 1] - g.indptr[old]));
    }
    let mut indices = vec![0usize; g.nnz()];
    let mut weights = vec![0.0; g.nnz()];
    // Disjoint output slices, one per chunk of new rows.
    let mut pieces = Vec::new();
    let (mut rest_i, mut rest_w) = (indices.as_mut_slice(), weights.as_mut_slice());
    for rows in par::chunk_ranges(g.n, ROW_CHUNK) {
        let len = indptr[rows.end] - indptr[rows.start];
        let (head_i, tail_i) = std::mem::take(&mut rest_i).split_at_mut(len);
        let (head_w, tail_w) = std::mem::take(&mut rest_w).split_at_mut(len);
        pieces.push((rows, head_i, head_w));
        rest_i = tail_i;
        rest_w = tail_w;
    }
    par::install(|| {
        pieces.into_par_iter().for_each(|(rows, out_i, out_w)| {
            let mut row: Vec<(usize, f64)> = Vec::new();
            let mut at = 0;
            for &old in &order[rows] {
                let (cols, ws) = g.row(old);
                row.clear();
                row.extend(cols.iter().map(|&j| inv[j]).zip(ws.iter().copied()));
                row.sort_unstable_by_key(|e| e.0);
                for &(j, w) in &row {
                    out_i[at] = j;
                    out_w[at] = w;
                    at += 1;
                }
            }
        })
    })?;
    Ok(Csr {
        n: g.n,
        indptr,
        indices,
        values: weights,
    })
}

/// The CG iteration itself, on a graph whose node order is already cache-friendly. Each
/// iteration makes three passes over the n × K blocks: q = A p (with p·q), the x/r update
/// (with r·z and r·r, z = D⁻¹ r never stored), and p = z + β p.
fn solve_in_order(
    graph: CsrRef,
    scores: &[f64],
    k: usize,
    opts: SolveOptions,
    monitor: &dyn Monitor,
) -> Result<Solution> {
    let n = graph.n;
    let op = Operator::new(graph, opts.lam, opts.variant);
    let mut x = scores.to_vec();
    let mut r = vec![0.0; n * k];
    op.apply(&x, &mut r, k)?;
    r.iter_mut().zip(scores).for_each(|(ri, &b)| *ri = b - *ri);
    let b_norm: Vec<f64> = column_sums(n, k, |i, c| scores[i * k + c].powi(2))?
        .into_iter()
        .map(f64::sqrt)
        .collect();
    let mut p = precondition(&op, &r, k);
    let mut q = vec![0.0; n * k];
    let mut rz = column_sums(n, k, |i, c| r[i * k + c] * p[i * k + c])?;
    let mut res = residuals(&column_sums(n, k, |i, c| r[i * k + c].powi(2))?, &b_norm);
    let mut active: Vec<bool> = res.iter().map(|&v| v > opts.tol).collect();
    let mut iterations = vec![0usize; k];
    for it in 0..opts.max_iter {
        if !active.iter().any(|&a| a) {
            break;
        }
        let pq = op.apply(&p, &mut q, k)?;
        let alpha: Vec<f64> = (0..k)
            .map(|c| {
                if active[c] && pq[c] > 0.0 {
                    rz[c] / pq[c]
                } else {
                    0.0
                }
            })
            .collect();
        let (rz_new, rr) = update_xr(&mut x, &mut r, &p, &q, &alpha, &op.inv_diag, k)?;
        let beta: Vec<f64> = (0..k)
            .map(|c| if rz[c] > 0.0 { rz_new[c] / rz[c] } else { 0.0 })
            .collect();
        update_p(&mut p, &r, &beta, &op.inv_diag, k)?;
        rz = rz_new;
        res = residuals(&rr, &b_norm);
        for c in 0..k {
            if active[c] {
                iterations[c] = it + 1;
                active[c] = res[c] > opts.tol;
            }
        }
        monitor.tick(it + 1, opts.max_iter)?;
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "conjugate gradients produced non-finite values; check the graph weights and lam"
                .into(),
        ));
    }
    Ok(Solution {
        values: x,
        iterations,
        residuals: res,
        lam_effective: op.lam,
    })
}

fn precondition(op: &Operator, r: &[f64], k: usize) -> Vec<f64> {
    let mut z = r.to_vec();
    for (zi, &d) in z.chunks_mut(k).zip(&op.inv_diag) {
        zi.iter_mut().for_each(|v| *v *= d);
    }
    z
}

/// x += α p, r −= α q (per column); returns the column sums of r ∘ D⁻¹r and r ∘ r.
fn update_xr(
    x: &mut [f64],
    r: &mut [f64],
    p: &[f64],
    q: &[f64],
    alpha: &[f64],
    inv_diag: &[f64],
    k: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let step = ROW_CHUNK * k;
    let parts: Vec<(Vec<f64>, Vec<f64>)> = par::install(|| {
        x.par_chunks_mut(step)
            .zip(r.par_chunks_mut(step))
            .zip(p.par_chunks(step).zip(q.par_chunks(step)))
            .zip(inv_diag.par_chunks(ROW_CHUNK))
            .map(|(((xs, rs), (ps, qs)), ds)| {
                let (mut rz, mut rr) = (vec![0.0; k], vec![0.0; k]);
                let rows = xs
                    .chunks_mut(k)
                    .zip(rs.chunks_mut(k))
                    .zip(ps.chunks(k).zip(qs.chunks(k)))
                    .zip(ds);
                for (((xi, ri), (pi, qi)), &d) in rows {
                    for c in 0..k {
                        xi[c] += alpha[c] * pi[c];
                        let rv = ri[c] - alpha[c] * qi[c];
                        ri[c] = rv;
                        rz[c] += rv * (d * rv);
                        rr[c] += rv * rv;
                    }
                }
                (rz, rr)
            })
            .collect()
    })?;
    let (rz, rr): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    Ok((sum_parts(rz, k), sum_parts(rr, k)))
}

/// p = D⁻¹ r + β p (per column).
fn update_p(p: &mut [f64], r: &[f64], beta: &[f64], inv_diag: &[f64], k: usize) -> Result<()> {
    par::install(|| {
        p.par_chunks_mut(k)
            .zip(r.par_chunks(k))
            .zip(inv_diag.par_iter())
            .for_each(|((pi, ri), &d)| {
                for ((pv, &rv), &bt) in pi.iter_mut().zip(ri).zip(beta) {
                    *pv = d * rv + bt * *pv;
                }
            })
    })
}

/// ‖r[:, c]‖ / ‖b[:, c]‖ per column from the squared residual norms (0 for an all-zero
/// right-hand side with zero residual).
fn residuals(r_sq: &[f64], b_norm: &[f64]) -> Vec<f64> {
    r_sq.iter()
        .zip(b_norm)
        .map(|(&s, &b)| {
            let rn = s.sqrt();
            if b > 0.0 {
                rn / b
            } else if rn == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        })
        .collect()
}

/// Out-of-sample coordinate step for new points (CSR rows over the fitted points):
/// f_new = (f̂_new + λ Σ_j w_j f_j) / (1 + λ Σ_j w_j). Returns n_new × K.
pub fn out_of_sample(
    new_graph: CsrRef,
    fitted: &[f64],
    new_scores: &[f64],
    k: usize,
    lam: f64,
) -> Result<Vec<f64>> {
    let n_new = new_graph.indptr.len().saturating_sub(1);
    if new_scores.len() != n_new * k || fitted.len() != new_graph.n * k {
        return Err(Error::shape(
            "scores",
            "new scores must have one row per new point and as many columns as the fitted scores",
        ));
    }
    ensure_finite("scores", new_scores)?;
    let well_formed = new_graph.indptr.first() == Some(&0)
        && new_graph.indptr.windows(2).all(|w| w[0] <= w[1])
        && new_graph.indptr.last() == Some(&new_graph.indices.len())
        && new_graph.indices.len() == new_graph.values.len()
        && new_graph.indices.iter().all(|&j| j < new_graph.n);
    if !well_formed {
        return Err(Error::shape(
            "graph",
            "malformed neighbour rows of the new points",
        ));
    }
    let mut out = vec![0.0; n_new * k];
    for (i, oi) in out.chunks_mut(k.max(1)).enumerate() {
        let (a, b) = (new_graph.indptr[i], new_graph.indptr[i + 1]);
        let mut total = 0.0;
        let mut acc = vec![0.0; k];
        for (&j, &w) in new_graph.indices[a..b].iter().zip(&new_graph.values[a..b]) {
            total += w;
            for (s, &f) in acc.iter_mut().zip(&fitted[j * k..(j + 1) * k]) {
                *s += w * f;
            }
        }
        for ((o, &s), &f0) in oi.iter_mut().zip(&acc).zip(&new_scores[i * k..(i + 1) * k]) {
            *o = (f0 + lam * s) / (1.0 + lam * total);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_graph(n: usize) -> Csr {
        let mut rows = vec![];
        for i in 0..n {
            let mut r = vec![];
            if i > 0 {
                r.push((i - 1, 1.0));
            }
            if i + 1 < n {
                r.push((i + 1, 2.0));
            }
            rows.push(r);
        }
        // Make symmetric weights: edge (i, i+1) weight 1 + i mod 3.
        let mut indptr = vec![0];
        let (mut indices, mut weights) = (vec![], vec![]);
        for (i, r) in rows.iter().enumerate() {
            for &(j, _) in r {
                indices.push(j);
                weights.push(1.0 + (i.min(j) % 3) as f64);
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

    #[test]
    fn solution_satisfies_the_system() {
        let g = path_graph(50);
        let k = 2;
        let scores: Vec<f64> = (0..100).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        let opts = SolveOptions {
            lam: 3.0,
            variant: Variant::Glif,
            tol: 1e-12,
            max_iter: 1000,
        };
        let sol = glif_solve(g.view(), &scores, k, opts, &par::Silent).unwrap();
        let op = Operator::new(g.view(), 3.0, Variant::Glif);
        let mut ax = vec![0.0; 100];
        op.apply(&sol.values, &mut ax, k).unwrap();
        for (a, b) in ax.iter().zip(&scores) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn zero_lambda_is_identity() {
        let g = path_graph(10);
        let scores: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let opts = SolveOptions {
            lam: 0.0,
            variant: Variant::Nrw,
            tol: 1e-10,
            max_iter: 100,
        };
        let sol = glif_solve(g.view(), &scores, 1, opts, &par::Silent).unwrap();
        assert_eq!(sol.values, scores);
    }
}
