//! Command-line interface and the training configuration: the only module that
//! knows clap.
//!
//! `TrainConfig` is both the clap definition of `train`'s flags (each `///` line
//! is its `--help` text) and the configuration the library runs with; its
//! `Default` is "no flags given", so the defaults live in one place.
//! [`parse_command_line`] turns the arguments into a [`Command`]; for `train` it
//! also records which flags were given, for the resume merge ([`resume_config`]).

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::model::{Architecture, Backbone, ModelKind, Objective};
use crate::nn::{Activation, LossKind};
use crate::optim::LrSchedule;
use crate::prior::PriorKind;

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    Train(TrainArgs),
    Gradcheck(GradcheckConfig),
    Eval(EvalConfig),
    Generate(GenerateConfig),
    Reconstruct(ReconstructConfig),
    Judge(JudgeConfig),
    TrainPrior(TrainPriorConfig),
}

/// `train`'s configuration and the flags given on the command line (by their
/// field names, such as `"hidden"`): with `--resume`, given flags override the
/// checkpoint's configuration where that is safe and must agree with it otherwise.
#[derive(Debug, Clone, Default)]
pub struct TrainArgs {
    pub config: TrainConfig,
    pub given: Vec<String>,
}

/// Parses the process's arguments; prints help or a usage error and exits on
/// malformed ones (clap's behaviour).
pub fn parse_command_line() -> Command {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        None => Command::Train(TrainArgs {
            config: cli.train,
            given: given_flags(&matches),
        }),
        Some(Subcommands::Train(config)) => {
            let sub = matches
                .subcommand_matches("train")
                .expect("train subcommand");
            Command::Train(TrainArgs {
                config,
                given: given_flags(sub),
            })
        }
        Some(Subcommands::Gradcheck(c)) => Command::Gradcheck(c),
        Some(Subcommands::Eval(c)) => Command::Eval(c),
        Some(Subcommands::Generate(c)) => Command::Generate(c),
        Some(Subcommands::Reconstruct(c)) => Command::Reconstruct(c),
        Some(Subcommands::Judge(c)) => Command::Judge(c),
        Some(Subcommands::TrainPrior(c)) => Command::TrainPrior(c),
    }
}

impl Command {
    /// Checks every flag of the command that can be checked without reading
    /// a file; the error names the flag. `commands::run` calls it first.
    pub fn validate(&self) -> Result<()> {
        match self {
            Command::Train(args) => args.validate(),
            Command::Gradcheck(config) => config.validate(),
            Command::Generate(config) => config.validate(),
            Command::Judge(config) => config.validate(),
            Command::TrainPrior(config) => config.validate(),
            Command::Eval(config) => config.validate(),
            Command::Reconstruct(_) => Ok(()),
        }
    }
}

/// `Err` naming `flag` unless `value` ≥ 1.
fn at_least_one(flag: &'static str, value: usize) -> Result<()> {
    match value {
        0 => Err(Error::bad_flag(flag, "must be at least 1, got 0")),
        _ => Ok(()),
    }
}

/// `Err` naming `flag` unless `threads` is between 1 and [`MAX_THREADS`].
fn check_threads(flag: &'static str, threads: Option<usize>) -> Result<()> {
    let Some(threads) = threads else {
        return Ok(());
    };
    at_least_one(flag, threads)?;
    if threads > MAX_THREADS {
        return Err(Error::bad_flag(
            flag,
            format!(
                "at most {MAX_THREADS} (this machine has {} cores), got {threads}",
                available_cores()
            ),
        ));
    }
    Ok(())
}

/// `Err` naming `flag` unless `value` is a positive finite number.
fn positive_finite(flag: &'static str, value: f32) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::bad_flag(
            flag,
            format!("must be a positive finite number, got {value}"),
        ))
    }
}

/// `Err` naming `flag` unless `path` names a file ending in `.extension`
/// (any case): the file written is of that format.
fn check_extension(flag: &'static str, path: &std::path::Path, extension: &str) -> Result<()> {
    if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
        return Err(Error::bad_flag(
            flag,
            format!(
                "{} is a folder; give a file name ending in .{extension}",
                path.display()
            ),
        ));
    }
    let ext = path.extension().and_then(|e| e.to_str());
    let has_stem = path.file_stem().is_some_and(|s| !s.is_empty() && s != ".");
    if has_stem && ext.is_some_and(|e| e.eq_ignore_ascii_case(extension)) {
        return Ok(());
    }
    Err(Error::bad_flag(
        flag,
        format!(
            "{} must be a file name ending in .{extension}",
            path.display()
        ),
    ))
}

/// `Err` naming `flag` unless `path` is valid UTF-8: a run records its
/// paths in the checkpoint's JSON metadata, which holds only text.
fn check_utf8(flag: &'static str, path: &std::path::Path) -> Result<()> {
    if path.to_str().is_some() {
        return Ok(());
    }
    Err(Error::bad_flag(
        flag,
        format!(
            "{} is not valid UTF-8 (the run records it in its checkpoint); rename it or choose another path",
            path.display()
        ),
    ))
}

