//! Small dense linear algebra in f64 for the analysis of codes: symmetric
//! eigen-decomposition (cyclic Jacobi), Cholesky, and 2-D Procrustes alignment.

use ndarray::{Array1, Array2, ArrayView2};

/// Eigen-decomposition of a symmetric matrix `a` (n, n) by cyclic Jacobi
/// rotations: returns eigenvalues in descending order and the matching unit
/// eigenvectors as the *columns* of an (n, n) matrix.
///
/// Each rotation zeroes one off-diagonal pair; sweeps repeat until the
/// off-diagonal mass is negligible (quadratic convergence, ~10 sweeps).
/// O(n³) per sweep: for the 32×32 covariance of latent codes, not for 784×784.
pub fn symmetric_eigen(a: ArrayView2<f64>) -> (Array1<f64>, Array2<f64>) {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "symmetric_eigen: matrix is not square");
    let mut a = a.to_owned();
    let mut v = Array2::<f64>::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]] * a[[i, j]])
            .sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-22 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[[p, q]].abs() < 1e-300 {
                    continue;
                }
                // Rotation angle that zeroes a[p][q]: tan(2θ) = 2a_pq / (a_qq − a_pp).
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * a[[p, q]]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[[k, p]], a[[k, q]]);
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[[j, j]].total_cmp(&a[[i, i]]));
    let values = Array1::from_iter(order.iter().map(|&i| a[[i, i]]));
    let mut vectors = Array2::zeros((n, n));
    for (new, &old) in order.iter().enumerate() {
        vectors.column_mut(new).assign(&v.column(old));
    }
    (values, vectors)
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
    fn jacobi_recovers_known_eigenpairs() {
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
