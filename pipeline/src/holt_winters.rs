//! Holt-Winters forecasting as InfluxQL's `HOLT_WINTERS()` (InfluxDB 1.x)
//! computes it, so `holtWinters` and `holtWintersWithFit` give the numbers
//! users see in InfluxDB: damped-trend triple exponential smoothing whose
//! parameters (alpha, beta, gamma, phi, the initial level, trend and
//! seasonals) are fitted by Nelder-Mead from a small grid of starting
//! points, minimizing the squared error of the one-step fit.
//!
//! Values are placed on a grid of `interval` (times rounded to it); a
//! missing slot is NaN and skipped when judging a fit. Note two quirks kept
//! on purpose because results depend on them: evaluating a candidate clamps
//! its smoothing parameters into [0, 1] and rewrites its seasonals in
//! place, inside the optimizer's simplex.

/// Weight of the first values in the initial level and trend guesses.
const WEIGHT: f64 = 0.5;
/// The optimizer stops when the spread of its simplex's errors is below this.
const EPSILON: f64 = 1.0e-4;
/// The grid of starting guesses for alpha, beta, gamma and phi.
const GUESS_LOWER: f64 = 0.3;
const GUESS_UPPER: f64 = 1.0;
const GUESS_STEP: f64 = 0.4;

/// Forecasts `h` values after `points` (time in ns, value), `interval` ns
/// apart, with a season of `m` values (`m` < 2: none). With `with_fit`, the
/// fitted values over the input come first. Empty when there is too little
/// data.
pub fn forecast(
    points: &[(i64, f64)],
    h: usize,
    m: usize,
    interval: i64,
    with_fit: bool,
) -> Vec<(i64, f64)> {
    let seasonal = m >= 2;
    if points.len() < 2 || (seasonal && points.len() < m) || h == 0 || interval <= 0 {
        return Vec::new();
    }
    let round = |t: i64| {
        let r = t % interval;
        if r > interval / 2 {
            (t / interval + 1) * interval
        } else {
            (t / interval) * interval
        }
    };
    let (start, stop) = (round(points[0].0), round(points[points.len() - 1].0));
    if (stop - start) / interval <= 0 {
        return Vec::new();
    }
    // The values on the interval grid; NaN where a slot has none.
    let mut y = vec![points[0].1];
    let mut t = start;
    for &(time, value) in &points[1..] {
        let rounded = round(time);
        if rounded <= t {
            continue;
        }
        t += interval;
        while rounded != t {
            y.push(f64::NAN);
            t += interval;
        }
        y.push(value);
    }
    // Points sharing a slot count once: a season needs m slots, not m
    // points, or the seasonal guesses below read past the data.
    if seasonal && y.len() < m {
        return Vec::new();
    }
    let model = Model { y, m, seasonal };
    let params = model.fit();
    let fitted = model.run(h, &mut params.clone());
    if with_fit {
        let start = points[0].0;
        fitted
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, &v)| (start + interval * i as i64, v))
            .collect()
    } else {
        let stop = points[points.len() - 1].0;
        fitted[model.y.len()..]
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, &v)| (stop + interval * (i as i64 + 1), v))
            .collect()
    }
}

struct Model {
    y: Vec<f64>,
    m: usize,
    seasonal: bool,
}

impl Model {
    /// The best parameters: [alpha, beta, gamma, phi, level, trend, seasonals...].
    fn fit(&self) -> Vec<f64> {
        let (y, m) = (&self.y, self.m);
        let level = if self.seasonal {
            // Summed in order, each as (1/m)*y: the same rounding as InfluxDB.
            (0..m)
                .filter(|&i| !y[i].is_nan())
                .fold(0.0, |acc, i| acc + (1.0 / m as f64) * y[i])
        } else {
            WEIGHT * y[0]
        };
        let trend = if self.seasonal {
            (0..m)
                .filter(|&i| m + i < y.len() && !y[i].is_nan() && !y[m + i].is_nan())
                .fold(0.0, |acc, i| acc + 1.0 / (m * m) as f64 * (y[m + i] - y[i]))
        } else if !y[1].is_nan() {
            WEIGHT * (y[1] - y[0])
        } else {
            0.0
        };
        let mut start = vec![0.0, 0.0, 0.0, 0.0, level, trend];
        if self.seasonal {
            start.extend((0..m).map(|i| if y[i].is_nan() { 0.0 } else { y[i] / level }));
        }
        let mut best: Option<(f64, Vec<f64>)> = None;
        for alpha in guesses() {
            for beta in guesses() {
                for gamma in guesses() {
                    for phi in guesses() {
                        start[..4].copy_from_slice(&[alpha, beta, gamma, phi]);
                        let (sse, params) = nelder_mead(|p| self.sse(p), &start, EPSILON, 1.0);
                        if best.as_ref().is_none_or(|(b, _)| sse < *b) {
                            best = Some((sse, params));
                        }
                    }
                }
            }
        }
        best.map(|(_, p)| p).unwrap_or(start)
    }

