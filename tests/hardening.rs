//! Issue 14: unusual but possible inputs give a clear error or a correct
//! result, never a hang, a panic or a silent wrong answer. Each test names the
//! issue's item it covers; each runs in a few seconds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mnist_autoencoder::checkpoint::model_to_bytes;
use mnist_autoencoder::config::Cli;
use mnist_autoencoder::model::{Architecture, Params};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use proptest::prelude::*;

use crate::support::write_dataset;

const BIN: &str = env!("CARGO_BIN_EXE_mnist-autoencoder");

/// The "Q": a small run on MNIST (its data: [`q_data`]).
const Q: &[&str] = &[
    "--val-size",
    "100",
    "--epochs",
    "1",
    "--hidden",
    "32",
    "--latent",
    "8",
    "--tsne-points",
    "50",
    "--threads",
    "2",
];

/// Runs the binary with `args`, killed after 60 s (a hang fails the test).
pub fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("hung: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a clean failure (exit 1, no panic) whose message contains `needle`.
fn fails_with(output: &Output, needle: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        message.contains(needle),
        "expected '{needle}' in: {message}"
    );
}

fn succeeds(output: &Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

/// Q's data: MNIST's first 600 training digits (as `--limit 600`) and first
/// 1,000 test digits.
fn q_data() -> &'static str {
    static DATA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let dir = crate::support::mnist_subset(600, 1000);
        dir.to_str().unwrap().to_owned()
    })
}

fn q_with<'a>(extra: &[&'a str], out: &'a Path) -> Vec<&'a str> {
    let mut args = vec!["train"];
    args.extend_from_slice(Q);
    args.extend(["--data-dir", q_data()]);
    args.extend_from_slice(extra);
    args.extend(["--out-dir", out.to_str().unwrap()]);
    args
}

const TINY: &[&str] = &[
    "--epochs",
    "1",
    "--hidden",
    "8",
    "--latent",
    "2",
    "--batch-size",
    "16",
    "--val-size",
    "10",
    "--threads",
    "1",
    "--tsne-points",
    "20",
];

fn tiny_with<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    args.extend([
        "--data-dir",
        data.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    args
}

#[test]
fn item_1_a_diverging_bce_run_stops_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let output = run(&q_with(&["--loss", "bce", "--lr", "1e15"], tmp.path()));
    fails_with(&output, "training diverged");
}

/// A model file whose `encoder.0.weight` holds a NaN.
fn broken_model(dir: &Path) -> PathBuf {
    let arch = Architecture::plain(784, vec![16], 4);
    let mut params = Params::init(&arch, &mut StdRng::seed_from_u64(0));
    params.layers[0].w[[3, 2]] = f32::NAN;
    let path = dir.join("broken.safetensors");
    std::fs::write(&path, model_to_bytes(&params, &arch)).unwrap();
    path
}

#[test]
fn item_2_non_finite_weights_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let model = broken_model(tmp.path());
    let out = tmp.path().join("x.png");
    for args in [
        vec!["eval", "--model", model.to_str().unwrap()],
        vec![
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ] {
        fails_with(
            &run(&args),
            "tensor 'encoder.0.weight' holds NaN or infinite values",
        );
    }
}

#[test]
fn item_3_thread_counts_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    fails_with(
        &run(&q_with(&["--threads", "10000", "--no-figures"], tmp.path())),
        "--threads",
    );
}

#[test]
fn items_4_and_5_latent_of_one_or_more_than_the_pixels_draws_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    for latent in ["1", "785"] {
        let out = tmp.path().join(latent);
        let mut args = q_with(&[], &out);
        let at = args.iter().position(|a| *a == "--latent").unwrap();
        args[at + 1] = latent;
        succeeds(&run(&args));
        for file in ["latent_pca.png", "summary.json", "report.html"] {
            assert!(out.join(file).exists(), "--latent {latent}: {file} missing");
        }
    }
}

#[test]
fn item_6_any_classes_draw_every_figure_and_class_names_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("five");
    // Five classes labelled 10-14, ten test images: fewer than two of some classes.
    write_dataset(&data, 80, 10, |i| 10 + (i % 5) as u8, 0);
    let names: String = (0..15).map(|c| format!("class-{c}\n")).collect();
    std::fs::write(data.join("classes.txt"), names).unwrap();
    let out = tmp.path().join("out");
    succeeds(&run(&tiny_with(&data, &out, &[])));
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.contains("class-12"),
        "class names reach the explorer"
    );
    assert!(out.join("interpolation.png").exists() && out.join("latent_tsne.gif").exists());
}

