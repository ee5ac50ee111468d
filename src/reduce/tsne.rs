//! t-SNE (van der Maaten & Hinton, 2008), exact O(N²), hand-written.
//!
//! 1. Affinities in the input space: for each point i a Gaussian with its own
//!    precision βᵢ, found by binary search so that the perplexity 2^H(Pᵢ) of
//!    `p(j|i) ∝ exp(−βᵢ‖xᵢ − xⱼ‖²)` equals the target (30). Symmetrised:
//!    `pᵢⱼ = (p(j|i) + p(i|j)) / 2N`.
//! 2. Affinities in the 2-D map: a Student-t kernel `wᵢⱼ = 1/(1 + ‖yᵢ − yⱼ‖²)`,
//!    `qᵢⱼ = wᵢⱼ / Z`, `Z = Σ_{k≠l} w_kl`.
//! 3. Gradient descent on KL(P‖Q): `∂C/∂yᵢ = 4 Σⱼ (pᵢⱼ − qᵢⱼ)·wᵢⱼ·(yᵢ − yⱼ)`,
//!    computed in one pass per row as `4(Σ pᵢⱼwᵢⱼ(yᵢ−yⱼ) − Σ wᵢⱼ²(yᵢ−yⱼ)/Z)`
//!    ([`kl_gradient`], checked against finite differences in its tests),
//!    with momentum, per-coordinate gains, and early exaggeration (P × 12 for the
//!    first 250 iterations of a cold start).
//!
//! Warm start: given the previous frame's embedding, a few hundred iterations
//! without exaggeration move points only as far as the data changed, so an
//! animation over epochs stays coherent. Deterministic: rows run in parallel but
//! each row's sums, and the sum of Z over rows, run in a fixed order.

use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::Normal;
use ndarray_rand::RandomExt;
use rayon::prelude::*;

/// A cold start uses momentum 0.5 for this many iterations, then 0.8
/// (van der Maaten and Hinton, 2008).
const LOW_MOMENTUM_ITERATIONS: usize = 250;

/// Settings of one t-SNE run.
#[derive(Debug, Clone, Copy)]
pub struct TsneOptions {
    pub perplexity: f64,
    pub iterations: usize,
    pub learning_rate: f32,
    /// P is multiplied by this for the first `exaggeration_iterations`.
    pub early_exaggeration: f32,
    pub exaggeration_iterations: usize,
    /// Seed of the random initial map (cold start only).
    pub seed: u64,
}

impl Default for TsneOptions {
    /// The classic settings: perplexity 30, 1,000 iterations, learning rate 200,
    /// exaggeration 12 for 250 iterations.
    fn default() -> Self {
        TsneOptions {
            perplexity: 30.0,
            iterations: 1000,
            learning_rate: 200.0,
            early_exaggeration: 12.0,
            exaggeration_iterations: 250,
            seed: 0,
        }
    }
}

impl TsneOptions {
    /// Settings for continuing from a previous embedding: no exaggeration.
    pub fn warm(iterations: usize) -> Self {
        TsneOptions {
            iterations,
            exaggeration_iterations: 0,
            ..TsneOptions::default()
        }
    }
}

/// Symmetric input affinities P (N, N) for points x (N, Z), each row's Gaussian
/// calibrated to `perplexity`. Values below 1e-12 are set to 1e-12 (as in the
/// reference implementation), which also keeps denormals out of the main loop.
pub fn affinities(x: ArrayView2<f32>, perplexity: f64) -> Array2<f32> {
    let n = x.nrows();
    let squared_norms: Vec<f32> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    // ‖xᵢ − xⱼ‖² = ‖xᵢ‖² + ‖xⱼ‖² − 2·xᵢ·xⱼ, with every xᵢ·xⱼ from one product X·Xᵀ.
    let mut dots = Array2::<f32>::zeros((n, n));
    crate::nn::matmul::matmul(x, x.t(), 0.0, dots.view_mut());
    let mut conditional = Array2::<f32>::zeros((n, n));
    conditional
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut row)| {
            let distances: Vec<f64> = (0..n)
                .map(|j| (squared_norms[i] + squared_norms[j] - 2.0 * dots[[i, j]]).max(0.0) as f64)
                .collect();
            let p = calibrated_row(&distances, i, perplexity);
            row.iter_mut().zip(p).for_each(|(r, v)| *r = v as f32);
        });
    let mut p = &conditional + &conditional.t();
    let scale = 1.0 / (2.0 * n as f32);
    p.mapv_inplace(|v| (v * scale).max(1e-12));
    p
}

