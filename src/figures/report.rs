//! What report.html shows: the run's summary, its metrics table, every figure
//! with a paragraph on what it shows, and the latent explorer (see
//! [`crate::viz::report`] for the page itself).

use std::path::Path;

use crate::error::Result;
use crate::metrics::{metrics_table, EpochRecord, Summary};
use crate::model::{Architecture, Sampler};
use crate::viz::report::{write_report, Report, ReportFigure};

/// What the report needs beyond the summary.
pub struct ReportInputs<'a> {
    pub out_dir: &'a Path,
    pub arch: &'a Architecture,
    pub history: &'a [EpochRecord],
    pub summary: &'a Summary,
    pub loss_name: &'a str,
    /// Drawn frames per animation.
    pub frames: usize,
    /// Test images in the latent maps.
    pub points: usize,
    pub perplexity: f64,
    /// Whether denoising.png and manifold.png were drawn.
    pub denoising: bool,
    pub manifold: bool,
    /// The explorer's HTML section (empty if none).
    pub explorer: String,
    /// The prior fitted after training, described ([`crate::prior::Prior::describe`]).
    pub prior: Option<String>,
    /// Whether diffusion.gif was drawn (the prior walks from noise to codes).
    pub prior_walk: bool,
}

/// Writes report.html.
pub fn write(inputs: &ReportInputs) -> Result<()> {
    let (header, rows) = metrics_table(inputs.history);
    let report = Report {
        title: "mnist-autoencoder: training report",
        summary_lines: summary_lines(inputs),
        config_json: config_json(inputs),
        metrics_header: header.iter().map(|s| s.to_string()).collect(),
        metrics: rows,
        figures: figure_descriptions(inputs),
        explorer: inputs.explorer.clone(),
    };
    write_report(inputs.out_dir, &report)
}

/// The run's configuration as summary.json records it, except that a VAE's
/// `loss` (the --loss flag, which a VAE does not use) says what its loss is.
fn config_json(inputs: &ReportInputs) -> String {
    let mut config = serde_json::to_value(&inputs.summary.config).expect("config serialises");
    let rules = inputs.arch.kind.rules();
    if !rules.takes_loss_flag {
        if let Some(loss) = config.get_mut("loss") {
            let note = format!("(--loss does not apply to --model {})", rules.name);
            *loss = format!("{} {note}", inputs.loss_name).into();
        }
    }
    serde_json::to_string_pretty(&config).expect("config serialises")
}

/// The digit judge's generators, as the report names them.
fn generator_name(key: &str) -> String {
    match (key, Sampler::from_key(key)) {
        ("test_digits", _) => "real test digits (the ceiling)".into(),
        (_, Some(sampler)) => format!("decoded codes {}", sampler.describe()),
        (other, None) => match other.strip_prefix("prior_") {
            Some(prior) => {
                format!("decoded codes sampled from the {prior} prior fitted after training")
            }
            None => other.replace('_', " "),
        },
    }
}

/// The judge's scores: a line that says what they mean, then one per
/// generator, the real test digits (the ceiling) first.
fn judge_lines(judge: &serde_json::Value) -> Vec<String> {
    let Some(object) = judge.as_object() else {
        return Vec::new();
    };
    let number = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort_by_key(|k| k.as_str() != "test_digits");
    let mut lines = vec!["digit judge (a classifier, assets/judge.safetensors) on 1,000 images from each source: confident = share classified with confidence ≥ 0.9; coverage = entropy of the predicted classes over ln 10 (1 when the ten classes are equally common); MNIST score = exp(E KL(p(y|x) ‖ p(y))), at most 10; novelty = median distance to the nearest training image over that of the model's reconstructions of test digits (copies of training digits score about 0.5, new digits about 1); fd = Fréchet distance between the judge's hidden features of 10,000 samples and of the 10,000 test digits (lower is closer; the reconstructions are this decoder's floor)".to_string()];
    lines.extend(keys.into_iter().map(|key| {
        let v = &object[key];
        format!(
            "judge on {}: confident {:.1}%, coverage {:.3}, score {:.2}, novelty {:.2}{}",
            generator_name(key),
            100.0 * number(v, "confident"),
            number(v, "coverage"),
            number(v, "score"),
            number(v, "novelty"),
            v.get("fd")
                .and_then(|f| f.as_f64())
                .map_or(String::new(), |fd| format!(", fd {fd:.2}"))
        )
    }));
    lines
}

