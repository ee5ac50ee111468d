//! Small dense linear algebra in f64 for the analysis of codes: symmetric
//! eigen-decomposition (Householder and QL), Cholesky, and 2-D Procrustes alignment.

use ndarray::{Array1, Array2, ArrayView2};

/// Eigen-decomposition of a symmetric matrix `a` (n, n): returns eigenvalues
/// in descending order and the matching unit eigenvectors as the *columns* of
/// an (n, n) matrix. Non-finite input gives NaN eigenvalues.
///
/// Two stages, both O(n³) once (not per sweep, as cyclic Jacobi was: 256×256
/// took seconds with Jacobi, milliseconds with these):
/// 1. `tridiagonalise`: Householder reflections H = I − u·uᵀ/h bring A to a
///    tridiagonal T = Qᵀ·A·Q with the same eigenvalues, Q accumulated;
/// 2. `tridiagonal_ql`: implicit QL steps with Wilkinson's shift, each a
///    chain of Givens rotations, drive T's off-diagonal to zero; the rotations
///    are applied to Q, whose columns become A's eigenvectors.
///
/// The algorithm is EISPACK's tred2/tql2 (Bowdler, Martin, Reinsch and
/// Wilkinson 1968; as in JAMA), written for this row-major storage.
pub fn symmetric_eigen(a: ArrayView2<f64>) -> (Array1<f64>, Array2<f64>) {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "symmetric_eigen: matrix is not square");
    if n == 0 || a.iter().any(|v| !v.is_finite()) {
        return (Array1::from_elem(n, f64::NAN), Array2::eye(n));
    }
    let mut v: Vec<f64> = a.iter().copied().collect(); // row-major (n, n)
    let (mut d, mut e) = (vec![0.0; n], vec![0.0; n]);
    tridiagonalise(n, &mut v, &mut d, &mut e);
    tridiagonal_ql(n, &mut v, &mut d, &mut e);
    let vectors = Array2::from_shape_vec((n, n), v).expect("n × n values");
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[j].total_cmp(&d[i]));
    let values = Array1::from_iter(order.iter().map(|&i| d[i]));
    let mut sorted = Array2::zeros((n, n));
    for (new, &old) in order.iter().enumerate() {
        sorted.column_mut(new).assign(&vectors.column(old));
    }
    (values, sorted)
}

/// Householder reduction of the symmetric `v` (n, n, row-major) to tridiagonal
/// form: on return d holds T's diagonal, e[1..] its sub-diagonal (e[0] = 0),
/// and v the orthogonal Q with A = Q·T·Qᵀ. Step i (from n − 1 down to 1)
/// reflects row i's entries left of the diagonal onto one, scaled by the sum
/// of their magnitudes so that no square overflows.
fn tridiagonalise(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let at = |i: usize, j: usize| i * n + j;
    d.copy_from_slice(&v[at(n - 1, 0)..at(n - 1, 0) + n]);
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].fill(0.0);
            // e = A·u / h on the leading i × i block (its lower triangle).
            for j in 0..i {
                let f = d[j];
                v[at(j, i)] = f;
                let mut g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            // A ← A − u·eᵀ − e·uᵀ on the block.
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    accumulate_reflections(n, v, d);
    e[0] = 0.0;
}

/// The second half of [`tridiagonalise`]: multiplies out the Householder
/// reflections stored in `v`'s rows (with their h in d) into the orthogonal
/// Q, in place, and leaves T's diagonal in d.
fn accumulate_reflections(n: usize, v: &mut [f64], d: &mut [f64]) {
    let at = |i: usize, j: usize| i * n + j;
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
}

/// At most this many QL steps per eigenvalue (a handful is usual): a bound,
/// so that no input can loop for ever.
const MAX_QL_STEPS: usize = 64;