#[test]
fn item_7_resuming_with_other_figure_settings_restarts_the_animations() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // The judge's scores are not what this checks (and took most of each run).
    succeeds(&run(&q_with(&["--no-judge"], &out)));
    let checkpoint = out.join("checkpoint.safetensors");
    let resumed = run(&[
        "train",
        "--resume",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "2",
        "--tsne-points",
        "80",
    ]);
    succeeds(&resumed);
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("animations restart"));
}

#[test]
fn item_8_huge_widths_are_refused_with_the_size_named() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = u64::MAX.to_string();
    for extra in [
        vec!["--hidden", huge.as_str()],
        vec!["--hidden", "100000,100000"],
        vec!["--batch-size", huge.as_str()],
    ] {
        fails_with(&run(&q_with(&extra, tmp.path())), "of memory for training");
    }
}

/// A safetensors file of metadata only, claiming `input` pixels and `hidden` widths.
fn lying_model(dir: &Path, input: &str, hidden: &str) -> PathBuf {
    let metadata: HashMap<String, String> = [
        ("format", "mnist-autoencoder"),
        ("input", input),
        ("hidden", hidden),
        ("latent", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
    let bytes = safetensors::serialize(tensors, Some(metadata)).unwrap();
    let path = dir.join(format!("lying-{}.safetensors", hidden.replace(',', "-")));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn item_9_sizes_in_metadata_are_checked_against_the_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = u64::MAX.to_string();
    for (input, hidden) in [(huge.as_str(), "16"), ("784", "100000,100000")] {
        let model = lying_model(tmp.path(), input, hidden);
        fails_with(
            &run(&["eval", "--model", model.to_str().unwrap()]),
            "is missing",
        );
    }
}

/// Rewrites one metadata field of a checkpoint with `edit`.
fn edit_checkpoint(path: &Path, field: &str, edit: impl Fn(&str) -> String) {
    let bytes = std::fs::read(path).unwrap();
    let (header_len, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    let value = edit(&metadata[field]);
    metadata.insert(field.to_string(), value);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = file.tensors();
    let out = safetensors::serialize(tensors, Some(metadata)).unwrap();
    let _ = header_len;
    std::fs::write(path, out).unwrap();
}

#[test]
fn item_10_hand_edited_checkpoints_are_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    succeeds(&run(&q_with(&["--no-figures"], &out)));
    let checkpoint = out.join("checkpoint.safetensors");
    let original = std::fs::read(&checkpoint).unwrap();
    edit_checkpoint(&checkpoint, "progress", |p| {
        p.replace("\"steps\":0", "\"steps\":1000000000000")
    });
    let resume = [
        "train",
        "--resume",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "2",
    ];
    fails_with(&run(&resume), "steps of an epoch");
    std::fs::write(&checkpoint, &original).unwrap();
    edit_checkpoint(&checkpoint, "progress", |p| {
        p.replace("\"epochs_done\":1", "\"epochs_done\":1000000000000")
    });
    fails_with(
        &run(&resume),
        "epochs are done but holds 1 epochs of history",
    );
}

#[test]
fn item_11_resuming_on_other_data_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_dataset(&a, 80, 20, |i| (i % 10) as u8, 0);
    write_dataset(&b, 80, 20, |i| (i % 10) as u8, 1);
    let out = tmp.path().join("out");
    succeeds(&run(&tiny_with(&a, &out, &["--no-figures"])));
    let checkpoint = out.join("checkpoint.safetensors");
    let args = [
        "train",
        "--resume",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "2",
        "--data-dir",
        b.to_str().unwrap(),
    ];
    fails_with(&run(&args), "trained on other data");
}

#[test]
fn item_12_resuming_a_finished_run_with_fewer_epochs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = q_with(&["--no-figures"], &out);
    let at = args.iter().position(|a| *a == "--epochs").unwrap();
    args[at + 1] = "2";
    succeeds(&run(&args));
    let checkpoint = out.join("checkpoint.safetensors");
    let new = tmp.path().join("new");
    let resume = [
        "train",
        "--resume",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "1",
        "--out-dir",
        new.to_str().unwrap(),
    ];
    fails_with(&run(&resume), "more than --epochs 1");
}

