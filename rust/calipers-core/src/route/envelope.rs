//! The exact routing path: per query, the upper envelope of the lines μ ↦ P − μ·C, merged
//! over queries and swept once.

use rayon::slice::ParallelSliceMut;

use crate::error::{Error, Result};
use crate::par::{self, Monitor};

/// Queries per parallel chunk of envelope walks.
const QUERY_CHUNK: usize = 4096;

/// Where the path starts: μ = 0 (routing for quality first, the usual frontier) or μ = −∞
/// (every query on its most expensive model; with two models and a 0/1 cost this traces the
/// whole "fraction of calls to the strong model" curve of RouteLLM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Zero,
    NegInfinity,
}

/// The choices along the path: `start[i]` is query `i`'s model at the start, and event `e`
/// moves query `ev_query[e]` from model `ev_from[e]` to `ev_to[e]` at μ = `ev_mu[e]`. Events
/// are sorted by (μ, query, step); within a query μ increases and the cost of the chosen model
/// strictly decreases. At a breakpoint the cheaper model is already chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub n_queries: usize,
    pub n_models: usize,
    pub start_mu: f64,
    pub start: Vec<u32>,
    pub ev_mu: Vec<f64>,
    pub ev_query: Vec<u32>,
    pub ev_from: Vec<u32>,
    pub ev_to: Vec<u32>,
}

/// `argmax_m p[m] − μ c[m]` with ties to the cheaper model, then the lower index, at the start.
fn first_choice(p: &[f64], c: &[f64], start: Start) -> usize {
    let mut best = 0;
    for m in 1..p.len() {
        let better = match start {
            Start::Zero => p[m] > p[best] || (p[m] == p[best] && c[m] < c[best]),
            Start::NegInfinity => c[m] > c[best] || (c[m] == c[best] && p[m] > p[best]),
        };
        if better {
            best = m;
        }
    }
    best
}

/// Walks one query's envelope: from the current model, the next is the cheaper model whose
/// line crosses first (ties: the cheapest, then the lower index). Returns the start model and
/// pushes (μ, model) for each change.
fn walk(p: &[f64], c: &[f64], start: Start, events: &mut Vec<(f64, u32)>) -> usize {
    let mut first = first_choice(p, c, start);
    let mut a = first;
    let mut mu = match start {
        Start::Zero => 0.0,
        Start::NegInfinity => f64::NEG_INFINITY,
    };
    loop {
        let mut next: Option<(f64, usize)> = None;
        for b in 0..p.len() {
            if c[b] >= c[a] {
                continue;
            }
            let cross = (p[a] - p[b]) / (c[a] - c[b]);
            let better = match next {
                None => true,
                Some((m, nb)) => cross < m || (cross == m && c[b] < c[nb]),
            };
            if better {
                next = Some((cross, b));
            }
        }
        let Some((cross, b)) = next else { break };
        if cross == f64::INFINITY || cross.is_nan() {
            break; // never reached at a finite μ
        }
        // Rounding may put a crossing a hair before the previous one; the path stays sorted.
        mu = cross.max(mu);
        if mu == f64::NEG_INFINITY {
            first = b; // the cheaper line is already above everywhere
        } else {
            events.push((mu, b as u32));
        }
        a = b;
    }
    first
}

fn check_matrix(arg: &'static str, xs: &[f64], n: usize, m: usize) -> Result<()> {
    if xs.len() != n * m {
        return Err(Error::shape(
            arg,
            format!("has {} values, expected {n} × {m}", xs.len()),
        ));
    }
    crate::error::ensure_finite(arg, xs)
}

