//! The penalised Newton solver of the extended Rasch model for one (model, task) job.
//!
//! Parameters: dense coefficients `d = [γ (p); ψ (q)]` and, when examples enter as a one-hot
//! design, free example effects `β (J)`. The logit of cell (f, j) is
//! `η_f + ζ_j` with `η = Xγ` (X the F × p template design, identity when absent) and
//! `ζ_j = Z_j·ψ + β_j`. Every parameter has an independent N(0, σ²) prior (MAP = L2-penalised
//! logistic regression with C = σ²).
//!
//! The information matrix has the block form `[[A, B], [Bᵀ, D]]` with `D` diagonal (the
//! example block), so each Newton step eliminates β through the Schur complement
//! `A − B D⁻¹ Bᵀ` (p + q square). Its format-format block is `Xᵀ (diag(g) − M) X` with
//! `M_{ff'} = Σ_j w_fj w_f'j / D_j`, accumulated per example column over the pairs of observed
//! cells, so the cost of one step is O(Σ_j k_j² + |S|·q + J·q² + F·p² + (p + q)³) with k_j the
//! observed cells of example j, never O(J·p²).

use crate::error::{Error, Result};
use crate::fastmath::{sigmoid, softplus};
use crate::linalg;
use crate::mem;
use crate::par::Monitor;

/// Fix named in memory errors.
const MEM_FIX: &str = "pass fewer templates, examples or covariates";
/// Step halvings tried before a Newton step is declared stalled.
const MAX_HALVINGS: usize = 40;
/// Columns (of the factor, or examples in the Schur complement) between two looks at the stop
/// flag in the loops whose columns cost O(F) to O(F²) each.
const STOP_POLL: usize = 32;

/// The Cholesky factor L (L Lᵀ = the Newton system) of a symmetric positive-definite matrix.
///
/// Bit-identical to [`linalg::cholesky`] / [`linalg::cholesky_solve`]: every entry is the same
/// sequence of operations (start from the matrix entry, subtract the products L[i][k]·L[j][k]
/// for k ascending, then divide), so the results do not change. Two things make it faster:
/// the factor is stored by columns, so column j is updated by whole columns k (a vectorised
/// loop over the rows i, each row keeping its own order), and only the columns k with
/// L[j][k] ≠ 0 are visited. Without template covariates the system is F × F and mostly zero
/// (two templates interact only through an example both were evaluated on), so this also
/// skips most of the O(F³) work. Leaving out a product with an exact-zero factor changes
/// nothing: the running sums never hold −0 (they start from +0 or a nonzero value, and x − x
/// rounds to +0), so subtracting ±0 leaves them as they are.
pub(crate) struct Factor {
    n: usize,
    /// L by columns: `lt[k * n + i]` = L[i][k] for i ≥ k (zero above the diagonal).
    lt: Vec<f64>,
}

impl Factor {
    /// Factorises the row-major n × n matrix `m` (lower triangle read); None when it is not
    /// (numerically) positive definite. Polls `monitor` every few columns (a dense system of
    /// thousands of templates takes seconds).
    pub(crate) fn new(n: usize, m: &[f64], monitor: &dyn Monitor) -> Result<Option<Self>> {
        let mut lt = vec![0.0; n * n];
        for j in 0..n {
            for i in j..n {
                lt[j * n + i] = m[i * n + j];
            }
        }
        for j in 0..n {
            if j % STOP_POLL == 0 && monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            let (done, rest) = lt.split_at_mut(j * n);
            let col = &mut rest[j..n];
            for k in 0..j {
                let col_k = &done[k * n + j..(k + 1) * n];
                let ljk = col_k[0];
                if ljk != 0.0 {
                    for (c, &lik) in col.iter_mut().zip(col_k) {
                        *c -= lik * ljk;
                    }
                }
            }
            let d = col[0];
            if d <= 0.0 || !d.is_finite() {
                return Ok(None);
            }
            let d = d.sqrt();
            col[0] = d;
            for c in &mut col[1..] {
                *c /= d;
            }
        }
        Ok(Some(Self { n, lt }))
    }

    /// L[i][j] (i ≥ j).
    #[cfg(test)]
    pub(crate) fn entry(&self, i: usize, j: usize) -> f64 {
        self.lt[j * self.n + i]
    }

    /// Solves (L Lᵀ) x = rhs in place.
    pub(crate) fn solve(&self, x: &mut [f64]) {
        self.forward(x);
        self.backward(x);
    }

