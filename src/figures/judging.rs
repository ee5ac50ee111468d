//! The digit judge's verdict on what a run generates: 1,000 samples of each
//! generator the run has, scored by the classifier in assets/judge.safetensors
//! (see [`crate::judge`]), beside 1,000 real test digits, the ceiling. Two
//! more numbers per generator:
//!
//! - `fd`: the Fréchet distance between the judge's hidden features
//!   (784-256, after the ReLU) of 10,000 samples and of the 10,000 test digits,
//!   ‖μ₁−μ₂‖² + tr(Σ₁+Σ₂−2(Σ₁Σ₂)^½) ([`crate::reduce::frechet`]);
//! - `novelty`: the median distance of 1,000 samples to their nearest training
//!   image over the same median for the model's reconstructions of 1,000 test
//!   digits: decoded copies of training codes score about 0.5, new digits about 1.
//!
//! | name | samples |
//! |---|---|
//! | `test_digits` | real test digits |
//! | `ae_normal` | plain autoencoder, z ~ N(0, I) |
//! | `ae_fitted` | plain autoencoder, z ~ the Gaussian fitted to the training codes |
//! | `vae_normal` | VAE, z ~ N(0, I), its prior |
//! | `prior_gmm`, `prior_diffusion`, `prior_gaussian` | the prior fitted after training ([`crate::prior`]) |

use ndarray::{s, Array2, ArrayView2};
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;
use serde_json::{json, Value};

use super::{images, sample_codes, FigureInputs, ROWS_PER_PASS};
use crate::data::mnist::{Dataset, Splits};
use crate::error::Result;
use crate::judge::{Judge, Scores};
use crate::model::{decode, reconstruct, Architecture, Params};
use crate::prior::features::judge_features;
use crate::prior::Prior;
use crate::reduce::frechet::FrechetReference;
use crate::reduce::nearest::{median, nearest_distances};
use crate::seeds::{self, Purpose};

/// Samples per generator that the judge scores and the copy check measures.
pub const JUDGED: usize = 1000;
/// Samples per generator in the Fréchet distance (it shrinks with the sample
/// count, so it is always computed from this many, against the test digits).
pub const FD_SAMPLES: usize = 10_000;
/// Below this accuracy on the run's test images, the data is not MNIST's
/// digits and the judge's verdict would mean nothing.
const MIN_ACCURACY: f64 = 0.9;

/// What every generator is measured against: the test digits' features and
/// the copy check's yardstick.
struct Yardstick<'a> {
    judge: &'a Judge,
    train: &'a Dataset,
    /// The Fréchet reference: the judge's features of up to 10,000 test digits.
    test_features: FrechetReference,
    /// Median nearest-training-image distance of the model's reconstructions
    /// of JUDGED test digits: as blurred as samples, and none of them copies.
    reconstruction_median: f64,
}

impl Yardstick<'_> {
    /// `{"confident", "coverage", "score"}` of the first JUDGED `images`, and
    /// `fd` (of all of them, if there are FD_SAMPLES) and `novelty`.
    fn measure(&self, images: ArrayView2<f32>) -> Value {
        let judged = images.slice(s![..JUDGED.min(images.nrows()), ..]);
        let scores: Scores = self.judge.scores(judged);
        let mut entry = json!({
            "confident": scores.confident, "coverage": scores.coverage, "score": scores.score,
            "novelty": self.novelty(judged),
        });
        if images.nrows() >= FD_SAMPLES {
            let features = judge_features(self.judge, images);
            entry["fd"] = json!(self.test_features.distance(features.view()));
        }
        entry
    }

    /// The median L2 distance of `images` to their nearest training image,
    /// over the reconstructions' median: copies of training digits score
    /// about 0.5, honest new digits about 1.
    fn novelty(&self, images: ArrayView2<f32>) -> f64 {
        nearest_median(images, self.train) / self.reconstruction_median
    }
}

/// Training images converted to f32 at a time by [`nearest_median`] (16 MB).
const NEAREST_CHUNK: usize = 5000;

