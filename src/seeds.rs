//! Every random stream of a run, derived from its one `--seed` in one place.
//!
//! A stream is named by what it is for ([`Purpose`]); [`rng`] gives its
//! generator. Streams that depend on the epoch or the step mix those numbers
//! in with odd 64-bit constants (the golden-ratio and splitmix64 multipliers),
//! so any epoch's order or any step's noise can be recomputed without
//! replaying what came before: that is what makes a resumed run exact.
//!
//! The derivations are the ones earlier versions wrote inline, kept as they
//! were so that every published number stays reproducible. Three purposes
//! share the plain seed (initialisation, the validation split, the shown test
//! digits); they draw from different sets, so nothing couples them.

use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;

/// Multiplier of the epoch (2⁶⁴/φ, Fibonacci hashing).
const EPOCH_MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// Multiplier of the step (splitmix64's second constant).
const STEP_MIX: u64 = 0xD1B5_4A32_D192_ED03;
/// Multiplier of the shard (splitmix64's third constant).
const SHARD_MIX: u64 = 0x94D0_49BB_1331_11EB;

/// What a random stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The initial weights (PyTorch's U(±1/√fan_in)).
    Init,
    /// Which training images are held out for validation.
    ValidationSplit,
    /// The order in which epoch `epoch` (from 1) visits the training images.
    EpochOrder { epoch: usize },
    /// The denoising noise and a VAE's ε of one step; shard 0's is the whole
    /// batch's, so a model trained unsharded draws the same.
    Step {
        epoch: usize,
        step: usize,
        shard: usize,
    },
    /// A VAE's ε when evaluating (the same for every evaluation).
    Evaluation,
    /// The test digits shown in reconstructions.png.
    ShownDigits,
    /// The class-balanced test digits of the latent maps.
    MappedDigits,
    /// The noise vectors decoded into samples.png and generated.gif.
    SampleNoise,
    /// The noise added to the shown digits in denoising.png.
    DenoisingFigure,
    /// The noise vectors whose decoded digits the judge scores.
    JudgedNoise,
    /// The digit judge's random one-pixel shifts in epoch `epoch`.
    JudgeShifts { epoch: usize },
    /// The fixed ε of `gradcheck --model vae`.
    GradcheckNoise,
    /// The noise of the explorer's check of its diffusion sampler against Rust's.
    ExplorerNoise,
}

/// The seed of `purpose`'s stream in a run seeded with `seed`.
pub fn derive(seed: u64, purpose: Purpose) -> u64 {
    let mix = |n: usize, multiplier: u64| (n as u64).wrapping_add(1).wrapping_mul(multiplier);
    match purpose {
        Purpose::Init | Purpose::ValidationSplit | Purpose::ShownDigits => seed,
        Purpose::MappedDigits | Purpose::GradcheckNoise => seed.wrapping_add(1),
        Purpose::SampleNoise => seed.wrapping_add(2),
        Purpose::DenoisingFigure => seed.wrapping_add(3),
        Purpose::JudgedNoise => seed.wrapping_add(4),
        Purpose::ExplorerNoise => seed.wrapping_add(5),
        Purpose::EpochOrder { epoch } => seed ^ mix(epoch, EPOCH_MIX),
        Purpose::JudgeShifts { epoch } => seed ^ mix(epoch, STEP_MIX),
        Purpose::Step { epoch, step, shard } => {
            let shard = (shard as u64).wrapping_mul(SHARD_MIX);
            seed ^ shard ^ mix(epoch, EPOCH_MIX) ^ mix(step, STEP_MIX)
        }
        Purpose::Evaluation => derive(
            seed,
            Purpose::Step {
                epoch: usize::MAX,
                step: 0,
                shard: 0,
            },
        ),
    }
}

/// The generator of `purpose`'s stream in a run seeded with `seed`.
pub fn rng(seed: u64, purpose: Purpose) -> StdRng {
    StdRng::seed_from_u64(derive(seed, purpose))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formulas the streams had before this module, for a few seeds:
    /// changing a derivation would change every published number.
    #[test]
    fn derivations_match_the_historic_formulas() {
        for seed in [0u64, 1, 7, 12345, u64::MAX / 3] {
            let epoch_order = |e: usize| seed ^ (e as u64 + 1).wrapping_mul(EPOCH_MIX);
            assert_eq!(
                derive(seed, Purpose::EpochOrder { epoch: 3 }),
                epoch_order(3)
            );
            let step = |e: u64, s: u64| {
                seed ^ e.wrapping_add(1).wrapping_mul(EPOCH_MIX)
                    ^ s.wrapping_add(1).wrapping_mul(STEP_MIX)
            };
            let unsharded = Purpose::Step {
                epoch: 2,
                step: 5,
                shard: 0,
            };
            assert_eq!(derive(seed, unsharded), step(2, 5));
            assert_eq!(derive(seed, Purpose::Evaluation), step(u64::MAX, 0));
            assert_eq!(derive(seed, Purpose::SampleNoise), seed + 2);
            assert_ne!(
                derive(
                    seed,
                    Purpose::Step {
                        epoch: 2,
                        step: 5,
                        shard: 1,
                    }
                ),
                step(2, 5),
                "other shards draw other noise"
            );
        }
    }
}