    /// x ← L⁻¹ x, by columns: row i still subtracts L[i][k]·x[k] for k ascending, then divides.
    fn forward(&self, x: &mut [f64]) {
        let n = self.n;
        for k in 0..n {
            let col = &self.lt[k * n + k..(k + 1) * n];
            let xk = x[k] / col[0];
            x[k] = xk;
            if xk != 0.0 {
                for (xi, &lik) in x[k + 1..].iter_mut().zip(&col[1..]) {
                    *xi -= lik * xk;
                }
            }
        }
    }

    /// x ← L⁻ᵀ x: x[i] minus L[k][i]·x[k] for k ascending (column i of L), then divided.
    pub(crate) fn backward(&self, x: &mut [f64]) {
        let n = self.n;
        for i in (0..n).rev() {
            let col = &self.lt[i * n..(i + 1) * n];
            let mut s = x[i];
            for (&lki, &xk) in col[i + 1..].iter().zip(&x[i + 1..]) {
                if lki != 0.0 {
                    s -= lki * xk;
                }
            }
            x[i] = s / col[i];
        }
    }
}

/// The covariate design shared by every job.
#[derive(Clone, Copy)]
pub struct Design<'a> {
    pub n_formats: usize,
    pub n_examples: usize,
    /// Template covariates, row-major F × p; `None` means the identity (a free θ_f per template).
    pub x: Option<&'a [f64]>,
    pub p: usize,
    /// Example covariates, row-major J × q; `None` means q = 0.
    pub z: Option<&'a [f64]>,
    pub q: usize,
    /// Free example effects β_j (the one-hot example block).
    pub onehot: bool,
    /// 1 / prior_sd².
    pub inv_var: f64,
}

impl<'a> Design<'a> {
    /// Checks shapes and values.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_formats: usize,
        n_examples: usize,
        x: Option<&'a [f64]>,
        p: usize,
        z: Option<&'a [f64]>,
        q: usize,
        onehot: bool,
        prior_sd: f64,
    ) -> Result<Self> {
        if !(prior_sd.is_finite() && prior_sd > 0.0) {
            return Err(Error::invalid(
                "prior_sd",
                format!("must be a positive finite number, got {prior_sd}"),
            ));
        }
        let inv_var = 1.0 / (prior_sd * prior_sd);
        if !(inv_var.is_finite() && inv_var > 0.0) {
            return Err(Error::invalid(
                "prior_sd",
                format!("{prior_sd} is too extreme; pass a value between 1e-100 and 1e100"),
            ));
        }
        let p = if x.is_some() { p } else { n_formats };
        if let Some(xs) = x {
            if p == 0 || xs.len() != n_formats * p {
                return Err(Error::shape(
                    "format_covariates",
                    format!(
                        "has {} values, expected {n_formats} × {p} (p ≥ 1)",
                        xs.len()
                    ),
                ));
            }
            crate::error::ensure_finite("format_covariates", xs)?;
        }
        let q = if z.is_some() { q } else { 0 };
        if let Some(zs) = z {
            if q == 0 || zs.len() != n_examples * q {
                return Err(Error::shape(
                    "example_covariates",
                    format!(
                        "has {} values, expected {n_examples} × {q} (q ≥ 1)",
                        zs.len()
                    ),
                ));
            }
            crate::error::ensure_finite("example_covariates", zs)?;
        }
        Ok(Self {
            n_formats,
            n_examples,
            x,
            p,
            z,
            q,
            onehot,
            inv_var,
        })
    }

    /// Checks the per-job Newton systems (F × F and P × P, P dense coefficients) against the
    /// memory budget: once per call, so the solver allocates them without asking again.
    pub fn check_memory(&self) -> Result<()> {
        let nf = self.n_formats as u128;
        let np = self.dense() as u128;
        mem::ensure_fits("Y", nf * nf + np * np, 8, MEM_FIX)
    }

    /// Number of dense coefficients.
    pub fn dense(&self) -> usize {
        self.p + self.q
    }

    /// η = X γ.
    fn eta(&self, gamma: &[f64], out: &mut [f64]) {
        match self.x {
            None => out.copy_from_slice(gamma),
            Some(x) => {
                for (f, o) in out.iter_mut().enumerate() {
                    *o = linalg::dot(&x[f * self.p..(f + 1) * self.p], gamma);
                }
            }
        }
    }

    /// out (p) = Xᵀ v (v of length F).
    fn xt_vec(&self, v: &[f64], out: &mut [f64]) {
        match self.x {
            None => out.copy_from_slice(v),
            Some(x) => {
                out.fill(0.0);
                for (f, &vf) in v.iter().enumerate() {
                    for (o, &xv) in out.iter_mut().zip(&x[f * self.p..(f + 1) * self.p]) {
                        *o += xv * vf;
                    }
                }
            }
        }
    }

    /// Row `j` of Z (empty when q = 0).
    #[inline]
    fn z_row(&self, j: usize) -> &'a [f64] {
        match self.z {
            None => &[],
            Some(z) => &z[j * self.q..(j + 1) * self.q],
        }
    }
}