/// The choices along the whole μ-path for predicted quality `p` and predicted cost `c`
/// (row-major `n × m`). Same bits for any thread count.
pub fn mu_path_events(
    p: &[f64],
    c: &[f64],
    n: usize,
    m: usize,
    start: Start,
    monitor: &dyn Monitor,
) -> Result<Path> {
    if m == 0 || n == 0 {
        return Err(Error::shape(
            "predicted_scores",
            "is empty; pass at least one query and one model",
        ));
    }
    if n > u32::MAX as usize || m > u32::MAX as usize {
        return Err(Error::invalid(
            "predicted_scores",
            "has too many rows or columns",
        ));
    }
    check_matrix("predicted_scores", p, n, m)?;
    check_matrix("predicted_costs", c, n, m)?;
    crate::mem::ensure_fits(
        "predicted_scores",
        n as u128 * (m as u128 - 1).max(1),
        48,
        "route fewer queries at a time",
    )?;
    let parts = par::map_chunks(n.div_ceil(QUERY_CHUNK), monitor, |chunk| {
        let rows = chunk * QUERY_CHUNK..((chunk + 1) * QUERY_CHUNK).min(n);
        let mut starts = Vec::with_capacity(rows.len());
        let mut events: Vec<(f64, u32, u32, u32)> = Vec::new();
        let mut buf = Vec::new();
        for i in rows {
            buf.clear();
            let (pr, cr) = (&p[i * m..(i + 1) * m], &c[i * m..(i + 1) * m]);
            let s = walk(pr, cr, start, &mut buf);
            let mut from = s as u32;
            for &(mu, to) in &buf {
                events.push((mu, i as u32, from, to));
                from = to;
            }
            starts.push(s as u32);
        }
        Ok((starts, events))
    })?;
    let mut start_choice = Vec::with_capacity(n);
    let mut events = Vec::new();
    for (s, e) in parts {
        start_choice.extend(s);
        events.extend(e);
    }
    // Stable: events of one query at one μ keep their walk order.
    par::install(|| {
        events.par_sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    })?;
    Ok(Path {
        n_queries: n,
        n_models: m,
        start_mu: match start {
            Start::Zero => 0.0,
            Start::NegInfinity => f64::NEG_INFINITY,
        },
        start: start_choice,
        ev_mu: events.iter().map(|e| e.0).collect(),
        ev_query: events.iter().map(|e| e.1).collect(),
        ev_from: events.iter().map(|e| e.2).collect(),
        ev_to: events.iter().map(|e| e.3).collect(),
    })
}

/// Compensated (Neumaier) running sum, so a long sweep of updates does not drift.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sum {
    s: f64,
    comp: f64,
}

impl Sum {
    #[inline]
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.s + x;
        if self.s.abs() >= x.abs() {
            self.comp += (self.s - t) + x;
        } else {
            self.comp += (x - t) + self.s;
        }
        self.s = t;
    }

    #[inline]
    pub(crate) fn value(&self) -> f64 {
        self.s + self.comp
    }
}

impl Path {
    /// Index ranges of the events sharing one μ (one curve point each).
    pub fn groups(&self) -> Vec<usize> {
        let mut ends = Vec::new();
        for e in 1..=self.ev_mu.len() {
            if e == self.ev_mu.len() || self.ev_mu[e] != self.ev_mu[e - 1] {
                ends.push(e);
            }
        }
        ends
    }

    pub(crate) fn check_truth(&self, scores: &[f64], costs: &[f64]) -> Result<()> {
        check_matrix("scores", scores, self.n_queries, self.n_models)?;
        check_matrix("costs", costs, self.n_queries, self.n_models)
    }
}

