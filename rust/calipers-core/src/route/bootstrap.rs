//! Paired bootstrap over queries of frontier statistics for several routers at once.

use std::ops::Range;

use super::envelope::{Path, Sum};
use super::hull::{area, curve_area, height, hull_into};
use crate::error::{Error, Result};
use crate::par::{Monitor, map_chunks};
use crate::resample::{chunk_replicates, draw_replicate_blocks};
use crate::rng::LaneRng;

/// Statistics per router and replicate before the grid heights: hull AUC, curve AUC, cost and
/// performance at the start of the path, cost and performance at its end.
pub const FIXED_STATS: usize = 6;

/// What to compute in each replicate.
#[derive(Clone, Debug)]
pub struct BootstrapOptions {
    pub seed: u64,
    pub n_resamples: usize,
    pub chunks: Range<usize>,
    /// The fixed cost range of the AUCs.
    pub lo: f64,
    pub hi: f64,
    /// Costs at which the hull's height is reported (pointwise bands).
    pub grid: Vec<f64>,
    /// Append the zero router (hull of the single models' points) as a last router.
    pub zero_router: bool,
}

/// A path's per-query start values and per-event changes on the realised scores and costs.
struct Prepared {
    start_cost: Vec<f64>,
    start_perf: Vec<f64>,
    ev_query: Vec<u32>,
    ev_dcost: Vec<f64>,
    ev_dperf: Vec<f64>,
    group_ends: Vec<usize>,
}

fn prepare(path: &Path, scores: &[f64], costs: &[f64]) -> Result<Prepared> {
    path.check_truth(scores, costs)?;
    let m = path.n_models;
    let at = |i: usize, model: u32| i * m + model as usize;
    let start_cost = (0..path.n_queries)
        .map(|i| costs[at(i, path.start[i])])
        .collect();
    let start_perf = (0..path.n_queries)
        .map(|i| scores[at(i, path.start[i])])
        .collect();
    let delta = |xs: &[f64]| -> Vec<f64> {
        (0..path.ev_mu.len())
            .map(|e| {
                let q = path.ev_query[e] as usize;
                xs[at(q, path.ev_to[e])] - xs[at(q, path.ev_from[e])]
            })
            .collect()
    };
    Ok(Prepared {
        start_cost,
        start_perf,
        ev_query: path.ev_query.clone(),
        ev_dcost: delta(costs),
        ev_dperf: delta(scores),
        group_ends: path.groups(),
    })
}

/// Replicates of the frontier statistics, row-major (replicate, router, statistic) with
/// `FIXED_STATS + grid.len()` statistics per router (routers in order, then the zero router
/// when asked, whose curve AUC and end points are NaN). Every router sees the same resampled
/// queries in a replicate (paired). Replicate draws are those of `crate::resample`, chunk
/// `c` from `LaneRng::stream(seed, c)`, so the bits do not depend on the thread count.
pub fn bootstrap_frontiers(
    paths: &[&Path],
    scores: &[f64],
    costs: &[f64],
    n: usize,
    m: usize,
    opts: &BootstrapOptions,
    monitor: &dyn Monitor,
) -> Result<Vec<f64>> {
    if paths.is_empty() && !opts.zero_router {
        return Err(Error::invalid(
            "routers",
            "is empty; pass at least one router",
        ));
    }
    if n == 0 || n > u32::MAX as usize {
        return Err(Error::invalid(
            "scores",
            "needs between 1 and 2^32 - 1 queries",
        ));
    }
    if !(opts.lo.is_finite() && opts.hi.is_finite() && opts.hi > opts.lo) {
        return Err(Error::invalid(
            "cost_range",
            "must be finite with low < high",
        ));
    }
    crate::error::ensure_finite("grid", &opts.grid)?;
    if scores.len() != n * m || costs.len() != n * m {
        return Err(Error::shape(
            "scores",
            "scores and costs must both be n_queries × n_models",
        ));
    }
    crate::error::ensure_finite("scores", scores)?;
    crate::error::ensure_finite("costs", costs)?;
    for p in paths {
        if p.n_queries != n || p.n_models != m {
            return Err(Error::shape(
                "routers",
                "every router's path must cover the same queries and models as scores",
            ));
        }
    }
    let n_routers = paths.len() + usize::from(opts.zero_router);
    let per_router = FIXED_STATS + opts.grid.len();
    let per_rep = n_routers * per_router;
    crate::resample::ensure_output_fits(&opts.chunks, opts.n_resamples, per_rep)?;
    let prepared: Vec<Prepared> = paths
        .iter()
        .map(|p| prepare(p, scores, costs))
        .collect::<Result<_>>()?;
    let parts = map_chunks(opts.chunks.len(), monitor, |i| {
        let chunk = opts.chunks.start + i;
        let mut rng = LaneRng::stream(opts.seed, chunk as u64);
        let reps = chunk_replicates(chunk, opts.n_resamples);
        let mut out = Vec::with_capacity(reps.len() * per_rep);
        let mut counts = vec![0u32; n];
        let (mut pts_c, mut pts_p) = (Vec::new(), Vec::new());
        let (mut order, mut hull) = (Vec::new(), Vec::new());
        for _ in reps {
            if monitor.stop_requested() {
                return Err(Error::Interrupted);
            }
            counts.iter_mut().for_each(|c| *c = 0);
            draw_replicate_blocks(&mut rng, n, |block| {
                for &j in block {
                    counts[j as usize] += 1;
                }
            });
            let total = n as f64;
            for pr in &prepared {
                let (mut sc, mut sp) = (Sum::default(), Sum::default());
                for ((&w, &c0), &p0) in counts.iter().zip(&pr.start_cost).zip(&pr.start_perf) {
                    if w > 0 {
                        sc.add(w as f64 * c0);
                        sp.add(w as f64 * p0);
                    }
                }
                pts_c.clear();
                pts_p.clear();
                pts_c.push(sc.value() / total);
                pts_p.push(sp.value() / total);
                let mut begin = 0;
                for &end in &pr.group_ends {
                    for e in begin..end {
                        let w = counts[pr.ev_query[e] as usize];
                        if w > 0 {
                            sc.add(w as f64 * pr.ev_dcost[e]);
                            sp.add(w as f64 * pr.ev_dperf[e]);
                        }
                    }
                    pts_c.push(sc.value() / total);
                    pts_p.push(sp.value() / total);
                    begin = end;
                }
                hull_into(&pts_c, &pts_p, &mut order, &mut hull);
                out.push(area(&hull, opts.lo, opts.hi));
                let reversed = pts_c.iter().rev().copied().zip(pts_p.iter().rev().copied());
                out.push(curve_area(reversed, opts.lo, opts.hi));
                let last = pts_c.len() - 1;
                out.extend([pts_c[0], pts_p[0], pts_c[last], pts_p[last]]);
                out.extend(opts.grid.iter().map(|&x| height(&hull, x)));
            }
            if opts.zero_router {
                pts_c.clear();
                pts_p.clear();
                for model in 0..m {
                    let (mut sc, mut sp) = (Sum::default(), Sum::default());
                    for (i, &w) in counts.iter().enumerate() {
                        if w > 0 {
                            sc.add(w as f64 * costs[i * m + model]);
                            sp.add(w as f64 * scores[i * m + model]);
                        }
                    }
                    pts_c.push(sc.value() / total);
                    pts_p.push(sp.value() / total);
                }
                hull_into(&pts_c, &pts_p, &mut order, &mut hull);
                out.push(area(&hull, opts.lo, opts.hi));
                out.extend([f64::NAN; FIXED_STATS - 1]);
                out.extend(opts.grid.iter().map(|&x| height(&hull, x)));
            }
        }
        Ok(out)
    })?;
    Ok(parts.concat())
}