/// Observed cells of one job grouped by example column: `fmt[ptr[c]..ptr[c + 1]]` are the
/// templates observed on column c, `y` their scores; `example[c]` is the example behind column
/// c (a bootstrap replicate repeats examples).
pub struct Cells {
    pub ptr: Vec<usize>,
    pub fmt: Vec<u32>,
    pub y: Vec<f64>,
    pub example: Vec<usize>,
}

impl Cells {
    /// Collects the observed cells of a row-major F × J block (NaN = not evaluated).
    pub fn from_block(block: &[f32], n_formats: usize, n_examples: usize) -> Result<Self> {
        // J + 1 counts: smaller than the block itself, no budget check needed.
        let mut counts = vec![0usize; n_examples + 1];
        for f in 0..n_formats {
            for (j, &v) in block[f * n_examples..(f + 1) * n_examples]
                .iter()
                .enumerate()
            {
                if v.is_nan() {
                    continue;
                }
                if !(0.0..=1.0).contains(&v) {
                    return Err(Error::invalid(
                        "Y",
                        format!(
                            "cell (template {f}, example {j}) is {v}; scores must be in [0, 1] \
                             (1 = correct, fractional allowed) with NaN for cells not evaluated"
                        ),
                    ));
                }
                counts[j + 1] += 1;
            }
        }
        for j in 0..n_examples {
            counts[j + 1] += counts[j];
        }
        let n = counts[n_examples];
        // One look at the budget for both arrays (it reads /proc/meminfo: not per array).
        mem::ensure_fits("Y", n as u128, 12, MEM_FIX)?;
        let mut fmt = vec![0u32; n];
        let mut y = vec![0.0f64; n];
        let mut fill = counts.clone();
        for f in 0..n_formats {
            for (j, &v) in block[f * n_examples..(f + 1) * n_examples]
                .iter()
                .enumerate()
            {
                if !v.is_nan() {
                    let k = fill[j];
                    fmt[k] = f as u32;
                    y[k] = f64::from(v);
                    fill[j] += 1;
                }
            }
        }
        Ok(Self {
            ptr: counts,
            fmt,
            y,
            example: (0..n_examples).collect(),
        })
    }

    /// The replicate whose columns are the examples `idx` (with repeats).
    pub fn resampled(&self, idx: &[usize]) -> Self {
        let mut ptr = Vec::with_capacity(idx.len() + 1);
        ptr.push(0);
        let total: usize = idx.iter().map(|&j| self.ptr[j + 1] - self.ptr[j]).sum();
        let mut fmt = Vec::with_capacity(total);
        let mut y = Vec::with_capacity(total);
        for &j in idx {
            let r = self.ptr[j]..self.ptr[j + 1];
            fmt.extend_from_slice(&self.fmt[r.clone()]);
            y.extend_from_slice(&self.y[r]);
            ptr.push(fmt.len());
        }
        Self {
            ptr,
            fmt,
            y,
            example: idx.iter().map(|&j| self.example[j]).collect(),
        }
    }