/// The exact curve of a path evaluated on realised `scores` and `costs` (row-major
/// `n × m`): `mu[j]` is the start of the j-th interval (the first is the path's start), and
/// `cost[j]`, `perf[j]` the mean realised cost and score of the chosen models on
/// `[mu[j], mu[j + 1])`.
pub fn mu_path(
    path: &Path,
    scores: &[f64],
    costs: &[f64],
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    path.check_truth(scores, costs)?;
    let (n, m) = (path.n_queries, path.n_models);
    let (mut sc, mut sp) = (Sum::default(), Sum::default());
    for (i, &s) in path.start.iter().enumerate() {
        sc.add(costs[i * m + s as usize]);
        sp.add(scores[i * m + s as usize]);
    }
    let groups = path.groups();
    let mut mu = Vec::with_capacity(groups.len() + 1);
    let mut cost = Vec::with_capacity(groups.len() + 1);
    let mut perf = Vec::with_capacity(groups.len() + 1);
    let nf = n as f64;
    mu.push(path.start_mu);
    cost.push(sc.value() / nf);
    perf.push(sp.value() / nf);
    let mut begin = 0;
    for end in groups {
        for e in begin..end {
            let q = path.ev_query[e] as usize * m;
            let (from, to) = (q + path.ev_from[e] as usize, q + path.ev_to[e] as usize);
            sc.add(costs[to] - costs[from]);
            sp.add(scores[to] - scores[from]);
        }
        mu.push(path.ev_mu[begin]);
        cost.push(sc.value() / nf);
        perf.push(sp.value() / nf);
        begin = end;
    }
    Ok((mu, cost, perf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Silent;
    use crate::rng::Rng;

    fn argmax_at(p: &[f64], c: &[f64], mu: f64) -> usize {
        let mut best = 0;
        for m in 1..p.len() {
            let (s, sb) = (p[m] - mu * c[m], p[best] - mu * c[best]);
            if s > sb || (s == sb && c[m] < c[best]) {
                best = m;
            }
        }
        best
    }

    #[test]
    fn path_matches_grid_argmax() {
        let (n, m) = (500, 6);
        let mut rng = Rng::new(11);
        let p: Vec<f64> = (0..n * m).map(|_| rng.next_f64()).collect();
        let c: Vec<f64> = (0..n * m).map(|_| rng.next_f64() * 2.0).collect();
        let path = mu_path_events(&p, &c, n, m, Start::Zero, &Silent).unwrap();
        for g in 0..400 {
            let mu = g as f64 * 0.01 + 0.003;
            let mut choice: Vec<usize> = path.start.iter().map(|&s| s as usize).collect();
            for e in 0..path.ev_mu.len() {
                if path.ev_mu[e] <= mu {
                    choice[path.ev_query[e] as usize] = path.ev_to[e] as usize;
                }
            }
            for i in 0..n {
                let r = &p[i * m..(i + 1) * m];
                let cr = &c[i * m..(i + 1) * m];
                assert_eq!(choice[i], argmax_at(r, cr, mu), "query {i} mu {mu}");
            }
        }
        // The curve at each grid μ equals the mean over queries of the chosen entries.
        let (mus, cost, perf) = mu_path(&path, &p, &c).unwrap();
        assert!(mus.windows(2).all(|w| w[0] < w[1]));
        assert!(cost.windows(2).all(|w| w[1] < w[0] + 1e-12));
        let j = mus.partition_point(|&x| x <= 0.5) - 1;
        let (mut wc, mut wp) = (0.0, 0.0);
        for i in 0..n {
            let a = argmax_at(&p[i * m..(i + 1) * m], &c[i * m..(i + 1) * m], 0.5);
            wc += c[i * m + a];
            wp += p[i * m + a];
        }
        assert!((cost[j] - wc / n as f64).abs() < 1e-12);
        assert!((perf[j] - wp / n as f64).abs() < 1e-12);
    }

    #[test]
    fn ties_go_to_the_cheaper_model() {
        // Two equal qualities: the cheaper is chosen at μ = 0; identical lines: lower index.
        let p = [0.5, 0.5, 0.2, 0.2];
        let c = [2.0, 1.0, 1.0, 1.0];
        let path = mu_path_events(&p, &c, 1, 4, Start::Zero, &Silent).unwrap();
        assert_eq!(path.start, vec![1]);
        let path = mu_path_events(&p, &c, 1, 4, Start::NegInfinity, &Silent).unwrap();
        assert_eq!(path.start, vec![0]);
        assert_eq!(path.ev_to, vec![1]);
        assert_eq!(path.ev_mu, vec![0.0]);
    }
}