/// `Err` naming `--noise` unless it is a standard deviation in [0, 10].
fn check_noise(noise: f32) -> Result<()> {
    if !(noise.is_finite() && (0.0..=10.0).contains(&noise)) {
        return Err(Error::bad_flag(
            "--noise",
            format!("must be a standard deviation between 0 and 10, got {noise}"),
        ));
    }
    Ok(())
}

/// `Err` naming `--beta` unless it is a KL weight in [0, MAX_BETA].
fn check_beta(beta: f32) -> Result<()> {
    if !(beta.is_finite() && (0.0..=MAX_BETA).contains(&beta)) {
        return Err(Error::bad_flag(
            "--beta",
            format!("must be a KL weight between 0 and {MAX_BETA}, got {beta}"),
        ));
    }
    Ok(())
}

/// `Err` naming `--hidden` unless every width is positive.
fn check_hidden(hidden: &Hidden) -> Result<()> {
    if hidden.0.is_empty() || hidden.0.contains(&0) {
        return Err(Error::bad_flag(
            "--hidden",
            "widths must be positive integers such as 256,128",
        ));
    }
    Ok(())
}

impl TrainArgs {
    /// The flags' values, and the flags that do not apply to the model kind.
    pub fn validate(&self) -> Result<()> {
        self.config.validate()?;
        let backbone = self.config.arch;
        if !backbone.takes_hidden_flag() && self.given.iter().any(|g| g == "hidden") {
            return Err(Error::bad_flag(
                "--hidden",
                format!(
                    "does not apply to --arch {}: {}",
                    backbone.name(),
                    backbone.help()
                ),
            ));
        }
        let rules = self.config.model.rules();
        if !rules.takes_loss_flag && self.given.iter().any(|g| g == "loss") {
            let objective = self.config.model.objective(self.config.loss);
            return Err(Error::bad_flag(
                "--loss",
                format!(
                    "does not apply to --model {}, whose loss is the {}",
                    rules.name,
                    objective.describe()
                ),
            ));
        }
        let objective = self.config.model.objective(self.config.loss);
        if !objective.has_kl() && self.given.iter().any(|g| g == "beta") {
            return Err(Error::bad_flag(
                "--beta",
                format!(
                    "weights a VAE's KL term; --model {} has none (its loss is the {})",
                    rules.name,
                    objective.describe()
                ),
            ));
        }
        Ok(())
    }
}

impl GradcheckConfig {
    /// The flags' values.
    pub fn validate(&self) -> Result<()> {
        at_least_one("--latent", self.latent)?;
        at_least_one("--batch-size", self.batch_size)?;
        check_hidden(&self.hidden)?;
        check_beta(self.beta)?;
        positive_finite("--eps", self.eps)
    }
}

impl GenerateConfig {
    /// The flags' values.
    pub fn validate(&self) -> Result<()> {
        let png = check_extension("--out", &self.out, "png");
        if png.is_err() && check_extension("--out", &self.out, "idx").is_err() {
            let text = self.out.as_os_str().to_string_lossy();
            if self.out.is_dir() || text.ends_with('/') {
                return png; // "is a folder"
            }
            return Err(Error::bad_flag(
                "--out",
                format!("{text} must be a file name ending in .png (a sheet of digits) or .idx (u8 images like MNIST's)"),
            ));
        }
        if self.count == 0 || self.count > MAX_GENERATED {
            return Err(Error::bad_flag(
                "--count",
                format!(
                    "must be between 1 and {MAX_GENERATED} (one sheet of digits), got {}",
                    self.count
                ),
            ));
        }
        Ok(())
    }
}

/// The most digits `generate` draws on one sheet or writes to one IDX file.
pub const MAX_GENERATED: usize = 10_000;

impl TrainPriorConfig {
    /// The flags' values.
    pub fn validate(&self) -> Result<()> {
        if let Some(out) = &self.out {
            check_extension("--out", out, "safetensors")?;
        }
        if self.components.is_empty() || self.components.contains(&0) {
            return Err(Error::bad_flag(
                "--components",
                "every K must be at least 1",
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::bad_flag(
                "--temperature",
                format!("must be a positive finite number, got {}", self.temperature),
            ));
        }
        at_least_one("--epochs", self.epochs)?;
        check_threads("--threads", self.threads)
    }

    /// The thread count: `--threads`, or every core.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(available_cores)
    }

    /// The fitting settings these flags ask for.
    pub fn fit_config(&self) -> crate::prior::FitConfig {
        let mut config = crate::prior::FitConfig {
            components: self.components.clone(),
            temperature: self.temperature,
            ..Default::default()
        };
        config.gmm.seed = self.seed;
        config.diffusion.seed = self.seed;
        config.diffusion.epochs = self.epochs;
        config
    }
}

impl JudgeConfig {
    /// The flags' values.
    pub fn validate(&self) -> Result<()> {
        at_least_one("--hidden", self.hidden)?;
        at_least_one("--epochs", self.epochs)?;
        check_threads("--threads", self.threads)?;
        check_extension("--out", &self.out, "safetensors")
    }