    /// A parametric replicate on the examples `idx`: every cell of every template drawn as
    /// Bernoulli(σ(eta_f + col_j)) from `rng` (column by column, templates in order); the
    /// replicate keeps the evaluated pattern of each example. Returns the cells and the
    /// realised accuracy of each template over all cells.
    pub fn simulated(
        &self,
        idx: &[usize],
        eta: &[f64],
        col: &[f64],
        rng: &mut crate::rng::Rng,
    ) -> (Self, Vec<f64>) {
        let nf = eta.len();
        let mut realised = vec![0.0; nf];
        let mut draw = vec![0.0; nf];
        let mut ptr = Vec::with_capacity(idx.len() + 1);
        ptr.push(0);
        let mut fmt = Vec::new();
        let mut y = Vec::new();
        for &j in idx {
            for (f, d) in draw.iter_mut().enumerate() {
                let p = sigmoid(eta[f] + col[j]);
                *d = f64::from(u8::from(rng.next_f64() < p));
                realised[f] += *d;
            }
            for k in self.ptr[j]..self.ptr[j + 1] {
                let f = self.fmt[k];
                fmt.push(f);
                y.push(draw[f as usize]);
            }
            ptr.push(fmt.len());
        }
        let inv = 1.0 / idx.len().max(1) as f64;
        realised.iter_mut().for_each(|v| *v *= inv);
        let cells = Self {
            ptr,
            fmt,
            y,
            example: idx.iter().map(|&j| self.example[j]).collect(),
        };
        (cells, realised)
    }

    pub fn n_columns(&self) -> usize {
        self.example.len()
    }

    pub fn n_cells(&self) -> usize {
        self.fmt.len()
    }
}

/// The parameters of one fit.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// [γ; ψ].
    pub dense: Vec<f64>,
    /// β per column (empty without the one-hot block).
    pub beta: Vec<f64>,
}

impl State {
    pub fn zeros(design: &Design<'_>, n_columns: usize) -> Self {
        Self {
            dense: vec![0.0; design.dense()],
            beta: if design.onehot {
                vec![0.0; n_columns]
            } else {
                Vec::new()
            },
        }
    }
}

/// The Laplace approximation of the posterior (see [`Problem::posterior`]).
pub struct Posterior {
    state: State,
    chol: Factor,
    dvec: Vec<f64>,
    w: Vec<f64>,
    h_c: Vec<f64>,
}

/// Result of Newton on one problem.
pub struct Solved {
    pub state: State,
    pub objective: f64,
    pub n_iter: usize,
    pub converged: bool,
}

/// Work arrays and derivatives at the current state.
struct Work {
    eta: Vec<f64>,
    /// ζ_j + β_j per column.
    col: Vec<f64>,
    w: Vec<f64>,
    r_f: Vec<f64>,
    g_f: Vec<f64>,
    r_c: Vec<f64>,
    h_c: Vec<f64>,
    /// Per observed cell: the logit, then what is summed over the cells.
    cell: Vec<f64>,
}

/// The problem: a design and the observed cells.
pub struct Problem<'a, 'c> {
    pub design: &'a Design<'a>,
    pub cells: &'c Cells,
}

impl Problem<'_, '_> {
    fn work(&self) -> Work {
        let (nf, nc) = (self.design.n_formats, self.cells.n_columns());
        Work {
            eta: vec![0.0; nf],
            col: vec![0.0; nc],
            w: vec![0.0; self.cells.n_cells()],
            r_f: vec![0.0; nf],
            g_f: vec![0.0; nf],
            r_c: vec![0.0; nc],
            h_c: vec![0.0; nc],
            cell: vec![0.0; self.cells.n_cells()],
        }
    }

    /// The logit of every observed cell into `work.cell` (predictors already in `work`).
    fn cell_logits(&self, work: &mut Work) {
        let cells = self.cells;
        for c in 0..cells.n_columns() {
            let b = work.col[c];
            for k in cells.ptr[c]..cells.ptr[c + 1] {
                work.cell[k] = work.eta[cells.fmt[k] as usize] + b;
            }
        }
    }

    /// Linear predictors of `state` into `work.eta` / `work.col`.
    fn predictors(&self, state: &State, work: &mut Work) {
        let d = self.design;
        d.eta(&state.dense[..d.p], &mut work.eta);
        let psi = &state.dense[d.p..];
        for (c, v) in work.col.iter_mut().enumerate() {
            let zr = d.z_row(self.cells.example[c]);
            let mut t = if d.q > 0 { linalg::dot(zr, psi) } else { 0.0 };
            if d.onehot {
                t += state.beta[c];
            }
            *v = t;
        }
    }

    fn penalty(&self, state: &State) -> f64 {
        let s: f64 = state.dense.iter().map(|v| v * v).sum::<f64>()
            + state.beta.iter().map(|v| v * v).sum::<f64>();
        0.5 * self.design.inv_var * s
    }