/// Eigenvalues (into d) and eigenvectors (v's columns, rotated in place) of
/// the tridiagonal matrix with diagonal d and sub-diagonal e[1..] (from
/// [`tridiagonalise`]), by implicit QL steps. For each l, e[l] is deflated to
/// zero by steps on the block l..=m whose first off-diagonal is negligible;
/// each step shifts by the eigenvalue of the leading 2×2 nearer d[l].
fn tridiagonal_ql(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let at = |i: usize, j: usize| i * n + j;
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let (mut shift_total, mut largest) = (0.0f64, 0.0f64);
    for l in 0..n {
        largest = largest.max(d[l].abs() + e[l].abs());
        let negligible = |x: f64| x.abs() <= f64::EPSILON * largest;
        let m = (l..n).find(|&m| negligible(e[m])).unwrap_or(n - 1);
        if m > l {
            for _ in 0..MAX_QL_STEPS {
                // The shift: the eigenvalue of [[d_l, e_l], [e_l, d_l+1]] nearer d_l.
                let g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let r = p.hypot(1.0).copysign(p);
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let h = g - d[l];
                for x in &mut d[l + 2..] {
                    *x -= h;
                }
                shift_total += h;
                // The chase: Givens rotations from m − 1 up to l.
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0f64, 1.0f64, 1.0f64);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0f64, 0.0f64);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    let r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    for k in 0..n {
                        let (vi, vi1) = (v[at(k, i)], v[at(k, i + 1)]);
                        v[at(k, i + 1)] = s * vi + c * vi1;
                        v[at(k, i)] = c * vi - s * vi1;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if negligible(e[l]) {
                    break;
                }
            }
        }
        d[l] += shift_total;
        e[l] = 0.0;
    }
}

