//! The row loop of the cumulative-logit sums, in blocks of [`BLOCK`] rows.
//!
//! A block is first gathered into contiguous buffers (the regressors transposed to columns, the
//! thresholds and constants of each row's category); then every per-row quantity is computed
//! by branch-free arithmetic over those buffers (fastmath's exp and log, selects instead of
//! branches), so that `pulp::Arch::dispatch` compiles the loops for the widest vector unit; then
//! the block is folded into the sums with one fixed lane order. The constants of a category
//! that do not depend on the row (the gap between its two thresholds, `log(1 − e^{gap})`) are
//! computed once per evaluation instead of once per row. No allocation per row or per block.
//!
//! Every loop has the same bits in its scalar and its vector build (plain multiply and add, no
//! fused operations; sums in a fixed lane order), so results do not depend on the machine's
//! vector width, and the blocks of a chunk are folded in order, so they do not depend on the
//! thread count either.

use std::ops::Range;

use super::likelihood::Problem;
use crate::fastmath::{exp, ln_1_to_4};

/// Rows per block: the unit of the buffered loops.
pub(crate) const BLOCK: usize = 64;
/// Accumulators per block sum (the lane order of every fold).
const LANES: usize = 8;

/// What a row's category contributes to its terms, at the current thresholds.
#[derive(Clone, Copy, Debug)]
struct Category {
    /// Upper and lower threshold of the row (+∞ / −∞ where absent).
    hi: f64,
    lo: f64,
    /// e^{lo − hi} and 1 / (1 − e^{lo − hi}), log(1 − e^{lo − hi}) (0, 1, 0 for an end category).
    egap: f64,
    inv_m: f64,
    ln_m: f64,
    /// 1 where the row has an upper (lower) threshold, else 0.
    has_u: f64,
    has_l: f64,
}

/// A padding row: no thresholds, every term 0.
const PAD: Category = Category {
    hi: f64::INFINITY,
    lo: f64::NEG_INFINITY,
    egap: 0.0,
    inv_m: 1.0,
    ln_m: 0.0,
    has_u: 0.0,
    has_l: 0.0,
};

/// The per-category constants at thresholds `tau` (strictly increasing, finite).
#[derive(Clone, Debug)]
pub(crate) struct Categories(Vec<Category>);

impl Categories {
    pub(crate) fn new(tau: &[f64]) -> Self {
        let k1 = tau.len();
        let cats = (0..=k1)
            .map(|c| {
                let mut cat = PAD;
                if c < k1 {
                    cat.hi = tau[c];
                    cat.has_u = 1.0;
                }
                if c > 0 {
                    cat.lo = tau[c - 1];
                    cat.has_l = 1.0;
                }
                if c > 0 && c < k1 {
                    // libm here: once per category and evaluation
                    let gap = tau[c - 1] - tau[c];
                    let m = -gap.exp_m1();
                    cat.egap = gap.exp();
                    cat.inv_m = 1.0 / m;
                    cat.ln_m = m.ln();
                }
                cat
            })
            .collect();
        Categories(cats)
    }
}

/// The log-likelihood of one row and its derivatives with respect to (u, l).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct RowTerms {
    pub ll: f64,
    pub du: f64,
    pub dl: f64,
    pub duu: f64,
    pub dll: f64,
    pub dul: f64,
}

/// The terms of a row with upper and lower arguments `u = hi − η`, `l = lo − η` (±∞ where
/// absent) in category `cat`.
///
/// With e_x = e^{−|x|}: σ(x) = 1/(1 + e_x) for x ≥ 0 and e_x/(1 + e_x) below, and
/// `log(σ(u) − σ(l)) = log σ(u) + log σ(−l) + log(1 − e^{l−u})` where
/// `log σ(u) + log σ(−l) = −max(−u, 0) − max(l, 0) − log((1 + e_u)(1 + e_l))` (one log, of a
/// number in [1, 4], and one division for both σ's). The ratios σ(−u)/σ(−l) and σ(l)/σ(u) of
/// the first derivatives are taken as a quotient of the e-factors (one of e_u, e_l, e^{l−u}
/// or 1 by the signs of u and l) times (1 + e)'s, so no tiny number is divided by another far
/// in a tail.
#[inline(always)]
fn terms(u: f64, l: f64, cat: &Category) -> RowTerms {
    let (eu, el) = (exp(-u.abs()), exp(-l.abs()));
    let (pu, pl) = (u >= 0.0, l >= 0.0);
    let (au, al) = (1.0 + eu, 1.0 + el);
    let both = au * al;
    let inv = 1.0 / both;
    // 1/(1 + e_u) and 1/(1 + e_l)
    let (iu, il) = (al * inv, au * inv);
    let su = if pu { iu } else { eu * iu };
    let sl = if pl { il } else { el * il };
    let ll = -((-u).max(0.0) + l.max(0.0)) - ln_1_to_4(both) + cat.ln_m;
    let ru_num = if pl {
        cat.egap
    } else if pu {
        eu
    } else {
        1.0
    };
    let rl_num = if !pu {
        cat.egap
    } else if !pl {
        el
    } else {
        1.0
    };
    let du = cat.has_u * (ru_num * al * iu) * cat.inv_m;
    let dl = -(cat.has_l * (rl_num * au * il) * cat.inv_m);
    RowTerms {
        ll,
        du,
        dl,
        duu: du * (1.0 - 2.0 * su) - du * du,
        dll: dl * (1.0 - 2.0 * sl) - dl * dl,
        dul: -du * dl,
    }
}