#[test]
fn item_14_folders_are_not_output_files_and_leave_no_temporaries() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    succeeds(&run(&q_with(&["--no-figures"], &out)));
    let model = out.join("model.safetensors");
    let folder = tmp.path().join("digits");
    std::fs::create_dir(&folder).unwrap();
    let slash = format!("{}/", tmp.path().join("other").display());
    for target in [folder.to_str().unwrap(), slash.as_str()] {
        let args = [
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--out",
            target,
        ];
        fails_with(&run(&args), "is a folder");
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let missing = tmp.path().join("no/such/folder/x.png");
    let args = [
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--out",
        missing.to_str().unwrap(),
    ];
    fails_with(&run(&args), "No such file or directory");
}

#[cfg(unix)]
#[test]
fn item_15_weights_and_checkpoints_follow_the_umask_like_every_other_output() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    succeeds(&run(&q_with(&["--no-figures"], &out)));
    let mode = |f: &str| std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("model.safetensors"), mode("metrics.csv"));
    assert_eq!(mode("checkpoint.safetensors"), mode("summary.json"));
}

#[test]
fn item_16_generate_count_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let model = broken_model(tmp.path());
    let out = tmp.path().join("x.png");
    let args = [
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--count",
        "1000000",
        "--out",
        out.to_str().unwrap(),
    ];
    fails_with(&run(&args), "--count");
}

#[test]
fn messages_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    fails_with(&run(&q_with(&[], &file)), "is not a folder");
    let mut args = q_with(&[], tmp.path());
    let at = args.iter().position(|a| *a == "--data-dir").unwrap();
    args[at + 1] = file.to_str().unwrap();
    fails_with(&run(&args), "is a file; --data-dir must name the folder");
}

#[test]
fn a_second_run_into_a_busy_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = tmp.path().join(".mnist-autoencoder.lock");
    // A live run of this tool: a long one into another folder.
    let out = tmp.path().join("elsewhere");
    let mut live = Command::new(BIN)
        .args([
            "train",
            "--limit",
            "600",
            "--val-size",
            "100",
            "--epochs",
            "100000",
        ])
        .args([
            "--hidden",
            "8",
            "--latent",
            "2",
            "--threads",
            "1",
            "--no-figures",
        ])
        .args(["--out-dir", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300)); // until it runs the tool's code
    std::fs::write(&lock, format!("{}\n", live.id())).unwrap();
    let refused = run(&q_with(&["--no-figures"], tmp.path()));
    assert!(
        live.try_wait().unwrap().is_none(),
        "the stand-in run is alive"
    );
    live.kill().unwrap();
    live.wait().unwrap();
    fails_with(&refused, "another run");
    // Issue 28 item 22: a pid that now belongs to another program (a reboot
    // reuses pids) is not a run of this tool: the lock is taken over.
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&lock, format!("{}\n", other.id())).unwrap();
    let taken_over = run(&q_with(&["--no-figures"], tmp.path()));
    other.kill().unwrap();
    other.wait().unwrap();
    succeeds(&taken_over);
    // A lock left by a process that no longer exists is taken over.
    std::fs::write(&lock, "4000000000\n").unwrap();
    succeeds(&run(&q_with(&["--no-figures"], tmp.path())));
    assert!(!lock.exists(), "the lock is removed at the end");
}

/// Flag values a curious user can type, extremes included.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just(u64::MAX.to_string()),
        Just("-1".to_string()),
        Just("1e40".to_string()),
        Just("NaN".to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Parsing, validation and the memory check never panic, whatever the values.
    #[test]
    fn any_flag_values_are_parsed_validated_and_sized_without_panic(
        epochs in number(), batch in number(), latent in number(), lr in number(),
        threads in number(), noise in number(), widths in prop::collection::vec(number(), 1..4),
    ) {
        let hidden = widths.join(",");
        let args = [
            "mnist-autoencoder", "train", "--epochs", &epochs, "--batch-size", &batch, "--latent", &latent,
            "--lr", &lr, "--threads", &threads, "--noise", &noise, "--hidden", &hidden,
        ];
        if let Ok(cli) = <Cli as clap::Parser>::try_parse_from(args) {
            if let Some(mnist_autoencoder::config::Subcommands::Train(config)) = cli.command {
                if config.validate().is_ok() {
                    let _ = config.check_memory(784);
                }
            }
        }
    }
}
