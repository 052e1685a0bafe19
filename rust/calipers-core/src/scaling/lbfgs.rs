//! A small deterministic L-BFGS (Nocedal & Wright, Alg. 7.4/7.5) with a strong-Wolfe line
//! search (Alg. 3.5/3.6, safeguarded quadratic interpolation in the zoom). Single-threaded:
//! callers parallelise over independent problems, so results do not depend on the pool size.

/// Stopping rules and memory of one minimisation.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Most iterations (each one line search).
    pub max_iter: usize,
    /// Number of (s, y) pairs kept.
    pub history: usize,
    /// Stop when the largest absolute gradient entry is at most this.
    pub gtol: f64,
    /// Stop when (f_old − f_new) ≤ ftol · max(|f_old|, |f_new|, 1) (scipy's `factr` rule).
    pub ftol: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iter: 3000,
            history: 20,
            gtol: 1e-9,
            ftol: 1e-13,
        }
    }
}

/// How a minimisation ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub f: f64,
    pub iterations: usize,
    pub evaluations: usize,
    /// A tolerance was met (false: iteration limit, line-search failure or interruption).
    pub converged: bool,
    pub interrupted: bool,
}

/// f and its directional derivative at a step, the gradient written into the buffer.
type LineFn<'a> = dyn FnMut(f64, &mut [f64]) -> (f64, f64) + 'a;

const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_BRACKET: usize = 30;
const MAX_ZOOM: usize = 40;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

struct Point {
    alpha: f64,
    f: f64,
    dg: f64,
}

/// Minimises `fg` (value and gradient written into its second argument) from `x`, which holds
/// the best point found on return. `stop` is polled once per iteration.
pub fn minimize<F>(x: &mut [f64], opts: &Options, stop: &dyn Fn() -> bool, mut fg: F) -> Outcome
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x.len();
    let m = opts.history.max(1);
    let mut g = vec![0.0; n];
    let mut f = fg(x, &mut g);
    let mut evaluations = 1;
    let mut out = Outcome {
        f,
        iterations: 0,
        evaluations,
        converged: false,
        interrupted: false,
    };
    if !f.is_finite() {
        return out;
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut rho: Vec<f64> = Vec::with_capacity(m);
    let mut alpha_buf = vec![0.0; m];
    let mut d = vec![0.0; n];
    let mut xt = vec![0.0; n];
    let mut gt = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    for iter in 0..opts.max_iter {
        if stop() {
            out.interrupted = true;
            break;
        }
        if g.iter().fold(0.0f64, |a, v| a.max(v.abs())) <= opts.gtol {
            out.converged = true;
            break;
        }
        // Two-loop recursion: d = −H g.
        d.copy_from_slice(&g);
        let k = s_hist.len();
        for i in (0..k).rev() {
            let a = rho[i] * dot(&s_hist[i], &d);
            alpha_buf[i] = a;
            for (dv, yv) in d.iter_mut().zip(&y_hist[i]) {
                *dv -= a * yv;
            }
        }
        let gamma = if k > 0 {
            let yy = dot(&y_hist[k - 1], &y_hist[k - 1]);
            dot(&s_hist[k - 1], &y_hist[k - 1]) / yy
        } else {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300)
        };
        for dv in d.iter_mut() {
            *dv *= gamma;
        }
        for i in 0..k {
            let b = rho[i] * dot(&y_hist[i], &d);
            for (dv, sv) in d.iter_mut().zip(&s_hist[i]) {
                *dv += (alpha_buf[i] - b) * sv;
            }
        }
        for dv in d.iter_mut() {
            *dv = -*dv;
        }
        let mut dg0 = dot(&g, &d);
        if dg0.is_nan() || dg0 >= 0.0 {
            // Not a descent direction (curvature pairs gone bad): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            let scale = 1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
            for (dv, gv) in d.iter_mut().zip(&g) {
                *dv = -gv * scale;
            }
            dg0 = dot(&g, &d);
            if dg0.is_nan() || dg0 >= 0.0 {
                break;
            }
        }
        let mut eval = |alpha: f64, gbuf: &mut [f64]| -> (f64, f64) {
            for ((t, xv), dv) in xt.iter_mut().zip(x.iter()).zip(&d) {
                *t = xv + alpha * dv;
            }
            let ft = fg(&xt, gbuf);
            evaluations += 1;
            let ft = if ft.is_finite() { ft } else { f64::INFINITY };
            (ft, dot(gbuf, &d))
        };
        let found = line_search(f, dg0, &mut eval, &mut gt, &mut g_new);
        let Some(Point {
            alpha, f: f_new, ..
        }) = found
        else {
            if s_hist.is_empty() {
                break; // steepest descent failed too: as good as it gets
            }
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            continue;
        };
        // The accepted gradient is in g_new; its point is x + alpha d.
        for ((xn, xv), dv) in x_new.iter_mut().zip(x.iter()).zip(&d) {
            *xn = xv + alpha * dv;
        }
        let mut s: Vec<f64> = if s_hist.len() == m {
            let v = s_hist.remove(0);
            y_hist.remove(0);
            rho.remove(0);
            v
        } else {
            vec![0.0; n]
        };
        let mut yv = vec![0.0; n];
        for i in 0..n {
            s[i] = x_new[i] - x[i];
            yv[i] = g_new[i] - g[i];
        }
        let sy = dot(&s, &yv);
        if sy > 1e-12 * dot(&yv, &yv).max(1e-300) && sy.is_finite() {
            rho.push(1.0 / sy);
            s_hist.push(s);
            y_hist.push(yv);
        }
        let f_old = f;
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        f = f_new;
        out.iterations = iter + 1;
        if f_old - f <= opts.ftol * f_old.abs().max(f.abs()).max(1.0) {
            out.converged = true;
            break;
        }
    }
    out.f = f;
    out.evaluations = evaluations;
    out
}