#[cfg(test)]
mod tests {
    use super::super::envelope::{Start, mu_path, mu_path_events};
    use super::super::hull::hull_auc;
    use super::*;
    use crate::par::Silent;
    use crate::resample::{bootstrap_indices, n_chunks};
    use crate::rng::Rng;

    #[test]
    fn replicates_equal_recomputing_on_resampled_rows() {
        let (n, m) = (300, 4);
        let mut rng = Rng::new(1);
        let p: Vec<f64> = (0..n * m).map(|_| rng.next_f64()).collect();
        let c: Vec<f64> = (0..n * m).map(|_| rng.next_f64()).collect();
        let y: Vec<f64> = (0..n * m).map(|_| rng.below(2) as f64).collect();
        let path = mu_path_events(&p, &c, n, m, Start::Zero, &Silent).unwrap();
        let b = 40;
        let opts = BootstrapOptions {
            seed: 5,
            n_resamples: b,
            chunks: 0..n_chunks(b),
            lo: 0.1,
            hi: 0.9,
            grid: vec![0.2, 0.5],
            zero_router: true,
        };
        let got = bootstrap_frontiers(&[&path], &y, &c, n, m, &opts, &Silent).unwrap();
        let idx = bootstrap_indices(&[n], 5, b, 0..n_chunks(b), &Silent).unwrap();
        let per = 2 * (FIXED_STATS + 2);
        for r in 0..b {
            let rows = &idx[r * n..(r + 1) * n];
            let take = |xs: &[f64]| -> Vec<f64> {
                rows.iter()
                    .flat_map(|&i| xs[i as usize * m..(i as usize + 1) * m].to_vec())
                    .collect()
            };
            let (pr, cr, yr) = (take(&p), take(&c), take(&y));
            let rp = mu_path_events(&pr, &cr, n, m, Start::Zero, &Silent).unwrap();
            let (_, cost, perf) = mu_path(&rp, &yr, &cr).unwrap();
            let want = hull_auc(&cost, &perf, 0.1, 0.9).unwrap();
            assert!((got[r * per] - want).abs() < 1e-12, "rep {r}");
            // Zero router: hull of the model means.
            let means = |xs: &[f64]| -> Vec<f64> {
                (0..m)
                    .map(|j| (0..n).map(|i| xs[i * m + j]).sum::<f64>() / n as f64)
                    .collect()
            };
            let want0 = hull_auc(&means(&cr), &means(&yr), 0.1, 0.9).unwrap();
            assert!((got[r * per + FIXED_STATS + 2] - want0).abs() < 1e-12);
        }
    }
}
