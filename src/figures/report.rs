//! What report.html shows: the run's summary, its metrics table, every figure
//! with a paragraph on what it shows, and the latent explorer (see
//! [`crate::viz::report`] for the page itself).

use std::path::Path;

use crate::error::Result;
use crate::figures::judging::judge_line;
use crate::metrics::{metrics_table, EpochRecord, Summary};
use crate::model::{Architecture, ModelKind};
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
}

/// Writes report.html.
pub fn write(inputs: &ReportInputs) -> Result<()> {
    let (header, rows) = metrics_table(inputs.history);
    let report = Report {
        title: "mnist-autoencoder: training report",
        summary_lines: summary_lines(inputs),
        config_json: serde_json::to_string_pretty(&inputs.summary.config)
            .expect("config serialises"),
        metrics_header: header.iter().map(|s| s.to_string()).collect(),
        metrics: rows,
        figures: figure_descriptions(inputs),
        explorer: inputs.explorer.clone(),
    };
    write_report(inputs.out_dir, &report)
}

/// The bullet points at the top of the page.
fn summary_lines(inputs: &ReportInputs) -> Vec<String> {
    let summary = inputs.summary;
    let mut lines = vec![
        format!(
            "model {} ({} parameters), {} loss, {} epochs",
            summary.architecture, summary.parameters, inputs.loss_name, summary.epochs
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
        lines.push(format!(
            "digit judge on 1,000 samples each (share classified with confidence ≥ 0.9, class coverage, MNIST score ≤ 10): {}",
            judge_line(judge)
        ));
    }
    lines
}

/// The figures in the report's order, each with a paragraph on what it shows.
fn figure_descriptions(inputs: &ReportInputs) -> Vec<ReportFigure> {
    let (frames, points, latent, perplexity) = (
        inputs.frames,
        inputs.points,
        inputs.arch.latent,
        inputs.perplexity,
    );
    let f = |file: &str, title: &str, explanation: String| ReportFigure {
        file: file.into(),
        title: title.into(),
        explanation,
    };
    let mut figures = vec![
        f("losses.png", "Loss per epoch", "Training loss (mean over each epoch's batches) and validation loss (held-out training images) per epoch, on a log scale. The dashed line is the test MSE of PCA with as many components as the latent size: a linear baseline (PCA is the best linear autoencoder on the images it was fitted to; on the test set it is a baseline, not a bound). A nonlinear autoencoder that ends above it has learned less than linear algebra gives for free.".into()),
        f("reconstructions.png", "Reconstructions", format!("Twenty test digits, two of each class, never seen in training, with the model's reconstructions beneath. Each passes through a {latent}-number code: what survives is what the code keeps.")),
        f("reconstructions.gif", "Reconstructions over training", format!("The same digits, one frame per drawn epoch ({frames} frames, the first for the untrained model). Reconstructions go from a grey blur (the untrained decoder outputs about 0.5 everywhere) to the average digit shape, then to each digit's own strokes.")),
        f("latent_pca.png", "Latent space, PCA", format!("The {latent}-dimensional codes of {points} test images (the same number from each class), projected on their two principal axes, coloured by class. PCA is linear: what it shows is truly there, but two axes hide most of the structure.")),
        f("latent_pca.gif", "Latent space over training, PCA", "The same projection after each drawn epoch. Axes have fixed signs and each frame is rotated (orthogonal Procrustes) onto the previous one, with the same limits throughout, so motion means change in the codes.".into()),
        f("latent_tsne.png", "Latent space, t-SNE", format!("t-SNE (perplexity {perplexity}) of the same codes: it keeps neighbourhoods, not distances, so it shows which digits the encoder puts near each other. Clusters that touch are classes the code confuses.")),
        f("latent_tsne.gif", "Latent space over training, t-SNE", "t-SNE after each drawn epoch. Each frame starts from the previous frame's map (a warm start) and is aligned to it; restarting from random every frame would scatter and flip the clusters between frames even when the codes barely changed.".into()),
        f("samples.png", "Sampling new digits", "Top: codes drawn from a Gaussian fitted to the training codes (mean and full covariance, sampled through its Cholesky factor), then decoded. Bottom: the same noise used directly as codes, z ~ N(0, I). A plain autoencoder puts no prior on its codes, so N(0, I) lands where no training code lives and decodes to blots; the fitted Gaussian at least samples the right region. Variational autoencoders make this work by training the codes toward a known distribution.".into()),
        f("generated.gif", "Samples over training", "The same noise vectors decoded through each epoch's fitted Gaussian.".into()),
        f("interpolation.png", "Interpolation", "Each row walks a straight line in latent space from one test digit's code to another's (of a different class); the first and last decoded images are the two reconstructions. Where the middle of the line decodes to no digit at all, the latent space has holes.".into()),
    ];
    if inputs.arch.kind == ModelKind::Vae {
        figures[7] = f("samples.png", "Sampling new digits", "Codes drawn from N(0, I), the prior, decoded. The KL term trains the encoder's distributions toward that prior, so a VAE's decoder has learned what to do with such codes: this is the generator that works.".into());
        figures[8] = f(
            "generated.gif",
            "Samples over training",
            "The same N(0, I) codes decoded by each drawn epoch's decoder.".into(),
        );
    }
    if inputs.denoising {
        figures.push(f("denoising.png", "Denoising", "Test digits with Gaussian noise added (the training noise level, clipped to [0, 1]), the model's output, and the clean originals. The model was trained to map noisy inputs to clean targets.".into()));
    }
    if inputs.manifold {
        figures.push(f("manifold.png", "The 2-D latent manifold", "A 20×20 grid of codes at evenly spaced quantiles of N(0, I) on each axis, decoded (Kingma & Welling's figure): the whole prior, laid out as a map of digit styles.".into()));
        figures.push(f(
            "manifold.gif",
            "The manifold over training",
            "The same grid decoded after each drawn epoch.".into(),
        ));
    }
    figures
}