    /// Penalised log-likelihood of `state` (predictors refreshed in `work`).
    fn objective(&self, state: &State, work: &mut Work) -> f64 {
        self.predictors(state, work);
        self.cell_logits(work);
        // Each cell's term in a loop that vectorises, then the sum in cell order.
        for (t, &y) in work.cell.iter_mut().zip(&self.cells.y) {
            *t = y * *t - softplus(*t);
        }
        let mut ll = 0.0;
        for &v in &work.cell {
            ll += v;
        }
        ll - self.penalty(state)
    }

    /// Residuals and weights at the predictors in `work`.
    fn derivatives(&self, work: &mut Work) {
        let cells = self.cells;
        self.cell_logits(work);
        for t in work.cell.iter_mut() {
            *t = sigmoid(*t);
        }
        work.r_f.fill(0.0);
        work.g_f.fill(0.0);
        for c in 0..cells.n_columns() {
            let (mut rc, mut hc) = (0.0, 0.0);
            for k in cells.ptr[c]..cells.ptr[c + 1] {
                let f = cells.fmt[k] as usize;
                let pr = work.cell[k];
                let r = cells.y[k] - pr;
                let w = pr * (1.0 - pr);
                work.w[k] = w;
                work.r_f[f] += r;
                work.g_f[f] += w;
                rc += r;
                hc += w;
            }
            work.r_c[c] = rc;
            work.h_c[c] = hc;
        }
    }

    /// D_c = h_c + 1/σ² (the diagonal example block).
    fn diag(&self, work: &Work) -> Vec<f64> {
        work.h_c.iter().map(|h| h + self.design.inv_var).collect()
    }

    /// The Schur complement `A − B D⁻¹ Bᵀ` (dense, P × P, row-major) at the weights in `work`.
    fn schur(&self, work: &Work, dvec: &[f64], monitor: &dyn Monitor) -> Result<Vec<f64>> {
        let d = self.design;
        let (nf, p, q) = (d.n_formats, d.p, d.q);
        let np = p + q;
        let cells = self.cells;
        // Sizes checked against the budget once per call (Design::check_memory).
        let mut s = vec![0.0; np * np];
        // E = diag(g) − M (F × F), then Xᵀ E X.
        let mut e = vec![0.0; nf * nf];
        for f in 0..nf {
            e[f * nf + f] = work.g_f[f];
        }
        if d.onehot {
            for (c, dc) in dvec.iter().enumerate() {
                // k² updates per column: thousands of templates per example take seconds.
                if c % STOP_POLL == 0 && monitor.stop_requested() {
                    return Err(Error::Interrupted);
                }
                let r = cells.ptr[c]..cells.ptr[c + 1];
                let inv = 1.0 / dc;
                for k in r.clone() {
                    let fk = cells.fmt[k] as usize;
                    let wk = work.w[k] * inv;
                    for l in r.clone() {
                        e[fk * nf + cells.fmt[l] as usize] -= wk * work.w[l];
                    }
                }
            }
        }
        match d.x {
            None => {
                for f in 0..nf {
                    s[f * np..f * np + nf].copy_from_slice(&e[f * nf..(f + 1) * nf]);
                }
            }
            Some(x) => {
                // EX (F × p), then Xᵀ (EX).
                let mut ex = vec![0.0; nf * p];
                for f in 0..nf {
                    for g in 0..nf {
                        let v = e[f * nf + g];
                        if v != 0.0 {
                            for (o, &xv) in ex[f * p..(f + 1) * p].iter_mut().zip(&x[g * p..]) {
                                *o += v * xv;
                            }
                        }
                    }
                }
                for f in 0..nf {
                    let xf = &x[f * p..(f + 1) * p];
                    let exf = &ex[f * p..(f + 1) * p];
                    for a in 0..p {
                        if xf[a] != 0.0 {
                            for b in 0..p {
                                s[a * np + b] += xf[a] * exf[b];
                            }
                        }
                    }
                }
            }
        }
        if q > 0 {
            // Cross block Xᵀ (W (1 − h/D) Z) and ψψ block Zᵀ diag(h − h²/D) Z.
            let mut fz = vec![0.0; nf * q];
            for (c, &ex) in cells.example.iter().enumerate() {
                let zr = d.z_row(ex);
                let shrink = if d.onehot {
                    1.0 - work.h_c[c] / dvec[c]
                } else {
                    1.0
                };
                for k in cells.ptr[c]..cells.ptr[c + 1] {
                    let f = cells.fmt[k] as usize;
                    let wk = work.w[k] * shrink;
                    for (o, &zv) in fz[f * q..(f + 1) * q].iter_mut().zip(zr) {
                        *o += wk * zv;
                    }
                }
                let hz = if d.onehot {
                    work.h_c[c] * shrink
                } else {
                    work.h_c[c]
                };
                if hz != 0.0 {
                    for a in 0..q {
                        for b in 0..q {
                            s[(p + a) * np + p + b] += hz * zr[a] * zr[b];
                        }
                    }
                }
            }
            let mut col = vec![0.0; p];
            for b in 0..q {
                let v: Vec<f64> = (0..nf).map(|f| fz[f * q + b]).collect();
                d.xt_vec(&v, &mut col);
                for a in 0..p {
                    s[a * np + p + b] = col[a];
                    s[(p + b) * np + a] = col[a];
                }
            }
        }
        for a in 0..np {
            s[a * np + a] += d.inv_var;
        }
        Ok(s)
    }

