//! AOT: distributional preference alignment by optimal transport (Melnyk et al. 2024), the
//! losses of TRL's `loss_type="aot"` (paired) and `"aot_unpaired"`.
//!
//! For a convex relaxation h of the step 1{δ < 0}, the transport cost between two 1-D
//! distributions with cost h(x − y) is attained by the monotone coupling, so
//!
//!   paired:   ρ = c − r, ρref = c_ref − r_ref,  L = (1/B) Σ_k h(ρ_(k) − ρref_(k))
//!   unpaired: u = c − c_ref, v = r − r_ref,     L = Σ_pieces mass · h(u_(i) − v_(j))
//!
//! (c, r: policy log-probabilities of chosen and rejected responses; `_ref` the reference
//! model's). With equal sizes the unpaired loss is (1/B) Σ_k h(u_(k) − v_(k)). The gradient
//! flows back through the two sorting permutations: ∂L/∂x_{σ(k)} = h'(δ_k)/B.

use super::sample::{Sample, SortedSample, walk};
use crate::error::{Error, Result, ensure_finite, ensure_non_empty};

/// The convex surrogate h of the violation indicator 1{δ < 0}.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relaxation {
    /// h(δ) = softplus(−βδ) = −log σ(βδ): β is an inverse temperature.
    Logistic,
    /// h(δ) = (β − δ)₊²: β is a margin, asking δ ≥ β at every quantile.
    SquaredHinge,
}

#[derive(Clone, Copy, Debug)]
pub struct AotParams {
    pub beta: f64,
    /// ε in the label-smoothed loss (1 − ε)·h(δ) + ε·h(−δ), as in TRL.
    pub label_smoothing: f64,
    pub relaxation: Relaxation,
}

/// Loss, gradients with respect to the four inputs, and the matched differences.
#[derive(Clone, Debug, PartialEq)]
pub struct AotOutput {
    pub loss: f64,
    pub grad_chosen: Vec<f64>,
    pub grad_rejected: Vec<f64>,
    pub grad_ref_chosen: Vec<f64>,
    pub grad_ref_rejected: Vec<f64>,
    /// δ of each piece of the coupling (δ_k = x_(k) − y_(k) for equal sizes), ascending in k.
    pub delta: Vec<f64>,
    /// The probability mass of each piece (1/B for equal sizes).
    pub mass: Vec<f64>,
}

/// log(1 + e^z) without overflow.
#[inline]
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

#[inline]
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl AotParams {
    fn validate(&self) -> Result<()> {
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::invalid(
                "beta",
                format!("is {}; pass a finite number > 0", self.beta),
            ));
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(Error::invalid(
                "label_smoothing",
                format!(
                    "is {}; label smoothing must lie in [0, 0.5)",
                    self.label_smoothing
                ),
            ));
        }
        Ok(())
    }

    /// Unsmoothed h and h' at δ.
    #[inline]
    fn base(&self, d: f64) -> (f64, f64) {
        let b = self.beta;
        match self.relaxation {
            Relaxation::Logistic => (softplus(-b * d), -b * sigmoid(-b * d)),
            Relaxation::SquaredHinge => {
                let gap = (b - d).max(0.0);
                (gap * gap, -2.0 * gap)
            }
        }
    }

    /// Label-smoothed h and h' at δ.
    #[inline]
    fn loss(&self, d: f64) -> (f64, f64) {
        let e = self.label_smoothing;
        let (h, dh) = self.base(d);
        if e == 0.0 {
            return (h, dh);
        }
        let (h_neg, dh_neg) = self.base(-d);
        ((1.0 - e) * h + e * h_neg, (1.0 - e) * dh - e * dh_neg)
    }
}

/// The four inputs, validated: finite, non-empty, and chosen/rejected lengths that fit.
pub struct Logps<'a> {
    pub chosen: &'a [f64],
    pub rejected: &'a [f64],
    pub ref_chosen: &'a [f64],
    pub ref_rejected: &'a [f64],
}

fn same_len(a: &[f64], b: &[f64], arg: &'static str, other: &str) -> Result<()> {
    if a.len() == b.len() {
        return Ok(());
    }
    Err(Error::shape(
        arg,
        format!(
            "has length {} but {other} has length {}; pass one value per response",
            a.len(),
            b.len()
        ),
    ))
}

impl Logps<'_> {
    fn validate(&self, paired: bool) -> Result<()> {
        let named = [
            ("chosen_logps", self.chosen),
            ("rejected_logps", self.rejected),
            ("ref_chosen_logps", self.ref_chosen),
            ("ref_rejected_logps", self.ref_rejected),
        ];
        for (name, xs) in named {
            ensure_non_empty(name, xs)?;
            ensure_finite(name, xs)?;
        }
        same_len(
            self.ref_chosen,
            self.chosen,
            "ref_chosen_logps",
            "chosen_logps",
        )?;
        same_len(
            self.ref_rejected,
            self.rejected,
            "ref_rejected_logps",
            "rejected_logps",
        )?;
        if paired {
            same_len(self.rejected, self.chosen, "rejected_logps", "chosen_logps")?;
        }
        Ok(())
    }
}

/// a − b elementwise; a difference that overflows (|a − b| > f64::MAX) is an error naming both
/// inputs, since the loss and its gradient would silently become inf or NaN.
fn diff(a: &[f64], b: &[f64], a_name: &'static str, b_name: &str) -> Result<Vec<f64>> {
    let out: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    match out.iter().position(|d| !d.is_finite()) {
        None => Ok(out),
        Some(i) => Err(Error::non_finite(
            a_name,
            format!(
                "{a_name}[{i}] - {b_name}[{i}] = {} - {} overflows; log-probabilities must be \
                 of moderate magnitude (sums of per-token log-probabilities are <= 0)",
                a[i], b[i]
            ),
        )),
    }
}

