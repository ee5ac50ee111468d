//! Adam (Kingma & Ba, 2015) with bias correction, exactly as PyTorch's
//! `torch.optim.Adam` computes it (no weight decay, no amsgrad).
//!
//! For every parameter p with gradient g, at step t = 1, 2, ...:
//! ```text
//! m ← β₁·m + (1 − β₁)·g                 first moment (running mean of g)
//! v ← β₂·v + (1 − β₂)·g²                second moment (running mean of g²)
//! m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   bias correction: m and v start at 0
//! p ← p − lr · m̂ / (√v̂ + ε)
//! ```
//! PyTorch writes the last line as `p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)`;
//! so do we, so the numbers match to float rounding.

use rayon::prelude::*;

use crate::model::Params;

/// Elements per parallel task in the update: large enough to amortise the task,
/// small enough to spread a 1M-element tensor over the threads.
const PIECE_LEN: usize = 1 << 15;

/// Adam's hyper-parameters and state. `m` and `v` have the model's shapes.
#[derive(Debug, Clone)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Number of updates done so far (t).
    pub step: u64,
    /// First moments, same shapes as the parameters.
    pub m: Params,
    /// Second moments, same shapes as the parameters.
    pub v: Params,
}

impl Adam {
    /// Adam with PyTorch's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8 and zero moments.
    pub fn new(params: &Params, lr: f32) -> Adam {
        let mut zeros = params.clone();
        zeros.fill(0.0);
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: zeros.clone(),
            v: zeros,
        }
    }

    /// `adam(beta1=0.9, beta2=0.999, eps=1e-8, bias-corrected)`: the
    /// hyper-parameters as summary.json records them.
    pub fn describe(&self) -> String {
        format!(
            "adam(beta1={}, beta2={}, eps={:e}, bias-corrected)",
            self.beta1, self.beta2, self.eps
        )
    }

    /// One update of every parameter from its gradient.
    pub fn update(&mut self, params: &mut Params, grads: &Params) {
        self.step += 1;
        let t = self.step as i32;
        let bias_correction1 = 1.0 - (self.beta1 as f64).powi(t);
        let bias_correction2 = 1.0 - (self.beta2 as f64).powi(t);
        let rule = Rule {
            step_size: (self.lr as f64 / bias_correction1) as f32,
            sqrt_bias_correction2: bias_correction2.sqrt() as f32,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        };
        // Every weight matrix and bias vector, cut into the same pieces in all
        // four, updated side by side (one piece per job, so that the threads
        // finish close together: see matmul).
        let (p, g) = (params.pieces_mut(PIECE_LEN), grads.pieces(PIECE_LEN));
        let (m, v) = (self.m.pieces_mut(PIECE_LEN), self.v.pieces_mut(PIECE_LEN));
        let pieces: Vec<_> = (p.into_iter().zip(g)).zip(m.into_iter().zip(v)).collect();
        pieces
            .into_par_iter()
            .with_max_len(1)
            .for_each(|(((_, p), (_, g)), ((_, m), (_, v)))| rule.apply(p, g, m, v));
    }
}

/// The learning rate over a run's epochs: Adam's `lr` is set from it at the
/// start of every epoch (1-based `epoch`).
///
/// ```text
/// constant   lr_e = lr
/// burda      lr_e = lr · 10^(−i/7)  in stage i = 0, 1, ..., 7 of 3ⁱ epochs:
///            epochs (3ⁱ − 1)/2 < e ≤ (3ⁱ⁺¹ − 1)/2,  Σᵢ 3ⁱ = (3⁸ − 1)/2 = 3,280 epochs
/// ```
/// The second is Burda, Grosse & Salakhutdinov (2015)'s schedule for their
/// VAEs and IWAEs (with lr = 0.001); a run of fewer epochs stops within it
/// (40 epochs are stages 0 to 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    #[default]
    Constant,
    Burda,
}

/// Stages of Burda et al.'s schedule.
pub const BURDA_STAGES: u32 = 8;

impl LrSchedule {
    /// Every schedule, in `--lr-schedule`'s order.
    pub const ALL: [LrSchedule; 2] = [LrSchedule::Constant, LrSchedule::Burda];

    /// The name on the command line and in metadata.
    pub fn name(self) -> &'static str {
        match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Burda => "burda",
        }
    }

    /// The most epochs the schedule defines (None: any number).
    pub fn max_epochs(self) -> Option<usize> {
        match self {
            LrSchedule::Constant => None,
            LrSchedule::Burda => Some(stage_end(BURDA_STAGES - 1)),
        }
    }

    /// The learning rate of 1-based `epoch` for a base rate `lr`.
    pub fn rate(self, lr: f32, epoch: usize) -> f32 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Burda => {
                let stage = burda_stage(epoch) as f64;
                (lr as f64 * 10f64.powf(-stage / 7.0)) as f32
            }
        }
    }
}