    /// Refuses a judge whose training buffers for images of `pixels` pixels
    /// (parameters, gradients, Adam's m and v, and a batch's activations)
    /// would need more than [`MAX_TRAINING_BYTES`], naming `--hidden`.
    pub fn check_memory(&self, pixels: usize, batch: usize) -> Result<()> {
        let (d, h) = (pixels as u128, self.hidden as u128);
        let params = (d + 1) * h + (h + 1) * 10;
        let activations = batch as u128 * (d + 2 * h + 20);
        let bytes = (4 * params + activations) * 4;
        if bytes > MAX_TRAINING_BYTES {
            return Err(Error::bad_flag(
                "--hidden",
                format!(
                    "a judge {pixels}-{}-10 would need {:.1} GiB to train (limit {} GiB); choose a smaller width",
                    self.hidden,
                    bytes as f64 / (1u64 << 30) as f64,
                    MAX_TRAINING_BYTES >> 30
                ),
            ));
        }
        Ok(())
    }
}

/// The ids of the flags given on the command line (not defaulted).
fn given_flags(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}

/// Train an MNIST autoencoder written from scratch: hand-written backprop and Adam.
///
/// With no subcommand, `train` runs with the flags given.
#[derive(Debug, Parser)]
#[command(
    name = "mnist-autoencoder",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Subcommands>,
    #[command(flatten)]
    pub train: TrainConfig,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Subcommands {
    /// Train a model and write metrics, summary and weights to --out-dir (the default).
    Train(TrainConfig),
    /// Compare every parameter gradient of a freshly initialised network with
    /// centered finite differences; exit non-zero if any tensor FAILs.
    Gradcheck(GradcheckConfig),
    /// Test MSE (overall and per class) of saved weights.
    Eval(EvalConfig),
    /// Decode new digits sampled from a Gaussian fitted to the training codes into a PNG grid.
    Generate(GenerateConfig),
    /// Reconstruct one grayscale PNG digit through a saved model.
    Reconstruct(ReconstructConfig),
    /// Train the digit judge (a classifier) that scores generated digits.
    Judge(JudgeConfig),
    /// Fit a prior over a saved model's training codes (a mixture of
    /// Gaussians, a latent diffusion model or one Gaussian) for `generate --prior`.
    TrainPrior(TrainPriorConfig),
}

/// `--prior`'s values.
impl ValueEnum for PriorKind {
    fn value_variants<'a>() -> &'a [Self] {
        &PriorKind::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            PriorKind::Gmm => "a mixture of full-covariance Gaussians fitted by EM (the default)",
            PriorKind::Diffusion => "a latent diffusion model (DDPM) trained on the codes",
            PriorKind::Gaussian => "one Gaussian N(μ, Σ) fitted to the codes",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

/// `--model`'s values: every kind, named and described by its own rules.
impl ValueEnum for ModelKind {
    fn value_variants<'a>() -> &'a [Self] {
        &ModelKind::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let rules = self.rules();
        Some(PossibleValue::new(rules.name).help(rules.help))
    }
}

/// `--arch`'s values: every backbone, named and described by the model.
impl ValueEnum for Backbone {
    fn value_variants<'a>() -> &'a [Self] {
        &Backbone::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(self.help()))
    }
}

/// `--lr-schedule`'s values.
impl ValueEnum for LrSchedule {
    fn value_variants<'a>() -> &'a [Self] {
        &LrSchedule::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            LrSchedule::Constant => "--lr for every epoch",
            LrSchedule::Burda => {
                "Burda et al. (2015): stage i = 0..7 runs 3^i epochs at lr·10^(-i/7) (40 epochs = stages 0-3)"
            }
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

/// `--loss`'s values.
impl ValueEnum for LossKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[LossKind::Mse, LossKind::Bce]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            LossKind::Mse => {
                PossibleValue::new("mse").help("Mean squared error (PyTorch `nn.MSELoss()`)")
            }
            LossKind::Bce => PossibleValue::new("bce")
                .help("Binary cross-entropy (PyTorch `nn.BCELoss()`), targets in [0, 1]"),
        })
    }
}

/// `--activation`'s values, written with hyphens on the command line
/// (`leaky-relu`) where metadata writes [`Activation::name`] (`leaky_relu`).
impl ValueEnum for Activation {
    fn value_variants<'a>() -> &'a [Self] {
        &Activation::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let name = match self {
            Activation::LeakyRelu => "leaky-relu",
            other => other.name(),
        };
        Some(PossibleValue::new(name))
    }
}