/// p(j|i) for one row, by binary search on the precision β so that the entropy
/// H = −Σ p log p equals ln(perplexity).
///
/// The exponentials are f32 ([`crate::nn::activation::exp`], a loop the compiler
/// vectorises) and the sums f64 in eight interleaved partial sums: this search
/// runs for every row of every animation frame, and library `exp` calls in f64
/// were most of the figures' time.
fn calibrated_row(distances: &[f64], i: usize, perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let (mut beta, mut low, mut high) = (1.0f64, 0.0f64, f64::INFINITY);
    let min_d = distances
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, &d)| d)
        .fold(f64::INFINITY, f64::min);
    // Distances from the nearest neighbour, in f32 like the codes they came from.
    let shifted: Vec<f32> = distances.iter().map(|&d| (d - min_d) as f32).collect();
    let mut p = vec![0.0f32; distances.len()];
    let mut sum = 1.0;
    for _ in 0..100 {
        let b = beta as f32;
        p.iter_mut()
            .zip(&shifted)
            .for_each(|(pj, &d)| *pj = crate::nn::activation::exp(-b * d));
        p[i] = 0.0;
        let (total, weighted) = sums(&p, &shifted);
        sum = total;
        // H = ln Σ + β·E[d − min_d]
        let entropy = sum.ln() + beta * weighted / sum;
        if (entropy - target).abs() < 1e-5 {
            break;
        }
        if entropy > target {
            low = beta;
            beta = if high.is_finite() {
                (beta + high) / 2.0
            } else {
                beta * 2.0
            };
        } else {
            high = beta;
            beta = (beta + low) / 2.0;
        }
    }
    p.iter().map(|&v| v as f64 / sum).collect()
}

/// (Σ p, Σ p·d) in f64, in eight interleaved partial sums (a fixed order).
fn sums(p: &[f32], d: &[f32]) -> (f64, f64) {
    let (mut total, mut weighted) = ([0.0f64; 8], [0.0f64; 8]);
    let (p_chunks, d_chunks) = (p.chunks_exact(8), d.chunks_exact(8));
    let (p_tail, d_tail) = (p_chunks.remainder(), d_chunks.remainder());
    for (p, d) in p_chunks.zip(d_chunks) {
        for k in 0..8 {
            total[k] += p[k] as f64;
            weighted[k] += p[k] as f64 * d[k] as f64;
        }
    }
    for (k, (&p, &d)) in p_tail.iter().zip(d_tail).enumerate() {
        total[k] += p as f64;
        weighted[k] += p as f64 * d as f64;
    }
    (total.iter().sum(), weighted.iter().sum())
}

/// Embeds the points whose affinities are `p` (N, N) in 2-D: from `init` (N, 2)
/// if given (warm start), else from a small seeded Gaussian. Returns (N, 2).
pub fn embed(p: &Array2<f32>, init: Option<ArrayView2<f32>>, options: &TsneOptions) -> Array2<f32> {
    let n = p.nrows();
    let mut y = match init {
        Some(init) => init.to_owned(),
        None => Array2::random_using(
            (n, 2),
            Normal::new(0.0, 1e-4).unwrap(),
            &mut StdRng::seed_from_u64(options.seed),
        ),
    };
    let mut update = Array2::<f32>::zeros((n, 2));
    let mut gains = Array2::<f32>::ones((n, 2));
    let mut grad = Array2::<f32>::zeros((n, 2));
    for iteration in 0..options.iterations {
        let exaggerating = iteration < options.exaggeration_iterations;
        let exaggeration = if exaggerating {
            options.early_exaggeration
        } else {
            1.0
        };
        let momentum = if exaggerating || (init.is_none() && iteration < LOW_MOMENTUM_ITERATIONS) {
            0.5
        } else {
            0.8
        };
        kl_gradient(p, y.view(), exaggeration, &mut grad);
        Zip::from(&mut y)
            .and(&mut update)
            .and(&mut gains)
            .and(&grad)
            .for_each(|y, u, g, &d| {
                *g = if (d > 0.0) != (*u > 0.0) {
                    *g + 0.2
                } else {
                    (*g * 0.8).max(0.01)
                };
                *u = momentum * *u - options.learning_rate * *g * d;
                *y += *u;
            });
        let mean: Array1<f32> = y.mean_axis(Axis(0)).expect("points");
        y -= &mean;
    }
    y
}