/// The architecture in words: the widths, and a VAE's two heads.
fn architecture_line(inputs: &ReportInputs) -> String {
    let arch = inputs.arch;
    let heads = match arch.variational() {
        true => format!(
            "; ({z}+{z}) is the encoder's two heads, μ and log σ², {z} numbers each, and the decoder reads a {z}-number code z = μ + σ ⊙ ε",
            z = arch.latent
        ),
        false => format!("; the middle width, {}, is the code", arch.latent),
    };
    format!(
        "{} ({} model: {} from the {}-pixel image to the code and back{heads})",
        inputs.summary.architecture,
        arch.kind.rules().title,
        arch.backbone.shapes_in_words(),
        arch.input
    )
}

/// The bullet points at the top of the page.
fn summary_lines(inputs: &ReportInputs) -> Vec<String> {
    let summary = inputs.summary;
    let mut lines = vec![
        format!(
            "model {}, {} parameters, {} loss, {} epochs",
            architecture_line(inputs),
            summary.parameters,
            inputs.loss_name,
            summary.epochs
        ),
        format!(
            "test MSE {:.6} on {} test images",
            summary.test_mse, summary.test_images
        ),
    ];
    if let Some(elbo) = summary.test_neg_elbo {
        lines.push(format!(
            "test negative ELBO {elbo:.2} nats per image (ε sampled; reconstructions and MSE use z = μ)"
        ));
    }
    lines.push(format!(
        "best validation loss {:.6} at epoch {}",
        summary.best_val_loss, summary.best_epoch
    ));
    lines.push(format!(
        "median {:.2} s per training epoch, {:.0} images/s",
        summary.seconds_per_epoch, summary.images_per_second
    ));
    if let Some(pca) = summary.pca_test_mse {
        lines.push(format!(
            "PCA-{} test MSE {pca:.6} (a linear baseline with as many components)",
            inputs.arch.latent
        ));
    }
    if let Some(judge) = &summary.judge {
        lines.extend(judge_lines(judge));
    }
    lines
}

