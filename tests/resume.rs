//! Checkpoints: exact resume (after whole epochs and after Ctrl-C mid-epoch),
//! clear errors for damaged or mismatched checkpoints, and the subcommands that
//! use saved weights.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mnist_autoencoder::checkpoint::{load_checkpoint, load_model};

const BIN: &str = env!("CARGO_BIN_EXE_mnist-autoencoder");

/// A small real-data run: 2,500 training images, 5 epochs.
const FLAGS: &[&str] = &[
    "--limit",
    "3000",
    "--val-size",
    "500",
    "--hidden",
    "48",
    "--latent",
    "6",
    "--batch-size",
    "100",
    "--threads",
    "2",
    "--no-figures",
];

fn train(out: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("train")
        .args(FLAGS)
        .args(["--out-dir", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

/// Runs the binary with `args` and waits for it.
fn bin(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// epoch, train_loss and val_loss columns of metrics.csv (seconds differ).
fn losses(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn three_epochs_then_resume_to_five_equals_five_in_one_go() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    assert!(train(&whole, &["--epochs", "5"]).status.success());
    assert!(train(&split, &["--epochs", "3"]).status.success());
    let checkpoint = split.join("checkpoint.safetensors");
    let resumed = bin(&[
        "train",
        "--resume",
        checkpoint.to_str().unwrap(),
        "--epochs",
        "5",
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resuming from"));

    assert_eq!(
        losses(&whole),
        losses(&split),
        "metrics continue bit for bit"
    );
    assert_eq!(losses(&split).len(), 6, "header + 5 epochs");
    assert_eq!(
        load_model(&whole.join("model.safetensors")).unwrap(),
        load_model(&split.join("model.safetensors")).unwrap()
    );
    let (a, b) = (
        load_checkpoint(&whole.join("checkpoint.safetensors")).unwrap(),
        load_checkpoint(&checkpoint).unwrap(),
    );
    assert_eq!(
        (a.state.adam.m, a.state.adam.v, a.state.adam.step),
        (b.state.adam.m, b.state.adam.v, b.state.adam.step)
    );
}

#[test]
fn ctrl_c_mid_epoch_saves_a_checkpoint_that_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let heavier = ["--epochs", "4", "--limit", "12000", "--hidden", "256"];
    assert!(train(&whole, &heavier).status.success());

    let mut child = Command::new(BIN)
        .arg("train")
        .args(FLAGS)
        .args(heavier)
        .args(["--out-dir", cut.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt as soon as the first epoch is reported: somewhere in epoch 2.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("epoch   1/") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{message}");
    assert!(
        message.contains("checkpoint saved to") && message.contains("--resume"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");

    let checkpoint = cut.join("checkpoint.safetensors");
    let state = load_checkpoint(&checkpoint).unwrap();
    assert!(
        state.state.progress.epochs_done < 4,
        "stopped early: {:?}",
        state.state.progress
    );
    let resumed = bin(&["train", "--resume", checkpoint.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(losses(&whole), losses(&cut));
    assert_eq!(
        load_model(&whole.join("model.safetensors")).unwrap(),
        load_model(&cut.join("model.safetensors")).unwrap()
    );
}

fn resume_error(checkpoint: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--resume", checkpoint.to_str().unwrap()];
    args.extend(extra);
    let output = bin(&args);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert_eq!(
        message.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{message}"
    );
    message
}

#[test]
fn damaged_or_mismatched_checkpoints_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert!(train(&out, &["--epochs", "1"]).status.success());
    let good = std::fs::read(out.join("checkpoint.safetensors")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    let message = resume_error(
        &write("truncated.safetensors", &good[..good.len() / 2]),
        &[],
    );
    assert!(message.contains("truncated.safetensors"), "{message}");

    let mut flipped = good.clone();
    flipped[20] ^= 0xff;
    let message = resume_error(&write("flipped.safetensors", &flipped), &[]);
    assert!(message.contains("flipped.safetensors"), "{message}");

    let message = resume_error(
        &write("garbage.safetensors", b"not a checkpoint at all"),
        &[],
    );
    assert!(
        message.contains("garbage.safetensors") && message.contains("safetensors"),
        "{message}"
    );

    let message = resume_error(&out.join("model.safetensors"), &[]);
    assert!(
        message.contains("expected mnist-autoencoder-checkpoint"),
        "a model file is not a checkpoint: {message}"
    );

    let message = resume_error(&out.join("checkpoint.safetensors"), &["--hidden", "32"]);
    assert!(
        message.contains("--hidden") && message.contains("48"),
        "{message}"
    );

    let message = resume_error(&tmp.path().join("missing.safetensors"), &[]);
    assert!(message.contains("missing.safetensors"), "{message}");

    // A checkpoint with one tensor removed names that tensor.
    let tensors = safetensors::SafeTensors::deserialize(&good).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&good).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "adam.v.decoder.0.weight")
        .collect();
    let partial = safetensors::serialize(kept, header.metadata().clone()).unwrap();
    let message = resume_error(&write("partial.safetensors", &partial), &[]);
    assert!(
        message.contains("tensor 'adam.v.decoder.0.weight' is missing"),
        "{message}"
    );
}

#[test]
fn eval_generate_and_reconstruct_use_saved_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert!(train(&out, &["--epochs", "2"]).status.success());
    let model = out.join("model.safetensors");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();

    let output = bin(&["eval", "--model", model.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test_mse "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (printed - summary["test_mse"].as_f64().unwrap()).abs() < 1e-6,
        "eval agrees with training's test MSE"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        10,
        "one row per class: {stdout}"
    );

    let generated = tmp.path().join("generated.png");
    let output = bin(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--count",
        "12",
        "--out",
        generated.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(mnist_autoencoder::commands::reconstruct::read_gray_png(&generated).is_ok());

    let digit = tmp.path().join("digit.png");
    let pixels: Vec<u8> = (0..784)
        .map(|i| {
            if (i % 28) > 10 && (i % 28) < 16 && i / 28 > 5 && i / 28 < 22 {
                255
            } else {
                0
            }
        })
        .collect();
    mnist_autoencoder::commands::reconstruct::write_gray_png(&digit, 28, 28, &pixels).unwrap();
    let rebuilt = tmp.path().join("rebuilt.png");
    let output = bin(&[
        "reconstruct",
        "--model",
        model.to_str().unwrap(),
        "--input",
        digit.to_str().unwrap(),
        "--out",
        rebuilt.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (w, h, _) = mnist_autoencoder::commands::reconstruct::read_gray_png(&rebuilt).unwrap();
    assert_eq!((w, h), (28, 28));

    let wide = tmp.path().join("wide.png");
    mnist_autoencoder::commands::reconstruct::write_gray_png(&wide, 30, 28, &[0; 840]).unwrap();
    let output = bin(&[
        "reconstruct",
        "--model",
        model.to_str().unwrap(),
        "--input",
        wide.to_str().unwrap(),
        "--out",
        rebuilt.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("30×28"), "{}", stderr(&output));
}