/// Settings of `judge`.
#[derive(Debug, Clone, Args)]
pub struct JudgeConfig {
    /// Hidden width of the classifier 784-H-10.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub hidden: usize,
    /// Passes over the 60,000 training images (15 made assets/judge.safetensors).
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub epochs: usize,
    /// Seed for initialisation and shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Where to write the weights.
    #[arg(long, value_name = "FILE", default_value = "assets/judge.safetensors")]
    pub out: PathBuf,
    /// Folder with the IDX files.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
    /// Worker threads [default: 2].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Settings of `eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Folder with the IDX files; the t10k files are evaluated.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
    /// A VAE only: also estimate log p(x) by importance sampling with K samples
    /// per image (Burda et al.'s IWAE bound; K = 1 is the ELBO).
    #[arg(long, value_name = "K")]
    pub importance_samples: Option<usize>,
    /// Test images the importance-weighted estimate uses (the first N).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub images: usize,
    /// Seed of the importance samples and of the --noise draws.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Denoising: also the test MSE with Gaussian noise of this standard
    /// deviation added to every input (clipped to [0, 1]) against the clean image.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub noise: f32,
    /// Binarise the test images once, as `train --binarize` does (fixed
    /// seed 123): for a model trained on binarised digits.
    #[arg(long)]
    pub binarize: bool,
    /// Anomaly detection: a folder with another dataset's t10k IDX files of
    /// the same image size (e.g. /usr/share/datasets/fashion-mnist); scores
    /// each test image of both by its reconstruction error (a VAE also by its
    /// negative ELBO) and prints how well that tells them apart (ROC AUC).
    #[arg(long, value_name = "PATH")]
    pub anomaly_data: Option<PathBuf>,
    /// With --anomaly-data: also draw histograms of both datasets' per-image
    /// reconstruction errors to this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub anomaly_figure: Option<PathBuf>,
}

impl EvalConfig {
    /// The flags' values.
    pub fn validate(&self) -> Result<()> {
        if let Some(k) = self.importance_samples {
            if !(1..=MAX_IMPORTANCE_SAMPLES).contains(&k) {
                return Err(Error::bad_flag(
                    "--importance-samples",
                    format!("must be between 1 and {MAX_IMPORTANCE_SAMPLES}, got {k}"),
                ));
            }
        }
        check_noise(self.noise)?;
        if let Some(dir) = &self.anomaly_data {
            if !dir.is_dir() {
                return Err(Error::bad_flag(
                    "--anomaly-data",
                    format!("{} is not a folder", dir.display()),
                ));
            }
        } else if self.anomaly_figure.is_some() {
            return Err(Error::bad_flag(
                "--anomaly-figure",
                "draws the errors of --anomaly-data, which is not given",
            ));
        }
        at_least_one("--images", self.images)
    }
}

/// The most importance samples per image (each is a decoded image).
pub const MAX_IMPORTANCE_SAMPLES: usize = 100_000;

/// Settings of `generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Number of digits to generate.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub count: usize,
    /// Output PNG file.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
    /// Seed of the sampled noise.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Folder with the training images whose codes the Gaussian is fitted to.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
    /// Sample codes from the prior of this kind saved beside the model
    /// (prior-KIND.safetensors, written by `train` or `train-prior`). Without
    /// it: prior-gmm.safetensors if it is there, else the model's own sampler.
    #[arg(long, value_name = "KIND")]
    pub prior: Option<PriorKind>,
}

/// Settings of `train-prior`.
#[derive(Debug, Clone, Args)]
pub struct TrainPriorConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// The kind of prior.
    #[arg(long, value_name = "KIND", default_value = "gmm")]
    pub prior: PriorKind,
    /// Output file [default: prior-KIND.safetensors beside the model].
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: Option<PathBuf>,
    /// Folder with the IDX files whose training codes the prior is fitted to.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
    /// Training images held out for validation (as `train`'s --val-size):
    /// their codes choose the number of mixture components.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub val_size: usize,
    /// Seed of the validation split (as `train`'s --seed), the k-means start
    /// and the diffusion model's initialisation and noise.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Mixture: the numbers of components to try, comma-separated; the best by
    /// the validation codes' log-likelihood is kept.
    #[arg(
        long,
        value_name = "K,K,...",
        default_value = "200",
        value_delimiter = ','
    )]
    pub components: Vec<usize>,
    /// Mixture: sampling temperature τ (every covariance scaled by τ).
    #[arg(
        long,
        value_name = "T",
        default_value_t = 0.9,
        allow_negative_numbers = true
    )]
    pub temperature: f64,
    /// Diffusion: passes over the training codes.
    #[arg(long, value_name = "N", default_value_t = crate::prior::diffusion::TrainConfig::default().epochs)]
    pub epochs: usize,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Settings of `reconstruct`.
#[derive(Debug, Clone, Args)]
pub struct ReconstructConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// A grayscale (or colour, converted) PNG of the model's image size, 28×28 for MNIST.
    #[arg(long, value_name = "FILE.png")]
    pub input: PathBuf,
    /// Output PNG: the reconstruction, same size and polarity as the input.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
}

/// Settings of the `gradcheck` subcommand.
#[derive(Debug, Clone, Args)]
pub struct GradcheckConfig {
    /// Encoder hidden widths, comma-separated; the decoder mirrors them.
    #[arg(long, value_name = "W,W,...", default_value = "512,256", value_parser = parse_hidden)]
    pub hidden: Hidden,

    /// Size of the latent code.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub latent: usize,

    /// Seed for the initial weights and the choice of images.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Model kind whose gradients are checked (a VAE's ε is held fixed).
    #[arg(long, value_enum, default_value_t)]
    pub model: ModelKind,

    /// Layers between the image and the code (conv ignores --hidden).
    #[arg(long, value_enum, default_value_t)]
    pub arch: Backbone,

