//! Branch-free `exp`, logistic and softplus for the cell loops of IRT and the kernels of
//! geometry.
//!
//! libm's `exp` and `ln_1p` are scalar calls, so loops over cells that use them cannot be
//! vectorised and spend most of their time there. These versions use only arithmetic, `min`/
//! `max` and integer bit operations, so LLVM vectorises the loops that inline them (four f64
//! lanes per instruction where AVX2 is enabled, see `kernels`). They use plain multiply and
//! add (never fused), so every instruction set gives the same bits. Accuracy: within a few
//! units in the last place of the libm functions (tested below).

/// Arguments beyond ±EXP_BOUND are clamped: e^±708 is still finite and normal.
const EXP_BOUND: f64 = 708.0;
/// 1.5 · 2^52: adding it rounds to an integer held in the low mantissa bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;
/// ln 2 split so that k · LN2_HI is exact for |k| < 2^11 (Cody–Waite reduction).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000); // 0.6931471803691238
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76); // 1.9082149292705877e-10

/// 1/j! for j = 0..=13: the Taylor series of e^r, whose degree-13 truncation is below half an
/// ulp for |r| ≤ ln 2 / 2.
const INV_FACT: [f64; 14] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// Cody–Waite reduction x = k·ln 2 + r with |r| ≤ ln 2 / 2: returns (t, e^r), where k sits in
/// the low mantissa bits of t (k = t − SHIFTER). Plain multiply and add, Horner order.
#[inline(always)]
fn reduce(x: f64) -> (f64, f64) {
    let t = x * std::f64::consts::LOG2_E + SHIFTER;
    let k = t - SHIFTER;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = INV_FACT[13];
    for c in INV_FACT[..13].iter().rev() {
        p = p * r + c;
    }
    (t, p)
}

/// e^x for |x| ≤ 708 (clamped beyond; NaN propagates).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let (t, p) = reduce(x.clamp(-EXP_BOUND, EXP_BOUND));
    // 2^k from the low bits of t (k + 1023 ∈ [2, 2045] after the clamp).
    p * f64::from_bits(t.to_bits().wrapping_add(1023) << 52)
}

/// The logistic function 1 / (1 + e^−z).
#[inline(always)]
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + exp(-z))
}

/// ln(x) for x ∈ [1, 2] (the only range [`softplus`] needs).
#[inline(always)]
fn ln_1_to_2(x: f64) -> f64 {
    // Halve above √2 so that s = (x − 1)/(x + 1) stays within ±0.172.
    let big = x > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * x } else { x };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    // ln m = 2 atanh s = 2 s Σ s^{2j} / (2j + 1), truncated after j = 10 (< 3e-17).
    let mut q = 1.0 / 21.0;
    q = q * s2 + 1.0 / 19.0;
    q = q * s2 + 1.0 / 17.0;
    q = q * s2 + 1.0 / 15.0;
    q = q * s2 + 1.0 / 13.0;
    q = q * s2 + 1.0 / 11.0;
    q = q * s2 + 1.0 / 9.0;
    q = q * s2 + 1.0 / 7.0;
    q = q * s2 + 1.0 / 5.0;
    q = q * s2 + 1.0 / 3.0;
    q = q * s2 + 1.0;
    let ln2 = if big { std::f64::consts::LN_2 } else { 0.0 };
    2.0 * s * q + ln2
}

/// log(1 + e^z) without overflow (absolute error ~1e-16).
#[inline(always)]
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + ln_1_to_2(1.0 + exp(-z.abs()))
}

/// ln(x) for x ∈ [1, 4] (absolute error ~2e-16): the log of a product of two `1 + e^{−|z|}`
/// factors, so that a kernel needing softplus(−|u|) + softplus(−|l|) pays one log.
#[inline(always)]
pub fn ln_1_to_4(x: f64) -> f64 {
    let big = x > 2.0;
    let m = if big { 0.5 * x } else { x };
    ln_1_to_2(m) + if big { std::f64::consts::LN_2 } else { 0.0 }
}

/// Bernoulli log-likelihood y z − log(1 + e^z).
#[inline(always)]
pub fn bernoulli_loglik(y: f64, z: f64) -> f64 {
    y * z - softplus(z)
}

/// `exp(x)` for `x ≤ 0` (kernel values), within 2 ulp of the correctly rounded result for
/// `x ≥ −708` and flushing smoothly through the subnormal range to ~0 below. Branch-free
/// (Cody–Waite reduction, degree-13 Taylor polynomial on `|r| ≤ ln2/2`, scaling by two powers of
/// two) so that loops over it vectorise: libm's `exp` was 70% of the Nyström run time.
#[inline]
pub fn exp_nonpos(x: f64) -> f64 {
    let (t, p) = reduce(x.clamp(-745.0, 0.0));
    // k = round(x·log2 e) ∈ [−1075, 0] sits in the low mantissa bits of t; 2^k is applied as
    // 2^(k/2)·2^(k − k/2) so that both factors are normal numbers.
    let k = (t.to_bits() as i64).wrapping_sub(SHIFTER.to_bits() as i64);
    let k1 = k >> 1;
    let two_pow = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    p * two_pow(k1) * two_pow(k - k1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        (0..=n).map(move |k| lo + (hi - lo) * k as f64 / n as f64)
    }

    #[test]
    fn exp_matches_libm() {
        for x in grid(-707.0, 707.0, 200_003).chain(grid(-1.0, 1.0, 20_001)) {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 4e-16 * want,
                "exp({x}) = {got}, libm {want}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f64::NAN).is_nan());
        assert!(exp(1e6).is_finite() && exp(-1e6) > 0.0);
    }

    #[test]
    fn sigmoid_matches_libm() {
        for z in grid(-50.0, 50.0, 100_001) {
            let want = 1.0 / (1.0 + (-z).exp());
            assert!((sigmoid(z) - want).abs() <= 6e-16 * want, "sigmoid({z})");
        }
        assert_eq!(sigmoid(1e4), 1.0);
        assert!(sigmoid(-1e4) >= 0.0 && sigmoid(-1e4) < 1e-300);
    }

    #[test]
    fn softplus_matches_libm() {
        for z in grid(-60.0, 60.0, 120_001) {
            let want = z.max(0.0) + (-z.abs()).exp().ln_1p();
            let got = softplus(z);
            assert!((got - want).abs() <= 4e-16 * want.max(1.0), "softplus({z})");
        }
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
    }

    #[test]
    fn ln_1_to_4_matches_libm() {
        for x in grid(1.0, 4.0, 300_000).chain(grid(1.0, 1.0 + 1e-8, 1_000)) {
            let want = x.ln();
            assert!(
                (ln_1_to_4(x) - want).abs() <= 3e-16 * want.max(1.0),
                "ln_1_to_4({x})"
            );
        }
        assert_eq!(ln_1_to_4(1.0), 0.0);
    }

    #[test]
    fn exp_nonpos_matches_libm() {
        let mut worst = 0.0f64;
        for i in 0..200_001 {
            let x = -708.0 * i as f64 / 200_000.0;
            let (got, want) = (exp_nonpos(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst <= 2.5 * f64::EPSILON, "relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(-740.0) < 1e-320 && exp_nonpos(-1e9) < 1e-320);
        assert!(exp_nonpos(-745.0) >= 0.0);
    }
}