/// Lower-triangular L with L·Lᵀ = `a` (symmetric positive definite).
/// Returns None if `a` is not positive definite.
pub fn cholesky(a: ArrayView2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - dot;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[[i, i]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - dot) / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// The orthogonal 2×2 matrix R (rotation or reflection) minimising
/// ‖(Y − ȳ)·R − (T − t̄)‖, then applied: returns `y` centred, rotated onto
/// `target`, and shifted to the target's centre. y, target: (N, 2).
///
/// With M = (Y − ȳ)ᵀ(T − t̄), the best rotation has angle atan2(M₁₀ − M₀₁, M₀₀ + M₁₁)
/// and the best reflection angle atan2(M₁₀ + M₀₁, M₀₀ − M₁₁); the one with the
/// larger trace(RᵀM) wins.
pub fn procrustes_align(y: ArrayView2<f32>, target: ArrayView2<f32>) -> Array2<f32> {
    assert_eq!(y.dim(), target.dim(), "procrustes_align: shapes differ");
    assert_eq!(y.ncols(), 2, "procrustes_align: 2-D points only");
    let mean = |a: ArrayView2<f32>| -> [f64; 2] {
        let n = a.nrows().max(1) as f64;
        [
            a.column(0).iter().map(|&v| v as f64).sum::<f64>() / n,
            a.column(1).iter().map(|&v| v as f64).sum::<f64>() / n,
        ]
    };
    let (my, mt) = (mean(y), mean(target));
    let mut m = [[0.0f64; 2]; 2];
    for (p, t) in y.rows().into_iter().zip(target.rows()) {
        for a in 0..2 {
            for b in 0..2 {
                m[a][b] += (p[a] as f64 - my[a]) * (t[b] as f64 - mt[b]);
            }
        }
    }
    let rotation_score = (m[0][0] + m[1][1]).hypot(m[1][0] - m[0][1]);
    let reflection_score = (m[0][0] - m[1][1]).hypot(m[1][0] + m[0][1]);
    let r = if rotation_score >= reflection_score {
        let th = (m[1][0] - m[0][1]).atan2(m[0][0] + m[1][1]);
        [[th.cos(), -th.sin()], [th.sin(), th.cos()]]
    } else {
        let th = (m[1][0] + m[0][1]).atan2(m[0][0] - m[1][1]);
        [[th.cos(), th.sin()], [th.sin(), -th.cos()]]
    };
    let mut out = Array2::zeros(y.dim());
    for (mut o, p) in out.rows_mut().into_iter().zip(y.rows()) {
        let (px, py) = (p[0] as f64 - my[0], p[1] as f64 - my[1]);
        o[0] = (px * r[0][0] + py * r[1][0] + mt[0]) as f32;
        o[1] = (px * r[0][1] + py * r[1][1] + mt[1]) as f32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn eigen_decomposition_recovers_known_eigenpairs() {
        // A = Q·diag(5, 2, 0.5)·Qᵀ for a known rotation Q.
        let (c, s) = (0.6f64, 0.8f64);
        let q = array![[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let d = Array2::from_diag(&array![2.0, 0.5, 5.0]);
        let a = q.dot(&d).dot(&q.t());
        let (values, vectors) = symmetric_eigen(a.view());
        for (got, want) in values.iter().zip([5.0, 2.0, 0.5]) {
            assert!((got - want).abs() < 1e-10, "{values}");
        }
        // Eigenvector of 5 is e₃; of 2 is Q's first column (up to sign).
        assert!((vectors[[2, 0]].abs() - 1.0).abs() < 1e-10);
        assert!(
            (vectors[[0, 1]].abs() - c).abs() < 1e-10 && (vectors[[1, 1]].abs() - s).abs() < 1e-10
        );
        let reconstructed = vectors.dot(&Array2::from_diag(&values)).dot(&vectors.t());
        assert!((&reconstructed - &a).iter().all(|x| x.abs() < 1e-10));
    }

    /// A·V = V·Λ and VᵀV = I for `a`, within `tolerance` of its size.
    fn assert_decomposes(a: &Array2<f64>, tolerance: f64) {
        let (values, vectors) = symmetric_eigen(a.view());
        let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let residual = a.dot(&vectors) - &vectors * &values;
        let worst = residual.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(worst < tolerance * scale, "A·V − V·Λ up to {worst}");
        let gram = vectors.t().dot(&vectors) - Array2::<f64>::eye(a.nrows());
        assert!(gram.iter().all(|v| v.abs() < tolerance), "VᵀV ≠ I");
        assert!(
            values.windows(2).into_iter().all(|w| w[0] >= w[1]),
            "{values}"
        );
    }

    #[test]
    fn large_random_diagonal_and_repeated_spectra_decompose() {
        use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
        use ndarray_rand::rand_distr::StandardNormal;
        use ndarray_rand::RandomExt;
        let x =
            Array2::<f64>::random_using((300, 257), StandardNormal, &mut StdRng::seed_from_u64(1));
        let covariance = x.t().dot(&x) / 300.0; // rank 257 of 257, a spread of scales
        assert_decomposes(&covariance, 1e-10);
        let square =
            Array2::<f64>::random_using((40, 40), StandardNormal, &mut StdRng::seed_from_u64(2));
        assert_decomposes(&(&square + &square.t()), 1e-10); // negative eigenvalues too
        assert_decomposes(&Array2::from_diag(&array![3.0, -1.0, 7.0, 0.0]), 1e-12);
        assert_decomposes(&Array2::<f64>::eye(5), 1e-12);
        let (values, _) = symmetric_eigen(array![[4.0]].view());
        assert_eq!(values[0], 4.0);
        let (values, _) = symmetric_eigen(array![[1.0, f64::NAN], [f64::NAN, 1.0]].view());
        assert!(
            values.iter().all(|v| v.is_nan()),
            "NaN in, NaN out, no hang"
        );
    }

    #[test]
    fn cholesky_factors_and_refuses_indefinite() {
        let a = array![[4.0, 2.0], [2.0, 3.0]];
        let l = cholesky(a.view()).unwrap();
        assert!((&l.dot(&l.t()) - &a).iter().all(|x| x.abs() < 1e-12));
        assert_eq!(l[[0, 1]], 0.0);
        assert!(cholesky(array![[1.0, 2.0], [2.0, 1.0]].view()).is_none());
    }

    #[test]
    fn procrustes_undoes_rotation_reflection_and_shift() {
        let target = array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0]];
        // Reflect x, rotate 90°, shift.
        let moved = target
            .mapv(|v| v)
            .rows()
            .into_iter()
            .map(|r| [-r[1] + 5.0, -r[0] - 1.0])
            .collect::<Vec<_>>();
        let moved = Array2::from_shape_vec((4, 2), moved.concat()).unwrap();
        let aligned = procrustes_align(moved.view(), target.view());
        assert!(
            (&aligned - &target).iter().all(|x| x.abs() < 1e-5),
            "{aligned}"
        );
    }
}