/// min over couplings of E h(X − Y) for the two samples `x`, `y`, with the gradients of that
/// minimum with respect to every x_i and y_j (through the monotone coupling).
fn sorted_loss(
    x: &[f64],
    y: &[f64],
    params: &AotParams,
) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut a, mut b) = (SortedSample::default(), SortedSample::default());
    a.load(&Sample::uniform(x), true);
    b.load(&Sample::uniform(y), true);
    let (mut gx, mut gy) = (vec![0.0; x.len()], vec![0.0; y.len()]);
    let (mut delta, mut mass) = (Vec::new(), Vec::new());
    let mut loss = 0.0;
    let mut piece = |i: usize, j: usize, m: f64| {
        let d = a.value(i) - b.value(j);
        let (h, dh) = params.loss(d);
        loss += m * h;
        gx[a.position(i)] += m * dh;
        gy[b.position(j)] -= m * dh;
        delta.push(d);
        mass.push(m);
    };
    if x.len() == y.len() {
        // Equal sizes: the k-th order statistics are matched, each with mass exactly 1/B.
        let m = 1.0 / x.len() as f64;
        (0..x.len()).for_each(|k| piece(k, k, m));
    } else {
        walk(&a, &b, |i, j, m| {
            if m > 0.0 {
                piece(i, j, m)
            }
        });
    }
    (loss, gx, gy, delta, mass)
}

/// Paired AOT (TRL `aot`): sort the policy margins and the reference margins separately.
pub fn aot_paired(logps: &Logps, params: &AotParams) -> Result<AotOutput> {
    params.validate()?;
    logps.validate(true)?;
    let rho = diff(
        logps.chosen,
        logps.rejected,
        "chosen_logps",
        "rejected_logps",
    )?;
    let rho_ref = diff(
        logps.ref_chosen,
        logps.ref_rejected,
        "ref_chosen_logps",
        "ref_rejected_logps",
    )?;
    let (loss, g_rho, g_ref, delta, mass) = sorted_loss(&rho, &rho_ref, params);
    Ok(AotOutput {
        loss,
        grad_rejected: g_rho.iter().map(|g| -g).collect(),
        grad_chosen: g_rho,
        grad_ref_rejected: g_ref.iter().map(|g| -g).collect(),
        grad_ref_chosen: g_ref,
        delta,
        mass,
    })
}

/// Unpaired AOT (TRL `aot_unpaired`): sort the chosen and the rejected log-ratios separately.
/// The chosen and rejected sets may differ in size (quantile merge).
pub fn aot_unpaired(logps: &Logps, params: &AotParams) -> Result<AotOutput> {
    params.validate()?;
    logps.validate(false)?;
    let u = diff(
        logps.chosen,
        logps.ref_chosen,
        "chosen_logps",
        "ref_chosen_logps",
    )?;
    let v = diff(
        logps.rejected,
        logps.ref_rejected,
        "rejected_logps",
        "ref_rejected_logps",
    )?;
    let (loss, g_u, g_v, delta, mass) = sorted_loss(&u, &v, params);
    Ok(AotOutput {
        loss,
        grad_ref_chosen: g_u.iter().map(|g| -g).collect(),
        grad_chosen: g_u,
        grad_ref_rejected: g_v.iter().map(|g| -g).collect(),
        grad_rejected: g_v,
        delta,
        mass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGISTIC: AotParams = AotParams {
        beta: 0.5,
        label_smoothing: 0.1,
        relaxation: Relaxation::Logistic,
    };

    fn finite_difference(f: impl Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
        let h = 1e-6;
        (0..x.len())
            .map(|i| {
                let (mut up, mut down) = (x.to_vec(), x.to_vec());
                up[i] += h;
                down[i] -= h;
                (f(&up) - f(&down)) / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let c = [1.0, -0.3, 2.2, 0.7];
        let r = [0.1, 0.4, -1.2, 0.9];
        let cr = [0.5, 0.2, 1.1, -0.4];
        let rr = [0.3, -0.8, 0.6, 1.5];
        for params in [
            LOGISTIC,
            AotParams {
                relaxation: Relaxation::SquaredHinge,
                ..LOGISTIC
            },
        ] {
            let out = aot_paired(
                &Logps {
                    chosen: &c,
                    rejected: &r,
                    ref_chosen: &cr,
                    ref_rejected: &rr,
                },
                &params,
            )
            .unwrap();
            let num = finite_difference(
                |x| {
                    aot_paired(
                        &Logps {
                            chosen: x,
                            rejected: &r,
                            ref_chosen: &cr,
                            ref_rejected: &rr,
                        },
                        &params,
                    )
                    .unwrap()
                    .loss
                },
                &c,
            );
            for (a, b) in out.grad_chosen.iter().zip(&num) {
                assert!((a - b).abs() < 1e-6, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn softplus_is_stable() {
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let x = [1.0];
        let l = Logps {
            chosen: &x,
            rejected: &x,
            ref_chosen: &x,
            ref_rejected: &x,
        };
        let bad_beta = AotParams {
            beta: 0.0,
            ..LOGISTIC
        };
        assert!(matches!(
            aot_paired(&l, &bad_beta),
            Err(Error::InvalidArgument { arg: "beta", .. })
        ));
        let short = Logps { rejected: &[], ..l };
        assert!(matches!(
            aot_unpaired(&short, &LOGISTIC),
            Err(Error::Shape {
                arg: "rejected_logps",
                ..
            })
        ));
    }
}