    /// `B D⁻¹ v` for a column vector v (P-long result).
    fn b_dinv(&self, work: &Work, dvec: &[f64], v: &[f64], out: &mut [f64]) {
        let d = self.design;
        let cells = self.cells;
        let mut per_f = vec![0.0; d.n_formats];
        let mut zpart = vec![0.0; d.q];
        for c in 0..cells.n_columns() {
            let t = v[c] / dvec[c];
            if t == 0.0 {
                continue;
            }
            for k in cells.ptr[c]..cells.ptr[c + 1] {
                per_f[cells.fmt[k] as usize] += work.w[k] * t;
            }
            if d.q > 0 {
                let ht = work.h_c[c] * t;
                for (o, &zv) in zpart.iter_mut().zip(d.z_row(cells.example[c])) {
                    *o += ht * zv;
                }
            }
        }
        d.xt_vec(&per_f, &mut out[..d.p]);
        out[d.p..].copy_from_slice(&zpart);
    }

    /// `(Bᵀ u)_c` for a dense direction u.
    fn bt(&self, work: &Work, u: &[f64]) -> Vec<f64> {
        let d = self.design;
        let cells = self.cells;
        let mut xu = vec![0.0; d.n_formats];
        d.eta(&u[..d.p], &mut xu);
        let psi = &u[d.p..];
        (0..cells.n_columns())
            .map(|c| {
                let mut s = 0.0;
                for k in cells.ptr[c]..cells.ptr[c + 1] {
                    s += work.w[k] * xu[cells.fmt[k] as usize];
                }
                if d.q > 0 {
                    s += work.h_c[c] * linalg::dot(d.z_row(cells.example[c]), psi);
                }
                s
            })
            .collect()
    }

