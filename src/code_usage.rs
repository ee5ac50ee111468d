//! How much of its code a VAE uses. The KL term pulls every dimension's
//! posterior q(z_u|x) toward the prior N(0, 1); a dimension that gives in
//! completely carries no information about x (posterior collapse). Two
//! measures, both on a set of images (the run uses the test set):
//! ```text
//! KL_u = 1/N Σ_n ½ (μ_nu² + σ_nu² − log σ_nu² − 1)     the KL term of dimension u (Σ_u KL_u = KL)
//! A_u  = Cov_x(E_q[z_u]) = 1/N Σ_n (μ_nu − μ̄_u)²        Burda et al.'s activity
//! active units = #{u : A_u > 0.01}
//! ```
//! The math is in [`crate::nn::vae`]; this module runs the encoder over the images.

use ndarray::ArrayView2;

use crate::model::{encode_posterior, Architecture, Params};
use crate::nn::vae::{active_units, activity, kl_per_dimension, ACTIVE_UNIT_THRESHOLD};

/// Images encoded per pass.
const ROWS_PER_PASS: usize = 500;

/// The per-dimension KL and activity of a VAE's code on a set of images.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CodeUsage {
    /// Units with an activity above `active_unit_threshold`.
    pub active_units: usize,
    /// 0.01 (Burda, Grosse & Salakhutdinov, 2015).
    pub active_unit_threshold: f64,
    /// (Z) KL_u, nats per image, in the code's order.
    pub kl_per_dimension: Vec<f64>,
    /// (Z) A_u, in the code's order.
    pub activity: Vec<f64>,
    /// N, the images measured.
    pub images: usize,
}

/// [`CodeUsage`] of the VAE `params` on `images` (N, D) in [0, 1]. Panics if
/// the model is not a VAE.
pub fn code_usage(params: &Params, arch: &Architecture, images: ArrayView2<f32>) -> CodeUsage {
    let (mu, log_var) = encode_posterior(params, arch, images, ROWS_PER_PASS);
    let activity = activity(mu.view());
    CodeUsage {
        active_units: active_units(&activity),
        active_unit_threshold: ACTIVE_UNIT_THRESHOLD,
        kl_per_dimension: kl_per_dimension(mu.view(), log_var.view()),
        activity,
        images: images.nrows(),
    }
}

impl CodeUsage {
    /// The line the run prints: "active units 12 of 20 (...)".
    pub fn line(&self) -> String {
        let total: f64 = self.kl_per_dimension.iter().sum();
        format!(
            "active units {} of {} (Cov_x E_q[z_u] > {}, {} test images); KL {total:.2} nats, of which the active units carry {:.2}",
            self.active_units,
            self.activity.len(),
            self.active_unit_threshold,
            self.images,
            self.active_kl()
        )
    }

    /// The KL summed over the active units.
    pub fn active_kl(&self) -> f64 {
        self.kl_per_dimension
            .iter()
            .zip(&self.activity)
            .filter(|(_, &a)| a > self.active_unit_threshold)
            .map(|(kl, _)| kl)
            .sum()
    }
}