/// The terms of a row with label `y` (0-based) given thresholds `tau` and its linear predictor
/// (one row at a time, for the tests; the sums use the block loops).
#[cfg(test)]
pub(crate) fn row_terms(y: usize, tau: &[f64], eta: f64) -> RowTerms {
    let cat = Categories::new(tau).0[y];
    terms(cat.hi - eta, cat.lo - eta, &cat)
}

/// Sums over a set of rows in τ-space: the log-likelihood, the gradient with respect to
/// (τ, b) and the Hessian blocks ττ, τb and bb (bb upper triangle only).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sums {
    pub ll: f64,
    pub g_tau: Vec<f64>,
    pub g_b: Vec<f64>,
    pub h_tt: Vec<f64>,
    pub h_tb: Vec<f64>,
    pub h_bb: Vec<f64>,
}

impl Sums {
    pub(crate) fn zeros(k1: usize, q: usize, hessian: bool) -> Self {
        let h = usize::from(hessian);
        Sums {
            ll: 0.0,
            g_tau: vec![0.0; k1],
            g_b: vec![0.0; q],
            h_tt: vec![0.0; h * k1 * k1],
            h_tb: vec![0.0; h * k1 * q],
            h_bb: vec![0.0; h * q * q],
        }
    }

    pub(crate) fn add(&mut self, other: &Sums) {
        self.ll += other.ll;
        let pairs = [
            (&mut self.g_tau, &other.g_tau),
            (&mut self.g_b, &other.g_b),
            (&mut self.h_tt, &other.h_tt),
            (&mut self.h_tb, &other.h_tb),
            (&mut self.h_bb, &other.h_bb),
        ];
        for (a, b) in pairs {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

type Lane = [f64; BLOCK];

/// The terms of a block's rows, one buffer per quantity (see [`RowTerms`]).
struct Terms {
    ll: Lane,
    du: Lane,
    dl: Lane,
    duu: Lane,
    dll: Lane,
    dul: Lane,
}

/// A block of rows in contiguous buffers, and their terms.
struct Block {
    /// Live rows (the rest is padding whose terms are all 0).
    n: usize,
    q: usize,
    /// The row's label as f64 (−1 for padding), for the category masks.
    label: Lane,
    /// The row's category constants, one buffer per field of [`Category`] (`hi`, `lo` become
    /// u = hi − η and l = lo − η).
    u: Lane,
    l: Lane,
    egap: Lane,
    inv_m: Lane,
    ln_m: Lane,
    has_u: Lane,
    has_l: Lane,
    /// Regressor j of row k at `w[j * BLOCK + k]`.
    w: Vec<f64>,
    t: Terms,
}

impl Block {
    fn new(q: usize) -> Box<Self> {
        let zero = [0.0; BLOCK];
        Box::new(Block {
            n: 0,
            q,
            label: [-1.0; BLOCK],
            u: zero,
            l: zero,
            egap: zero,
            inv_m: zero,
            ln_m: zero,
            has_u: zero,
            has_l: zero,
            w: vec![0.0; q * BLOCK],
            t: Terms {
                ll: zero,
                du: zero,
                dl: zero,
                duu: zero,
                dll: zero,
                dul: zero,
            },
        })
    }

    fn column(&self, j: usize) -> &[f64] {
        &self.w[j * BLOCK..(j + 1) * BLOCK]
    }

    #[inline(always)]
    fn set_category(&mut self, k: usize, label: f64, cat: &Category) {
        self.label[k] = label;
        self.u[k] = cat.hi;
        self.l[k] = cat.lo;
        self.egap[k] = cat.egap;
        self.inv_m[k] = cat.inv_m;
        self.ln_m[k] = cat.ln_m;
        self.has_u[k] = cat.has_u;
        self.has_l[k] = cat.has_l;
    }

    /// Gathers `rows` (at most BLOCK) and computes their terms at coefficients `b`.
    #[inline(always)]
    fn load(&mut self, p: &Problem<'_>, cats: &Categories, b: &[f64], rows: Range<usize>) {
        let (q, y, w) = (self.q, p.labels(), p.regressors());
        self.n = rows.len();
        for (k, r) in rows.enumerate() {
            let c = y[r] as usize;
            self.set_category(k, c as f64, &cats.0[c]);
            for (j, &x) in w[r * q..(r + 1) * q].iter().enumerate() {
                self.w[j * BLOCK + k] = x;
            }
        }
        for k in self.n..BLOCK {
            self.set_category(k, -1.0, &PAD);
            for j in 0..q {
                self.w[j * BLOCK + k] = 0.0;
            }
        }
        let mut eta = [0.0; BLOCK];
        for (j, &bj) in b.iter().enumerate() {
            for (e, &x) in eta.iter_mut().zip(&self.w[j * BLOCK..(j + 1) * BLOCK]) {
                *e += x * bj;
            }
        }
        for ((u, l), e) in self.u.iter_mut().zip(self.l.iter_mut()).zip(&eta) {
            *u -= e;
            *l -= e;
        }
        for k in 0..BLOCK {
            let cat = Category {
                hi: 0.0,
                lo: 0.0,
                egap: self.egap[k],
                inv_m: self.inv_m[k],
                ln_m: self.ln_m[k],
                has_u: self.has_u[k],
                has_l: self.has_l[k],
            };
            let r = terms(self.u[k], self.l[k], &cat);
            self.t.ll[k] = r.ll;
            self.t.du[k] = r.du;
            self.t.dl[k] = r.dl;
            self.t.duu[k] = r.duu;
            self.t.dll[k] = r.dll;
            self.t.dul[k] = r.dul;
        }
    }

    /// Adds the block's log-likelihood, gradient and (with `hessian`) Hessian to `s`.
    #[inline(always)]
    fn accumulate(&self, s: &mut Sums, hessian: bool) {
        let t = &self.t;
        s.ll += lane_sum(|k| t.ll[k]);
        let g = lane(|k| t.du[k] + t.dl[k]);
        for (j, gb) in s.g_b.iter_mut().enumerate() {
            *gb -= dot(&g, self.column(j));
        }
        let k1 = s.g_tau.len();
        for c in 0..k1 {
            // rows in category c have threshold c as their upper one, rows in c + 1 as their
            // lower one
            let (at_u, at_l) = (c as f64, (c + 1) as f64);
            let pick = |k: usize, up: f64, low: f64| {
                (if self.label[k] == at_u { up } else { 0.0 })
                    + (if self.label[k] == at_l { low } else { 0.0 })
            };
            s.g_tau[c] += lane_sum(|k| pick(k, t.du[k], t.dl[k]));
            if !hessian {
                continue;
            }
            s.h_tt[c * k1 + c] += lane_sum(|k| pick(k, t.duu[k], t.dll[k]));
            if c + 1 < k1 {
                let v = lane_sum(|k| pick(k, 0.0, t.dul[k]));
                s.h_tt[c * k1 + c + 1] += v;
                s.h_tt[(c + 1) * k1 + c] += v;
            }
            let coef = lane(|k| pick(k, t.duu[k] + t.dul[k], t.dll[k] + t.dul[k]));
            for j in 0..self.q {
                s.h_tb[c * self.q + j] -= dot(&coef, self.column(j));
            }
        }
        if hessian {
            let cbb = lane(|k| t.duu[k] + t.dll[k] + 2.0 * t.dul[k]);
            for i in 0..self.q {
                let ci = lane(|k| cbb[k] * self.w[i * BLOCK + k]);
                for j in i..self.q {
                    s.h_bb[i * self.q + j] += dot(&ci, self.column(j));
                }
            }
        }
    }
}

/// A block-length buffer filled elementwise.
#[inline(always)]
fn lane(f: impl Fn(usize) -> f64) -> Lane {
    let mut out = [0.0; BLOCK];
    for (k, o) in out.iter_mut().enumerate() {
        *o = f(k);
    }
    out
}

/// Σ_k f(k) over a block in [`LANES`] interleaved accumulators folded in one fixed order.
#[inline(always)]
fn lane_sum(f: impl Fn(usize) -> f64) -> f64 {
    let v = lane(f);
    let mut acc = [0.0; LANES];
    for part in v.chunks_exact(LANES) {
        for (a, x) in acc.iter_mut().zip(part) {
            *a += x;
        }
    }
    fold(acc)
}

/// Σ_k a_k b_k over a block, folded like [`lane_sum`].
#[inline(always)]
fn dot(a: &Lane, b: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    for (pa, pb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((s, x), y) in acc.iter_mut().zip(pa).zip(pb) {
            *s += x * y;
        }
    }
    fold(acc)
}

#[inline(always)]
fn fold(a: [f64; LANES]) -> f64 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// Score sums of θ = (t, b) per cluster over a chunk's rows, run-length compressed (the rows
/// of one item are usually adjacent): the cluster id of each run and its P-long sum, one after
/// another.
pub(crate) type RunScores = (Vec<u32>, Vec<f64>);

/// One pass over `rows` at thresholds `cats` and coefficients `b`: the sums (the Hessian only
/// with `hessian`), and with `clusters` (the cluster of every row of the problem) the score
/// sums of the runs of clusters, from the same per-row terms.
pub(crate) fn chunk_pass(
    p: &Problem<'_>,
    cats: &Categories,
    b: &[f64],
    rows: Range<usize>,
    hessian: bool,
    clusters: Option<&[u32]>,
) -> (Sums, Option<RunScores>) {
    pulp::Arch::new().dispatch(ChunkPass {
        p,
        cats,
        b,
        rows,
        hessian,
        clusters,
    })
}

struct ChunkPass<'a> {
    p: &'a Problem<'a>,
    cats: &'a Categories,
    b: &'a [f64],
    rows: Range<usize>,
    hessian: bool,
    clusters: Option<&'a [u32]>,
}

impl pulp::WithSimd for ChunkPass<'_> {
    type Output = (Sums, Option<RunScores>);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> (Sums, Option<RunScores>) {
        let Self {
            p,
            cats,
            b,
            rows,
            hessian,
            clusters,
        } = self;
        let mut s = Sums::zeros(p.n_categories() - 1, p.n_regressors(), hessian);
        let mut runs = clusters.map(|c| RunSums::new(p, c, rows.len()));
        let mut block = Block::new(p.n_regressors());
        for start in rows.clone().step_by(BLOCK) {
            let end = (start + BLOCK).min(rows.end);
            block.load(p, cats, b, start..end);
            block.accumulate(&mut s, hessian);
            if let Some(runs) = runs.as_mut() {
                runs.add_block(p, &block, start..end);
            }
        }
        (s, runs.map(|r| (r.ids, r.sums)))
    }
}

/// The score sums of the runs of clusters in a chunk, built a block at a time.
struct RunSums<'a> {
    clusters: &'a [u32],
    n_t: usize,
    np: usize,
    /// ∂τ/∂t of each category's upper and lower threshold (rows of T; 0 where absent), so
    /// that the score of t is upper[y]·du + lower[y]·dl without a branch.
    upper: Vec<f64>,
    lower: Vec<f64>,
    ids: Vec<u32>,
    sums: Vec<f64>,
}