/// The gradient of the cost `C = KL(P‖Q) = Σ_{i≠j} pᵢⱼ ln(pᵢⱼ/qᵢⱼ)` with respect
/// to every map point, written into grad (N, 2):
/// ```text
/// ∂C/∂yᵢ = 4 Σⱼ (α·pᵢⱼ − qᵢⱼ)·wᵢⱼ·(yᵢ − yⱼ),   wᵢⱼ = 1/(1 + ‖yᵢ − yⱼ‖²),  qᵢⱼ = wᵢⱼ/Z
/// ```
/// with α = `exaggeration` (1 for the plain gradient; P must sum to 1).
/// p: (N, N) symmetric affinities; y: (N, 2) the map.
pub fn kl_gradient(p: &Array2<f32>, y: ArrayView2<f32>, exaggeration: f32, grad: &mut Array2<f32>) {
    assert_eq!(p.dim(), (y.nrows(), y.nrows()), "kl_gradient: P is not N×N");
    assert_eq!(
        grad.dim(),
        y.dim(),
        "kl_gradient: grad is not shaped like y"
    );
    let n = y.nrows();
    let xs: Vec<f32> = y.column(0).to_vec();
    let ys: Vec<f32> = y.column(1).to_vec();
    // Per row: Σⱼ wᵢⱼ, Σⱼ pᵢⱼwᵢⱼ(yᵢ−yⱼ), Σⱼ wᵢⱼ²(yᵢ−yⱼ).
    let rows: Vec<(f64, [f32; 2], [f32; 2])> = (0..n)
        .into_par_iter()
        .map(|i| {
            let p_row = p.row(i);
            let p_row = p_row.as_slice().expect("P is contiguous");
            row_sums_dispatch(p_row, &xs, &ys, xs[i], ys[i])
        })
        .collect();
    let z: f64 = rows.iter().map(|r| r.0).sum();
    let inv_z = (1.0 / z) as f32;
    for (mut g, (_, a, b)) in grad.rows_mut().into_iter().zip(&rows) {
        g[0] = 4.0 * (exaggeration * a[0] - b[0] * inv_z);
        g[1] = 4.0 * (exaggeration * a[1] - b[1] * inv_z);
    }
}

/// Lanes of the row sums: eight running sums each, so the loop vectorises and
/// the order of summation (hence the result) is the same at any SIMD width.
const LANES: usize = 8;

/// [`row_sums`] compiled for AVX2 where the CPU has it (chosen at run time; the
/// results are bit-identical, the instructions are wider).
fn row_sums_dispatch(
    p_row: &[f32],
    xs: &[f32],
    ys: &[f32],
    xi: f32,
    yi: f32,
) -> (f64, [f32; 2], [f32; 2]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::nn::kernel::wide_vectors() {
            // SAFETY: wide_vectors() says the CPU has AVX2 (and MNIST_AE_SIMD
            // did not ask for the portable path).
            return unsafe { row_sums_avx2(p_row, xs, ys, xi, yi) };
        }
    }
    row_sums(p_row, xs, ys, xi, yi)
}