/// Strong-Wolfe line search along the direction inside `eval`; on success the gradient at the
/// accepted step is left in `g_best`.
fn line_search(
    f0: f64,
    dg0: f64,
    eval: &mut LineFn<'_>,
    gt: &mut [f64],
    g_best: &mut [f64],
) -> Option<Point> {
    let mut prev = Point {
        alpha: 0.0,
        f: f0,
        dg: dg0,
    };
    let mut alpha = 1.0;
    for i in 0..MAX_BRACKET {
        let (ft, dgt) = eval(alpha, gt);
        let cur = Point {
            alpha,
            f: ft,
            dg: dgt,
        };
        if ft > f0 + C1 * alpha * dg0 || (i > 0 && ft >= prev.f) {
            return zoom(f0, dg0, prev, cur, eval, gt, g_best);
        }
        if dgt.abs() <= -C2 * dg0 {
            g_best.copy_from_slice(gt);
            return Some(cur);
        }
        if dgt >= 0.0 {
            return zoom(f0, dg0, cur, prev, eval, gt, g_best);
        }
        prev = cur;
        alpha *= 2.0;
    }
    None
}

fn zoom(
    f0: f64,
    dg0: f64,
    mut lo: Point,
    mut hi: Point,
    eval: &mut LineFn<'_>,
    gt: &mut [f64],
    g_best: &mut [f64],
) -> Option<Point> {
    // g_best holds the gradient at `lo` once lo has moved off 0.
    let mut lo_has_grad = false;
    for _ in 0..MAX_ZOOM {
        let width = hi.alpha - lo.alpha;
        // Minimiser of the quadratic through f(lo), f'(lo), f(hi), kept inside the bracket.
        let mut a = if hi.f.is_finite() {
            let denom = 2.0 * (hi.f - lo.f - lo.dg * width);
            if denom > 0.0 {
                lo.alpha - lo.dg * width * width / denom
            } else {
                lo.alpha + 0.5 * width
            }
        } else {
            lo.alpha + 0.1 * width
        };
        let (a_min, a_max) = if width > 0.0 {
            (lo.alpha + 0.1 * width, lo.alpha + 0.9 * width)
        } else {
            (lo.alpha + 0.9 * width, lo.alpha + 0.1 * width)
        };
        if !(a >= a_min && a <= a_max) {
            a = lo.alpha + 0.5 * width;
        }
        if (hi.alpha - lo.alpha).abs() <= 1e-16 * lo.alpha.abs().max(1e-16) {
            break;
        }
        let (ft, dgt) = eval(a, gt);
        let cur = Point {
            alpha: a,
            f: ft,
            dg: dgt,
        };
        if ft > f0 + C1 * a * dg0 || ft >= lo.f {
            hi = cur;
        } else {
            if dgt.abs() <= -C2 * dg0 {
                g_best.copy_from_slice(gt);
                return Some(cur);
            }
            if dgt * (hi.alpha - lo.alpha) >= 0.0 {
                hi = Point {
                    alpha: lo.alpha,
                    f: lo.f,
                    dg: lo.dg,
                };
            }
            lo = cur;
            g_best.copy_from_slice(gt);
            lo_has_grad = true;
        }
    }
    // No strong-Wolfe point: accept the best decrease seen, if any.
    (lo_has_grad && lo.f < f0).then_some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        let mut f = 0.0;
        g.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..x.len() - 1 {
            let a = x[i + 1] - x[i] * x[i];
            let b = 1.0 - x[i];
            f += 100.0 * a * a + b * b;
            g[i] += -400.0 * a * x[i] - 2.0 * b;
            g[i + 1] += 200.0 * a;
        }
        f
    }

    #[test]
    fn minimises_rosenbrock() {
        let mut x = vec![-1.2, 1.0, -1.2, 1.0, 0.5];
        let out = minimize(&mut x, &Options::default(), &|| false, rosenbrock);
        assert!(out.converged, "{out:?}");
        for v in &x {
            assert!((v - 1.0).abs() < 1e-5, "{x:?}");
        }
    }

    #[test]
    fn minimises_a_quadratic_exactly() {
        // f = Σ k (x_k − k)², minimum at x_k = k.
        let fg = |x: &[f64], g: &mut [f64]| {
            let mut f = 0.0;
            for (k, (xv, gv)) in x.iter().zip(g.iter_mut()).enumerate() {
                let w = (k + 1) as f64;
                f += w * (xv - k as f64).powi(2);
                *gv = 2.0 * w * (xv - k as f64);
            }
            f
        };
        let mut x = vec![5.0; 8];
        let out = minimize(&mut x, &Options::default(), &|| false, fg);
        assert!(out.f < 1e-16, "{out:?}");
    }

    #[test]
    fn stops_when_asked() {
        let mut x = vec![-1.2, 1.0];
        let out = minimize(&mut x, &Options::default(), &|| true, rosenbrock);
        assert!(out.interrupted && out.iterations == 0);
    }
}