    /// Loss whose gradient is checked (a plain autoencoder's).
    #[arg(long, value_enum, default_value_t = LossKind::Mse)]
    pub loss: LossKind,

    /// β, the weight of a VAE's KL term in the checked loss (reconstruction + β·KL).
    #[arg(
        long,
        value_name = "F",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub beta: f32,

    /// Test images in the batch (spread over the test set, chosen by the seed).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub batch_size: usize,

    /// Elements checked per tensor: half the largest gradients, half evenly
    /// spaced (0 = every element).
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub samples: usize,

    /// Step ε of the centered differences.
    #[arg(long, value_name = "F", default_value_t = 1e-2)]
    pub eps: f32,

    /// Folder with the IDX files the batch is taken from.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
}

/// Everything a training run depends on.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Number of passes over the training set.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub epochs: usize,

    /// Images per mini-batch (the last, partial batch of an epoch is used too).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub batch_size: usize,

    /// Adam's learning rate (PyTorch's usual 0.001 is what the VAE and speed
    /// comparisons in the README use; 0.002 reaches the default model's test
    /// MSE in fewer epochs).
    #[arg(
        long,
        value_name = "F",
        default_value_t = 2e-3,
        allow_negative_numbers = true
    )]
    pub lr: f32,

    /// Encoder hidden widths, comma-separated, outermost first; the decoder mirrors them.
    #[arg(long, value_name = "W,W,...", default_value = "384,192", value_parser = parse_hidden)]
    pub hidden: Hidden,

    /// Size of the latent code (at most 1024 with figures: they fit Z×Z matrices).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub latent: usize,

    /// Reconstruction loss: mean squared error or binary cross-entropy (both mean-reduced).
    #[arg(long, value_enum, default_value_t = LossKind::Mse)]
    pub loss: LossKind,

    /// Model kind: a plain autoencoder, or a variational one (its loss is BCE
    /// summed over pixels plus KL, in nats per image; --loss does not apply).
    #[arg(long, value_enum, default_value_t)]
    #[serde(default)]
    pub model: ModelKind,

    /// β, the weight of a VAE's KL term: the loss is reconstruction + β·KL
    /// (1: the negative ELBO; larger β trades reconstruction for a code
    /// closer to N(0, I)). Only for --model vae.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    #[serde(default = "default_beta")]
    pub beta: f32,

    /// Layers between the image and the code: dense layers of the --hidden
    /// widths, or convolutions (issue 26's model; --hidden does not apply).
    #[arg(long, value_enum, default_value_t)]
    #[serde(default)]
    pub arch: Backbone,

    /// Activation of the hidden layers; `identity` also drops the output
    /// sigmoid: a linear autoencoder (compare its test MSE with PCA's).
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    #[serde(default = "default_activation")]
    pub activation: Activation,

    /// Denoising: standard deviation of Gaussian noise added to each training
    /// input (clipped to [0, 1], fixed by the seed); the target stays clean.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    #[serde(default)]
    pub noise: f32,

    /// Seed for initialisation, validation split and shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Folder with the four IDX files (train/t10k images/labels, .gz or raw).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,

    /// Folder for metrics.csv, summary.json, model.safetensors (created if missing).
    #[arg(long, value_name = "PATH", default_value = "output")]
    pub out_dir: PathBuf,

    /// Training images held out (seeded choice) for validation.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub val_size: usize,

    /// Use only the first N images of the training file, before the validation split.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Continue training from a checkpoint (OUT/checkpoint.safetensors) up to
    /// --epochs in total; without --out-dir, in the checkpoint's folder.
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub resume: Option<PathBuf>,

    /// Skip the pictures and report (for benchmarks and tests); no prior is fitted either.
    #[arg(long)]
    pub no_figures: bool,

    /// The prior fitted to the training codes after training: its samples lead
    /// samples.png, the judge scores them, and `generate` uses its file
    /// (OUT/prior-KIND.safetensors).
    #[arg(long, value_name = "KIND", default_value = "gmm")]
    #[serde(default = "default_prior")]
    pub prior: PriorKind,

    /// Fit no prior after training (samples come from the model's own sampler only).
    #[arg(long)]
    #[serde(default)]
    pub no_prior: bool,

    /// `--prior diffusion`: passes of its ε-network over the training codes.
    #[arg(long, value_name = "N", default_value_t = crate::prior::diffusion::TrainConfig::default().epochs)]
    #[serde(default = "default_prior_epochs")]
    pub prior_epochs: usize,

    /// `--prior diffusion`: its ε-network's hidden widths, comma-separated (each at most 4096).
    #[arg(long, value_name = "W,W,...", default_value = "512,512,512", value_parser = parse_hidden)]
    #[serde(default = "default_prior_hidden")]
    pub prior_hidden: Hidden,

    /// Skip the digit judge's scores of the samples (summary.json's `judge`;
    /// it takes seconds even for a tiny run, which tests do not need).
    #[arg(long)]
    #[serde(default)]
    pub no_judge: bool,

    /// Draw every Nth epoch in the animations (the untrained model and the last epoch are always drawn).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub frames_every: usize,

    /// Test images (class-balanced, fixed by the seed) in the latent-space
    /// maps: 10 to 10,000 (exact t-SNE's memory and time grow as N²).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub tsne_points: usize,

    // Burda, Grosse & Salakhutdinov (2015)'s training setup (docs/BURDA.md).
    /// Dynamic binarisation (BCE or VAE only): every training pixel is drawn
    /// as 0 or 1 with its grey level as P(1), afresh each epoch (seeded by
    /// --seed); the validation and test images are binarised once, from a
    /// fixed seed (123), the same for every run.
    #[arg(long)]
    #[serde(default)]
    pub binarize: bool,

    /// Adam's ε, added to √v̂ (Burda et al. use 1e-4).
    #[arg(
        long,
        value_name = "F",
        default_value = "1e-8",
        allow_negative_numbers = true
    )]
    #[serde(default = "default_adam_eps")]
    pub adam_eps: f32,

    /// Learning rate over the epochs: constant --lr, or Burda et al.'s stages
    /// (stage i = 0..7 runs 3^i epochs at lr·10^(-i/7); 3,280 epochs in all).
    #[arg(long, value_name = "SCHEDULE", default_value = "constant")]
    #[serde(default)]
    pub lr_schedule: LrSchedule,
}