    /// Penalised Newton from `start` until the largest step is below `tol`; stops with
    /// `Error::Interrupted` when `monitor` asks.
    pub fn solve(
        &self,
        start: State,
        max_iter: usize,
        tol: f64,
        monitor: &dyn Monitor,
    ) -> Result<Solved> {
        let d = self.design;
        let np = d.dense();
        let mut state = start;
        let mut work = self.work();
        let mut obj = self.objective(&state, &mut work);
        let mut converged = false;
        let mut n_iter = 0;
        while n_iter < max_iter {
            if monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            n_iter += 1;
            self.derivatives(&mut work);
            let dvec = self.diag(&work);
            // Gradients.
            let mut g_dense = vec![0.0; np];
            d.xt_vec(&work.r_f, &mut g_dense[..d.p]);
            if d.q > 0 {
                for c in 0..self.cells.n_columns() {
                    let rc = work.r_c[c];
                    for (o, &zv) in g_dense[d.p..]
                        .iter_mut()
                        .zip(d.z_row(self.cells.example[c]))
                    {
                        *o += rc * zv;
                    }
                }
            }
            for (g, v) in g_dense.iter_mut().zip(&state.dense) {
                *g -= d.inv_var * v;
            }
            let g_beta: Vec<f64> = if d.onehot {
                work.r_c
                    .iter()
                    .zip(&state.beta)
                    .map(|(r, b)| r - d.inv_var * b)
                    .collect()
            } else {
                Vec::new()
            };
            // Newton direction through the Schur complement.
            let Some(l) = Factor::new(np, &self.schur(&work, &dvec, monitor)?, monitor)? else {
                return Err(Error::Numerical(
                    "the Newton system of the template model is not positive definite; \
                     check format_covariates/example_covariates for huge or collinear values"
                        .into(),
                ));
            };
            let mut step = g_dense.clone();
            if d.onehot {
                let mut corr = vec![0.0; np];
                self.b_dinv(&work, &dvec, &g_beta, &mut corr);
                for (s, c) in step.iter_mut().zip(&corr) {
                    *s -= c;
                }
            }
            l.solve(&mut step);
            let step_beta: Vec<f64> = if d.onehot {
                let bt = self.bt(&work, &step);
                g_beta
                    .iter()
                    .zip(&bt)
                    .zip(&dvec)
                    .map(|((g, b), dd)| (g - b) / dd)
                    .collect()
            } else {
                Vec::new()
            };
            let largest = step
                .iter()
                .chain(&step_beta)
                .fold(0.0f64, |m, v| m.max(v.abs()));
            if !largest.is_finite() {
                return Err(Error::Numerical(
                    "the Newton step of the template model is not finite".into(),
                ));
            }
            // Backtracking: the objective is concave, the full step almost always succeeds.
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..MAX_HALVINGS {
                let trial = State {
                    dense: state
                        .dense
                        .iter()
                        .zip(&step)
                        .map(|(a, s)| a + t * s)
                        .collect(),
                    beta: state
                        .beta
                        .iter()
                        .zip(&step_beta)
                        .map(|(a, s)| a + t * s)
                        .collect(),
                };
                let new_obj = self.objective(&trial, &mut work);
                if new_obj >= obj - 1e-12 * obj.abs().max(1.0) {
                    state = trial;
                    obj = new_obj;
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                // No ascent along the Newton direction: at the rounding floor.
                self.predictors(&state, &mut work);
                converged = largest <= tol.sqrt();
                break;
            }
            if largest * t <= tol {
                converged = true;
                break;
            }
        }
        Ok(Solved {
            state,
            objective: obj,
            n_iter,
            converged,
        })
    }

    /// The Laplace (Gaussian) approximation of the posterior at the MAP `state`, for drawing
    /// parameters: the Cholesky factor of the dense block's marginal precision (the Schur
    /// complement) and the example block.
    pub fn posterior(&self, state: &State, monitor: &dyn Monitor) -> Result<Posterior> {
        let np = self.design.dense();
        let mut work = self.work();
        self.predictors(state, &mut work);
        self.derivatives(&mut work);
        let dvec = self.diag(&work);
        let Some(chol) = Factor::new(np, &self.schur(&work, &dvec, monitor)?, monitor)? else {
            return Err(Error::Numerical(
                "the information matrix of the template model is not positive definite".into(),
            ));
        };
        Ok(Posterior {
            state: state.clone(),
            chol,
            dvec,
            w: work.w,
            h_c: work.h_c,
        })
    }

    /// One joint draw from the Laplace posterior: dense u ~ N(0, S⁻¹) (S = L Lᵀ, by solving
    /// Lᵀ u = ε), then β_c | dense ~ N(β̂_c − (Bᵀu)_c / D_c, 1 / D_c). Returns the linear
    /// predictors (η, ζ + β) of the draw.
    pub fn draw(&self, post: &Posterior, rng: &mut crate::rng::Rng) -> (Vec<f64>, Vec<f64>) {
        let np = self.design.dense();
        let mut u: Vec<f64> = (0..np).map(|_| rng.normal()).collect();
        post.chol.backward(&mut u);
        let dense: Vec<f64> = post
            .state
            .dense
            .iter()
            .zip(&u)
            .map(|(a, b)| a + b)
            .collect();
        let beta = if self.design.onehot {
            let work = Work {
                w: post.w.clone(),
                h_c: post.h_c.clone(),
                ..self.work()
            };
            let bt = self.bt(&work, &u);
            post.state
                .beta
                .iter()
                .zip(&bt)
                .zip(&post.dvec)
                .map(|((b, t), d)| b - t / d + rng.normal() / d.sqrt())
                .collect()
        } else {
            Vec::new()
        };
        self.linear_predictors(&State { dense, beta })
    }

    /// The linear predictors (η per template, ζ + β per column) of `state`.
    pub fn linear_predictors(&self, state: &State) -> (Vec<f64>, Vec<f64>) {
        let mut work = self.work();
        self.predictors(state, &mut work);
        (work.eta, work.col)
    }

    /// Per-template accuracy: observed scores where evaluated, the model's probability elsewhere,
    /// averaged over the columns.
    pub fn accuracy(&self, state: &State) -> Vec<f64> {
        let d = self.design;
        let mut work = self.work();
        self.predictors(state, &mut work);
        let nc = self.cells.n_columns();
        let mut acc = vec![0.0; d.n_formats];
        // The probabilities first (a loop that vectorises), then their sum in column order.
        let mut prob = vec![0.0; nc];
        for (f, a) in acc.iter_mut().enumerate() {
            let ef = work.eta[f];
            for (p, &b) in prob.iter_mut().zip(&work.col) {
                *p = sigmoid(ef + b);
            }
            let mut s = 0.0;
            for &p in &prob {
                s += p;
            }
            *a = s;
        }
        let cells = self.cells;
        for c in 0..nc {
            for k in cells.ptr[c]..cells.ptr[c + 1] {
                let f = cells.fmt[k] as usize;
                acc[f] += cells.y[k] - sigmoid(work.eta[f] + work.col[c]);
            }
        }
        // The observed-cell correction can leave a rounding residue below 0 or above 1.
        let inv = 1.0 / nc as f64;
        acc.iter_mut().for_each(|a| *a = (*a * inv).clamp(0.0, 1.0));
        acc
    }

    /// Standard errors of the per-template accuracies: the delta method through the inverse
    /// information (parameter uncertainty) plus the Bernoulli variance of the cells not
    /// evaluated (the target is the realised accuracy over these examples).
    pub fn accuracy_se(&self, state: &State, monitor: &dyn Monitor) -> Result<Vec<f64>> {
        let d = self.design;
        let np = d.dense();
        let cells = self.cells;
        let nc = cells.n_columns();
        let mut work = self.work();
        self.predictors(state, &mut work);
        self.derivatives(&mut work);
        let dvec = self.diag(&work);
        let Some(l) = Factor::new(np, &self.schur(&work, &dvec, monitor)?, monitor)? else {
            return Err(Error::Numerical(
                "the information matrix of the template model is not positive definite".into(),
            ));
        };
        // Observed columns per template (row-wise index).
        let mut observed = vec![Vec::new(); d.n_formats];
        for c in 0..nc {
            for k in cells.ptr[c]..cells.ptr[c + 1] {
                observed[cells.fmt[k] as usize].push(c);
            }
        }
        let inv_j = 1.0 / nc as f64;
        let mut out = Vec::with_capacity(d.n_formats);
        let mut g_beta = vec![0.0; nc];
        let mut xf = vec![0.0; d.p];
        let mut unit = vec![0.0; d.n_formats];
        for f in 0..d.n_formats {
            if f % STOP_POLL == 0 && monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            let ef = work.eta[f];
            let mut u = 0.0;
            let mut bern = 0.0;
            let mut g_dense = vec![0.0; np];
            for (g, &b) in g_beta.iter_mut().zip(&work.col) {
                let pr = sigmoid(ef + b);
                *g = pr * (1.0 - pr) * inv_j;
            }
            for &c in &observed[f] {
                g_beta[c] = 0.0;
            }
            for (&gb, &ex) in g_beta.iter().zip(&cells.example) {
                u += gb;
                bern += gb * inv_j;
                if d.q > 0 && gb != 0.0 {
                    for (o, &zv) in g_dense[d.p..].iter_mut().zip(d.z_row(ex)) {
                        *o += gb * zv;
                    }
                }
            }
            unit.fill(0.0);
            unit[f] = u;
            d.xt_vec(&unit, &mut xf);
            g_dense[..d.p].copy_from_slice(&xf);
            let mut rhs = g_dense.clone();
            if d.onehot {
                let mut corr = vec![0.0; np];
                self.b_dinv(&work, &dvec, &g_beta, &mut corr);
                for (s, c) in rhs.iter_mut().zip(&corr) {
                    *s -= c;
                }
            }
            l.solve(&mut rhs);
            let mut var = linalg::dot(&g_dense, &rhs);
            if d.onehot {
                let bt = self.bt(&work, &rhs);
                for c in 0..nc {
                    let gb = g_beta[c];
                    if gb != 0.0 {
                        var += gb * (gb - bt[c]) / dvec[c];
                    }
                }
            }
            out.push((var.max(0.0) + bern).sqrt());
        }
        Ok(out)
    }
}