/// [`row_sums`] written with AVX intrinsics: one 8-lane register per running
/// sum, the same operations in the same order (no fused multiply-add), so the
/// result is bit-identical to the portable loop.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_sums_avx2(
    p_row: &[f32],
    xs: &[f32],
    ys: &[f32],
    xi: f32,
    yi: f32,
) -> (f64, [f32; 2], [f32; 2]) {
    use std::arch::x86_64::*;
    let n = p_row.len();
    let done = n / LANES * LANES;
    let (vxi, vyi, one) = (_mm256_set1_ps(xi), _mm256_set1_ps(yi), _mm256_set1_ps(1.0));
    let (mut w_sum, mut ax, mut ay, mut bx, mut by) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    for start in (0..done).step_by(LANES) {
        // SAFETY: start + 8 ≤ done ≤ the length of every slice.
        let (x, y, p) = unsafe {
            (
                _mm256_loadu_ps(xs.as_ptr().add(start)),
                _mm256_loadu_ps(ys.as_ptr().add(start)),
                _mm256_loadu_ps(p_row.as_ptr().add(start)),
            )
        };
        let (dx, dy) = (_mm256_sub_ps(vxi, x), _mm256_sub_ps(vyi, y));
        let d2 = _mm256_add_ps(
            _mm256_add_ps(one, _mm256_mul_ps(dx, dx)),
            _mm256_mul_ps(dy, dy),
        );
        let w = _mm256_div_ps(one, d2);
        let (pw, ww) = (_mm256_mul_ps(p, w), _mm256_mul_ps(w, w));
        w_sum = _mm256_add_ps(w_sum, w);
        ax = _mm256_add_ps(ax, _mm256_mul_ps(pw, dx));
        ay = _mm256_add_ps(ay, _mm256_mul_ps(pw, dy));
        bx = _mm256_add_ps(bx, _mm256_mul_ps(ww, dx));
        by = _mm256_add_ps(by, _mm256_mul_ps(ww, dy));
    }
    let lanes = |v: __m256| {
        let mut out = [0f32; LANES];
        // SAFETY: `out` holds 8 f32.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    };
    let mut sums = [lanes(w_sum), lanes(ax), lanes(ay), lanes(bx), lanes(by)];
    finish_row_sums(&mut sums, p_row, xs, ys, xi, yi, done)
}

/// One row of the gradient's sums: Σⱼ wᵢⱼ (minus wᵢᵢ = 1), Σⱼ pᵢⱼwᵢⱼ(yᵢ−yⱼ),
/// Σⱼ wᵢⱼ²(yᵢ−yⱼ), in `LANES` running sums added up at the end.
// The lane index l is the point: lane l of every running sum takes point start + l.
#[allow(clippy::needless_range_loop)]
fn row_sums(p_row: &[f32], xs: &[f32], ys: &[f32], xi: f32, yi: f32) -> (f64, [f32; 2], [f32; 2]) {
    let mut sums = [[0f32; LANES]; 5]; // Σw, Σpw·dx, Σpw·dy, Σw²·dx, Σw²·dy per lane
    let done = p_row.len() / LANES * LANES;
    for start in (0..done).step_by(LANES) {
        for l in 0..LANES {
            let j = start + l;
            let (dx, dy) = (xi - xs[j], yi - ys[j]);
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            let (pw, ww) = (p_row[j] * w, w * w);
            sums[0][l] += w;
            sums[1][l] += pw * dx;
            sums[2][l] += pw * dy;
            sums[3][l] += ww * dx;
            sums[4][l] += ww * dy;
        }
    }
    finish_row_sums(&mut sums, p_row, xs, ys, xi, yi, done)
}

/// Adds the last `len % LANES` points to lane 0 and sums the lanes.
fn finish_row_sums(
    sums: &mut [[f32; LANES]; 5],
    p_row: &[f32],
    xs: &[f32],
    ys: &[f32],
    xi: f32,
    yi: f32,
    done: usize,
) -> (f64, [f32; 2], [f32; 2]) {
    for j in done..p_row.len() {
        let (dx, dy) = (xi - xs[j], yi - ys[j]);
        let w = 1.0 / (1.0 + dx * dx + dy * dy);
        sums[0][0] += w;
        sums[1][0] += p_row[j] * w * dx;
        sums[2][0] += p_row[j] * w * dy;
        sums[3][0] += w * w * dx;
        sums[4][0] += w * w * dy;
    }
    let total = |k: usize| sums[k].iter().sum::<f32>();
    // j = i contributed w = 1 (and zero displacement): remove it from Z.
    let w_total = sums[0].iter().map(|&v| v as f64).sum::<f64>() - 1.0;
    (w_total, [total(1), total(2)], [total(3), total(4)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well separated Gaussian clusters in 10-D.
    fn clusters() -> (Array2<f32>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(9);
        let mut x =
            Array2::<f32>::random_using((150, 10), Normal::new(0.0, 1.0).unwrap(), &mut rng);
        let labels: Vec<usize> = (0..150).map(|i| i % 3).collect();
        for (mut row, &c) in x.rows_mut().into_iter().zip(&labels) {
            row[c] += 20.0;
        }
        (x, labels)
    }

    /// Fraction of points whose nearest map neighbour has the same label.
    fn neighbour_agreement(y: &Array2<f32>, labels: &[usize]) -> f64 {
        let n = y.nrows();
        let mut agree = 0;
        for i in 0..n {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (&y.row(i) - &y.row(a)).mapv(|v| v * v).sum();
                    let db = (&y.row(i) - &y.row(b)).mapv(|v| v * v).sum();
                    da.total_cmp(&db)
                })
                .unwrap();
            agree += usize::from(labels[nearest] == labels[i]);
        }
        agree as f64 / n as f64
    }

    #[test]
    fn affinity_rows_reach_the_target_perplexity() {
        let (x, _) = clusters();
        let distances: Vec<f64> = (0..150)
            .map(|j| (&x.row(0) - &x.row(j)).mapv(|v| (v * v) as f64).sum())
            .collect();
        let p = calibrated_row(&distances, 0, 20.0);
        let entropy: f64 = -p
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|&v| v * v.ln())
            .sum::<f64>();
        assert!(
            (entropy.exp() - 20.0).abs() < 0.01,
            "perplexity {}",
            entropy.exp()
        );
        let p = affinities(x.view(), 20.0);
        assert!((p.sum() - 1.0).abs() < 1e-3, "P sums to {}", p.sum());
        assert!(
            (&p - &p.t()).iter().all(|v| v.abs() < 1e-9),
            "P is symmetric"
        );
    }

    #[test]
    fn the_avx2_row_sums_equal_the_portable_ones_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut rng = StdRng::seed_from_u64(4);
            for n in [1usize, 7, 8, 13, 64, 203] {
                let draw = |rng: &mut StdRng| {
                    Array1::<f32>::random_using(n, Normal::new(0.0, 3.0).unwrap(), rng).to_vec()
                };
                let (xs, ys) = (draw(&mut rng), draw(&mut rng));
                let p: Vec<f32> = draw(&mut rng).iter().map(|v| v.abs() * 1e-3).collect();
                let portable = row_sums(&p, &xs, &ys, 0.3, -1.2);
                // SAFETY: AVX2 is present, checked above.
                let avx2 = unsafe { row_sums_avx2(&p, &xs, &ys, 0.3, -1.2) };
                assert_eq!(portable, avx2, "n = {n}");
            }
        } else {
            eprintln!("no AVX2 on this CPU: only the portable t-SNE row sums run");
        }
    }

    /// The cost `KL(P‖Q) = Σ_{i≠j} pᵢⱼ ln(pᵢⱼ/qᵢⱼ)` of the map y, in f64.
    fn kl_cost(p: &Array2<f32>, y: &Array2<f32>) -> f64 {
        let n = y.nrows();
        let w = |i: usize, j: usize| {
            let dx = y[[i, 0]] as f64 - y[[j, 0]] as f64;
            let dy = y[[i, 1]] as f64 - y[[j, 1]] as f64;
            1.0 / (1.0 + dx * dx + dy * dy)
        };
        let pairs = || (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)));
        let z: f64 = pairs().map(|(i, j)| w(i, j)).sum();
        pairs()
            .map(|(i, j)| {
                let p = p[[i, j]] as f64;
                p * (p / (w(i, j) / z)).ln()
            })
            .sum()
    }

    #[test]
    fn kl_gradient_matches_finite_differences() {
        use crate::gradcheck::{compare, numeric_gradient};
        let (x, _) = clusters();
        let x = x.slice(ndarray::s![..40, ..]);
        // P of 40 points, diagonal zero, summing to 1 as the formula assumes.
        let mut p = affinities(x, 10.0);
        p.diag_mut().fill(0.0);
        let total = p.sum();
        p /= total;
        let y = Array2::<f32>::random_using(
            (40, 2),
            Normal::new(0.0, 1.0).unwrap(),
            &mut StdRng::seed_from_u64(5),
        );
        let mut analytic = Array2::zeros((40, 2));
        kl_gradient(&p, y.view(), 1.0, &mut analytic);
        let mut state = y.clone();
        let numeric = numeric_gradient(
            &mut state,
            |y| y.as_slice_mut().unwrap(),
            1e-3,
            |y| kl_cost(&p, y),
        );
        let error = compare(analytic.as_slice().unwrap(), &numeric).tensor_error;
        println!("t-SNE gradient against finite differences: relative error {error:.1e}");
        assert!(error < 1e-4, "relative error {error:.1e}");
    }

    #[test]
    fn separated_clusters_stay_separated_and_runs_repeat() {
        let (x, labels) = clusters();
        let p = affinities(x.view(), 20.0);
        let options = TsneOptions {
            iterations: 500,
            ..TsneOptions::default()
        };
        let y = embed(&p, None, &options);
        assert_eq!(neighbour_agreement(&y, &labels), 1.0);
        assert_eq!(y, embed(&p, None, &options), "same seed, same map");

        // Warm start from the answer keeps clusters in place: points move little
        // compared with the map's spread.
        let warm = embed(&p, Some(y.view()), &TsneOptions::warm(100));
        let spread = y.std_axis(Axis(0), 0.0).sum();
        let moved = (&warm - &y)
            .mapv(|v| v * v)
            .sum_axis(Axis(1))
            .mapv(f32::sqrt)
            .mean()
            .unwrap();
        assert!(moved < 0.2 * spread, "moved {moved} vs spread {spread}");
        assert_eq!(neighbour_agreement(&warm, &labels), 1.0);
    }
}