/// The last epoch of Burda et al.'s stage i: Σ_{j ≤ i} 3ʲ = (3ⁱ⁺¹ − 1)/2.
fn stage_end(stage: u32) -> usize {
    (3usize.pow(stage + 1) - 1) / 2
}

/// The stage i of 1-based `epoch` in Burda et al.'s schedule (epochs past the
/// last stage stay in it).
pub fn burda_stage(epoch: usize) -> u32 {
    (0..BURDA_STAGES)
        .find(|&i| epoch <= stage_end(i))
        .unwrap_or(BURDA_STAGES - 1)
}

/// The per-step constants of the update.
struct Rule {
    step_size: f32,
    sqrt_bias_correction2: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

impl Rule {
    /// The update of one piece of a tensor, with 8 floats per instruction where
    /// the CPU has AVX2.
    fn apply(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::nn::kernel::wide_vectors() {
            // SAFETY: wide_vectors() says this CPU has AVX2.
            return unsafe { self.update_avx2(p, g, m, v) };
        }
        self.update(p, g, m, v)
    }

    /// The update of one piece: the whole of Adam, element by element.
    #[inline(always)]
    fn update(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let moments = m.iter_mut().zip(v.iter_mut());
        for ((p, &g), (m, v)) in p.iter_mut().zip(g).zip(moments) {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let denom = v.sqrt() / self.sqrt_bias_correction2 + self.eps;
            *p -= self.step_size * *m / denom;
        }
    }

    /// [`Rule::update`] compiled for AVX2 (8 floats per instruction, where the
    /// default x86-64 target has 4): the same operations, the same bits.
    ///
    /// # Safety
    /// The CPU must have AVX2 (`nn::kernel::wide_vectors()`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn update_avx2(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        self.update(p, g, m, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Architecture, Params};

    /// Adam for one scalar in f64, straight from the paper's equations.
    fn reference(mut p: f64, grads: &[f64], lr: f64) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let (mut m, mut v) = (0.0, 0.0);
        for (t, &g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let m_hat = m / (1.0 - b1.powi(t));
            let v_hat = v / (1.0 - b2.powi(t));
            p -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        p
    }

    /// Burda et al.'s schedule: stage i runs 3ⁱ epochs (1, 3, 9, ..., 2187;
    /// 3,280 in all) at 0.001·10^(−i/7); a constant schedule never changes.
    #[test]
    fn burda_schedule_has_its_stages_epochs_and_rates() {
        let schedule = LrSchedule::Burda;
        let mut epochs_per_stage = [0usize; BURDA_STAGES as usize];
        for epoch in 1..=schedule.max_epochs().unwrap() {
            epochs_per_stage[burda_stage(epoch) as usize] += 1;
        }
        assert_eq!(epochs_per_stage, [1, 3, 9, 27, 81, 243, 729, 2187]);
        assert_eq!(schedule.max_epochs(), Some(3280));
        let first_epochs = [1, 2, 5, 14, 41, 122, 365, 1094];
        for (i, &epoch) in first_epochs.iter().enumerate() {
            assert_eq!(burda_stage(epoch), i as u32);
            let expected = 1e-3 * 10f64.powf(-(i as f64) / 7.0);
            let got = schedule.rate(1e-3, epoch) as f64;
            assert!((got - expected).abs() < 1e-9, "stage {i}: {got}");
        }
        assert!((schedule.rate(1e-3, 3280) as f64 - 1e-4).abs() < 1e-9);
        assert_eq!(LrSchedule::Constant.rate(2e-3, 3000), 2e-3);
    }

    #[test]
    fn adam_matches_the_bias_corrected_reference() {
        let arch = Architecture::plain(3, vec![2], 1);
        let mut params = Params::zeros(&arch);
        params.fill(0.5);
        let mut adam = Adam::new(&params, 0.01);
        let gradient_steps = [0.3f64, -0.1, 0.7, 0.2, -0.4];
        let mut grads = Params::zeros(&arch);
        for (t, &g) in gradient_steps.iter().enumerate() {
            grads.fill(g as f32);
            adam.update(&mut params, &grads);
            // After step 1 a bias-corrected Adam moves every weight by exactly lr·sign(g);
            // without bias correction it would move 3.2× further.
            let expected = reference(0.5, &gradient_steps[..=t], 0.01);
            let got = params.layers[0].w[[0, 0]] as f64;
            assert!(
                (got - expected).abs() < 1e-6,
                "step {}: {got} vs {expected}",
                t + 1
            );
        }
        assert_eq!(adam.step, 5);
    }
}