/// The median distance of `images` to their nearest image of `train`, the
/// training images taken NEAREST_CHUNK at a time (never all 55,000 as f32).
fn nearest_median(images: ArrayView2<f32>, train: &Dataset) -> f64 {
    let mut nearest = vec![f32::INFINITY; images.nrows()];
    let all: Vec<usize> = (0..train.len()).collect();
    for chunk in all.chunks(NEAREST_CHUNK) {
        let references = super::images(train, chunk);
        let distances = nearest_distances(images, references.view());
        for (best, &d) in nearest.iter_mut().zip(&distances) {
            *best = best.min(d);
        }
    }
    median(&nearest)
}

/// `{NAME: {"confident", "coverage", "score", "novelty", "fd"}}` for every
/// generator the run has and the real test digits (the ceiling; no `fd`,
/// which would be 0 against themselves), or None (with the reason) when the
/// judge does not know these images.
pub fn judge_samples(
    judge: &Judge,
    inputs: &FigureInputs,
    params: &Params,
    arch: &Architecture,
    splits: &Splits,
    prior: Option<&Prior>,
    seed: u64,
) -> Result<std::result::Result<Value, String>> {
    let test = &splits.test;
    if test.pixels() != judge.params.layers[0].w.nrows() {
        return Ok(Err(format!(
            "the judge reads {}-pixel images",
            judge.params.layers[0].w.nrows()
        )));
    }
    let accuracy = judge.accuracy(test);
    if accuracy < MIN_ACCURACY {
        return Ok(Err(format!(
            "the judge classifies only {:.1}% of these test images correctly: not MNIST digits",
            100.0 * accuracy
        )));
    }
    let first = |n: usize| images(test, &(0..n.min(test.len())).collect::<Vec<_>>());
    // The FD_SAMPLES test digits (31 MB as f32) are dropped once their
    // features are taken: the samples decoded below need the room.
    let test_features =
        FrechetReference::new(judge_features(judge, first(FD_SAMPLES).view()).view());
    let real = first(JUDGED);
    let reconstructions = reconstruct(params, arch, real.view(), ROWS_PER_PASS);
    let yardstick = Yardstick {
        judge,
        train: &splits.train,
        test_features,
        reconstruction_median: nearest_median(reconstructions.view(), &splits.train),
    };
    // The first JUDGED rows are the draws the scores have always used.
    let noise = Array2::random_using(
        (FD_SAMPLES, arch.latent),
        StandardNormal,
        &mut seeds::rng(seed, Purpose::JudgedNoise),
    );
    let mut object = serde_json::Map::new();
    let mut real_entry = yardstick.measure(real.view());
    real_entry.as_object_mut().map(|o| o.remove("fd"));
    object.insert("test_digits".into(), real_entry);
    for &sampler in arch.kind.rules().samplers {
        let fit_images = inputs.fit_images.view();
        let codes = sample_codes(sampler, noise.view(), params, arch, fit_images)?;
        let decoded = decode(params, arch, codes.view(), ROWS_PER_PASS);
        object.insert(sampler.key().into(), yardstick.measure(decoded.view()));
    }
    if let Some(prior) = prior {
        let codes = prior.sample(FD_SAMPLES, &mut seeds::rng(seed, Purpose::JudgedNoise));
        let decoded = decode(params, arch, codes.view(), ROWS_PER_PASS);
        object.insert(prior.kind().key(), yardstick.measure(decoded.view()));
    }
    Ok(Ok(Value::Object(object)))
}

/// `name confident 0.93 coverage 1.00 score 9.1 novelty 1.00 fd 2.25; ...`
pub fn judge_line(scores: &serde_json::Value) -> String {
    let Some(object) = scores.as_object() else {
        return String::new();
    };
    let parts: Vec<String> = object
        .iter()
        .map(|(name, v)| format!("{name} {}", judge_numbers(v)))
        .collect();
    parts.join("; ")
}

/// One generator's numbers: `confident 0.93 coverage 1.00 score 9.1 novelty 1.00 fd 2.25`
/// (fd only where it was measured).
pub fn judge_numbers(v: &serde_json::Value) -> String {
    let number = |key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let fd = v.get("fd").and_then(|f| f.as_f64());
    let fd = fd.map_or(String::new(), |fd| format!(" fd {fd:.2}"));
    format!(
        "confident {:.3} coverage {:.3} score {:.2} novelty {:.2}{fd}",
        number("confident"),
        number("coverage"),
        number("score"),
        number("novelty")
    )
}