fn default_adam_eps() -> f32 {
    1e-8
}

fn default_activation() -> Activation {
    Activation::Relu
}

fn default_beta() -> f32 {
    1.0
}

/// The largest `--beta`: far past the point where every code dimension
/// collapses onto the prior.
pub const MAX_BETA: f32 = 1000.0;

fn default_prior() -> PriorKind {
    PriorKind::DEFAULT
}

fn default_prior_epochs() -> usize {
    crate::prior::diffusion::TrainConfig::default().epochs
}

fn default_prior_hidden() -> Hidden {
    Hidden(crate::prior::diffusion::TrainConfig::default().hidden)
}

/// The widest hidden layer `--prior-hidden` may ask for.
pub const MAX_PRIOR_WIDTH: usize = 4096;

/// Encoder hidden widths, e.g. `[256, 128]`; parsed from and shown as `256,128`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Hidden(pub Vec<usize>);

impl std::fmt::Display for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|w| w.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses `--hidden`: comma-separated positive integers.
pub fn parse_hidden(text: &str) -> std::result::Result<Hidden, String> {
    let malformed =
        || format!("expected comma-separated positive widths such as 256,128, got '{text}'");
    let widths: Vec<usize> = text
        .split(',')
        .map(|part| part.trim().parse::<usize>().ok().filter(|&w| w > 0))
        .collect::<Option<_>>()
        .ok_or_else(malformed)?;
    Ok(Hidden(widths))
}

impl Default for TrainConfig {
    /// The configuration of a run with no flags.
    fn default() -> Self {
        Cli::parse_from(["mnist-autoencoder"]).train
    }
}