impl<'a> RunSums<'a> {
    fn new(p: &Problem<'_>, clusters: &'a [u32], n_rows: usize) -> Self {
        let (k, n_t) = (p.n_categories(), p.n_thresholds());
        let np = p.n_params();
        let mut upper = vec![0.0; k * n_t];
        let mut lower = vec![0.0; k * n_t];
        upper[..(k - 1) * n_t].copy_from_slice(p.tmap());
        lower[n_t..].copy_from_slice(p.tmap());
        RunSums {
            clusters,
            n_t,
            np,
            upper,
            lower,
            // room for one run per row: no reallocation (pages never written are never
            // touched)
            ids: Vec::with_capacity(n_rows),
            sums: Vec::with_capacity(n_rows * np),
        }
    }

    #[inline(always)]
    fn add_block(&mut self, p: &Problem<'_>, block: &Block, rows: Range<usize>) {
        let (n_t, np, t) = (self.n_t, self.np, &block.t);
        for (k, r) in rows.enumerate() {
            let g = self.clusters[r];
            if self.ids.last() != Some(&g) {
                self.ids.push(g);
                self.sums.extend(std::iter::repeat_n(0.0, np));
            }
            let s = &mut self.sums[(self.ids.len() - 1) * np..];
            let (du, dl) = (t.du[k], t.dl[k]);
            let y = p.labels()[r] as usize;
            let (up, low) = (&self.upper[y * n_t..][..n_t], &self.lower[y * n_t..][..n_t]);
            for ((sj, a), c) in s[..n_t].iter_mut().zip(up).zip(low) {
                *sj += a * du + c * dl;
            }
            let gr = du + dl;
            for (j, sc) in s[n_t..np].iter_mut().enumerate() {
                *sc -= gr * block.w[j * BLOCK + k];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulp::WithSimd;

    /// 150 rows (two blocks and a tail) in every category of K = 4, two regressors, linear
    /// predictors from moderate to far in both tails.
    fn data() -> (Vec<u32>, Vec<f64>, Vec<u32>) {
        let n = 150;
        let y = (0..n as u32).map(|r| (r * 7 + r / 5) % 4).collect();
        let w = (0..n)
            .flat_map(|r| {
                let x = (r as f64 * 0.37).sin() * 3.0;
                let far = if r % 23 == 0 { 300.0 } else { 1.0 };
                [x * far, (r % 5) as f64 - 2.0]
            })
            .collect();
        let clusters = (0..n as u32).map(|r| r / 3).collect();
        (y, w, clusters)
    }

    #[test]
    fn vector_and_scalar_builds_give_the_same_bits() {
        let (y, w, clusters) = data();
        let t = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let p = Problem::new(&y, &w, 2, &t, 3, 4).unwrap();
        let cats = Categories::new(&[-1.0, 0.3, 2.0]);
        let b = [0.8, -0.5];
        for hessian in [true, false] {
            for groups in [None, Some(&clusters[..])] {
                let pass = || ChunkPass {
                    p: &p,
                    cats: &cats,
                    b: &b,
                    rows: 3..150,
                    hessian,
                    clusters: groups,
                };
                let wide = pulp::Arch::new().dispatch(pass());
                assert_eq!(wide, pass().with_simd(pulp::Scalar::new()));
                assert!(wide.0.ll.is_finite());
                assert_eq!(wide.1.map(|r| r.0.len()), groups.map(|_| 49));
                // the scores do not change the sums
                assert_eq!(wide.0, chunk_pass(&p, &cats, &b, 3..150, hessian, None).0);
            }
        }
    }

    #[test]
    fn sums_match_the_plain_formula_with_libm() {
        let (y, w, _) = data();
        let t = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        // moderate rows only (the plain formula loses everything far in a tail)
        let keep: Vec<usize> = (0..y.len()).filter(|r| r % 23 != 0).collect();
        let ys: Vec<u32> = keep.iter().map(|&r| y[r]).collect();
        let ws: Vec<f64> = keep
            .iter()
            .flat_map(|&r| [w[2 * r], w[2 * r + 1]])
            .collect();
        let p = Problem::new(&ys, &ws, 2, &t, 3, 4).unwrap();
        let tau = [-1.0, 0.3, 2.0];
        let b = [0.8, -0.5];
        let s = chunk_pass(&p, &Categories::new(&tau), &b, 0..ys.len(), true, None).0;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (mut ll, mut g_tau, mut g_b) = (0.0, [0.0; 3], [0.0; 2]);
        for (r, &c) in ys.iter().enumerate() {
            let c = c as usize;
            let x = &ws[2 * r..2 * r + 2];
            let eta = x[0] * b[0] + x[1] * b[1];
            let hi = if c < 3 { sig(tau[c] - eta) } else { 1.0 };
            let lo = if c > 0 { sig(tau[c - 1] - eta) } else { 0.0 };
            let prob = hi - lo;
            ll += prob.ln();
            // d log p / d τ_c = σ'(u)/p, d / d τ_{c−1} = −σ'(l)/p, d / d b = −(σ'(u) − σ'(l)) x / p
            let du = hi * (1.0 - hi) / prob;
            let dl = -lo * (1.0 - lo) / prob;
            if c < 3 {
                g_tau[c] += du;
            }
            if c > 0 {
                g_tau[c - 1] += dl;
            }
            for j in 0..2 {
                g_b[j] -= (du + dl) * x[j];
            }
        }
        assert!((s.ll - ll).abs() < 1e-12 * ll.abs(), "{} vs {ll}", s.ll);
        for (a, e) in s.g_tau.iter().chain(&s.g_b).zip(g_tau.iter().chain(&g_b)) {
            assert!((a - e).abs() < 1e-10 * (1.0 + e.abs()), "{a} vs {e}");
        }
    }
}
