//! The optimal (monotone) transport plan between two weighted 1-D samples, as a sparse list.

use super::sample::{Sample, SortedSample, validate, walk};
use crate::error::Result;
use crate::par;

/// A transport plan in coordinate form: `mass[s]` moves from `u[i[s]]` to `v[j[s]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coupling {
    pub i: Vec<usize>,
    pub j: Vec<usize>,
    pub mass: Vec<f64>,
}

/// The monotone coupling of `u` and `v`: optimal for every cost c(x − y) with c convex, so
/// Σ mass·|u_i − v_j|^p = W_p^p. It has at most n + m − 1 entries, all of positive mass.
pub fn monotone_coupling(u: Sample, v: Sample) -> Result<Coupling> {
    validate(&u, "u_values", "u_weights")?;
    validate(&v, "v_values", "v_weights")?;
    par::install(|| {
        let (mut a, mut b) = (SortedSample::default(), SortedSample::default());
        rayon::join(|| a.load(&u, true), || b.load(&v, true));
        let mut plan = Coupling::default();
        walk(&a, &b, |i, j, mass| {
            if mass > 0.0 {
                plan.i.push(a.position(i));
                plan.j.push(b.position(j));
                plan.mass.push(mass);
            }
        });
        plan
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn plan_cost_is_the_wasserstein_cost(
            u in prop::collection::vec(-1e3..1e3f64, 1..30),
            v in prop::collection::vec(-1e3..1e3f64, 1..30),
            p in 1.0..4.0f64,
        ) {
            let plan = monotone_coupling(Sample::uniform(&u), Sample::uniform(&v)).unwrap();
            let cost: f64 = (0..plan.mass.len())
                .map(|s| plan.mass[s] * (u[plan.i[s]] - v[plan.j[s]]).abs().powf(p))
                .sum();
            let w = crate::ot::wasserstein(Sample::uniform(&u), Sample::uniform(&v), p).unwrap().power;
            prop_assert!((cost - w).abs() <= 1e-9 * (1.0 + w));
            prop_assert!(plan.mass.len() < u.len() + v.len());
        }
    }

    #[test]
    fn plan_of_a_small_example() {
        // u = {2, 0} (uniform), v = {1} : both points of u go to the single v.
        let plan =
            monotone_coupling(Sample::uniform(&[2.0, 0.0]), Sample::uniform(&[1.0])).unwrap();
        assert_eq!(plan.i, vec![1, 0]);
        assert_eq!(plan.j, vec![0, 0]);
        assert_eq!(plan.mass, vec![0.5, 0.5]);
    }

    #[test]
    fn marginals_are_kept() {
        let (u, v) = ([0.3, -1.0, 2.0, 0.0], [5.0, 1.0, -2.0]);
        let (uw, vw) = ([1.0, 2.0, 0.0, 1.0], [1.0, 1.0, 3.0]);
        let plan = monotone_coupling(
            Sample {
                values: &u,
                weights: Some(&uw),
            },
            Sample {
                values: &v,
                weights: Some(&vw),
            },
        )
        .unwrap();
        let mut row = [0.0; 4];
        let mut col = [0.0; 3];
        for s in 0..plan.mass.len() {
            row[plan.i[s]] += plan.mass[s];
            col[plan.j[s]] += plan.mass[s];
        }
        for (r, w) in row.iter().zip(uw) {
            assert!((r - w / 4.0).abs() < 1e-15);
        }
        for (c, w) in col.iter().zip(vw) {
            assert!((c - w / 5.0).abs() < 1e-15);
        }
    }
}