impl TrainConfig {
    /// Checks every value a flag can get wrong; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        at_least_one("--epochs", self.epochs)?;
        at_least_one("--batch-size", self.batch_size)?;
        at_least_one("--latent", self.latent)?;
        check_threads("--threads", self.threads)?;
        if let Some(limit) = self.limit {
            at_least_one("--limit", limit)?;
        }
        at_least_one("--val-size", self.val_size)?;
        at_least_one("--frames-every", self.frames_every)?;
        if !(10..=MAX_TSNE_POINTS).contains(&self.tsne_points) {
            return Err(Error::bad_flag(
                "--tsne-points",
                format!(
                    "must be between 10 (one per class) and {MAX_TSNE_POINTS} (exact t-SNE's memory and time grow as N²), got {}",
                    self.tsne_points
                ),
            ));
        }
        positive_finite("--lr", self.lr)?;
        check_hidden(&self.hidden)?;
        at_least_one("--prior-epochs", self.prior_epochs)?;
        if self.prior_hidden.0.iter().any(|&w| w > MAX_PRIOR_WIDTH) {
            return Err(Error::bad_flag(
                "--prior-hidden",
                format!(
                    "widths must be at most {MAX_PRIOR_WIDTH}, got {}",
                    self.prior_hidden
                ),
            ));
        }
        check_utf8("--data-dir", &self.data_dir)?;
        check_utf8("--out-dir", &self.out_dir)?;
        if let Some(resume) = &self.resume {
            check_utf8("--resume", resume)?;
        }
        if !self.no_figures && self.latent > MAX_FIGURES_LATENT {
            return Err(Error::bad_flag(
                "--latent",
                format!(
                    "at most {MAX_FIGURES_LATENT} with figures (their Gaussian fit and PCA of the codes take Z² memory and Z³ time), got {}; add --no-figures for a larger code",
                    self.latent
                ),
            ));
        }
        let objective = self.model.objective(self.loss);
        if self.activation == Activation::Identity && objective != Objective::Mse {
            // Identity drops the output sigmoid: x̂ leaves [0, 1] and the
            // cross-entropy's ln x̂ and ln(1 − x̂) are not defined there.
            return Err(Error::bad_flag(
                "--activation",
                format!(
                    "identity drops the output sigmoid, so it needs --model ae --loss mse; the {} needs outputs in (0, 1)",
                    objective.describe()
                ),
            ));
        }
        check_beta(self.beta)?;
        check_noise(self.noise)?;
        self.check_burda_flags()?;
        Ok(())
    }

    /// `--binarize` (a Bernoulli likelihood only), `--adam-eps` and
    /// `--lr-schedule` (at most as many epochs as it defines).
    fn check_burda_flags(&self) -> Result<()> {
        let objective = self.model.objective(self.loss);
        if self.binarize && objective == Objective::Mse {
            return Err(Error::bad_flag(
                "--binarize",
                "needs a Bernoulli likelihood: --model vae, or --loss bce (black-and-white pixels under a squared error are not what the binarised-MNIST results measure)",
            ));
        }
        positive_finite("--adam-eps", self.adam_eps)?;
        match self.lr_schedule.max_epochs() {
            Some(max) if self.epochs > max => Err(Error::bad_flag(
                "--epochs",
                format!(
                    "--lr-schedule {} defines {max} epochs, got {}",
                    self.lr_schedule.name(),
                    self.epochs
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The model these flags describe for images of `input` pixels.
    pub fn architecture(&self, input: usize) -> Architecture {
        Architecture {
            backbone: self.arch,
            kind: self.model,
            input,
            hidden: self.arch.hidden(&self.hidden.0),
            latent: self.latent,
            activation: self.activation,
        }
    }

    /// Bytes the model's training buffers need for images of `input` pixels:
    /// parameters four times (weights, gradients, Adam's m and v) and the
    /// activations and their gradients for a batch. None if it overflows.
    pub fn training_bytes(&self, input: usize) -> Option<u128> {
        let arch = self.architecture(input);
        let params = arch.parameter_count();
        let widths = arch.widths().into_iter().map(|w| w as u128);
        let activations = widths.fold(0u128, u128::saturating_add).checked_mul(2)?;
        let batch = (self.batch_size as u128).checked_mul(activations)?;
        params.checked_mul(4)?.checked_add(batch)?.checked_mul(4)
    }

    /// Refuses a configuration whose training buffers would need more than
    /// `MAX_TRAINING_BYTES`, naming the flags and the size, and a model that
    /// cannot read images of `input` pixels (`--arch conv` needs square ones).
    pub fn check_memory(&self, input: usize) -> Result<()> {
        self.arch
            .fits(input)
            .map_err(|e| Error::bad_flag("--arch", e))?;
        match self.training_bytes(input) {
            Some(bytes) if bytes <= MAX_TRAINING_BYTES => Ok(()),
            needed => Err(Error::bad_flag(
                "--hidden/--latent/--batch-size",
                format!(
                    "this model would need {} of memory for training (limit {} GiB); choose smaller widths or batches",
                    needed.map_or("more than 2^128 bytes".to_string(), |b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)),
                    MAX_TRAINING_BYTES >> 30
                ),
            )),
        }
    }

    /// The thread count this run uses: `--threads`, or every core.
    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(available_cores)
    }
}

/// The largest `--latent` with figures: the Gaussian fitted to the codes
/// and the PCA of the codes are Z×Z (see [`crate::reduce::gaussian::MAX_DIMENSIONS`]).
pub const MAX_FIGURES_LATENT: usize = crate::reduce::gaussian::MAX_DIMENSIONS;

/// The most test images `--tsne-points` may ask for: MNIST's whole test
/// set, whose exact t-SNE needs about 1 GB and a minute per frame set.
pub const MAX_TSNE_POINTS: usize = 10_000;

/// The most worker threads a run may ask for.
pub const MAX_THREADS: usize = 256;

/// The most memory a training configuration may need (16 GiB).
pub const MAX_TRAINING_BYTES: u128 = 16 << 30;

/// Cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Flags that a resumed run may change: they do not change what is learned.
const MAY_CHANGE_ON_RESUME: &[&str] = &[
    "epochs",
    "out_dir",
    "threads",
    "no_figures",
    "prior",
    "no_prior",
    "prior_epochs",
    "prior_hidden",
    "no_judge",
    "frames_every",
    "tsne_points",
    "data_dir",
    "resume",
];

/// The configuration of a resumed run: the checkpoint's (`saved`), with the
/// given flags that may change taken from `args`; any other given flag must
/// match the checkpoint. Without `--out-dir`, the run continues in the
/// checkpoint's own folder. `path` names the checkpoint in errors.
pub fn resume_config(
    args: &TrainArgs,
    saved: &TrainConfig,
    path: &std::path::Path,
) -> Result<TrainConfig> {
    let given = serde_json::to_value(&args.config).expect("config serialises");
    let mut merged = serde_json::to_value(saved).expect("config serialises");
    for id in &args.given {
        let (Some(value), Some(old)) = (given.get(id), merged.get(id)) else {
            continue;
        };
        if MAY_CHANGE_ON_RESUME.contains(&id.as_str()) {
            merged[id] = value.clone();
        } else if value != old {
            let flag = id.replace('_', "-");
            return Err(Error::bad_file(
                path,
                format!(
                    "checkpoint was trained with --{flag} {}, but --{flag} {} was given",
                    plain(old),
                    plain(value)
                ),
            ));
        }
    }
    merged["resume"] = given["resume"].clone();
    if !args.given.iter().any(|id| id == "out_dir") {
        // A copied or moved checkpoint continues where it now is, never in
        // the folder its metadata recorded (another run's, perhaps).
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
        merged["out_dir"] = serde_json::to_value(folder).expect("a checked UTF-8 path");
    }
    let mut config: TrainConfig = serde_json::from_value(merged)
        .map_err(|e| Error::bad_file(path, format!("metadata field 'config' is malformed: {e}")))?;
    if !args.given.iter().any(|id| id == "epochs") && config.epochs <= saved.epochs {
        config.epochs = saved.epochs;
    }
    Ok(config)
}

/// A JSON value as a flag value: `[32,16]` → `32,16`, `"mse"` → `mse`.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(","),
        serde_json::Value::String(s) => s.clone(),
        // Flags such as --lr are f32: print them as the user typed them, not
        // as their f64 widening (0.0020000000949949026).
        serde_json::Value::Number(n) if n.is_f64() => {
            (n.as_f64().expect("an f64 number") as f32).to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 28 item 25: a resume mismatch prints --lr as typed, not its f64 widening.
    #[test]
    fn flag_values_in_messages_are_printed_as_typed() {
        let lr = serde_json::to_value(2e-3f32).unwrap();
        assert_eq!(plain(&lr), "0.002");
        assert_eq!(plain(&serde_json::json!([32, 16])), "32,16");
        assert_eq!(plain(&serde_json::json!(5000)), "5000");
    }

    #[test]
    fn hidden_parses_and_refuses_malformed_lists() {
        assert_eq!(parse_hidden("256,128").unwrap(), Hidden(vec![256, 128]));
        assert_eq!(parse_hidden("64").unwrap(), Hidden(vec![64]));
        for bad in ["", "256,", "a,b", "0,5", "-3", "1.5"] {
            assert!(parse_hidden(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn validate_names_the_flag() {
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    epochs: 0,
                    ..Default::default()
                },
                "--epochs",
            ),
            (
                TrainConfig {
                    batch_size: 0,
                    ..Default::default()
                },
                "--batch-size",
            ),
            (
                TrainConfig {
                    latent: 0,
                    ..Default::default()
                },
                "--latent",
            ),
            (
                TrainConfig {
                    lr: -1.0,
                    ..Default::default()
                },
                "--lr",
            ),
            (
                TrainConfig {
                    lr: f32::NAN,
                    ..Default::default()
                },
                "--lr",
            ),
            (
                TrainConfig {
                    lr: f32::INFINITY,
                    ..Default::default()
                },
                "--lr",
            ),
            (
                TrainConfig {
                    threads: Some(0),
                    ..Default::default()
                },
                "--threads",
            ),
        ];
        for (config, flag) in cases {
            let message = config.validate().unwrap_err().to_string();
            assert!(message.starts_with(flag), "{message}");
        }
        TrainConfig::default().validate().unwrap();
    }

    /// Issue 28 item 1: a non-UTF-8 path is refused before anything runs.
    #[test]
    fn paths_that_are_not_utf8_are_refused_naming_the_flag() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || PathBuf::from(std::ffi::OsString::from_vec(b"bad\xffname".to_vec()));
        let cases = [
            (
                TrainConfig {
                    out_dir: bad(),
                    ..Default::default()
                },
                "--out-dir",
            ),
            (
                TrainConfig {
                    data_dir: bad(),
                    ..Default::default()
                },
                "--data-dir",
            ),
            (
                TrainConfig {
                    resume: Some(bad()),
                    ..Default::default()
                },
                "--resume",
            ),
        ];
        for (config, flag) in cases {
            let message = config.validate().unwrap_err().to_string();
            assert!(message.starts_with(flag), "{message}");
            assert!(message.contains("not valid UTF-8"), "{message}");
        }
    }

    /// Burda et al.'s flags: --binarize needs a Bernoulli likelihood,
    /// --adam-eps a positive ε, --lr-schedule burda at most 3,280 epochs.
    #[test]
    fn burda_flags_are_checked_naming_the_flag() {
        let cases = [
            (
                TrainConfig {
                    binarize: true,
                    ..Default::default()
                },
                "--binarize",
            ),
            (
                TrainConfig {
                    adam_eps: 0.0,
                    ..Default::default()
                },
                "--adam-eps",
            ),
            (
                TrainConfig {
                    lr_schedule: LrSchedule::Burda,
                    epochs: 3281,
                    ..Default::default()
                },
                "--epochs",
            ),
        ];
        for (config, flag) in cases {
            let message = config.validate().unwrap_err().to_string();
            assert!(message.starts_with(flag), "{message}");
        }
        let burda = TrainConfig {
            model: ModelKind::Vae,
            binarize: true,
            adam_eps: 1e-4,
            lr_schedule: LrSchedule::Burda,
            epochs: 3280,
            ..Default::default()
        };
        burda.validate().unwrap();
    }
}