    /// The one-step fit over the data and `h` values beyond. Clamps the
    /// smoothing parameters and updates the seasonals in `params`.
    fn run(&self, h: usize, params: &mut [f64]) -> Vec<f64> {
        for p in &mut params[..4] {
            *p = p.clamp(0.0, 1.0);
        }
        let (alpha, beta, gamma, phi) = (params[0], params[1], params[2], params[3]);
        let mut y_t = self.y[0];
        let mut l_t = params[4];
        let mut b_t = params[5];
        let m = if self.seasonal { params.len() - 6 } else { 0 };
        if self.seasonal && m == 1 {
            params[6] = 1.0;
        }
        let mut offset = m.saturating_sub(1);
        let mut phi_h = phi;
        let n = self.y.len();
        let mut out = vec![0.0; n + h];
        out[0] = y_t;
        for t in 1..n + h {
            let (mut s_tm, mut s_tmh) = (1.0, 1.0);
            if self.seasonal {
                s_tm = params[6 + seasonal_index(t, 0, offset, m)];
                s_tmh = params[6 + seasonal_index(t, t % m, offset, m)];
            }
            let l = alpha * (y_t / s_tm) + (1.0 - alpha) * (l_t + phi * b_t);
            let b = beta * (l - l_t) + (1.0 - beta) * phi * b_t;
            let s = gamma * (y_t / (l_t + phi * b_t)) + (1.0 - gamma) * s_tm;
            y_t = (l + phi_h * b) * s_tmh;
            l_t = l;
            b_t = b;
            phi_h += phi.powi(t as i32);
            if self.seasonal {
                params[6 + (t + offset) % m] = s;
                offset += 1;
            }
            out[t] = y_t;
        }
        out
    }

    /// Squared error of the fit over the known values; a NaN fit where a
    /// value is known is infinitely bad.
    fn sse(&self, params: &mut [f64]) -> f64 {
        let fitted = self.run(0, params);
        let mut sse = 0.0;
        for (f, y) in fitted.iter().zip(&self.y) {
            if y.is_nan() {
                continue;
            }
            if f.is_nan() {
                return f64::INFINITY;
            }
            sse += (f - y) * (f - y);
        }
        sse
    }
}

/// The seasonal slot `m` values back from `t` (plus `ahead`), in the ring
/// that rotates by `offset`.
fn seasonal_index(t: usize, ahead: usize, offset: usize, m: usize) -> usize {
    // (t - m + ahead + offset) mod m, with t - m possibly negative.
    ((t + ahead + offset) as i64 - m as i64).rem_euclid(m as i64) as usize
}

fn guesses() -> impl Iterator<Item = f64> {
    std::iter::successors(Some(GUESS_LOWER), |g| Some(g + GUESS_STEP))
        .take_while(|g| *g < GUESS_UPPER)
}