/// The figures in the report's order, each with a paragraph on what it shows
/// and an alternative text that describes the picture.
fn figure_descriptions(inputs: &ReportInputs) -> Vec<ReportFigure> {
    let (frames, points, latent, perplexity) = (
        inputs.frames,
        inputs.points,
        inputs.arch.latent,
        inputs.perplexity,
    );
    let f = figure;
    let mut figures = vec![
        f("losses.png", "Loss per epoch", "Training loss (mean over each epoch's batches) and validation loss (held-out training images) per epoch, on a log scale. The dashed line is the test MSE of PCA with as many components as the latent size: a linear baseline (PCA is the best linear autoencoder on the images it was fitted to; on the test set it is a baseline, not a bound). A nonlinear autoencoder that ends above it has learned less than linear algebra gives for free.".into(),
            format!("Line chart, log scale: {} per epoch, training and validation curves falling over the epochs, with a dashed horizontal line for the PCA baseline where there is one.", inputs.loss_name)),
        f("reconstructions.png", "Reconstructions", format!("Twenty test digits, two of each class, never seen in training, with the model's reconstructions beneath. Each passes through a {latent}-number code: what survives is what the code keeps."),
            "Two rows of twenty handwritten test digits, two of each class: the originals on top and the model's reconstructions beneath, slightly blurred copies of them.".into()),
        f("reconstructions.gif", "Reconstructions over training", format!("The same digits, one frame per drawn epoch ({frames} frames, the first for the untrained model). Reconstructions go from a grey blur (the untrained decoder outputs about 0.5 everywhere) to the average digit shape, then to each digit's own strokes."),
            "Animation of the same twenty digits and their reconstructions, one frame per epoch: grey blurs at first, then sharper digits.".into()),
        f("latent_pca.png", "Latent space, PCA", format!("The {latent}-dimensional codes of {points} test images (the same number from each class), projected on their two principal axes, coloured by class. PCA is linear: what it shows is truly there, but two axes hide most of the structure."),
            format!("Scatter plot of {points} test codes on their first two principal axes, one colour per digit class, with a legend; the classes form overlapping clouds.")),
        f("latent_pca.gif", "Latent space over training, PCA", "The same projection after each drawn epoch. Axes have fixed signs and each frame is rotated (orthogonal Procrustes) onto the previous one, with the same limits throughout, so motion means change in the codes.".into(),
            "Animation of the same scatter plot, one frame per epoch, the class clouds moving apart as training goes on.".into()),
        f("latent_tsne.png", "Latent space, t-SNE", format!("t-SNE (perplexity {perplexity}) of the same codes: it keeps neighbourhoods, not distances, so it shows which digits the encoder puts near each other. Clusters that touch are classes the code confuses."),
            format!("Scatter plot of the same {points} codes laid out by t-SNE, one colour per digit class, most classes in their own cluster.")),
        f("latent_tsne.gif", "Latent space over training, t-SNE", "t-SNE after each drawn epoch. Each frame starts from the previous frame's map (a warm start) and is aligned to it; restarting from random every frame would scatter and flip the clusters between frames even when the codes barely changed.".into(),
            "Animation of the t-SNE scatter plot, one frame per epoch, clusters forming and separating.".into()),
        f("samples.png", "Sampling new digits", "Top: codes drawn from a Gaussian fitted to the training codes (mean and full covariance, sampled through its Cholesky factor), then decoded. Bottom: the same noise used directly as codes, z ~ N(0, I). A plain autoencoder puts no prior on its codes, so N(0, I) lands where no training code lives and decodes to blots; the fitted Gaussian at least samples the right region. Variational autoencoders make this work by training the codes toward a known distribution.".into(),
            "Two rows of generated images: on top, codes sampled from the fitted Gaussian, decoded to digit-like shapes; beneath, codes sampled from N(0, I), decoded to blots.".into()),
        f("generated.gif", "Samples over training", "The same noise vectors decoded through each epoch's fitted Gaussian.".into(),
            "Animation of the generated samples, one frame per epoch, from grey blurs to digit-like shapes.".into()),
        f("interpolation.png", "Interpolation", "Each row walks a straight line in latent space from one test digit's code to another's (of a different class); the first and last decoded images are the two reconstructions. Where the middle of the line decodes to no digit at all, the latent space has holes.".into(),
            "Rows of decoded images, each morphing from one test digit at the left into a digit of another class at the right through in-between shapes.".into()),
    ];
    if inputs.arch.kind.rules().samplers[0] == Sampler::Prior {
        figures[7] = f("samples.png", "Sampling new digits", "Codes drawn from N(0, I), the prior, decoded. The KL term trains the encoder's distributions toward that prior, so a VAE's decoder has learned what to do with such codes: this is the generator that works.".into(),
            "Rows of new digits decoded from codes sampled from N(0, I), the VAE's prior.".into());
        figures[8] = f(
            "generated.gif",
            "Samples over training",
            "The same N(0, I) codes decoded by each drawn epoch's decoder.".into(),
            "Animation of the same N(0, I) codes decoded after each epoch, from grey blurs to digits.".into(),
        );
    }
    if let Some(prior) = &inputs.prior {
        let then = match inputs.arch.kind.rules().samplers[0] == Sampler::Prior {
            true => "Then codes from N(0, I), the VAE's own prior",
            false => "Then codes from one Gaussian fitted to the training codes, and the same noise used directly as codes, z ~ N(0, I)",
        };
        figures[7] = f("samples.png", "Sampling new digits", format!("First block: codes sampled from the prior fitted to the training codes after training ({prior}), decoded. {then}. The judge's numbers are beside each block (summary.json's judge block): a plain autoencoder's codes fill a lumpy region that one Gaussian covers badly (see code_marginals.png) and N(0, I) misses altogether; a density that follows the lumps samples digits as the judge scores real ones."),
            "Blocks of generated digits: the prior's samples, clear digits of every class; one fitted Gaussian's, blurrier shapes; N(0, I)'s, blots.".into());
    }
    figures.extend(further_figures(inputs));
    figures
}

/// One figure of the report.
fn figure(file: &str, title: &str, explanation: String, alt: String) -> ReportFigure {
    ReportFigure {
        file: file.into(),
        title: title.into(),
        explanation,
        alt,
    }
}

