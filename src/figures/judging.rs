//! The digit judge's verdict on what a run generates: 1,000 samples of each
//! generator the run has, scored by the classifier in assets/judge.safetensors
//! (see [`crate::judge`]), beside 1,000 real test digits, the ceiling.
//!
//! | name | samples |
//! |---|---|
//! | `test_digits` | real test digits |
//! | `ae_normal` | plain autoencoder, z ~ N(0, I) |
//! | `ae_fitted` | plain autoencoder, z ~ the Gaussian fitted to the training codes |
//! | `vae_normal` | VAE, z ~ N(0, I), its prior |

use ndarray::Array2;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;
use serde_json::{json, Value};

use super::{images, sample_codes, FigureInputs, ROWS_PER_PASS};
use crate::data::mnist::Dataset;
use crate::error::Result;
use crate::judge::{Judge, Scores};
use crate::model::{decode, Architecture, Params};
use crate::seeds::{self, Purpose};

/// Samples per generator.
pub const JUDGED: usize = 1000;
/// Below this accuracy on the run's test images, the data is not MNIST's
/// digits and the judge's verdict would mean nothing.
const MIN_ACCURACY: f64 = 0.9;

/// `{NAME: {"confident", "coverage", "score"}}` for every generator the run
/// has, or None (with the reason) when the judge does not know these images.
pub fn judge_samples(
    judge: &Judge,
    inputs: &FigureInputs,
    params: &Params,
    arch: &Architecture,
    test: &Dataset,
    seed: u64,
) -> Result<std::result::Result<Value, String>> {
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
    let count = JUDGED.min(test.len());
    let real = images(test, &(0..count).collect::<Vec<_>>());
    let noise = Array2::random_using(
        (JUDGED, arch.latent),
        StandardNormal,
        &mut seeds::rng(seed, Purpose::JudgedNoise),
    );
    let mut scores: Vec<(&str, Scores)> = vec![("test_digits", judge.scores(real.view()))];
    for &sampler in arch.kind.rules().samplers {
        let fit_images = inputs.fit_images.view();
        let codes = sample_codes(sampler, noise.view(), params, arch, fit_images)?;
        let decoded = decode(params, arch, codes.view(), ROWS_PER_PASS);
        scores.push((sampler.key(), judge.scores(decoded.view())));
    }
    let object: serde_json::Map<String, Value> = scores
        .into_iter()
        .map(|(name, s)| {
            (
                name.to_string(),
                json!({"confident": s.confident, "coverage": s.coverage, "score": s.score}),
            )
        })
        .collect();
    Ok(Ok(Value::Object(object)))
}

/// `name confident 0.93 coverage 1.00 score 9.1; ...`
pub fn judge_line(scores: &serde_json::Value) -> String {
    let Some(object) = scores.as_object() else {
        return String::new();
    };
    let number = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let parts: Vec<String> = object
        .iter()
        .map(|(name, v)| {
            format!(
                "{name} confident {:.3} coverage {:.3} score {:.2}",
                number(v, "confident"),
                number(v, "coverage"),
                number(v, "score")
            )
        })
        .collect();
    parts.join("; ")
}