/// Nelder-Mead minimization of `f` from `start` (a regular simplex of size
/// `scale` around it), until the spread of the vertices' values is below
/// `epsilon` or 1000 iterations. `f` may rewrite the point it is given.
fn nelder_mead(
    mut f: impl FnMut(&mut [f64]) -> f64,
    start: &[f64],
    epsilon: f64,
    scale: f64,
) -> (f64, Vec<f64>) {
    const MAX_ITERATIONS: usize = 1000;
    const REFLECT: f64 = 1.0;
    const CONTRACT: f64 = 0.5;
    const EXPAND: f64 = 2.0;
    let n = start.len();
    let nf = n as f64;
    let p = scale * ((nf + 1.0).sqrt() - 1.0 + nf) / (nf * 2f64.sqrt());
    let q = scale * ((nf + 1.0).sqrt() - 1.0) / (nf * 2f64.sqrt());
    let mut v: Vec<Vec<f64>> = (0..=n)
        .map(|i| {
            start
                .iter()
                .enumerate()
                .map(|(j, s)| match i {
                    0 => *s,
                    _ if i - 1 == j => s + p,
                    _ => s + q,
                })
                .collect()
        })
        .collect();
    let mut fv: Vec<f64> = v.iter_mut().map(|x| f(x)).collect();
    let mut centroid = vec![0.0; n];
    for _ in 0..MAX_ITERATIONS {
        let (mut worst, mut best) = (0, 0);
        for i in 0..=n {
            if fv[i] > fv[worst] {
                worst = i;
            }
            if fv[i] < fv[best] {
                best = i;
            }
        }
        let mut second = best;
        for i in 0..=n {
            if fv[i] > fv[second] && fv[i] < fv[worst] {
                second = i;
            }
        }
        for (j, c) in centroid.iter_mut().enumerate() {
            *c = (0..=n)
                .filter(|&i| i != worst)
                .fold(0.0, |acc, i| acc + v[i][j])
                / nf;
        }
        let mut reflected: Vec<f64> = (0..n)
            .map(|j| centroid[j] + REFLECT * (centroid[j] - v[worst][j]))
            .collect();
        let fr = f(&mut reflected);
        if fr < fv[second] && fr >= fv[best] {
            v[worst].copy_from_slice(&reflected);
            fv[worst] = fr;
        }
        if fr < fv[best] {
            let mut expanded: Vec<f64> = (0..n)
                .map(|j| centroid[j] + EXPAND * (reflected[j] - centroid[j]))
                .collect();
            let fe = f(&mut expanded);
            if fe < fr {
                v[worst].copy_from_slice(&expanded);
                fv[worst] = fe;
            } else {
                v[worst].copy_from_slice(&reflected);
                fv[worst] = fr;
            }
        }
        if fr >= fv[second] {
            let mut contracted: Vec<f64> = if fr < fv[worst] {
                (0..n)
                    .map(|j| centroid[j] + CONTRACT * (reflected[j] - centroid[j]))
                    .collect()
            } else {
                (0..n)
                    .map(|j| centroid[j] - CONTRACT * (centroid[j] - v[worst][j]))
                    .collect()
            };
            let fc = f(&mut contracted);
            if fc < fv[worst] {
                v[worst].copy_from_slice(&contracted);
                fv[worst] = fc;
            } else {
                // Shrink every vertex halfway towards the best one.
                let anchor = v[best].clone();
                for (i, vertex) in v.iter_mut().enumerate() {
                    if i != best {
                        for (x, a) in vertex.iter_mut().zip(&anchor) {
                            *x = a + (*x - a) / 2.0;
                        }
                    }
                }
                fv[worst] = f(&mut v[worst]);
                fv[second] = f(&mut v[second]);
            }
        }
        let mean = fv.iter().fold(0.0, |acc, x| acc + x) / (nf + 1.0);
        let spread = fv
            .iter()
            .fold(0.0, |acc, x| acc + (x - mean).powf(2.0) / nf)
            .sqrt();
        if spread < epsilon {
            break;
        }
    }
    let mut best = 0;
    for i in 0..=n {
        if fv[i] < fv[best] {
            best = i;
        }
    }
    let mut params = v[best].clone();
    let value = f(&mut params);
    (value, v[best].clone())
}

#[cfg(test)]
mod tests {
    use super::forecast;

    #[test]
    fn too_little_data_forecasts_nothing() {
        assert!(forecast(&[(0, 1.0)], 3, 0, 10, false).is_empty());
        assert!(forecast(&[(0, 1.0), (10, 2.0)], 3, 4, 10, false).is_empty());
        assert!(forecast(&[(0, 1.0), (10, 2.0)], 0, 0, 10, false).is_empty());
        assert!(
            forecast(&[(0, 1.0), (3, 2.0)], 1, 0, 10, false).is_empty(),
            "one slot"
        );
    }

    #[test]
    fn a_missing_slot_is_skipped_and_forecasts_follow_the_last_point() {
        let points = [(0, 1.0), (10, 2.0), (30, 4.0), (40, 5.0)];
        let out = forecast(&points, 2, 0, 10, false);
        assert_eq!(out.iter().map(|p| p.0).collect::<Vec<_>>(), [50, 60]);
        assert!(out.iter().all(|p| p.1.is_finite()));
        let fit = forecast(&points, 2, 0, 10, true);
        assert_eq!(fit.len(), 5 + 2, "fit over 5 slots (one NaN input), then 2");
    }

    #[test]
    fn points_sharing_slots_or_nan_values_do_not_panic() {
        // Four points but two slots: a season of four cannot be fitted
        // (this indexed past the data).
        let shared = [(0, 1.0), (1, 2.0), (10, 3.0), (11, 4.0)];
        assert!(forecast(&shared, 3, 4, 10, false).is_empty());
        assert!(forecast(&shared, 3, 4, 10, true).is_empty());
        let nan = [(0, f64::NAN), (10, f64::NAN), (20, 1.0), (30, f64::NAN)];
        let _ = forecast(&nan, 3, 2, 10, true);
        let _ = forecast(&nan, 3, 0, 10, false);
    }
}