/// The figures after the ten every run draws: those its prior, model kind and
/// flags add.
fn further_figures(inputs: &ReportInputs) -> Vec<ReportFigure> {
    let f = figure;
    let mut figures = Vec::new();
    if inputs.prior_walk {
        figures.push(f("diffusion.gif", "From noise to codes", "Twenty codes on their way through ancestral sampling of the diffusion prior, decoded at every 50th of the 1,000 steps: pure noise at t = 1000 (decoded to blots), then the ε-network's denoising steps pull them toward where training codes live, until they decode to digits at t = 0.".into(),
            "Animation of twenty decoded codes, one frame per 50 diffusion steps: blots turning into clear digits.".into()));
    }
    figures.push(f("code_marginals.png", "Why one Gaussian samples badly", "Histograms of the training codes in the code dimensions that are least Gaussian (by the Jarque–Bera statistic), against the marginal density of one Gaussian fitted to the codes (black) and the histogram of the prior's samples where there is one. Skewed, heavy-tailed or many-humped marginals are where a single Gaussian puts codes that decode to no digit.".into(),
        "Four histograms of code values, each with a smooth bell curve over it that misses the histogram's skew or humps, and a step line of the prior's samples that follows the histogram.".into()));
    if inputs.arch.draws_kl_per_dimension() {
        figures.push(f("kl_per_dimension.png", "How much of the code is used", "The KL term of each code dimension, averaged over the test images, largest first. The KL term pulls each dimension's q(z_u|x) toward the prior N(0, 1); a dimension that gives in completely (KL near 0, in grey) no longer depends on x: posterior collapse. A unit is active (in colour) when its posterior mean moves with x, Cov_x E_q[z_u] > 0.01 (Burda et al., 2015); summary.json's code_usage has the numbers.".into(),
            "Bars of decreasing height, one per code dimension: tall coloured bars for the active units, then grey bars near zero for the collapsed ones.".into()));
    }
    if inputs.denoising {
        figures.push(f("denoising.png", "Denoising", "Test digits with Gaussian noise added (the training noise level, clipped to [0, 1]), the model's output, and the clean originals. The model was trained to map noisy inputs to clean targets.".into(),
            "Rows of test digits in threes: speckled with noise, the model's cleaned output, and the clean original.".into()));
    }
    if inputs.arch.draws_filters() {
        figures.extend(convolution_figures());
    }
    if inputs.manifold {
        figures.push(f("manifold.png", "The 2-D latent manifold", "A 20×20 grid of codes at evenly spaced quantiles of N(0, I) on each axis, decoded (Kingma & Welling's figure): the whole prior, laid out as a map of digit styles. z1 grows to the right and z2 upwards, as on the explorer's map.".into(),
            "A 20 by 20 grid of decoded digits, z1 growing to the right and z2 upwards, one digit style blending smoothly into the next across the grid.".into()));
        figures.push(f(
            "manifold.gif",
            "The manifold over training",
            "Every other row and column of the same grid (10×10), decoded after each drawn epoch.".into(),
            "Animation of a 10 by 10 grid of decoded digits, one frame per epoch, from grey blurs to a smooth map of digit styles.".into(),
        ));
    }
    figures
}

/// filters.png and feature_maps.png, drawn for a convolutional model.
fn convolution_figures() -> Vec<ReportFigure> {
    let f = |file: &str, title: &str, explanation: &str, alt: &str| ReportFigure {
        file: file.into(),
        title: title.into(),
        explanation: explanation.into(),
        alt: alt.into(),
    };
    vec![
        f("filters.png", "First-layer filters", "The first convolution's learned 3×3 kernels, each scaled on its own: dark where the weight is positive, light where negative, mid grey at 0. Edge and stroke detectors (a dark side beside a light one) are what a first layer learns on digits.",
            "A grid of small square filters in shades of grey, many with a dark side beside a light side, like edge detectors at several orientations."),
        f("feature_maps.png", "One digit through the layers", "The first shown test digit, then every layer output that is an image, after its activation: the encoder's feature maps (each convolution halves the side), the decoder's dense layer as its first transposed convolution reads it, and each transposed convolution's maps back up to the reconstruction. Maps are scaled by their layer's largest value; dark is active.",
            "A test digit, then rows of small grey maps for each layer: stroke-like activations at the first layer, coarser blobs deeper in, and the digit coming back in the decoder."),
    ]
}
